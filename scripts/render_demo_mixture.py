#!/usr/bin/env python
"""Render the demo mixture's stems shipped in ``skaesep/data/demo_mixture/``.

:func:`skaesep.datasets.load_demo_mixture` loads them, and the gallery page
"Separate a recording with the built-in model" separates their sum: real
instrument audio at 44.1 kHz, the kind the built-in model was trained on,
without fluidsynth or a download at docs-build time.  The stems are rendered
from the FluidR3 soundfont with ``scripts/render_fluidr3.py``'s code (its
note sequences, MIDI writer and fluidsynth settings), with a seed that
neither the built-in model's training (seed 0) nor its check (seed 1)
uses, then written as 16-bit mono FLAC in the layout
:func:`skaesep.datasets.load_stems` reads (``<instrument>/<instrument>.flac``)::

    python scripts/render_demo_mixture.py

Needs fluidsynth and the FluidR3 soundfont, as ``render_fluidr3.py`` does.
"""

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "skaesep" / "data" / "demo_mixture"
INSTRUMENTS = ("drums", "flute", "piano")
SEED = 2
DURATION = 7.0
SR = 44100


def _render_module():
    path = Path(__file__).resolve().parent / "render_fluidr3.py"
    spec = importlib.util.spec_from_file_location("render_fluidr3", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(OUT), help="output folder")
    args = parser.parse_args(argv)

    import soundfile as sf

    render = _render_module()
    missing = render.missing_requirements(render.DEFAULT_SOUNDFONT)
    if missing:
        print("Cannot render, missing: " + "; ".join(missing), file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        render.render(tmp, n_clips=1, duration=DURATION, sr=SR, seed=SEED, instruments=INSTRUMENTS)
        for name in INSTRUMENTS:
            stem, _ = sf.read(Path(tmp) / name / f"{name}_0.wav", dtype="float32")
            # Peak 0.5 (render_fluidr3.py) and stored on its own (the mixture, up to
            # 1.5, is summed on loading), so the 16-bit stem does not clip.
            (out / name).mkdir(exist_ok=True)
            sf.write(out / name / f"{name}.flac", stem, SR, subtype="PCM_16")
    total = sum(p.stat().st_size for p in out.glob("*/*.flac"))
    print(f"Wrote {', '.join(INSTRUMENTS)} ({DURATION:g} s, seed {SEED}) into {out}: {total} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
