#!/usr/bin/env python
"""Render short ensemble pieces from the FluidR3 soundfont, one stem per instrument.

Unlike ``render_fluidr3.py`` (random single notes, one instrument at a time)
the instruments here play together: every piece has one tempo grid and one
key, a chord progression of one chord per 4/4 bar, and

* piano: block chords (bass note + triad) on beats 1 and 3, held, so notes
  overlap within the stem;
* guitar: strummed triads (strings 15 ms apart) on a per-piece rhythm, let
  ring into the next strum;
* flute: a melody in the key (chord tones on the strong beats, scale steps
  between), eighth and quarter notes;
* violin: a slower counter-melody in the key (quarter and half notes);
* drums: a kick/snare/hi-hat groove of the standard kit on MIDI channel 10.

Each stem is written as its own MIDI file (the MIDI writer of
``render_fluidr3.py``) and rendered separately with ``fluidsynth``, so the
true sources of every mixture exist; stems are mono, cut/padded to
``--duration`` and peak-normalised to 0.5 as ``render_fluidr3.py`` does. The
layout is ``OUT/piece_<k>/<instrument>.wav``::

    python scripts/render_ensemble.py --out ensemble --n-pieces 20 --seed 0

Piece ``k`` plays ``2 + k % 4`` of the five instruments (2 to 5, drawn per
piece) and depends only on ``--seed`` and ``k``. Needs what
``render_fluidr3.py`` needs (``--install`` installs it).
"""

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _render_module():
    path = Path(__file__).resolve().parent / "render_fluidr3.py"
    spec = importlib.util.spec_from_file_location("render_fluidr3", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _render_module()

#: The instruments a piece draws from (the report's five).
INSTRUMENTS = render.INSTRUMENTS
#: Scale degrees (semitones above the tonic) of the major and natural minor keys.
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
#: Chord progressions as 0-based scale degrees of the chord roots, one per bar.
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 0), (1, 4, 0, 5), (0, 5, 3, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 4), (0, 3, 6, 2)),
}
#: Pitch ranges (MIDI keys) of the parts: lower than the instruments' full
#: ranges of ``render_fluidr3.PITCH_RANGES`` so the parts sound like parts.
PART_RANGES = {"flute": (67, 91), "violin": (55, 84), "guitar": (40, 71), "piano": (36, 84)}
#: Guitar strumming rhythms (onsets in beats within a bar).
STRUMS = ((0, 1, 2, 3), (0, 1.5, 2, 3), (0, 0.5, 1.5, 2.5, 3), (0, 2, 2.5, 3.5))
STRUM_SPREAD = 0.015  # seconds between strings of a strum
KICK, SNARE, CLOSED_HAT, OPEN_HAT = 36, 38, 42, 46


def triad(key_root, scale, degree):
    """Pitch classes (0-11 above C) of the diatonic triad on ``degree``."""
    return [(key_root + scale[(degree + 2 * i) % 7]) % 12 for i in range(3)]


def pitches_in(pitch_classes, low, high):
    """Every MIDI key in ``[low, high]`` whose pitch class is listed."""
    return [k for k in range(low, high + 1) if k % 12 in pitch_classes]


def nearest(candidates, target):
    return min(candidates, key=lambda k: (abs(k - target), k))


def make_piece(seed, k, duration):
    """A piece: its tempo, key, instruments and notes per instrument.

    Returns
    -------
    piece : dict
        ``bpm``, ``key`` (tonic pitch class), ``mode``, ``progression``,
        ``instruments`` and ``notes``: for each instrument a list of
        ``(onset_s, length_s, key, velocity)``.
    """
    rng = np.random.default_rng([int(seed), int(k), 7])
    bpm = float(rng.integers(84, 141))
    beat = 60.0 / bpm
    mode = ("major", "minor")[int(rng.integers(2))]
    tonic = int(rng.integers(12))
    scale = SCALES[mode]
    progression = PROGRESSIONS[mode][int(rng.integers(len(PROGRESSIONS[mode])))]
    n_bars = int(np.ceil(duration / (4 * beat)))
    chords = [triad(tonic, scale, progression[b % len(progression)]) for b in range(n_bars)]
    in_key = [(tonic + s) % 12 for s in scale]
    size = 2 + k % 4
    instruments = sorted(rng.choice(INSTRUMENTS, size=size, replace=False).tolist())
    notes = {}

    def vel(lo=70, hi=105):
        return int(rng.integers(lo, hi + 1))

    for name in instruments:
        out = []
        if name == "piano":
            for b, chord in enumerate(chords):
                bass = nearest(pitches_in([chord[0]], 36, 55), 43)
                upper = sorted(nearest(pitches_in([pc], 55, 79), 64) for pc in chord)
                for half in (0, 2):
                    onset = (4 * b + half) * beat
                    for key in [bass, *upper]:
                        out.append((onset, 2.2 * beat, key, vel()))
        elif name == "guitar":
            pattern = STRUMS[int(rng.integers(len(STRUMS)))]
            for b, chord in enumerate(chords):
                shape = sorted(pitches_in(chord, 45, 67))[:5]
                onsets = [4 * b + p for p in pattern] + [4 * b + 4]
                for on, nxt in zip(onsets[:-1], onsets[1:]):
                    down = rng.uniform() < 0.7
                    strings = shape if down else shape[::-1]
                    for i, key in enumerate(strings):
                        t = on * beat + i * STRUM_SPREAD
                        out.append((t, (nxt - on) * beat * 1.3, key, vel(60, 95)))
        elif name in ("flute", "violin"):
            low, high = PART_RANGES[name]
            lengths = (0.5, 1.0) if name == "flute" else (1.0, 2.0)
            pos, key = 0.0, nearest(pitches_in(chords[0], low, high), (low + high) // 2)
            scale_keys = pitches_in(in_key, low, high)
            while pos < 4 * n_bars:
                length = float(rng.choice(lengths))
                chord = chords[int(pos // 4)]
                if pos % 1 == 0:  # on the beat: a chord tone near the last note
                    key = nearest(pitches_in(chord, low, high), key + int(rng.integers(-4, 5)))
                else:  # off the beat: a step along the scale
                    i = scale_keys.index(nearest(scale_keys, key))
                    i = int(np.clip(i + rng.choice((-1, 1)), 0, len(scale_keys) - 1))
                    key = scale_keys[i]
                if rng.uniform() > 0.1:  # a rest now and then
                    out.append((pos * beat, length * beat * 0.95, key, vel()))
                pos += length
        else:  # drums
            for b in range(n_bars):
                for eighth in range(8):
                    t = (4 * b + eighth / 2) * beat
                    open_hat = eighth == 7 and rng.uniform() < 0.3
                    out.append((t, 0.1, OPEN_HAT if open_hat else CLOSED_HAT, vel(50, 80)))
                    if eighth in (0, 4) or (eighth == 5 and rng.uniform() < 0.4):
                        out.append((t, 0.1, KICK, vel(90, 115)))
                    if eighth in (2, 6):
                        out.append((t, 0.1, SNARE, vel(85, 110)))
        notes[name] = [n for n in out if n[0] < duration]
    return {
        "bpm": bpm,
        "key": tonic,
        "mode": mode,
        "progression": list(progression),
        "instruments": instruments,
        "notes": notes,
    }


def stem_events(notes, instrument):
    """MIDI events of one stem.

    A note is cut where the next note of the same key starts (a MIDI note-off
    would otherwise end the new note); notes of different keys overlap.
    """
    notes = sorted(notes)
    cut = []
    for i, (onset, length, key, velocity) in enumerate(notes):
        later = [n[0] for n in notes[i + 1 :] if n[2] == key and n[0] > onset]
        cut.append((onset, min([length, *(t - onset for t in later[:1])]), key, velocity))
    return render.sequence_events(cut, instrument)


def render_pieces(out, *, n_pieces=20, duration=10.0, sr=44100, seed=0, soundfont=None):
    """Render ``n_pieces`` pieces into ``out``; return the list of piece dicts."""
    out = Path(out)
    soundfont = soundfont or render.DEFAULT_SOUNDFONT
    n_samples = int(round(duration * sr))
    pieces = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(n_pieces):
            piece = make_piece(seed, k, duration)
            folder = out / f"piece_{k}"
            folder.mkdir(parents=True, exist_ok=True)
            for name, notes in piece["notes"].items():
                midi = Path(tmp) / f"piece_{k}_{name}.mid"
                events = stem_events(notes, name)
                end = render.seconds_to_ticks(duration)
                midi.write_bytes(render.midi_file_bytes(events, end_tick=end))
                render.render_clip(
                    midi, folder / f"{name}.wav", soundfont=soundfont, sr=sr, n_samples=n_samples
                )
            pieces.append(piece)
    return pieces


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="ensemble_stems", help="output folder")
    parser.add_argument("--n-pieces", type=int, default=20, help="pieces to render")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per piece")
    parser.add_argument("--sr", type=int, default=44100, help="sample rate in Hz")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pieces")
    parser.add_argument("--soundfont", default=render.DEFAULT_SOUNDFONT, help="SoundFont")
    parser.add_argument("--install", action="store_true", help="apt-get install what is missing")
    args = parser.parse_args(argv)
    if args.n_pieces < 1 or args.duration <= 0 or args.sr <= 0:
        parser.error("--n-pieces, --duration and --sr must be positive")
    missing = render.missing_requirements(args.soundfont)
    if missing and args.install:
        render.install()
        missing = render.missing_requirements(args.soundfont)
    if missing:
        print("Cannot render, missing:\n  - " + "\n  - ".join(missing), file=sys.stderr)
        print("Rerun with --install, or see scripts/render_fluidr3.py.", file=sys.stderr)
        return 2
    start = time.perf_counter()
    pieces = render_pieces(
        args.out,
        n_pieces=args.n_pieces,
        duration=args.duration,
        sr=args.sr,
        seed=args.seed,
        soundfont=args.soundfont,
    )
    n_stems = sum(len(p["instruments"]) for p in pieces)
    print(
        f"Rendered {len(pieces)} pieces ({n_stems} stems) of {args.duration} s into "
        f"{args.out} in {time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
