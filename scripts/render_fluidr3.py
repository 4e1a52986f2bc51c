#!/usr/bin/env python
"""Render the report's five instruments (and three more) from the FluidR3 soundfont.

For every instrument (by default the report's drums, flute, guitar, violin and
piano; ``--instruments`` also offers cello, trumpet and clarinet) this writes
``--n-clips`` stems of ``--duration`` seconds: single notes of random pitch
and length joined in time (report section IV-A), written as a standard MIDI
file and rendered with the ``fluidsynth`` command line program, then
downmixed to mono, cut/padded to exactly ``round(duration * sr)`` samples and
peak-normalised to 0.5.  The layout ``OUT/<instrument>/<instrument>_<k>.wav``
is what :func:`skaesep.datasets.load_stems` reads::

    python scripts/render_fluidr3.py --out fluidr3 --n-clips 2 --seed 0
    python scripts/render_fluidr3.py --out fluidr3_test --n-clips 1 --seed 1
    python scripts/render_fluidr3.py --out more --instruments cello trumpet clarinet

Different seeds give different note sequences, so a second seed renders a
held-out set.  General MIDI programs: piano 0 (acoustic grand), guitar 24
(nylon, or ``--guitar-program 25`` for steel), violin 40, cello 42, trumpet 56,
clarinet 71, flute 73; drums are kick, snare and hi-hats of the standard kit on
MIDI channel 10.  A clip's notes depend only on the seed, the instrument and
the clip number, not on which other instruments are rendered.

Needs the Debian/Ubuntu packages ``fluidsynth`` and ``fluid-soundfont-gm``
(and, for the other soundfonts of ``OTHER_SOUNDFONTS``, ``csound-soundfont``
and ``opl3-soundfont``); ``--install`` installs them all with apt-get.  The
MIDI writer is plain Python (``struct``), no further dependency.
"""

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

#: The report's five instruments: what is rendered without ``--instruments``.
INSTRUMENTS = ("drums", "flute", "guitar", "violin", "piano")
#: Every instrument this script renders (new ones are appended, so that the
#: note sequences of the others stay what they were).
ALL_INSTRUMENTS = INSTRUMENTS + ("cello", "trumpet", "clarinet")
DEFAULT_SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
#: Other General MIDI soundfonts (``--soundfont``) and their Debian packages: the
#: timbre-shift test split of ``benchmarks/_suite.py`` renders with them.
OTHER_SOUNDFONTS = {
    "sf_GMbank": ("/usr/share/sounds/sf2/sf_GMbank.sf2", "csound-soundfont"),
    "OPL-3_FM_128M": ("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2", "opl3-soundfont"),
}
APT_PACKAGES = ("fluidsynth", "fluid-soundfont-gm") + tuple(
    package for _, package in OTHER_SOUNDFONTS.values()
)

#: General MIDI program (0-based) of each pitched instrument.
PROGRAMS = {
    "piano": 0,
    "guitar": 24,
    "violin": 40,
    "cello": 42,
    "trumpet": 56,
    "clarinet": 71,
    "flute": 73,
}
#: MIDI pitch range (inclusive, sounding pitch) of each pitched instrument:
#: the usual playing range, without the extreme top notes.
PITCH_RANGES = {
    "flute": (60, 96),  # C4-C7
    "guitar": (40, 76),  # E2-E5
    "violin": (55, 91),  # G3-G6
    "piano": (36, 96),  # C2-C7
    "cello": (36, 76),  # C2-E5
    "trumpet": (54, 82),  # F#3-Bb5 (B-flat trumpet, concert pitch)
    "clarinet": (50, 89),  # D3-F6 (B-flat clarinet, concert pitch)
}
#: Note lengths in seconds (drum hits are shorter).
NOTE_LENGTHS = {"drums": (0.125, 0.5), "default": (0.25, 1.0)}
#: General MIDI percussion keys used for the drums and their probabilities.
DRUM_KEYS = {36: 0.35, 38: 0.3, 42: 0.28, 46: 0.07}  # kick, snare, closed/open hat
DRUM_CHANNEL = 9  # MIDI channel 10
REST_PROBABILITY = 0.15
REST_LENGTHS = (0.05, 0.3)
PEAK = 0.5

DIVISION = 480  # ticks per quarter note
TEMPO = 500_000  # microseconds per quarter note (120 bpm): 960 ticks per second


# ---------------------------------------------------------------------------
# standard MIDI file writing
# ---------------------------------------------------------------------------


def encode_vlq(value):
    """Encode a non-negative int as a MIDI variable-length quantity."""
    value = int(value)
    if value < 0 or value > 0x0FFFFFFF:
        raise ValueError(f"VLQ value out of range: {value}")
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def seconds_to_ticks(seconds, division=DIVISION, tempo=TEMPO):
    """Convert seconds to MIDI ticks at a constant tempo."""
    return int(round(seconds * 1e6 / tempo * division))


def midi_file_bytes(events, *, division=DIVISION, tempo=TEMPO, end_tick=None):
    """Build a format-0 standard MIDI file.

    Parameters
    ----------
    events : iterable of (int, bytes)
        Absolute tick and raw channel message (e.g. ``bytes([0x90, 60, 100])``).
        Events at the same tick keep their order.
    division : int
        Ticks per quarter note.
    tempo : int
        Microseconds per quarter note.
    end_tick : int, optional
        Tick of the end-of-track event (default: the last event's tick), so
        a trailing rest is kept in the rendered length.

    Returns
    -------
    bytes
        The complete file.
    """
    events = sorted(events, key=lambda e: e[0])  # stable: keeps same-tick order
    last = events[-1][0] if events else 0
    end_tick = last if end_tick is None else max(int(end_tick), last)
    track = bytearray()
    track += encode_vlq(0) + b"\xff\x51\x03" + struct.pack(">I", tempo)[1:]
    now = 0
    for tick, message in events:
        if tick < 0:
            raise ValueError(f"negative tick {tick}")
        track += encode_vlq(tick - now) + bytes(message)
        now = tick
    track += encode_vlq(end_tick - now) + b"\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, division)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


# ---------------------------------------------------------------------------
# note sequences
# ---------------------------------------------------------------------------


def note_sequence(instrument, duration, rng):
    """Random single notes joined in time.

    Returns a list of ``(onset, length, key, velocity)`` with times in
    seconds; notes never overlap and the first starts at 0.
    """
    if instrument not in ALL_INSTRUMENTS:
        raise ValueError(f"unknown instrument {instrument!r}; expected one of {ALL_INSTRUMENTS}")
    lo, hi = NOTE_LENGTHS.get(instrument, NOTE_LENGTHS["default"])
    keys = np.array(list(DRUM_KEYS))
    probs = np.array(list(DRUM_KEYS.values()))
    notes = []
    pos = 0.0
    while pos < duration:
        length = min(float(rng.uniform(lo, hi)), duration - pos)
        if instrument == "drums":
            key = int(rng.choice(keys, p=probs / probs.sum()))
        else:
            low, high = PITCH_RANGES[instrument]
            key = int(rng.integers(low, high + 1))
        velocity = int(rng.integers(70, 111))
        notes.append((pos, length, key, velocity))
        pos += length
        if rng.uniform() < REST_PROBABILITY:
            pos += float(rng.uniform(*REST_LENGTHS))
    return notes


def sequence_events(notes, instrument, *, guitar_program=24):
    """MIDI events ``(tick, message)`` playing ``notes`` on ``instrument``."""
    if instrument == "drums":
        channel, program = DRUM_CHANNEL, 0
    else:
        channel = 0
        program = guitar_program if instrument == "guitar" else PROGRAMS[instrument]
    events = [(0, bytes([0xC0 | channel, program]))]
    for onset, length, key, velocity in notes:
        on = seconds_to_ticks(onset)
        off = max(on + 1, seconds_to_ticks(onset + length))
        events.append((on, bytes([0x90 | channel, key, velocity])))
        events.append((off, bytes([0x80 | channel, key, 0])))
    # note-offs before note-ons at the same tick so repeated keys retrigger
    events.sort(key=lambda e: (e[0], e[1][0] & 0xF0 != 0x80))
    return events


def clip_rng(seed, instrument, clip):
    """Independent generator of one clip, distinct for every seed."""
    return np.random.default_rng([int(seed), ALL_INSTRUMENTS.index(instrument), int(clip)])


# ---------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------


def missing_requirements(soundfont):
    """Human-readable list of what is missing to render."""
    missing = []
    if shutil.which("fluidsynth") is None:
        missing.append("the 'fluidsynth' program (Debian package fluidsynth)")
    if not Path(soundfont).is_file():
        packages = {path: package for path, package in OTHER_SOUNDFONTS.values()}
        package = packages.get(str(soundfont), "fluid-soundfont-gm")
        missing.append(f"the soundfont {soundfont} (Debian package {package})")
    return missing


def install_command():
    prefix = [] if (not hasattr(os, "geteuid") or os.geteuid() == 0) else ["sudo"]
    return [
        prefix + ["apt-get", "update"],
        prefix + ["apt-get", "install", "-y", *APT_PACKAGES],
    ]


def install():
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in install_command():
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, env=env)


def render_clip(midi_path, wav_path, *, soundfont, sr, n_samples):
    """Render one MIDI file and write a mono, fixed-length, normalised WAV."""
    import soundfile as sf

    raw = Path(str(wav_path) + ".raw.wav")
    cmd = [
        "fluidsynth",
        "-ni",
        "-q",
        "-R",
        "0",
        "-C",
        "0",
        "-g",
        "0.5",
        "-O",
        "float",
        "-T",
        "wav",
        "-F",
        str(raw),
        "-r",
        str(sr),
        str(soundfont),
        str(midi_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not raw.is_file():
        raise RuntimeError(
            f"fluidsynth failed on {midi_path} (exit {proc.returncode}):\n{proc.stderr}"
        )
    audio, file_sr = sf.read(str(raw), dtype="float32", always_2d=True)
    raw.unlink()
    if file_sr != sr:
        raise RuntimeError(f"fluidsynth wrote {file_sr} Hz instead of {sr} Hz")
    audio = audio.mean(axis=1)
    audio = np.pad(audio[:n_samples], (0, max(0, n_samples - audio.shape[0])))
    peak = float(np.max(np.abs(audio)))
    if peak <= 1e-6:
        raise RuntimeError(f"fluidsynth rendered silence for {midi_path}")
    sf.write(str(wav_path), audio * (PEAK / peak), sr, subtype="FLOAT")
    return wav_path


def render(
    out,
    *,
    n_clips=2,
    duration=20.0,
    sr=44100,
    seed=0,
    soundfont=DEFAULT_SOUNDFONT,
    instruments=INSTRUMENTS,
    guitar_program=24,
    jobs=None,
):
    """Render ``n_clips`` stems of every instrument into ``out``; return paths."""
    out = Path(out)
    n_samples = int(round(duration * sr))
    tasks = []
    with tempfile.TemporaryDirectory() as tmp:
        for instrument in instruments:
            (out / instrument).mkdir(parents=True, exist_ok=True)
            for k in range(n_clips):
                notes = note_sequence(instrument, duration, clip_rng(seed, instrument, k))
                events = sequence_events(notes, instrument, guitar_program=guitar_program)
                midi = Path(tmp) / f"{instrument}_{k}.mid"
                midi.write_bytes(midi_file_bytes(events, end_tick=seconds_to_ticks(duration)))
                tasks.append((midi, out / instrument / f"{instrument}_{k}.wav"))
        with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
            futures = [
                pool.submit(
                    render_clip, midi, wav, soundfont=soundfont, sr=sr, n_samples=n_samples
                )
                for midi, wav in tasks
            ]
            return [f.result() for f in futures]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="fluidr3_stems", help="output folder")
    parser.add_argument("--n-clips", type=int, default=2, help="clips per instrument")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per clip")
    parser.add_argument("--sr", type=int, default=44100, help="sample rate in Hz")
    parser.add_argument("--seed", type=int, default=0, help="seed of the note sequences")
    parser.add_argument(
        "--instruments",
        nargs="+",
        choices=ALL_INSTRUMENTS,
        default=list(INSTRUMENTS),
        metavar="NAME",
        help=f"instruments to render, of {' '.join(ALL_INSTRUMENTS)} "
        f"(default: {' '.join(INSTRUMENTS)})",
    )
    parser.add_argument(
        "--guitar-program",
        type=int,
        choices=(24, 25),
        default=24,
        help="GM program of the guitar: 24 nylon, 25 steel",
    )
    parser.add_argument("--soundfont", default=DEFAULT_SOUNDFONT, help="SoundFont (.sf2)")
    parser.add_argument("--jobs", type=int, default=None, help="parallel fluidsynth runs")
    parser.add_argument(
        "--install",
        action="store_true",
        help="apt-get install fluidsynth and the soundfont packages if missing",
    )
    args = parser.parse_args(argv)
    if args.n_clips < 1 or args.duration <= 0 or args.sr <= 0:
        parser.error("--n-clips, --duration and --sr must be positive")

    missing = missing_requirements(args.soundfont)
    if missing and args.install:
        install()
        missing = missing_requirements(args.soundfont)
    if missing:
        print("Cannot render, missing:", file=sys.stderr)
        for item in missing:
            print(f"  - {item}", file=sys.stderr)
        print(
            "Install them with:\n  "
            + " && ".join(" ".join(c) for c in install_command())
            + "\nor rerun this script with --install.",
            file=sys.stderr,
        )
        return 2

    start = time.perf_counter()
    paths = render(
        args.out,
        n_clips=args.n_clips,
        duration=args.duration,
        sr=args.sr,
        seed=args.seed,
        soundfont=args.soundfont,
        instruments=tuple(args.instruments),
        guitar_program=args.guitar_program,
        jobs=args.jobs,
    )
    print(
        f"Rendered {len(paths)} stems of {args.duration} s at {args.sr} Hz into "
        f"{args.out} in {time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
