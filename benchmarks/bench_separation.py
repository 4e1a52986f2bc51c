#!/usr/bin/env python
"""Separation benchmark on 2- and 3-instrument FluidR3 mixtures.

One command (about 20-25 minutes on 2 cores)::

    python benchmarks/bench_separation.py

(on a machine shared with other jobs, ``OPENBLAS_NUM_THREADS=1`` avoids
OpenBLAS threads spinning against each other; it was 2-5x faster here)
renders the report's five instruments with ``scripts/render_fluidr3.py``
(training: 6 clips of 20 s per instrument, seed 0; test: 1 clip per
instrument with other note sequences, seed 1), mixes every pair and every
triple of test instruments at equal gain (10 + 10 mixtures, 50 sources) and
scores with BSS Eval v3 (:func:`skaesep.metrics.bss_eval`):

* ``mixture``: the unprocessed mixture as every source's estimate;
* ``oracle ratio mask``: :func:`skaesep.metrics.ideal_ratio_mask` (ceiling);
* ``supervised KL-NMF``: 30 components per instrument learnt on the training
  stems (scikit-learn NMF, ``beta_loss="kullback-leibler"``, ``solver="mu"``),
  activations fitted on the mixture with the present instruments'
  dictionaries fixed, ratio masks;
* ``blind NMF + k-means``: 30-component KL-NMF of the mixture, components
  grouped by k-means on their log-normalised spectra, ratio masks, best
  permutation;
* ``skaesep ... identified``: :class:`skaesep.MaskResynthesizer` fitted on
  the labelled training stems, told which instruments are in the mixture
  (``separate(mix, sources=...)``, the same knowledge the supervised NMF
  gets); the report's preset and the best configuration;
* ``skaesep ... blind``: the network trained without labels, its units
  clustered by a GMM on the mixture's own codes (no labels), best
  permutation.

Means and medians of SDR/SIR/SAR per method go into
``docs/benchmark_results.rst`` (and ``.json``) with the command, the machine
and the run time. ``--quick`` runs a small smoke version (not for reporting).
"""

import argparse
import itertools
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from skaesep import CodeLayerClusterer, MaskResynthesizer
from skaesep.metrics import bss_eval, ideal_ratio_mask
from skaesep.presets import make_preset

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples"))
from _fluidr3 import fluidr3  # noqa: E402
from _suite import NMF_ITER, NMFBaselines  # noqa: E402

TRAIN_CLIPS = 6


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------- skaesep
def blind_separate(separator, mix, names, random_state=0):
    """Blind: the fitted network, its units clustered on the mixture's codes."""
    spectrogram, autoencoder, _ = (step for _, step in separator.pipeline_.steps)
    codes = autoencoder.transform(spectrogram.transform(mix[None]))
    clusterer = CodeLayerClusterer(
        len(names), n_units=autoencoder.encoder_weights_[-1].shape[1], random_state=random_state
    ).fit(codes)
    pipe = Pipeline(
        [("spectrogram", spectrogram), ("autoencoder", autoencoder), ("clusterer", clusterer)]
    )
    blind = MaskResynthesizer(FrozenEstimator(pipe), chunk_hop=separator.chunk_hop)
    return blind.fit(mix[None]).separate(mix)


# ----------------------------------------------------------------- scoring
def score(estimate, mixtures, test, *, permutation=False):
    rows = []
    for names in mixtures:
        refs = np.stack([test[n] for n in names]).astype(np.float64)
        est = np.asarray(estimate(refs.sum(axis=0), names), dtype=np.float64)
        r = bss_eval(refs, est, compute_permutation=permutation)
        rows.append(
            {
                "sources": list(names),
                "sdr": r.sdr.tolist(),
                "sir": r.sir.tolist(),
                "sar": r.sar.tolist(),
            }
        )
    return rows


def summary(rows):
    out = {}
    for key in ("sdr", "sir", "sar"):
        values = [v for r in rows for v in r[key]]
        out[f"mean_{key}"], out[f"median_{key}"] = float(np.mean(values)), float(np.median(values))
    for m in (2, 3):
        values = [v for r in rows if len(r["sources"]) == m for v in r["sdr"]]
        out[f"mean_sdr_{m}mix"] = float(np.mean(values)) if values else float("nan")
    return out


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_at_start": [round(x, 2) for x in load],
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    }


def write_rst(path, results, info):
    methods = results["methods"]
    lines = [
        ".. Generated by benchmarks/bench_separation.py; do not edit.",
        "",
        f"Command: ``{info['command']}``",
        "",
        f"Machine: {info['machine']['cpu']}, {info['machine']['cores']} cores "
        f"(load average at start {info['machine']['load_at_start']}, load at end "
        f"{info['load_at_end']}, OPENBLAS_NUM_THREADS={info['machine']['blas_threads']}), Python "
        f"{info['machine']['python']}, NumPy {info['machine']['numpy']}. "
        f"Run time: {info['run_time_s'] / 60:.1f} min. Test: {info['n_mixtures']} mixtures "
        f"({info['n_sources']} sources), {info['duration']:g} s at 44.1 kHz; training: "
        f"{info['n_train_clips']} clips per instrument.",
        "",
        ".. list-table:: BSS Eval v3 (dB) over all sources of the 2- and 3-instrument mixtures",
        "   :header-rows: 1",
        "",
        "   * - method",
        "     - mean SDR",
        "     - median SDR",
        "     - mean SIR",
        "     - median SIR",
        "     - mean SAR",
        "     - median SAR",
        "     - mean SDR, 2 instr.",
        "     - mean SDR, 3 instr.",
        "     - time (s)",
    ]
    for name, m in methods.items():
        s = m["summary"]
        cells = (
            [name]
            + [
                f"{s[k]:.2f}"
                for k in (
                    "mean_sdr",
                    "median_sdr",
                    "mean_sir",
                    "median_sir",
                    "mean_sar",
                    "median_sar",
                    "mean_sdr_2mix",
                    "mean_sdr_3mix",
                )
            ]
            + [f"{m['time_s']:.0f}"]
        )
        lines.append(f"   * - {cells[0]}")
        lines += [f"     - {c}" for c in cells[1:]]
    lines.append("")
    Path(path).write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        default=str(REPO / "docs" / "benchmark_results"),
        help="output path without extension (.rst and .json written)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny smoke run, not for reporting")
    parser.add_argument(
        "--n-train-clips",
        type=int,
        default=TRAIN_CLIPS,
        help="training clips of 20 s per instrument (all methods)",
    )
    parser.add_argument(
        "--skip-report", action="store_true", help="skip the report's preset (saves ~3 minutes)"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    start = time.perf_counter()
    info = {
        "command": " ".join(["python benchmarks/bench_separation.py", *sys.argv[1:]]),
        "machine": machine(),
    }

    duration = info["duration"] = 4.0 if args.quick else 20.0
    info["n_train_clips"] = args.n_train_clips
    train = fluidr3(seed=0, n_clips=args.n_train_clips, duration=duration)
    test_data = fluidr3(seed=1, n_clips=1, duration=duration)
    test = dict(zip(test_data.target, test_data.data))
    instruments = sorted(test)
    mixtures = [c for m in (2, 3) for c in itertools.combinations(instruments, m)]
    if args.quick:
        mixtures = mixtures[:2] + mixtures[-2:]
    info["n_mixtures"] = len(mixtures)
    info["n_sources"] = sum(len(c) for c in mixtures)
    log(f"{len(mixtures)} test mixtures of {instruments}")

    methods = {}

    def run(name, fit, estimate, permutation=False):
        t0 = time.perf_counter()
        fitted = fit()
        t_fit = time.perf_counter() - t0
        rows = score(
            lambda mix, names: estimate(fitted, mix, names),
            mixtures,
            test,
            permutation=permutation,
        )
        methods[name] = {
            "rows": rows,
            "summary": summary(rows),
            "fit_s": t_fit,
            "time_s": time.perf_counter() - t0,
        }
        s = methods[name]["summary"]
        log(
            f"{name}: mean SDR {s['mean_sdr']:.2f} (2: {s['mean_sdr_2mix']:.2f}, "
            f"3: {s['mean_sdr_3mix']:.2f}), median {s['median_sdr']:.2f}, "
            f"fit {t_fit:.0f}s, total {methods[name]['time_s']:.0f}s"
        )
        return fitted

    run("mixture", lambda: None, lambda _, mix, names: np.stack([mix] * len(names)))
    run(
        "oracle ratio mask",
        lambda: None,
        lambda _, mix, names: ideal_ratio_mask(np.stack([test[n] for n in names])),
    )
    nmf = run(
        "supervised KL-NMF (30 per instrument)",
        lambda: NMFBaselines(train, max_iter=50 if args.quick else NMF_ITER),
        lambda b, mix, names: b.supervised(mix, names),
    )
    run(
        "blind NMF + k-means (30 components)",
        lambda: nmf,
        lambda b, mix, names: b.blind(mix, len(names)),
        permutation=True,
    )

    quick = {"max_iter": 2, "pretrain_epochs": 1} if args.quick else {}
    quick_sep = {"discriminative_epochs": 1, "discriminative_mixtures": 500} if args.quick else {}

    def fit_labelled(separator):
        return separator.fit(train.data, train.target)

    if not args.skip_report:
        report = run(
            "skaesep, report preset, identified",
            lambda: fit_labelled(make_preset("report", random_state=0, **quick)),
            lambda s, mix, names: s.separate(mix, sources=list(names)),
        )
        run(
            "skaesep, report preset, blind",
            lambda: report,
            lambda s, mix, names: blind_separate(s, mix, names),
            permutation=True,
        )
    best = run(
        "skaesep, best preset, identified",
        lambda: fit_labelled(
            make_preset("separation", random_state=0, **quick).set_params(**quick_sep)
        ),
        lambda s, mix, names: s.separate(mix, sources=list(names)),
    )
    # Not blind training: the network learnt with labels, only the clustering is blind.
    run(
        "skaesep, best preset, GMM clusters on the mixture (network trained with labels)",
        lambda: best,
        lambda s, mix, names: blind_separate(s, mix, names),
        permutation=True,
    )
    # Blind: the same architecture trained without labels (no discriminative step).
    run(
        "skaesep, best preset without labels, blind",
        lambda: make_preset("separation", random_state=0, **quick).fit(train.data),
        lambda s, mix, names: blind_separate(s, mix, names),
        permutation=True,
    )

    info["run_time_s"] = time.perf_counter() - start
    info["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results = {"info": info, "methods": methods}
    Path(args.out + ".json").write_text(json.dumps(results, indent=1))
    write_rst(args.out + ".rst", results, info)
    log(f"wrote {args.out}.rst/.json in {info['run_time_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
