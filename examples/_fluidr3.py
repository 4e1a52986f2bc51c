"""Render (once) and load the FluidR3 stems the examples and benchmark use.

Not an example: a helper imported by ``plot_*.py`` and ``benchmarks/``.
"""

import os
import subprocess
import sys
from pathlib import Path

from skaesep.datasets import load_stems

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("SKAESEP_DATA", Path.home() / ".cache" / "skaesep"))


def fluidr3(seed, n_clips=2, duration=20.0):
    """Stems of the five instruments rendered with note sequences of ``seed``.

    Seed 0 is the training set, seed 1 the held-out set (other note
    sequences). Renders with ``scripts/render_fluidr3.py`` on first use.
    """
    root = DATA / f"fluidr3_seed{seed}_n{n_clips}_{duration:g}s"
    if not root.is_dir():
        subprocess.run(
            [
                sys.executable,
                str(REPO / "scripts" / "render_fluidr3.py"),
                "--out",
                str(root),
                "--n-clips",
                str(n_clips),
                "--seed",
                str(seed),
                "--duration",
                str(duration),
            ],
            check=True,
        )
    return load_stems(root, sr=44100, duration=duration)
