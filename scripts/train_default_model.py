#!/usr/bin/env python
"""Train the built-in model ``skaesep/models/default.skaesep``, reproducibly.

Renders FluidR3 training stems of eight instruments (the report's drums,
flute, guitar, violin and piano, plus cello, trumpet and clarinet) with
``scripts/render_fluidr3.py`` into a temporary folder, trains the
``separation`` preset on them with ``skaesep train`` and writes the model and
a training record ``skaesep/models/default.json`` (command, seed, data, wall
time, machine)::

    OPENBLAS_NUM_THREADS=1 python scripts/train_default_model.py   # 30 clips of 20 s each
    python scripts/train_default_model.py --n-clips 3     # a quick 5-minute model

The default, 30 clips of 20 s (10 minutes) per instrument, is the large budget
of issue 11; it renders in about 1 minute and trains in about 21 minutes on
this project's 2-core machine. The autoencoder trains on one BLAS thread (two,
``skaesep train --threads 2``, were 10x slower per epoch on the busy machine);
``OPENBLAS_NUM_THREADS=1`` keeps the other steps on one thread too.

``--refit-presence`` keeps the trained network of ``--out`` and fits only its
presence detector again on the same rendered segments, with this version's
``MaskResynthesizer`` defaults (``presence_mixtures``); the record gains a
``presence_refit`` entry.

Needs ``fluidsynth`` and ``fluid-soundfont-gm`` (``--install`` installs them
through ``render_fluidr3.py``).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.frozen import FrozenEstimator

from skaesep import MaskResynthesizer, __version__
from skaesep.cli import _segments
from skaesep.cli import main as skaesep_main
from skaesep.datasets import load_stems
from skaesep.persistence import load_model, save_model

ROOT = Path(__file__).resolve().parents[1]
INSTRUMENTS = ("drums", "flute", "guitar", "violin", "piano", "cello", "trumpet", "clarinet")
SEGMENT_SECONDS = 10  # the training segments of ``skaesep train --segment``
LARGE_BUDGET = 600.0  # seconds of training audio per instrument the issue wishes for


def _load():
    return [round(x, 2) for x in os.getloadavg()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "skaesep" / "models" / "default.skaesep"))
    parser.add_argument("--n-clips", type=int, default=30, help="clips per instrument")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per clip")
    parser.add_argument("--seed", type=int, default=0, help="seed of notes and training")
    parser.add_argument("--preset", default="separation")
    parser.add_argument("--install", action="store_true", help="install fluidsynth if missing")
    parser.add_argument(
        "--refit-presence",
        action="store_true",
        help="keep the network of --out, fit its presence detector again",
    )
    args = parser.parse_args(argv)
    blas = os.environ.get("OPENBLAS_NUM_THREADS")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    load_start = _load()
    with tempfile.TemporaryDirectory() as tmp:
        render = [
            sys.executable,
            str(ROOT / "scripts" / "render_fluidr3.py"),
            "--out",
            tmp,
            "--n-clips",
            str(args.n_clips),
            "--duration",
            str(args.duration),
            "--seed",
            str(args.seed),
            "--instruments",
            *INSTRUMENTS,
            *(["--install"] if args.install else []),
        ]
        subprocess.run(render, check=True)
        rendered = time.perf_counter()
        if args.refit_presence:
            return _refit_presence(out, tmp, args, argv, rendered - start, load_start)
        train = ["train", tmp, "-o", str(out), "--preset", args.preset]
        code = skaesep_main(
            [*train, "--seed", str(args.seed), "--segment", str(SEGMENT_SECONDS), "--force"]
        )
        if code:
            return code
    per_instrument = args.n_clips * args.duration
    description = (
        f"FluidR3 renderings of {len(INSTRUMENTS)} instruments, {per_instrument / 60:.3g} min "
        f"each, '{args.preset}' preset, seed {args.seed} (scripts/train_default_model.py)"
    )
    save_model(load_model(out), out, description=description)  # shown by `skaesep info`
    record = {
        "model": out.name,
        "description": description,
        "skaesep": __version__,
        "command": (f"OPENBLAS_NUM_THREADS={blas} " if blas else "")
        + " ".join(["python scripts/train_default_model.py", *(argv or sys.argv[1:])]),
        "preset": args.preset,
        "seed": args.seed,
        "soundfont": "FluidR3_GM (fluid-soundfont-gm)",
        "instruments": list(INSTRUMENTS),
        "clips_per_instrument": args.n_clips,
        "seconds_per_clip": args.duration,
        "render_seconds": round(rendered - start, 1),
        "train_seconds": round(time.perf_counter() - rendered, 1),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "load_average_start_end": [load_start, _load()],
        "size_bytes": out.stat().st_size,
        "budget_note": None
        if per_instrument >= LARGE_BUDGET
        else f"{per_instrument / 60:.3g} min per instrument, less than the large budget of "
        f"issue 11 (>= {LARGE_BUDGET / 60:g} min per instrument): what fits in about 25 min "
        "of training on a shared 2-core machine",
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


def _refit_presence(out, stems_dir, args, argv, render_seconds, load_start):
    """Fit the presence detector of the model ``out`` again on the segments of ``stems_dir``."""
    old = load_model(out)
    stems = load_stems(stems_dir, sr=old.pipeline_[0].sr)
    n_segment = int(round(SEGMENT_SECONDS * old.pipeline_[0].sr))
    cut = [_segments(clip, n_segment) for clip in stems.data]
    X = np.concatenate(cut)
    y = np.repeat(stems.target, [len(c) for c in cut])
    t0 = time.perf_counter()
    params = {**old.get_params(deep=False), "pipeline": FrozenEstimator(old.pipeline_)}
    params.pop("presence_mixtures")  # this version's default
    model = MaskResynthesizer(**params).fit(X, y)
    seconds = time.perf_counter() - t0
    record = json.loads(out.with_suffix(".json").read_text())
    save_model(model, out, description=record["description"])
    blas = os.environ.get("OPENBLAS_NUM_THREADS")
    record["presence_refit"] = {
        "command": (f"OPENBLAS_NUM_THREADS={blas} " if blas else "")
        + " ".join(["python scripts/train_default_model.py", *(argv or sys.argv[1:])]),
        "skaesep": __version__,
        "presence_mixtures": model.presence_mixtures,
        "segments": int(len(X)),
        "render_seconds": round(render_seconds, 1),
        "fit_seconds": round(seconds, 1),
        "load_average_start_end": [load_start, _load()],
    }
    record["size_bytes"] = out.stat().st_size
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["presence_refit"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
