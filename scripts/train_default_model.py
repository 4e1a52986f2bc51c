#!/usr/bin/env python
"""Train the built-in model ``skaesep/models/default.skaesep``, reproducibly.

Renders FluidR3 training stems of eight instruments (the report's drums,
flute, guitar, violin and piano, plus cello, trumpet and clarinet) with
``scripts/render_fluidr3.py`` into a temporary folder, trains the
``separation`` preset on them with ``skaesep train`` and writes the model and
a training record ``skaesep/models/default.json`` (command, seed, data, wall
time, machine)::

    python scripts/train_default_model.py                 # 3 clips of 20 s per instrument
    python scripts/train_default_model.py --n-clips 30    # 10 minutes per instrument

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

from skaesep import __version__
from skaesep.cli import main as skaesep_main

ROOT = Path(__file__).resolve().parents[1]
INSTRUMENTS = ("drums", "flute", "guitar", "violin", "piano", "cello", "trumpet", "clarinet")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "skaesep" / "models" / "default.skaesep"))
    parser.add_argument("--n-clips", type=int, default=3, help="clips per instrument")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per clip")
    parser.add_argument("--seed", type=int, default=0, help="seed of notes and training")
    parser.add_argument("--preset", default="separation")
    parser.add_argument("--install", action="store_true", help="install fluidsynth if missing")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
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
        train = ["train", tmp, "-o", str(out), "--preset", args.preset]
        code = skaesep_main([*train, "--seed", str(args.seed), "--segment", "10", "--force"])
        if code:
            return code
    record = {
        "model": out.name,
        "skaesep": __version__,
        "command": "python scripts/train_default_model.py " + " ".join(argv or sys.argv[1:]),
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
        "size_bytes": out.stat().st_size,
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
