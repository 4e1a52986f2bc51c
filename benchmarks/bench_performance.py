"""Performance of skaesep against the machine's limits, sklearn and PyTorch, in one run.

    python benchmarks/bench_performance.py --threads 1    # everything at 1 thread
    python benchmarks/bench_performance.py --threads 2    # ... and at 2
    python benchmarks/bench_performance.py --quick        # one timed repeat
    python benchmarks/bench_performance.py --only rates,rbm,finetune,separation

``--threads`` (default: every core) is skaesep's ``n_threads`` (Python threads
sharing each mini-batch, one BLAS thread each), the BLAS threads of sklearn
and ``torch.set_num_threads``; run once per thread count to compare. Prints
markdown tables with the machine and the load averages:

1. reference rates: float32 FMA peak of the cores (a register-only FMA loop in C,
   compiled with the machine's gcc now, 1 and 2 threads, 256- and 512-bit vectors
   where the CPU has them) and NumPy's float32/float64 matrix products, at 2048^3
   and at the network's shapes;
   and two OpenBLAS libraries (NumPy's and SciPy's) alternating at 2 threads;
2. RBM pretraining, seconds per epoch for one layer (7995 -> 500 and 533 -> 500,
   N = 4000), ours vs. ``sklearn.neural_network.BernoulliRBM``;
3. fine-tuning, seconds per epoch of the unrolled 7995-500x7-7995 net, ours vs.
   PyTorch CPU (``pip install -e ".[bench]"``), same threads, batch and optimiser;
   and one epoch of discriminative fine-tuning of the "separation" preset
   (mask loss, its 20000 mixtures);
4. separation real-time factor of a 3-minute 44.1 kHz file end to end, and the
   peak memory of a 10-minute file (in a child process);
5. the demo pipeline's wall time split by stage.

Timings are the best of ``--repeats`` runs. Other processes on the machine
lower every figure: the load average is printed before and after each section.
"""

import argparse
import inspect
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

warnings.filterwarnings("ignore", category=Warning, module="sklearn")
warnings.filterwarnings("ignore", message=".*max_iter.*")

N = 4000  # inputs per epoch, as in the issue
RATE_THREADS = (1, 2)  # OpenBLAS threads of the reference product rates
_THREADS = os.cpu_count() or 1  # set by --threads
LAYERS = (500, 500, 500, 500)
CHUNK = 7995  # 15 frames x 533 bins
FRAME = 533

FMA_C = r"""
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if VEC == 512
typedef __m512 v;
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#else
typedef __m256 v;
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#endif
#define LANES (VEC / 32)
static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec;
}
int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 100000000L;
    double total = 0;
#pragma omp parallel reduction(+ : total)
    {
        /* 12 independent accumulators: enough to cover FMA latency x ports. */
        v a = SET1(0.999999f), b = SET1(1e-6f);
        v c0 = SET1(0), c1 = SET1(1), c2 = SET1(2), c3 = SET1(3), c4 = SET1(4), c5 = SET1(5);
        v c6 = SET1(6), c7 = SET1(7), c8 = SET1(8), c9 = SET1(9), c10 = SET1(10), c11 = SET1(11);
        double t0 = now();
        for (long i = 0; i < iters; i++) {
            c0 = FMA(a, c0, b); c1 = FMA(a, c1, b); c2 = FMA(a, c2, b); c3 = FMA(a, c3, b);
            c4 = FMA(a, c4, b); c5 = FMA(a, c5, b); c6 = FMA(a, c6, b); c7 = FMA(a, c7, b);
            c8 = FMA(a, c8, b); c9 = FMA(a, c9, b); c10 = FMA(a, c10, b); c11 = FMA(a, c11, b);
        }
        double dt = now() - t0;
        v s = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
        float out[LANES]; memcpy(out, &s, sizeof out);
        if (out[0] == 1234.5f) printf("!");
        total = 12.0 * LANES * 2 * iters / dt / 1e9;
    }
    printf("%.2f\n", total);
    return 0;
}
"""


def best_time(fn, repeats, warmup=True):
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def load():
    return "%.2f %.2f %.2f" % os.getloadavg()


def heading(text):
    print(f"## {text}\n\nLoad average at start: {load()}.\n", flush=True)


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    print("\n".join(lines) + "\n", flush=True)


# ------------------------------------------------------------------ machine
def machine():
    import scipy
    import scipy.linalg  # noqa: F401  (loads SciPy's BLAS, listed below)
    import sklearn

    import skaesep

    model = platform.processor()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        model = fields.get("Model name", model).strip()
        cores = fields.get("CPU(s)", "?").strip()
    except OSError:
        cores = str(os.cpu_count())
    print("## Machine\n")
    lines = [
        f"CPU: {model}, {cores} cores; Python {platform.python_version()}, "
        f"NumPy {np.__version__}, SciPy {scipy.__version__}, scikit-learn "
        f"{sklearn.__version__}, PyTorch {_torch_version() or '(not installed)'}",
        f"skaesep {skaesep.__version__} from {os.path.dirname(skaesep.__file__)}",
    ]
    for lib in threadpool_info():
        lines.append(
            f"{lib['user_api']}: {os.path.basename(lib['filepath'])} {lib.get('version')}, "
            f"kernel {lib.get('architecture')}, {lib['num_threads']} threads"
        )
    env = ("OPENBLAS_CORETYPE", "OMP_NUM_THREADS")
    lines += [f"{v}={os.environ.get(v, '(unset)')}" for v in env]
    lines.append(f"load average at start: {load()}")
    for line in lines:
        print(f"- {line}")
    print(flush=True)


# -------------------------------------------------------------- 1. rates
def fma_peak(repeats):
    """{(bits, threads): GFLOP/s} of the register-only FMA loop."""
    gcc = shutil.which("gcc")
    if gcc is None:
        print("(no gcc: FMA peak not measured)\n")
        return {}
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    widths = [256] + ([512] if " avx512f" in flags else [])
    peaks = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "fma.c")
        src.write_text(FMA_C)
        for bits in widths:
            exe = Path(tmp, f"fma{bits}")
            isa = ["-mavx2", "-mfma"] if bits == 256 else ["-mavx512f"]
            subprocess.run(
                [gcc, "-O2", *isa, "-fopenmp", f"-DVEC={bits}", str(src), "-o", str(exe)],
                check=True,
            )
            for threads in (1, 2):
                env = dict(os.environ, OMP_NUM_THREADS=str(threads))
                runs = [
                    float(
                        subprocess.run(
                            [str(exe), "200000000"], env=env, capture_output=True, text=True
                        ).stdout
                    )
                    for _ in range(repeats)
                ]
                peaks[bits, threads] = max(runs)
    return peaks


def matmul_rate(m, k, n, dtype, repeats, transpose_a=False):
    rng = np.random.default_rng(0)
    A = rng.random((k, m) if transpose_a else (m, k)).astype(dtype)
    A = A.T if transpose_a else A
    B = rng.random((k, n)).astype(dtype)
    C = np.empty((m, n), dtype)
    reps = max(1, int(3e9 / (2 * m * k * n)))

    def run():
        for _ in range(reps):
            np.matmul(A, B, out=C)

    return 2 * m * k * n * reps / best_time(run, repeats) / 1e9


def two_libraries_rate(m, k, n, repeats):
    """GFLOP/s of products alternating between NumPy's and SciPy's OpenBLAS."""
    from scipy.linalg import blas

    rng = np.random.default_rng(0)
    A, B = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
    C = np.empty((m, n), np.float32)
    reps = max(1, int(3e9 / (4 * m * k * n)))

    def run():
        for _ in range(reps):
            np.matmul(A, B, out=C)
            blas.sgemm(1.0, B.T, A.T, c=C.T, overwrite_c=1)

    return 4 * m * k * n * reps / best_time(run, repeats) / 1e9


def rates(repeats):
    heading("1. Reference rates")
    peaks = fma_peak(repeats)
    rows = [[f"{bits}-bit", threads, f"{g:.1f}"] for (bits, threads), g in peaks.items()]
    table(["FMA loop", "threads", "GFLOP/s (float32)"], rows)
    shapes = [
        ("2048 x 2048 x 2048", 2048, 2048, 2048, False),
        ("forward 64 x 7995 @ 7995 x 500", 64, CHUNK, 500, False),
        ("forward 64 x 500 @ 500 x 7995", 64, 500, CHUNK, False),
        ("weight grad 7995 x 64 @ 64 x 500", CHUNK, 64, 500, True),
        ("forward 64 x 500 @ 500 x 500", 64, 500, 500, False),
        ("inference 4096 x 7995 @ 7995 x 500", 4096, CHUNK, 500, False),
        ("frame RBM 64 x 533 @ 533 x 500", 64, FRAME, 500, False),
    ]
    rows = []
    for name, m, k, n, tr in shapes:
        row = [name]
        for threads in RATE_THREADS:
            with threadpool_limits(threads, user_api="blas"):
                row.append(f"{matmul_rate(m, k, n, np.float32, repeats, tr):.1f}")
        if not tr and name.startswith("forward"):
            with threadpool_limits(2, user_api="blas"):
                row.append(f"{two_libraries_rate(m, k, n, repeats):.1f}")
        else:
            row.append("")
        rows.append(row)
    table(
        [
            "product (m x k @ k x n), float32",
            *[f"NumPy, {t} OpenBLAS thread(s), GFLOP/s" for t in RATE_THREADS],
            "NumPy and SciPy OpenBLAS alternating, 2 threads each",
        ],
        rows,
    )
    return peaks


def ceiling(peaks, threads):
    """FMA ceilings ``{bits: GFLOP/s}`` at ``threads`` (the best measured at or below it)."""
    out = {}
    for bits in (256, 512):
        rates = [g for (b, t), g in peaks.items() if b == bits and t <= threads]
        if rates:
            out[bits] = max(rates)
    return out


def _fractions(gflops, peak):
    return [f"{gflops / peak[bits]:.0%}" if bits in peak else "" for bits in (256, 512)]


FRACTION_HEADER = ["of 256-bit FMA ceiling", "of 512-bit FMA ceiling"]


# ------------------------------------------------------------------ 2. RBM
def bench_rbm(repeats, peak):
    from sklearn.neural_network import BernoulliRBM

    from skaesep.rbm import pretrain_rbm

    heading("2. RBM pretraining, one epoch, N = %d, 500 hidden units" % N)
    rng = np.random.default_rng(0)
    data = (rng.random((N, CHUNK)) ** 3).astype(np.float32)
    rows = []
    for n_vis in (CHUNK, FRAME):
        V = np.ascontiguousarray(data[:, :n_vis])
        flop = 10.0 * N * n_vis * 500  # 5 products of 2 n_vis 500 per input per CD-1 step
        ours = best_time(
            lambda V=V: pretrain_rbm(
                V,
                500,
                n_epochs=1,
                batch_size=64,
                random_state=np.random.RandomState(0),
                n_threads=_THREADS,
            ),
            repeats,
        )

        def sk(dtype, batch, V=V):
            BernoulliRBM(500, batch_size=batch, n_iter=1, random_state=0).fit(V.astype(dtype))

        sk32 = best_time(lambda: sk(np.float32, 64), repeats)
        sk64 = best_time(lambda: sk(np.float64, 10), max(1, repeats - 1), warmup=False)
        for name, t in (
            ("skaesep pretrain_rbm, float32, batch 64", ours),
            ("sklearn BernoulliRBM, float32, batch 64", sk32),
            ("sklearn BernoulliRBM defaults, float64, batch 10", sk64),
        ):
            rows.append(
                [
                    f"{n_vis} -> 500",
                    name,
                    f"{t:.3f}",
                    f"{flop / t / 1e9:.1f}",
                    *_fractions(flop / t / 1e9, peak),
                    f"{t / ours:.2f}x",
                ]
            )
    table(
        ["layer", "implementation", "s / epoch", "GFLOP/s", *FRACTION_HEADER, "time / ours"], rows
    )


# ------------------------------------------------------------ 3. fine-tuning
def _finetune_flop():
    sizes = [CHUNK, *LAYERS, *LAYERS[-2::-1], CHUNK]
    macs = sum(a * b for a, b in zip(sizes, sizes[1:]))
    # forward + weight gradients + input gradients (none for the first layer)
    return (6 * macs - 2 * sizes[0] * sizes[1]) * N, sizes


def bench_finetune(repeats, peak, batch_sizes=(64,)):
    from skaesep import StackedRBMAutoencoder

    heading("3. Fine-tuning, one epoch, N = %d, Adam, sigmoid + cross-entropy" % N)
    flop, sizes = _finetune_flop()
    rng = np.random.default_rng(0)
    X = (rng.random((N, CHUNK)) ** 3).astype(np.float32)
    rows = []
    for batch in batch_sizes:
        ae = StackedRBMAutoencoder(
            LAYERS,
            pretrain_epochs=0,
            max_iter=1,
            batch_size=batch,
            tol=0,
            n_iter_no_change=10**6,
            n_threads=_THREADS,
            random_state=0,
        )
        ae._pretrain(X[:batch], list(LAYERS), np.random.RandomState(0))  # initial weights

        def ours(ae=ae):
            ae._fine_tune(X, np.random.RandomState(0))

        t_ours = best_time(ours, repeats)
        results = [("skaesep", t_ours)]
        for fused in (False, True) if _torch_version() else ():
            t = _torch_epoch(X, sizes, batch, repeats, fused)
            if t is not None:
                results.append(
                    (
                        f"PyTorch {_torch_version()} CPU, Adam"
                        + (" fused=True" if fused else " (default)"),
                        t,
                    )
                )
        for name, t in results:
            rows.append(
                [
                    batch,
                    name,
                    f"{t:.3f}",
                    f"{flop / t / 1e9:.1f}",
                    *_fractions(flop / t / 1e9, peak),
                    f"{t / t_ours:.2f}x",
                ]
            )
    if _torch_version() is None:
        print("(PyTorch is not importable: its rows are skipped; pip install -e '.[bench]')\n")
    table(
        ["batch", "implementation", "s / epoch", "GFLOP/s", *FRACTION_HEADER, "time / ours"], rows
    )
    bench_adam_steps(ae, repeats)
    bench_discriminative(repeats)


def bench_adam_steps(ae, repeats):
    """The optimiser's share of an epoch: its steps alone, on the fitted net's parameters."""
    from skaesep._parallel import ThreadTeam
    from skaesep._stochastic_optimizers import AdamOptimizer

    weights, biases = ae._layers()
    params = [p.copy() for p in weights + biases]
    grads = [np.full_like(p, 1e-3) for p in params]
    steps = -(-N // ae.batch_size)
    with ThreadTeam(_THREADS) as team:
        opt = AdamOptimizer(params, 1e-3, team=team)

        def epoch():
            for _ in range(steps):
                opt.update_params(grads)  # grads are overwritten: values do not matter

        t = best_time(epoch, repeats)
    traffic = 7 * sum(p.nbytes for p in params) * steps  # read p, g, m, v; write p, m, v
    table(
        ["Adam steps of one epoch", "steps", "s", "GB/s (7 arrays read or written)"],
        [["skaesep AdamOptimizer", steps, f"{t:.3f}", f"{traffic / t / 1e9:.1f}"]],
    )


def bench_discriminative(repeats):
    """One epoch of the "separation" preset's discriminative fine-tuning (mask loss)."""
    from skaesep.datasets import make_instrument_stem
    from skaesep.presets import make_preset

    names = ("piano", "drums", "flute")
    clips = np.stack(
        [make_instrument_stem(n, duration=10.0, random_state=0) for n in names]
    ).astype(np.float32)
    model = make_preset("separation", random_state=0, pretrain_epochs=1, max_iter=1)
    model.set_params(discriminative_epochs=0, pipeline__autoencoder__n_threads=_THREADS)
    model.fit(clips, list(names))
    model.set_params(discriminative_epochs=1)
    t = best_time(lambda: model._fit_discriminative(clips, list(names)), repeats)
    mixtures = model.discriminative_mixtures
    table(
        ["discriminative fine-tuning, 'separation' preset", "mixtures", "s / epoch"],
        [["skaesep, mask loss, 3 sources", mixtures, f"{t:.3f}"]],
    )


def _torch_version():
    try:
        import torch
    except ImportError:
        return None
    return torch.__version__


def _torch_epoch(X, sizes, batch, repeats, fused):
    try:
        import torch
    except ImportError:
        print("(PyTorch is not importable: its rows are skipped; pip install -e '.[bench]')\n")
        return None
    torch.set_num_threads(_THREADS)
    torch.manual_seed(0)
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.Sigmoid()]
    net = torch.nn.Sequential(*layers[:-1])  # the loss applies the last sigmoid
    loss_fn = torch.nn.BCEWithLogitsLoss()
    try:
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, fused=fused or None)
    except (RuntimeError, TypeError):
        return None
    Xt = torch.from_numpy(X)

    def epoch():
        order = torch.randperm(len(Xt))
        for start in range(0, len(Xt), batch):
            xb = Xt[order[start : start + batch]]
            opt.zero_grad(set_to_none=False)
            loss = loss_fn(net(xb), xb)
            loss.backward()
            opt.step()
            loss.item()  # the per-batch loss, as ours records

    return best_time(epoch, repeats)


# ------------------------------------------------------------- 4. separation
def _fitted_separator(preset, sr=44100):
    """A model of ``preset``, fitted briefly: separation speed does not depend on training."""
    from skaesep.datasets import make_instrument_stem
    from skaesep.presets import make_preset

    clips = np.stack(
        [
            make_instrument_stem(name, duration=3.0, sr=sr, random_state=0)
            for name in ("piano", "drums")
        ]
    ).astype(np.float32)
    model = make_preset(preset, sr=sr, random_state=0, pretrain_epochs=1, max_iter=1)
    model.set_params(pipeline__autoencoder__n_threads=_THREADS)
    return model.fit(clips, ["piano", "drums"])


def _write_mixture(path, seconds, sr=44100):
    from skaesep.audio import write_audio
    from skaesep.datasets import make_instrument_stem

    piece = sum(
        make_instrument_stem(name, duration=30.0, sr=sr, random_state=1)
        for name in ("piano", "drums")
    )
    reps = int(np.ceil(seconds / 30.0))
    write_audio(path, np.tile(piece, reps)[: int(seconds * sr)], sr, force=True)


def separate_file(model, path, out_dir):
    """load -> STFT -> encode/decode -> masks -> ISTFT -> write, for one file."""
    from skaesep.audio import write_audio
    from skaesep.separation import separate

    result = separate(path, model)
    for name, source in zip(result.names, result.sources):
        write_audio(os.path.join(out_dir, f"{name}.wav"), source, result.sr, force=True)
    return result.sources.shape[-1] / result.sr


def bench_separation(repeats, tmp, presets=("report", "demo")):
    import joblib

    heading(
        "4. Separation of a file, end to end (read, STFT, encode/decode, masks, "
        "ISTFT, write), 2 sources"
    )
    rows = []
    for minutes in (3, 10):
        _write_mixture(os.path.join(tmp, f"mix{minutes}.wav"), 60 * minutes)
    for preset in presets:
        model = _fitted_separator(preset)
        model_path = os.path.join(tmp, f"{preset}.joblib")
        joblib.dump(model, model_path)
        for minutes in (3, 10):
            path = os.path.join(tmp, f"mix{minutes}.wav")
            t = best_time(
                lambda path=path, model=model: separate_file(model, path, tmp),
                repeats if minutes == 3 else 1,
                warmup=minutes == 3,
            )
            child = subprocess.run(
                [sys.executable, __file__, "--peak-memory", model_path, path, tmp],
                capture_output=True,
                text=True,
                check=True,
            )
            base_mb, peak_mb = (float(v) for v in child.stdout.split())
            rows.append(
                [
                    preset,
                    f"{minutes} min, 44.1 kHz",
                    f"{t:.2f}",
                    f"{60 * minutes / t:.0f}x",
                    f"{peak_mb:.0f}",
                    f"{peak_mb - base_mb:.0f}",
                ]
            )
    table(
        [
            "preset",
            "file",
            "wall s",
            "real-time factor",
            "peak RSS MB (whole process)",
            "MB above the loaded model",
        ],
        rows,
    )


def _vm_hwm_mb():
    """Peak resident memory of this process so far (VmHWM, reset by exec), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_memory_child(model, path, out_dir):
    import joblib

    model = joblib.load(model)
    base = _vm_hwm_mb()
    separate_file(model, path, out_dir)
    print(base, _vm_hwm_mb())


# ------------------------------------------------------------ 5. stages
@contextmanager
def _timed_methods(targets, totals):
    """Add the wall time of each ``(label, owner, name)`` method into ``totals[label]``."""
    saved = []
    for label, owner, name in targets:
        raw = inspect.getattr_static(owner, name)
        saved.append((owner, name, owner.__dict__.get(name)))
        func = raw.__func__ if isinstance(raw, staticmethod) else raw

        def wrapper(*args, _f=func, _label=label, **kwargs):
            t = time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                totals[_label] = totals.get(_label, 0.0) + time.perf_counter() - t

        setattr(owner, name, staticmethod(wrapper) if isinstance(raw, staticmethod) else wrapper)
    try:
        yield totals
    finally:
        for owner, name, original in reversed(saved):
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def bench_demo(tmp, presets=("demo", "report")):
    import librosa

    import skaesep._separation_engine as engine
    import skaesep.audio
    import skaesep.autoencoder
    import skaesep.cli
    import skaesep.datasets
    import skaesep.metrics
    from skaesep import (
        CodeLayerClusterer,
        MaskResynthesizer,
        SpectrogramTransformer,
        StackedRBMAutoencoder,
    )

    print(
        "## 5. `skaesep demo` by stage (3 instruments, 2 training clips of 10 s each, "
        "a 10 s held-out mixture); indented rows split `separate` of a 3-minute file "
        "with the same model kind\n",
        flush=True,
    )
    targets = [
        ("synthesise the instruments", skaesep.datasets, "_synthesize"),
        ("fit: spectrogram (STFT)", SpectrogramTransformer, "fit_transform"),
        ("fit: RBM pretraining", StackedRBMAutoencoder, "_pretrain"),
        ("fit: fine-tuning", StackedRBMAutoencoder, "_fine_tune"),
        ("fit: clustering", CodeLayerClusterer, "fit"),
        ("separate", MaskResynthesizer, "separate"),
        ("write audio", skaesep.audio, "write_audio"),
        ("figures", skaesep.cli, "_demo_figures"),
        ("BSS Eval", skaesep.metrics, "evaluate_separation"),
    ]
    inner = [
        ("  separate: STFT", librosa, "stft"),
        ("  separate: encode + decode", skaesep.autoencoder, "propagate"),
        ("  separate: masks", engine, "ratio_masks"),
        ("  separate: scale |S| into [0, 1]", SpectrogramTransformer, "scale"),
        ("  separate: inverse FFT", np.fft, "irfft"),
        ("  separate: ISTFT overlap-add", engine, "overlap_add"),
    ]
    columns = {}
    for preset in presets:
        totals = {}
        out = os.path.join(tmp, f"demo-{preset}")
        with _timed_methods(targets, totals):
            t0 = time.perf_counter()
            with contextlib_redirect():
                skaesep.cli.main(["demo", "--preset", preset, "--out", out, "--force", "--quiet"])
            total = time.perf_counter() - t0
        # The split inside separate() (its STFT, products, masks, overlap-add), timed apart.
        model = _fitted_separator(preset)
        y = np.tile(
            skaesep.datasets.make_instrument_stem("piano", duration=30.0, random_state=3), 6
        )
        with _timed_methods(inner, totals):
            t0 = time.perf_counter()
            model.separate(y.astype(np.float32))
            totals["  separate a 3-minute file (no I/O)"] = time.perf_counter() - t0
        totals["other (data set-up, scoring tables, ...)"] = total - sum(
            v for k, v in totals.items() if not k.startswith("  ")
        )
        totals["**total**"] = total
        columns[preset] = totals
    labels = list(dict.fromkeys(k for c in columns.values() for k in c))
    rows = [[k] + [f"{columns[p].get(k, 0.0):.2f}" for p in presets] for k in labels]
    table(["stage (wall s)"] + [f"--preset {p}" for p in presets], rows)


@contextmanager
def contextlib_redirect():
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        yield


# ------------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one timed repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="rates,rbm,finetune,separation,demo")
    parser.add_argument("--batch-sizes", default="64", help="fine-tuning batch sizes")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count(), help="BLAS and PyTorch threads"
    )
    parser.add_argument("--peak-memory", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_memory:
        _peak_memory_child(*args.peak_memory)
        return
    global _THREADS
    _THREADS = args.threads
    repeats = 1 if args.quick else args.repeats
    only = set(args.only.split(","))
    machine()
    print(f"Threads: skaesep n_threads, sklearn's BLAS and PyTorch: {args.threads}\n")
    with threadpool_limits(args.threads), tempfile.TemporaryDirectory() as tmp:
        try:
            import torch

            torch.set_num_threads(args.threads)
        except ImportError:
            pass
        peaks = rates(repeats) if "rates" in only else {}
        peak = ceiling(peaks, args.threads)
        print(
            "FMA ceilings used below (%d thread(s)): %s\n"
            % (args.threads, ", ".join(f"{bits}-bit {g:.1f} GFLOP/s" for bits, g in peak.items()))
        )
        if "rbm" in only:
            bench_rbm(repeats, peak)
        if "finetune" in only:
            bench_finetune(repeats, peak, [int(b) for b in args.batch_sizes.split(",")])
        if "separation" in only:
            bench_separation(repeats, tmp)
        if "demo" in only:
            bench_demo(tmp)
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
