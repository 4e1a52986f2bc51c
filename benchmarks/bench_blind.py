#!/usr/bin/env python
"""Blind separation benchmark (issue 10) on the generalisation suite's splits.

Every blind method is told only how many sources the mixture holds and is
scored on the best permutation (BSS Eval v3, :func:`_suite.score`). One
seed per run, results to ``OUT_seed<S>.json``; ``--table`` joins the seeds
into ``OUT.rst`` (mean ± sd over seeds of the mean SDR per split)::

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_blind.py --seed 0
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_blind.py --seed 1 --baselines
    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_blind.py --seed 2
    python benchmarks/bench_blind.py --table

Training audio (``_suite.training_data("small", seed)``: 4 clips of 20 s of
each of the eight instruments, in 10 s segments, the clips of the seed),
pooled without labels:

* ``solo``: the segments as they are;
* ``mixtures``: the same audio as mixtures: 3/4 of the segments added in
  pairs of different instruments, 1/4 left solo (so that mixture-invariant
  training sees 1+1 and 1+2 mixtures of mixtures).

Methods: the ``separation`` preset fitted blind (timbre pseudo-labels; K = 8
groups, as ``skaesep train --blind --n-sources 8``; ``--n-sources 0`` lets
the silhouette choose), alone and with ``invariant_training="pit"`` (solo) or
``"mixit"`` (mixtures); the report's test-time clustering of the pseudo-label
network's units on the mixture; blind NMF + k-means and blind NMF + MFCC
clustering (``--baselines``; deterministic, run once); HPSS on mixtures with
drums (drums against the sum of the others); the unprocessed mixture; the
oracle ratio mask; identified skaesep (labels, told the instruments) as the
upper reference. ``--every N`` keeps every N-th mixture of each split.
"""

import argparse
import copy
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from skaesep.metrics import ideal_ratio_mask
from skaesep.presets import make_preset

REPO = Path(__file__).resolve().parent.parent
import _suite  # noqa: E402
from _blind_baselines import BlindNMF, test_time_clustering  # noqa: E402

#: Epochs of the blind fits (a small budget: 2 shared cores).
DISCRIMINATIVE = dict(discriminative_epochs=5, discriminative_mixtures=10000)
INVARIANT_EPOCHS = 3


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def mixture_training(train, seed):
    """3/4 of the segments added in pairs of different instruments, 1/4 solo."""
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(train.data))
    n_solo = len(order) // 4
    solo, rest = list(order[:n_solo]), list(order[n_solo:])
    clips, truth = [train.data[i] for i in solo], [(train.target[i],) for i in solo]
    while len(rest) >= 2:
        i = rest.pop()
        j = next((k for k in rest if train.target[k] != train.target[i]), rest[0])
        rest.remove(j)
        clips.append(train.data[i] + train.data[j])
        truth.append((train.target[i], train.target[j]))
    return np.stack(clips), truth


def pseudo_label_ari(model, train):
    """ARI of the timbre groups against the instruments of the (solo) segments."""
    clips, _ = model._timbre_pseudo_labels(train.data)  # the segments fit used
    seg = clips.shape[1]
    n_per = train.data.shape[1] // seg
    pieces = train.data[:, : n_per * seg].reshape(-1, seg)
    truth = np.repeat(train.target, n_per)
    rms = np.sqrt(np.mean(pieces.astype(np.float64) ** 2, axis=1))
    truth = truth[rms > 1e-3 * rms.max()]
    return float(adjusted_rand_score(truth, model.timbre_labels_))


def with_invariant(model, X, kind):
    """``model`` refitted with ``invariant_training=kind``: its last step only.

    The same as ``fit(X)`` with the option set (every step draws from a
    fresh ``RandomState(random_state)``), without refitting the steps before.
    """
    out = copy.deepcopy(model).set_params(
        invariant_training=kind, invariant_epochs=INVARIANT_EPOCHS
    )
    clips, _ = out._timbre_pseudo_labels(X)
    labels = out._fit_invariant(clips, out.timbre_labels_)
    out._fit_presence(clips, labels)
    return out


def machine():
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        cpu = platform.machine()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    }


def run_seed(args):
    seed = args.seed
    info = {"seed": seed, "machine": machine(), "command": " ".join(sys.argv)}
    t_start = time.perf_counter()
    splits = [_suite.SPLITS[name]("small", seed) for name in args.splits]
    train = splits[0].train
    quick = {"max_iter": 2, "pretrain_epochs": 1} if args.quick else {}
    disc = (
        dict(discriminative_epochs=1, discriminative_mixtures=500)
        if args.quick
        else DISCRIMINATIVE
    )

    def blind_preset():
        model = make_preset("separation", random_state=seed, **quick).set_params(**disc)
        return model.set_params(pipeline__clusterer__n_sources=args.n_sources)

    models, fit_s, notes = {}, {}, {}

    def fit(name, make):
        t0 = time.perf_counter()
        models[name] = make()
        fit_s[name] = time.perf_counter() - t0
        log(f"seed {seed}: fitted {name} in {fit_s[name]:.0f} s")

    fit("pseudo-labels, solo", lambda: blind_preset().fit(train.data))
    solo = models["pseudo-labels, solo"]
    notes["solo"] = {"K": int(solo.n_sources_), "ari": pseudo_label_ari(solo, train)}
    log(f"seed {seed}: solo K={solo.n_sources_}, ARI {notes['solo']['ari']:.3f}")
    fit("pseudo-labels + PIT, solo", lambda: with_invariant(solo, train.data, "pit"))
    mixes, truth = mixture_training(train, seed)
    fit("pseudo-labels, mixtures", lambda: blind_preset().fit(mixes))
    mixed = models["pseudo-labels, mixtures"]
    notes["mixtures"] = {"K": int(mixed.n_sources_), "n_clips": len(mixes)}
    fit("pseudo-labels + MixIT, mixtures", lambda: with_invariant(mixed, mixes, "mixit"))
    fit(
        "identified (labels, told the instruments)",
        lambda: (
            make_preset("separation", random_state=seed, **quick)
            .set_params(**disc)
            .fit(train.data, train.target)
        ),
    )

    def blind(name):
        return lambda mix, inst: models[name].separate(mix, n_sources=len(inst))

    methods = {
        "mixture": (lambda mix, inst: np.stack([mix] * len(inst)), False),
        "oracle ratio mask": (None, False),
        **{name: (blind(name), True) for name in models if not name.startswith("identified")},
        "test-time unit clustering (report III-D)": (
            lambda mix, inst: test_time_clustering(solo, mix, len(inst)),
            True,
        ),
        "identified (labels, told the instruments)": (
            lambda mix, inst: models["identified (labels, told the instruments)"].separate(
                mix, sources=list(inst)
            ),
            False,
        ),
    }
    if args.baselines:
        nmf = BlindNMF(max_iter=50 if args.quick else _suite.NMF_ITER)
        methods["blind NMF + k-means"] = (lambda mix, inst: nmf.blind(mix, len(inst)), True)
        methods["blind NMF + MFCC clusters"] = (lambda mix, inst: nmf.mfcc(mix, len(inst)), True)
        methods["HPSS (drums vs the rest)"] = ("hpss", True)
    results = {}
    for split in splits:
        mixtures = split.mixtures[:: args.every]
        if args.quick:
            mixtures = mixtures[:2]
        for name, (estimate, permutation) in methods.items():
            t0 = time.perf_counter()
            rows = []
            for m in mixtures:
                refs, inst = m.references, m.instruments
                if estimate == "hpss":
                    if "drums" not in inst or len(inst) < 2:
                        continue
                    d = inst.index("drums")
                    refs = np.stack([refs[d], np.delete(refs, d, axis=0).sum(axis=0)])
                    est = nmf.hpss(m.mix)
                elif estimate is None:
                    est = ideal_ratio_mask(refs)
                else:
                    est = estimate(m.mix, inst)
                rows.append(
                    {"mixture": m.name, **_suite.score(refs, est, permutation=permutation)}
                )
            sdr = [v for r in rows for v in r["sdr"]]
            results.setdefault(split.name, {})[name] = {
                "rows": rows,
                "mean_sdr": float(np.mean(sdr)) if sdr else None,
                "time_s": time.perf_counter() - t0,
            }
            if sdr:
                log(f"seed {seed}: {split.name}: {name}: {np.mean(sdr):.2f} dB ({len(rows)} mix.)")
    info.update(
        run_time_s=time.perf_counter() - t_start,
        load_at_end=[round(x, 2) for x in os.getloadavg()],
        fit_s=fit_s,
        notes=notes,
        every=args.every,
    )
    out = Path(f"{args.out}_seed{seed}.json")
    out.write_text(json.dumps({"info": info, "results": results}, indent=1))
    log(f"wrote {out} in {info['run_time_s'] / 60:.1f} min")


def write_table(args):
    runs = [json.loads(p.read_text()) for p in sorted(Path(args.out).parent.glob(
        Path(args.out).name + "_seed*.json"))]  # fmt: skip
    split_names = list(runs[0]["results"])
    methods = []
    for run in runs:
        for split in run["results"].values():
            methods += [m for m in split if m not in methods]
    lines = [
        ".. Generated by benchmarks/bench_blind.py --table; do not edit.",
        "",
        ".. list-table:: Mean SDR (dB) over the sources of each split; mean ± sd over seeds "
        "(n = number of seeds)",
        "   :header-rows: 1",
        "",
        "   * - method",
        *[f"     - {s}" for s in split_names],
    ]
    for method in methods:
        lines.append(f"   * - {method}")
        for s in split_names:
            values = [
                r["results"][s][method]["mean_sdr"]
                for r in runs
                if method in r["results"].get(s, {})
                and r["results"][s][method]["mean_sdr"] is not None
            ]
            if not values:
                lines.append("     - --")
            elif len(values) == 1:
                lines.append(f"     - {values[0]:.2f} (n = 1)")
            else:
                lines.append(
                    f"     - {np.mean(values):.2f} ± {np.std(values, ddof=1):.2f} "
                    f"(n = {len(values)})"
                )
    lines.append("")
    for run in runs:
        i = run["info"]
        lines.append(
            f"Seed {i['seed']}: ``{i['command']}``, {i['run_time_s'] / 60:.0f} min on "
            f"{i['machine']['cpu']}, {i['machine']['cores']} cores "
            f"(load {i['machine']['load_at_start']} "
            f"at start, {i['load_at_end']} at end, OPENBLAS_NUM_THREADS="
            f"{i['machine']['blas_threads']}); timbre groups K = {i['notes']['solo']['K']} (solo, "
            f"ARI {i['notes']['solo']['ari']:.2f} against the instruments), K = "
            f"{i['notes']['mixtures']['K']} (mixtures); fits (s): "
            + ", ".join(f"{k} {v:.0f}" for k, v in i["fit_s"].items())
            + "."
        )
        lines.append("")
    Path(args.out + ".rst").write_text("\n".join(lines))
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="training clips and model seed")
    parser.add_argument(
        "--splits", nargs="+", default=list(_suite.SPLITS), choices=list(_suite.SPLITS)
    )
    parser.add_argument("--every", type=int, default=2, help="keep every N-th mixture (default 2)")
    parser.add_argument(
        "--baselines", action="store_true", help="also score the NMF baselines and HPSS"
    )
    parser.add_argument(
        "--n-sources",
        type=int,
        default=len(_suite.TRAIN_INSTRUMENTS),
        help="timbre groups of the blind fits (default: 8, the instruments pooled; "
        "0: chosen by silhouette)",
    )
    parser.add_argument("--out", default=str(REPO / "docs" / "blind_results"))
    parser.add_argument("--quick", action="store_true", help="tiny smoke run, not for reporting")
    parser.add_argument(
        "--table", action="store_true", help="join the seeds' results into OUT.rst"
    )
    args = parser.parse_args(argv)
    args.n_sources = args.n_sources or None
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    if args.table:
        write_table(args)
    else:
        run_seed(args)


if __name__ == "__main__":
    main()
