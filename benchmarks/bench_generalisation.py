#!/usr/bin/env python
"""Generalisation suite (issue 9): four test splits, two training budgets, several seeds.

The splits, the training data and the NMF baselines are those of
``benchmarks/_suite.py`` (in-domain FluidR3, timbre shift to two other
soundfonts, ensemble pieces, similar instruments; every model is trained on
isolated FluidR3 single notes of eight instruments). The run is cut into
parts that can go in parallel, each writing ``OUT/parts/<part>.json``; the
last command joins them into ``OUT.json`` and ``OUT.rst``::

    B=benchmarks/bench_generalisation.py
    python $B --part baselines                 # mixture, oracle, blind NMF
    python $B --part small --seed 0            # and --seed 1, --seed 2
    python $B --part large --seed 0            # the built-in model
    python $B --part cli --seed 0              # skaesep train + separate, no hints
    python $B --part lever --lever gain --seed 0   # a training-time lever (LEVERS)
    python $B --collect

Methods of a model part (``--budget`` clips per instrument, ``--seed``):

* ``skaesep told``: the suite's plain preset, the ``"separation"`` preset
  (``random_state=seed``) with its earlier network :data:`PLAIN_LAYERS`,
  fitted on the budget's training segments, ``separate(mix,
  sources=names)`` (:data:`DEFAULT_LEVER` is today's preset); the large
  budget's seed 0 is the built-in model ``default`` (the same training
  audio and seed, today's preset, trained by
  ``scripts/train_default_model.py``);
* ``skaesep auto``: ``separate(mix, sources="auto")`` (the model's presence
  detector chooses among its eight instruments);
* ``NMF told``: supervised KL-NMF (30 components per instrument, the same
  training audio; at most :data:`NMF_MAX_FRAMES` frames per instrument) told
  the instruments;
* ``NMF auto``: the same NMF choosing its own instruments
  (:meth:`_suite.NMFBaselines.auto`: all eight dictionaries fitted at once,
  an instrument is present when its part holds at least a threshold share of
  the fitted magnitude, the threshold chosen on random training mixtures);
* ``skaesep told, mask_power=P``: test-time levers on the same fitted model
  (``--mask-powers``; 2 is one iteration of open-unmix's Wiener EM on a
  single channel, 4 two iterations, see ``docs/quality.rst``).

The ``cli`` part (small budget) checks that the command line reproduces
``skaesep auto``: ``skaesep train`` on a folder of the same training clips
(``--seed``, default preset and segment length), then ``skaesep separate`` of
every test mixture written as a WAV file, without ``--instruments``; the
stems it writes are read back and scored as ``skaesep auto (CLI)``, beside
the Python auto mode of the same configuration (:data:`DEFAULT_LEVER`).

A ``lever`` part (small budget) trains the plain preset with one
of :data:`LEVERS`' overrides on the same seed's training clips and scores it
told and auto, beside the plain preset of the ``small`` part of that seed; a
lever of :data:`PRESENCE_LEVERS` keeps that part's fitted network and fits
only the presence detector again; a lever of :data:`AVERAGE_LEVERS` averages
the plain model and other draws (:class:`SeedAverage`). Auto mode is compared
with the plain network whose detector was fitted on as many mixtures (the
small parts' 200, else the ``presence-N`` lever of that seed).

A source an auto method misses has no score (counted as missed); estimates
of instruments not in the mixture are dropped. Baseline methods: the
mixture, the oracle ratio mask, blind NMF + k-means (told the number of
instruments, best permutation).
"""

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import _suite
import numpy as np
import soundfile as sf
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator

from skaesep import MaskResynthesizer, load_model, save_model
from skaesep.cli import main as skaesep_main
from skaesep.metrics import ideal_ratio_mask
from skaesep.presets import make_preset

REPO = Path(__file__).resolve().parent.parent
MODELS = _suite.DATA / "models"
#: Layers of the suite's plain preset: the ``"separation"`` preset's network
#: until it was widened (the small parts and levers in docs/ start from it).
PLAIN_LAYERS = (512, 256)
#: Frames per instrument the NMF dictionaries learn on (the large budget has
#: about 45 000; every third is kept).
NMF_MAX_FRAMES = 15000
#: Training-time levers: overrides of the ``"separation"`` preset.
LEVERS = {
    "gain": dict(discriminative_augmentation={"gain_db": 6.0}),
    "gain+tilt": dict(discriminative_augmentation={"gain_db": 6.0, "tilt_db": 2.0}),
    "gain+tilt+pitch": dict(
        discriminative_augmentation={"gain_db": 6.0, "tilt_db": 2.0, "pitch_semitones": 1.0}
    ),
    # Stems starting notes together (training notes last 0.25-1 s, drum hits 0.125-0.5 s).
    "onset": dict(discriminative_augmentation={"onset_s": 0.25}),
    # Early stopping on mixtures of a quarter of the training segments, up to 30 epochs.
    "early-stop": dict(discriminative_epochs=30, discriminative_validation_fraction=0.25),
    # Other draws of the plain preset on the same clips, for averaging seeds.
    **{f"draw-{k}": dict(random_state=k) for k in (101, 102)},
}
#: The draws that, with the plain preset, give each lever a second baseline.
DRAWS = ("draw-101", "draw-102")
# Twice the units in both layers (code layer 512).
LEVERS["wide"] = dict(
    pipeline__autoencoder__layer_sizes=(1024, 512), pipeline__clusterer__n_units=None
)
# "wide" with three times the discriminative epochs (early-stop showed 10 too few).
LEVERS["wide-30"] = dict(LEVERS["wide"], discriminative_epochs=30)
# "wide" with three frames of time context per chunk (overlapping chunks averaged).
LEVERS["context-3"] = dict(
    LEVERS["wide"], pipeline__spectrogram__n_frames=3, pipeline__autoencoder__input_size=None
)
#: The lever that is today's ``"separation"`` preset (what ``skaesep train``
#: fits): the suite's plain preset is that preset with its earlier network.
DEFAULT_LEVER = "wide"
#: Test-time levers: the small part's model of the seed with its presence
#: detector fitted again with these overrides (the network is kept, frozen).
PRESENCE_LEVERS = {
    "presence-1000": dict(presence_mixtures=1000),
    "presence-1000-t0.2": dict(presence_mixtures=1000, presence_threshold=0.2),
}
#: Averaging levers: the plain model of the seed and these levers' models, combined
#: by :class:`SeedAverage`.
AVERAGE_LEVERS = {"average-3": ("draw-101", "draw-102")}
#: ``presence_mixtures`` of the plain small parts' models (fitted before it was 1000).
SMALL_PART_PRESENCE_MIXTURES = 200
BASELINES = ("mixture", "oracle ratio mask", "blind NMF + k-means")
MAIN_METHODS = ("skaesep told", "skaesep auto", "NMF told", "NMF auto")
NMF_METHODS = MAIN_METHODS[2:]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def machine():
    cpu = _suite.cpu_name()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    }


def _load():
    return [round(x, 2) for x in os.getloadavg()]


def fit_skaesep(budget, seed, train):
    """The budget's fitted ``"separation"`` model (cached in ``MODELS``)."""
    if budget == "large" and seed == 0:
        model = load_model("default")
        if sorted(map(str, model.classes_)) != sorted(_suite.TRAIN_INSTRUMENTS):
            raise RuntimeError("the built-in model is not the suite's eight instruments")
        return model, "built-in model 'default' (scripts/train_default_model.py)", 0.0
    return _fit_cached(f"{budget}_seed{seed}", seed, train, f"suite {budget} budget, seed {seed}")


class SeedAverage:
    """Several fitted models of the same instruments, separating as one.

    Told the sources, the estimate is the mean of the models' estimates (the
    mean of their masks on the mixture: the estimates still sum to it); with
    ``sources="auto"`` a source is present when the mean of the models'
    presence probabilities reaches the threshold (the likeliest always is),
    and those sources are then separated as when told.
    """

    def __init__(self, models):
        classes = [list(m.classes_) for m in models]
        if any(c != classes[0] for c in classes):
            raise ValueError(f"the models separate different sources: {classes}")
        self.models = models
        self.classes_ = models[0].classes_
        self.presence_mixtures = models[0].presence_mixtures

    def separate(self, audio, sources=None, *, return_names=False):
        if isinstance(sources, str) and sources == "auto":
            proba = np.mean([m.detect_sources(audio).probabilities for m in self.models], axis=0)
            present = proba >= self.models[0].presence_threshold
            present[np.argmax(proba)] = True
            sources = list(self.classes_[present])
        out = np.mean([m.separate(audio, sources) for m in self.models], axis=0)
        names = np.asarray(self.classes_ if sources is None else sources)
        return (out, names) if return_names else out


def fit_lever(lever, seed, train):
    """The small budget's ``"separation"`` model with a lever's overrides (cached)."""
    if lever in AVERAGE_LEVERS:
        fits = [fit_skaesep("small", seed, train)]
        fits += [fit_lever(other, seed, train) for other in AVERAGE_LEVERS[lever]]
        origin = "; ".join(origin for _, origin, _ in fits)
        return SeedAverage([m for m, _, _ in fits]), origin, sum(s for _, _, s in fits)
    if lever in PRESENCE_LEVERS:
        model, origin, _ = fit_skaesep("small", seed, train)
        params = {**model.get_params(deep=False), **PRESENCE_LEVERS[lever]}
        params["pipeline"] = FrozenEstimator(model.pipeline_)
        t0 = time.perf_counter()
        model = MaskResynthesizer(**params).fit(train.data, train.target)
        seconds = time.perf_counter() - t0
        return model, f"{origin}, presence detector fitted again ({seconds:.0f} s)", seconds
    description = f"suite small budget, seed {seed}, lever {lever}"
    return _fit_cached(f"small_seed{seed}_{lever}", seed, train, description, **LEVERS[lever])


def _fit_cached(name, seed, train, description, **overrides):
    """The ``"separation"`` preset with ``overrides`` fitted on ``train``, cached.

    The file is ``name`` and a digest of the model's parameters: a cached fit
    of another configuration (an earlier preset) is not taken for this one.
    """
    model = make_preset("separation", random_state=seed, layer_sizes=PLAIN_LAYERS)
    model.set_params(**overrides)
    params = model.get_params(deep=True)
    config = sorted((k, repr(v)) for k, v in params.items() if not hasattr(v, "get_params"))
    digest = hashlib.sha1(json.dumps(config).encode()).hexdigest()[:10]
    path = MODELS / f"{name}_{digest}.skaesep"
    if path.is_file():
        return load_model(path), f"cached {path.name}", 0.0
    t0 = time.perf_counter()
    model.fit(train.data, train.target)
    seconds = time.perf_counter() - t0
    MODELS.mkdir(parents=True, exist_ok=True)
    save_model(model, path, description=description)
    return model, f"trained here ({seconds:.0f} s)", seconds


def fit_nmf(budget, seed, train):
    t0 = time.perf_counter()
    nmf = _suite.NMFBaselines(train, max_frames=NMF_MAX_FRAMES)
    nmf.calibrate_auto(train, random_state=seed)
    return nmf, time.perf_counter() - t0


def run_methods(methods, splits):
    """Score each ``(name, estimate)`` on every mixture of every split."""
    out = {}
    for split in splits:
        for name, estimate in methods:
            t0 = time.perf_counter()
            rows = []
            for m in split.mixtures:
                row = {"mixture": m.name, "instruments": list(m.instruments)}
                row.update(estimate(m))
                rows.append(row)
            out.setdefault(split.name, {})[name] = {
                "rows": rows,
                "time_s": round(time.perf_counter() - t0, 1),
            }
            s = summarise_rows(rows)
            log(f"{split.name:<20} {name:<32} SDR {s['mean_sdr']:6.2f}")
    return out


def told(separate):
    def estimate(m):
        return _suite.score(m.references, separate(m))

    return estimate


def auto(separate):
    def estimate(m):
        est, names = separate(m)
        out = _suite.score_named(m.references, m.instruments, est, names)
        out["detected"] = [str(n) for n in names]
        return out

    return estimate


def skaesep_methods(model, suffix=""):
    """``skaesep told`` and ``skaesep auto`` of a fitted model, named with ``suffix``."""
    return [
        (f"skaesep told{suffix}", told(lambda m: model.separate(m.mix, list(m.instruments)))),
        (
            f"skaesep auto{suffix}",
            auto(lambda m: model.separate(m.mix, sources="auto", return_names=True)),
        ),
    ]


def part_baselines(splits):
    nmf_blind = _suite.NMFBaselines(None)
    methods = [
        ("mixture", told(lambda m: np.stack([m.mix] * len(m.instruments)))),
        ("oracle ratio mask", told(lambda m: ideal_ratio_mask(m.references))),
        (
            "blind NMF + k-means",
            lambda m: _suite.score(
                m.references, nmf_blind.blind(m.mix, len(m.instruments)), permutation=True
            ),
        ),
    ]
    return {"results": run_methods(methods, splits)}


def part_model(budget, seed, splits, mask_powers, previous=None):
    """A budget's skaesep and NMF methods; NMF's taken from ``previous`` (a part) when given."""
    train = splits[0].train
    model, origin, fit_s = fit_skaesep(budget, seed, train)
    log(f"skaesep {budget} seed {seed}: {origin}")
    methods = skaesep_methods(model)
    nmf_rows = {}
    if previous is None:
        nmf, nmf_s = fit_nmf(budget, seed, train)
        log(f"NMF {budget} seed {seed}: {nmf_s:.0f} s, auto threshold {nmf.auto_threshold}")
        nmf_info = {
            "nmf_fit_s": round(nmf_s, 1),
            "nmf_auto_threshold": nmf.auto_threshold,
            "nmf_auto_calibration": {str(k): int(v) for k, v in nmf.auto_calibration.items()},
        }
        methods += [
            ("NMF told", told(lambda m: nmf.supervised(m.mix, list(m.instruments)))),
            ("NMF auto", auto(lambda m: nmf.auto(m.mix))),
        ]
    else:
        keys = ("nmf_fit_s", "nmf_auto_threshold", "nmf_auto_calibration")
        nmf_info = {k: previous[k] for k in keys}
        nmf_info["nmf_reused_from"] = previous["info"]["command"]
        for split in splits:
            nmf_rows[split.name] = {n: previous["results"][split.name][n] for n in NMF_METHODS}
            for reused in nmf_rows[split.name].values():
                if [r["mixture"] for r in reused["rows"]] != [m.name for m in split.mixtures]:
                    raise RuntimeError(f"the previous part scored other {split.name} mixtures")
    results = run_methods(methods, splits)
    for split, reused in nmf_rows.items():
        results[split].update(reused)
    default_power = model.mask_power
    for p in mask_powers:
        model.set_params(mask_power=p)
        extra = run_methods(skaesep_methods(model, f", mask_power={p:g}")[:1], splits)
        for split, res in extra.items():
            results[split].update(res)
    model.set_params(mask_power=default_power)
    return {
        "budget": budget,
        "seed": seed,
        "model": origin,
        "train_segments": int(len(train.data)),
        "train_clips": train.clips,
        "skaesep_fit_s": round(fit_s, 1),
        **nmf_info,
        "results": results,
    }


def part_lever(lever, seed, splits):
    """``skaesep told`` and ``skaesep auto`` of the preset with a lever."""
    train = splits[0].train
    model, origin, fit_s = fit_lever(lever, seed, train)
    log(f"skaesep lever {lever} seed {seed}: {origin}")
    methods = skaesep_methods(model, f" [{lever}]")
    return {
        "budget": "small",
        "seed": seed,
        "lever": lever,
        "overrides": {**LEVERS, **PRESENCE_LEVERS, **AVERAGE_LEVERS}[lever],
        "presence_mixtures": model.presence_mixtures,
        "model": origin,
        "train_clips": train.clips,
        "skaesep_fit_s": round(fit_s, 1),
        "results": run_methods(methods, splits),
    }


def part_cli(seed, splits):
    """``skaesep train`` + ``skaesep separate`` without hints, scored like ``skaesep auto``."""
    train = splits[0].train
    root = _suite.training_root()
    with tempfile.TemporaryDirectory(prefix="skaesep-cli-") as tmp:
        tmp = Path(tmp)
        for name in _suite.TRAIN_INSTRUMENTS:
            (tmp / "train" / name).mkdir(parents=True)
            for k in train.clips:
                clip = f"{name}_{k}.wav"
                (tmp / "train" / name / clip).symlink_to(root / name / clip)
        model = tmp / "model.skaesep"
        t0 = time.perf_counter()
        train_args = ["train", str(tmp / "train"), "-o", str(model), "--seed", str(seed)]
        if skaesep_main(train_args) != 0:
            raise RuntimeError("skaesep train failed")
        fit_s = time.perf_counter() - t0
        tracks = {}
        (tmp / "mixtures").mkdir()
        for split in splits:
            for i, m in enumerate(split.mixtures):
                track = f"{split.name}__{i:02d}"
                sf.write(tmp / "mixtures" / f"{track}.wav", m.mix, _suite.SR, subtype="FLOAT")
                tracks[split.name, m.name] = track
        t0 = time.perf_counter()
        separate_args = [
            "separate",
            str(tmp / "mixtures"),
            "-n",
            str(model),
            "-o",
            str(tmp / "out"),
        ]
        if skaesep_main([*separate_args, "-q"]) != 0:
            raise RuntimeError("skaesep separate failed")
        separate_s = time.perf_counter() - t0

        def cli_auto(split):
            def estimate(m):
                stems = sorted((tmp / "out" / tracks[split, m.name]).glob("*.wav"))
                names = [p.stem for p in stems]
                est = np.array([sf.read(p, dtype="float32")[0] for p in stems])
                out = _suite.score_named(m.references, m.instruments, est, names)
                out["detected"] = names
                return out

            return estimate

        results = {}
        for split in splits:
            results.update(run_methods([("skaesep auto (CLI)", cli_auto(split.name))], [split]))
    return {
        "budget": "small",
        "seed": seed,
        "model": "skaesep train " + " ".join(train_args[2:]).replace(str(tmp), "TMP"),
        "train_clips": train.clips,
        "skaesep_fit_s": round(fit_s, 1),
        "separate_s": round(separate_s, 1),
        "results": results,
    }


# ---------------------------------------------------------------------------
# summaries
# ---------------------------------------------------------------------------


def summarise_rows(rows):
    """Mean SDR/SIR/SAR over scored sources, missed sources, detection counts."""
    out = {}
    for key in ("sdr", "sir", "sar"):
        values = [v for r in rows for v in r[key] if v is not None]
        out[f"mean_{key}"] = float(np.mean(values)) if values else float("nan")
    out["sources"] = sum(len(r["instruments"]) for r in rows)
    out["missed"] = sum(v is None for r in rows for v in r["sdr"])
    if rows and "detected" in rows[0]:
        out["exact"] = sum(set(r["detected"]) == set(r["instruments"]) for r in rows)
        out["mixtures"] = len(rows)
    return out


def mean_sd(values):
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return None
    return {
        "mean": float(np.mean(values)),
        "sd": float(np.std(values, ddof=1)) if len(values) > 1 else None,
        "n": len(values),
    }


def collect(parts):
    """Headline, per-instrument, detection and configuration tables from the parts."""
    baselines = parts.get("baselines", {}).get("results", {})
    models = [
        p
        for k, p in sorted(parts.items())
        if k != "baselines" and not k.startswith(("cli", "lever"))
    ]
    splits = list(_suite.SPLITS)
    table = {}
    for budget in _suite.BUDGETS:
        runs = [p for p in models if p["budget"] == budget]
        if not runs:
            continue
        methods = sorted({m for p in runs for s in p["results"].values() for m in s})
        for split in splits:
            cell = {}
            for method in methods:
                per_seed = [
                    summarise_rows(p["results"][split][method]["rows"])["mean_sdr"]
                    for p in runs
                    if method in p["results"].get(split, {})
                ]
                cell[method] = mean_sd(per_seed)
            for method in BASELINES:
                if method in baselines.get(split, {}):
                    cell[method] = mean_sd(
                        [summarise_rows(baselines[split][method]["rows"])["mean_sdr"]]
                    )
            table.setdefault(budget, {})[split] = cell
        table[budget]["seeds"] = [p["seed"] for p in runs]
    per_instrument = {}
    detection = {}
    for budget in _suite.BUDGETS:
        runs = [p for p in models if p["budget"] == budget]
        for method in MAIN_METHODS:
            values = {}
            for p in runs:
                seed_values = {}
                for split in splits:
                    for r in p["results"].get(split, {}).get(method, {}).get("rows", []):
                        for n, v in zip(r["instruments"], r["sdr"]):
                            if v is not None:
                                seed_values.setdefault(n, []).append(v)
                for n, v in seed_values.items():
                    values.setdefault(n, []).append(float(np.mean(v)))
            if values:
                per_instrument.setdefault(budget, {})[method] = {
                    n: mean_sd(v) for n, v in values.items()
                }
        for method in ("skaesep auto", "NMF auto"):
            for split in splits:
                rows = [
                    r
                    for p in runs
                    for r in p["results"].get(split, {}).get(method, {}).get("rows", [])
                ]
                if not rows:
                    continue
                counts = {}
                for r in rows:
                    out = _suite.detection(r["instruments"], r["detected"])
                    for n, c in out["per_instrument"].items():
                        counts.setdefault(n, {"tp": 0, "fp": 0, "fn": 0, "tn": 0})[c] += 1
                exact = np.mean([set(r["detected"]) == set(r["instruments"]) for r in rows])
                prf = {}
                for n, c in counts.items():
                    if c["tp"] + c["fn"] == 0 and c["fp"] == 0:
                        continue
                    prec = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else None
                    rec = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else None
                    prf[n] = {"precision": prec, "recall": rec, **c}
                detection.setdefault(budget, {}).setdefault(method, {})[split] = {
                    "exact": float(exact),
                    "mixtures": len(rows),
                    "missed_sources": sum(v is None for r in rows for v in r["sdr"]),
                    "per_instrument": prf,
                }

    def small_part(seed):
        return next((m for m in models if m["budget"] == "small" and m["seed"] == seed), None)

    cli = {}
    for key, p in sorted(parts.items()):
        if not key.startswith("cli"):
            continue
        # The Python auto mode of the configuration skaesep train fits.
        python = parts.get(f"lever_{DEFAULT_LEVER}_seed{p['seed']}")
        python_method = f"skaesep auto [{DEFAULT_LEVER}]"
        for split in splits:
            row = {"seed": p["seed"]}
            pairs = (
                ("skaesep auto (CLI)", p, "skaesep auto (CLI)"),
                (python_method, python, "skaesep auto"),
            )
            for method, source, name in pairs:
                rows = (source or {}).get("results", {}).get(split, {}).get(method, {}).get("rows")
                if rows:
                    s = summarise_rows(rows)
                    row[name] = {"mean_sdr": s["mean_sdr"], "exact": s["exact"] / s["mixtures"]}
            cli.setdefault(split, []).append(row)
    levers = {}
    for key, p in sorted(parts.items()):
        if not key.startswith("lever"):
            continue
        # Auto is compared with the plain network whose detector had as many mixtures.
        bases = {"told": (small_part(p["seed"]), "skaesep told")}
        detector = p.get("presence_mixtures", SMALL_PART_PRESENCE_MIXTURES)
        if detector == SMALL_PART_PRESENCE_MIXTURES:
            bases["auto"] = (small_part(p["seed"]), "skaesep auto")
        else:
            name = f"presence-{detector}"
            bases["auto"] = (parts.get(f"lever_{name}_seed{p['seed']}"), f"skaesep auto [{name}]")
        # Told is also compared with the mean of the plain model's draws on the same clips.
        draws = [parts.get(f"lever_{d}_seed{p['seed']}") for d in DRAWS]
        with_draws = all(draws) and p["lever"] not in (*DRAWS, *PRESENCE_LEVERS)
        for split in splits:
            for mode in ("told", "auto"):
                lever_rows = p["results"][split][f"skaesep {mode} [{p['lever']}]"]["rows"]
                base, base_method = bases[mode]
                base_rows = base["results"][split][base_method]["rows"] if base else None
                s = summarise_rows(lever_rows)
                entry = {"seed": p["seed"], "mean_sdr": s["mean_sdr"]}
                if base_rows:
                    base_sdr = summarise_rows(base_rows)["mean_sdr"]
                    entry["gain"] = s["mean_sdr"] - base_sdr
                    if mode == "told" and with_draws:
                        draw_sdrs = [base_sdr] + [
                            summarise_rows(d["results"][split][f"skaesep told [{n}]"]["rows"])[
                                "mean_sdr"
                            ]
                            for d, n in zip(draws, DRAWS)
                        ]
                        entry["gain_draws"] = s["mean_sdr"] - float(np.mean(draw_sdrs))
                if mode == "auto":
                    entry["exact"] = s["exact"] / s["mixtures"]
                levers.setdefault(p["lever"], {}).setdefault(split, {}).setdefault(
                    mode, []
                ).append(entry)
    default = {}
    for key, p in sorted(parts.items()):
        if not key.startswith(f"lever_{DEFAULT_LEVER}_seed"):
            continue
        base = small_part(p["seed"])
        if base is None:
            continue
        for split in splits:
            for mode in ("told", "auto"):
                rows = p["results"][split][f"skaesep {mode} [{DEFAULT_LEVER}]"]["rows"]
                nmf = base["results"][split][f"NMF {mode}"]["rows"]
                default.setdefault(split, {}).setdefault(mode, []).append(
                    {
                        "seed": p["seed"],
                        "skaesep": summarise_rows(rows)["mean_sdr"],
                        "nmf": summarise_rows(nmf)["mean_sdr"],
                    }
                )
    return {
        "table": table,
        "per_instrument": per_instrument,
        "detection": detection,
        "cli": cli,
        "levers": levers,
        "default": default,
    }


def _fmt(cell, sign=""):
    """``mean ± sd`` of a :func:`mean_sd` cell; ``sign="+"`` signs the mean."""
    if cell is None:
        return "--"
    if cell["sd"] is None:
        return f"{cell['mean']:{sign}.2f}"
    return f"{cell['mean']:{sign}.2f} ± {cell['sd']:.2f}"


def _list_table(title, header, rows):
    lines = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {c}" for c in row[1:]]
    return lines + [""]


def write_rst(path, summary, info):
    loads = ", ".join(f"{k} {a[0]:.1f} → {b[0]:.1f}" for k, (a, b) in info["loads"].items())
    seeds = ", ".join(f"{b} budget {v}" for b, v in info["seeds"].items())
    mixtures = ", ".join(f"{k} {v}" for k, v in info["n_mixtures"].items())
    lines = [
        ".. Generated by benchmarks/bench_generalisation.py --collect; do not edit.",
        "",
        "Generalisation suite results",
        "============================",
        "",
        f"Commands: {'; '.join(f'``{c}``' for c in info['commands'])}.",
        "",
        f"Machine: {info['machine']['cpu']}, {info['machine']['cores']} cores shared with other "
        f"jobs (1-minute load average at the start and end of each part: {loads}), "
        f"OPENBLAS_NUM_THREADS={info['machine']['blas_threads']}, Python "
        f"{info['machine']['python']}, NumPy {info['machine']['numpy']}. Wall time of the "
        f"parts: {info['times']}. Seeds: {seeds}. Test mixtures of {_suite.TEST_SECONDS:g} s "
        f"per split: {mixtures}.",
        "",
    ]
    order = [
        "skaesep told",
        "skaesep auto",
        "NMF told",
        "NMF auto",
        "blind NMF + k-means",
        "mixture",
        "oracle ratio mask",
    ]
    for budget, by_split in summary["table"].items():
        header = ["split", *order, "told - NMF told", "auto - NMF auto"]
        rows = []
        for split in _suite.SPLITS:
            cell = by_split.get(split, {})
            gaps = []
            for a, b in (("skaesep told", "NMF told"), ("skaesep auto", "NMF auto")):
                gaps.append(
                    f"{cell[a]['mean'] - cell[b]['mean']:+.2f}"
                    if cell.get(a) and cell.get(b)
                    else "--"
                )
            rows.append([split, *(_fmt(cell.get(m)) for m in order), *gaps])
        lines += _list_table(
            f"Mean SDR (dB), {budget} budget ({_suite.BUDGETS[budget]} clips of 20 s per "
            f"instrument), mean ± sd over seeds {by_split['seeds']}",
            header,
            rows,
        )
    rows = []
    for split, by_mode in summary.get("default", {}).items():
        cells, seeds = [], set()
        for mode in ("told", "auto"):
            entries = by_mode[mode]
            seeds |= {e["seed"] for e in entries}
            cells += [
                _fmt(mean_sd([e["skaesep"] for e in entries])),
                _fmt(mean_sd([e["nmf"] for e in entries])),
                _fmt(mean_sd([e["skaesep"] - e["nmf"] for e in entries]), "+"),
            ]
        rows.append([split, str(sorted(seeds)), *cells])
    if rows:
        lines += _list_table(
            f"Today's separation preset (the {DEFAULT_LEVER} lever) against supervised NMF, "
            "small budget: mean SDR (dB), mean ± sd over seeds (of the per-seed differences "
            "for the gaps)",
            ["split", "seeds", "skaesep told", "NMF told", "told - NMF told", "skaesep auto"]
            + ["NMF auto", "auto - NMF auto"],
            rows,
        )
    for budget, by_split in summary["table"].items():
        configs = sorted(
            {m for cell in by_split.values() if isinstance(cell, dict) for m in cell} - set(order)
        )
        if not configs:
            continue
        rows = []
        for method in ["skaesep told", *configs]:
            rows.append([method, *(_fmt(by_split[s].get(method)) for s in _suite.SPLITS)])
        lines += _list_table(
            f"Test-time configurations, {budget} budget: mean SDR (dB) over seeds "
            f"{by_split['seeds']}",
            ["configuration", *_suite.SPLITS],
            rows,
        )
    for budget, methods in summary["per_instrument"].items():
        names = sorted({n for v in methods.values() for n in v})
        rows = [[m, *(_fmt(methods[m].get(n)) for n in names)] for m in methods]
        lines += _list_table(
            f"Mean SDR (dB) per instrument over all splits, {budget} budget",
            ["method", *names],
            rows,
        )
    for budget, methods in summary["detection"].items():
        rows = []
        for method, by_split in methods.items():
            for split, d in by_split.items():
                pr = ", ".join(
                    f"{n} {v['precision'] if v['precision'] is not None else float('nan'):.2f}/"
                    f"{v['recall'] if v['recall'] is not None else float('nan'):.2f}"
                    for n, v in sorted(d["per_instrument"].items())
                )
                rows.append(
                    [method, split, f"{100 * d['exact']:.0f} %", str(d["missed_sources"]), pr]
                )
        lines += _list_table(
            f"Presence detection, {budget} budget (all seeds pooled)",
            ["method", "split", "exact set", "sources missed", "precision/recall per instrument"],
            rows,
        )
    rows = []
    for lever, by_split in summary.get("levers", {}).items():
        for mode in ("told", "auto"):
            cells, seeds = [], set()
            for split in _suite.SPLITS:
                entries = by_split.get(split, {}).get(mode, [])
                seeds |= {e["seed"] for e in entries}
                sdr = mean_sd([e["mean_sdr"] for e in entries])
                gain = mean_sd([e.get("gain") for e in entries])
                cell = f"{_fmt(sdr)} ({_fmt(gain, '+')})"
                if mode == "auto":
                    cell += f", {100 * np.mean([e['exact'] for e in entries]):.0f} %"
                cells.append(cell)
            rows.append([f"{lever}, {mode}", str(sorted(seeds)), *cells])
    if rows:
        lines += _list_table(
            "Levers (PRESENCE_LEVERS: the presence detector fitted again on the plain model; "
            "AVERAGE_LEVERS: the plain model and other draws averaged), small budget: mean SDR "
            "(dB) over seeds, in brackets the change from the plain preset of the same seeds "
            "(mean ± sd of the per-seed differences; in auto mode from the plain network with "
            f"a detector fitted on as many mixtures: {SMALL_PART_PRESENCE_MIXTURES} in the "
            "small parts, the presence-N lever otherwise), for auto the exact set detected",
            ["lever, mode", "seeds", *_suite.SPLITS],
            rows,
        )
    rows = []
    for lever, by_split in summary.get("levers", {}).items():
        entries = {s: by_split.get(s, {}).get("told", []) for s in _suite.SPLITS}
        if not any("gain_draws" in e for v in entries.values() for e in v):
            continue
        seeds = sorted({e["seed"] for v in entries.values() for e in v if "gain_draws" in e})
        cells = [_fmt(mean_sd([e.get("gain_draws") for e in v]), "+") for v in entries.values()]
        rows.append([lever, str(seeds), *cells])
    if rows:
        lines += _list_table(
            "Levers, told, small budget: change from the mean of three draws of the plain "
            f"preset on the same clips (the small part and {', '.join(DRAWS)}), mean ± sd over "
            "seeds",
            ["lever", "seeds", *_suite.SPLITS],
            rows,
        )
    rows = []
    for split, by_seed in summary.get("cli", {}).items():
        for row in by_seed:
            cells = []
            for method in ("skaesep auto (CLI)", "skaesep auto"):
                r = row.get(method)
                cells += [f"{r['mean_sdr']:.2f}", f"{100 * r['exact']:.0f} %"] if r else ["--"] * 2
            rows.append([split, str(row["seed"]), *cells])
    if rows:
        lines += _list_table(
            "Command line without hints (skaesep train + skaesep separate) against the Python "
            f"auto mode (the {DEFAULT_LEVER} lever, the configuration skaesep train fits), small "
            "budget: mean SDR (dB) and exact set detected",
            ["split", "seed", "CLI SDR", "CLI exact set", "Python SDR", "Python exact set"],
            rows,
        )
    Path(path).write_text("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--part", choices=("baselines", *_suite.BUDGETS, "cli", "lever"))
    parser.add_argument(
        "--lever",
        choices=sorted({*LEVERS, *PRESENCE_LEVERS, *AVERAGE_LEVERS}),
        help="with --part lever",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--collect", action="store_true", help="join the parts into OUT")
    parser.add_argument(
        "--mask-powers", type=float, nargs="*", default=[2.0, 4.0], help="test-time levers"
    )
    parser.add_argument("--out", default=str(REPO / "docs" / "generalisation_results"))
    parser.add_argument(
        "--quick", action="store_true", help="2 mixtures per split (smoke test, not for docs)"
    )
    parser.add_argument(
        "--reuse-nmf",
        action="store_true",
        help="with a budget's --part: take the NMF rows from that part's last run "
        "(NMF does not depend on skaesep's model), fit and score only skaesep",
    )
    args = parser.parse_args(argv)
    if bool(args.part) == args.collect:
        parser.error("give --part or --collect")
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    parts_dir = Path(args.out + "_parts")
    if args.collect:
        parts = {p.stem: json.loads(p.read_text()) for p in sorted(parts_dir.glob("*.json"))}
        summary = collect(parts)
        info = {
            "commands": [p["info"]["command"] for p in parts.values()],
            "machine": next(iter(parts.values()))["info"]["machine"],
            "loads": {k: p["info"]["load_start_end"] for k, p in parts.items()},
            "times": ", ".join(
                f"{k} {p['info']['run_time_s'] / 60:.0f} min" for k, p in parts.items()
            ),
            "seeds": {b: summary["table"][b]["seeds"] for b in summary["table"]},
            "n_mixtures": next(iter(parts.values()))["info"]["n_mixtures"],
        }
        Path(args.out + ".json").write_text(json.dumps({"info": info, **summary}, indent=1))
        write_rst(args.out + ".rst", summary, info)
        log(f"wrote {args.out}.rst/.json")
        return 0
    start = time.perf_counter()
    load_start = _load()
    budget = args.part if args.part in _suite.BUDGETS else "small"
    splits = [f(budget, args.seed) for f in _suite.SPLITS.values()]
    if args.quick:
        for s in splits:
            s.mixtures = s.mixtures[:2]
    log(f"{args.part}: {sum(len(s.mixtures) for s in splits)} mixtures")
    if args.part == "baselines":
        result = part_baselines(splits)
        name = "baselines"
    elif args.part == "cli":
        result = part_cli(args.seed, splits)
        name = f"cli_seed{args.seed}"
    elif args.part == "lever":
        if args.lever is None:
            parser.error("--part lever needs --lever")
        result = part_lever(args.lever, args.seed, splits)
        name = f"lever_{args.lever}_seed{args.seed}"
    else:
        previous = None
        if args.reuse_nmf:
            previous = json.loads((parts_dir / f"{args.part}_seed{args.seed}.json").read_text())
        result = part_model(args.part, args.seed, splits, args.mask_powers, previous)
        name = f"{args.part}_seed{args.seed}"
    result["info"] = {
        "command": " ".join(["python benchmarks/bench_generalisation.py", *sys.argv[1:]]),
        "machine": machine(),
        "run_time_s": time.perf_counter() - start,
        "load_start_end": [load_start, _load()],
        "n_mixtures": {s.name: len(s.mixtures) for s in splits},
    }
    parts_dir.mkdir(parents=True, exist_ok=True)
    (parts_dir / f"{name}.json").write_text(json.dumps(result, indent=1))
    log(f"wrote {parts_dir / name}.json in {result['info']['run_time_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
