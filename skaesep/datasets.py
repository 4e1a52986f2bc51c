"""Synthetic instruments, mixtures and a loader for your own recordings.

The report (``paper.md`` section IV-A) builds its data from the five
instruments drums, flute, guitar, violin and piano: single notes of one
instrument are joined in time to form that instrument's stem, and a random
subset of one to three stems is added with equal gain to form a mixture, at
44100 Hz in mono.  The report took its notes from the Philharmonia Orchestra
sample library; this module synthesises stand-ins so that the whole pipeline
runs without downloads:

- :func:`make_instrument_stem` -- one stem of one synthetic instrument;
- :func:`make_mixtures` -- mixtures together with their true sources;
- :func:`make_instrument_dataset` -- isolated, labelled stems for training;
- :func:`load_stems` -- the same kind of data from a folder of recordings
  (for instance the Philharmonia samples, or the stems rendered by
  ``scripts/render_fluidr3.py``);
- :func:`load_demo_mixture` -- a short mixture of real-instrument audio
  (FluidR3 renderings) and its stems, shipped with the package.

All generators are deterministic given ``random_state`` and work for any
duration and any sample rate of at least 2000 Hz.
"""

import numbers
from importlib import resources
from pathlib import Path

import librosa
import numpy as np
from scipy import signal
from sklearn.utils import Bunch, check_random_state

from .audio import audio_files, read_audio

__all__ = [
    "INSTRUMENTS",
    "load_demo_mixture",
    "load_stems",
    "make_instrument_dataset",
    "make_instrument_stem",
    "make_mixtures",
]

INSTRUMENTS = ("drums", "flute", "guitar", "violin", "piano")

# MIDI pitch ranges of the pitched instruments (inclusive).
_PITCH_RANGES = {
    "flute": (60, 96),  # C4 - C7
    "guitar": (40, 76),  # E2 - E5
    "violin": (55, 91),  # G3 - G6
    "piano": (36, 96),  # C2 - C7
}
# Range of note (or drum hit) lengths in seconds.
_NOTE_LENGTHS = {
    "drums": (0.125, 0.5),
    "flute": (0.25, 1.0),
    "guitar": (0.25, 1.0),
    "violin": (0.25, 1.0),
    "piano": (0.25, 1.0),
}
_REST_PROBABILITY = 0.15  # chance of a short rest after a note
_REST_LENGTHS = (0.05, 0.3)
_PEAK = 0.5  # peak amplitude of every synthetic stem
_MIN_SR = 2000


# ---------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------


def _check_instrument(instrument):
    if instrument not in INSTRUMENTS:
        raise ValueError(f"Unknown instrument {instrument!r}; expected one of {INSTRUMENTS}.")
    return instrument


def _check_instruments(instruments):
    if isinstance(instruments, str):
        instruments = (instruments,)
    instruments = tuple(instruments)
    if len(instruments) == 0:
        raise ValueError("instruments must name at least one instrument.")
    for name in instruments:
        _check_instrument(name)
    if len(set(instruments)) != len(instruments):
        raise ValueError(f"instruments contains duplicates: {instruments}.")
    return instruments


def _check_sr(sr):
    if not isinstance(sr, numbers.Integral) or isinstance(sr, bool) or sr < _MIN_SR:
        raise ValueError(f"sr must be an integer >= {_MIN_SR} Hz, got {sr!r}.")
    return int(sr)


def _n_samples(duration, sr):
    if (
        not isinstance(duration, numbers.Real)
        or isinstance(duration, bool)
        or not np.isfinite(duration)
        or duration <= 0
    ):
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}.")
    n_samples = int(round(duration * sr))
    if n_samples < 1:
        raise ValueError(
            f"duration={duration!r} s at sr={sr} Hz gives no samples; use a longer duration."
        )
    return n_samples


def _check_positive_int(value, name):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


# ---------------------------------------------------------------------------
# synthesis building blocks
# ---------------------------------------------------------------------------


def _midi_to_hz(pitch):
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=float) - 69.0) / 12.0)


def _pitch_range(instrument, sr):
    """MIDI range of ``instrument`` whose fundamentals lie below ``sr / 5``."""
    low, high = _PITCH_RANGES[instrument]
    high_ok = int(np.floor(69 + 12 * np.log2(sr / 5.0 / 440.0)))
    high = min(high, high_ok)
    if high < low:  # cannot happen for sr >= _MIN_SR, kept as a guard
        raise ValueError(f"sr={sr} Hz is too low for the {instrument} range.")
    return low, high


def _schedule(rng, n_samples, sr, instrument):
    """Onsets and lengths (in samples) of notes joined in time."""
    lo, hi = _NOTE_LENGTHS[instrument]
    starts, lengths = [], []
    pos = 0
    while pos < n_samples:
        length = int(round(rng.uniform(lo, hi) * sr))
        length = max(1, min(length, n_samples - pos))
        starts.append(pos)
        lengths.append(length)
        pos += length
        if rng.uniform() < _REST_PROBABILITY:
            pos += int(round(rng.uniform(*_REST_LENGTHS) * sr))
    return starts, lengths


def _ramp(n_samples, attack, release):
    """Raised-cosine attack and release envelope of ``n_samples`` samples."""
    env = np.ones(n_samples)
    total = attack + release
    if total > n_samples:  # squeeze both ramps into a very short note
        attack = int(attack * n_samples / total)
        release = n_samples - attack
    if attack > 0:
        env[:attack] = 0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / attack)
    if release > 0:
        env[n_samples - release :] *= 0.5 + 0.5 * np.cos(
            np.pi * np.arange(1, release + 1) / release
        )
    return env


def _filtered_noise(rng, n_samples, sr, low=None, high=None, order=4):
    """White noise band-limited to ``[low, high]`` Hz (either may be None)."""
    noise = rng.standard_normal(n_samples)
    nyq = 0.5 * sr
    if high is not None:
        high = min(high, 0.9 * nyq)
    if low is not None:
        low = min(low, 0.5 * (high if high is not None else 0.9 * nyq))
    if low is not None and high is not None:
        sos = signal.butter(order, [low, high], btype="bandpass", fs=sr, output="sos")
    elif low is not None:
        sos = signal.butter(order, low, btype="highpass", fs=sr, output="sos")
    elif high is not None:
        sos = signal.butter(order, high, btype="lowpass", fs=sr, output="sos")
    else:
        return noise
    noise = signal.sosfilt(sos, noise)
    return noise / (np.std(noise) + 1e-12)


def _n_harmonics(f0, sr, max_harmonics, f_max=16000.0):
    """Number of harmonics of ``f0`` kept below ``min(0.45 sr, f_max)``."""
    limit = min(0.45 * sr, f_max)
    return int(max(1, min(max_harmonics, np.floor(limit / f0))))


def _harmonic_stack(phase, amps, rates=None, sr=None):
    """Sum of ``amps[k] * exp(-rates[k] t) * sin((k + 1) phase)``.

    ``sin((k + 1) phase)`` is computed with the Chebyshev recurrence, so one
    call to :func:`numpy.sin` serves every harmonic.  Decaying harmonics are
    only evaluated until they have fallen by 100 dB.
    """
    s_prev = np.zeros_like(phase)
    s = np.sin(phase)
    c = 2.0 * np.cos(phase)
    out = np.zeros_like(phase)
    if rates is not None:
        t = np.arange(phase.size) / sr
    for k, amp in enumerate(amps):
        if k:
            s_prev, s = s, c * s - s_prev
        if rates is None:
            out += amp * s
        else:
            stop = min(phase.size, int(np.ceil(11.5 / rates[k] * sr)) + 1)
            out[:stop] += amp * np.exp(-rates[k] * t[:stop]) * s[:stop]
    return out


def _vibrato_phase(rng, f0, t, sr, rate, depth, delay):
    """Phase of a tone with a delayed, fading-in sinusoidal vibrato."""
    depth_t = depth * np.clip((t - delay) / 0.2, 0.0, 1.0)
    freq = f0 * (1.0 + depth_t * np.sin(2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)))
    return 2 * np.pi * np.cumsum(freq) / sr


# ---------------------------------------------------------------------------
# the five instruments: one note each
# ---------------------------------------------------------------------------


def _flute_note(rng, n, sr, f0, noise):
    t = np.arange(n) / sr
    phase = _vibrato_phase(
        rng,
        f0,
        t,
        sr,
        rate=rng.uniform(4.5, 5.5),
        depth=rng.uniform(0.004, 0.008),
        delay=rng.uniform(0.08, 0.15),
    )
    n_harm = _n_harmonics(f0, sr, 5)
    amps = np.array([1.0, 0.45, 0.2, 0.08, 0.04])[:n_harm]
    amps = amps * rng.uniform(0.8, 1.2, size=amps.size)
    tone = _harmonic_stack(phase, amps)
    env = _ramp(n, int(rng.uniform(0.06, 0.12) * sr), int(0.05 * sr))
    env *= 1.0 - 0.1 * t / max(t[-1], 1e-3)  # slight loss of breath
    breath = rng.uniform(0.06, 0.1) * noise * np.sum(amps)
    return env * (tone + breath)


def _guitar_note(rng, n, sr, f0, noise):
    t = np.arange(n) / sr
    n_harm = _n_harmonics(f0, sr, 30)
    k = np.arange(1, n_harm + 1)
    pluck = rng.uniform(0.08, 0.2)  # plucking position along the string
    amps = np.abs(np.sin(np.pi * k * pluck)) / k**0.8
    tau = np.clip(1.2 * np.sqrt(110.0 / f0), 0.25, 1.5)
    rates = (1.0 + 0.45 * (k - 1)) / tau  # bright harmonics decay faster
    tone = _harmonic_stack(2 * np.pi * f0 * t, amps, rates, sr)
    attack = max(1, int(0.002 * sr))
    env = _ramp(n, attack, int(0.01 * sr))
    click = np.zeros(n)
    m = min(n, int(0.004 * sr))
    click[:m] = 0.3 * noise[:m] * np.exp(-np.arange(m) / (0.001 * sr))
    return env * tone + click


def _violin_note(rng, n, sr, f0, noise):
    t = np.arange(n) / sr
    phase = _vibrato_phase(
        rng,
        f0,
        t,
        sr,
        rate=rng.uniform(5.5, 6.5),
        depth=rng.uniform(0.008, 0.014),
        delay=rng.uniform(0.1, 0.2),
    )
    n_harm = _n_harmonics(f0, sr, 40, f_max=10000.0)
    k = np.arange(1, n_harm + 1)
    f = k * f0
    # body resonances near 550 Hz and the 'bridge hill' near 3 kHz
    body = 0.6 + np.exp(-(((f - 550.0) / 250.0) ** 2))
    body += 1.5 * np.exp(-(((f - 3000.0) / 900.0) ** 2))
    amps = body / k  # sawtooth-like: every harmonic, falling as 1/k
    tone = _harmonic_stack(phase, amps)
    env = _ramp(n, int(rng.uniform(0.08, 0.15) * sr), int(0.08 * sr))
    # slow bow-pressure fluctuation
    env *= 1.0 + 0.08 * np.sin(2 * np.pi * rng.uniform(1.0, 3.0) * t + rng.uniform(0, 2 * np.pi))
    return env * (tone + 0.02 * np.sum(amps) * noise)


def _piano_note(rng, n, sr, f0, noise):
    t = np.arange(n) / sr
    n_harm = _n_harmonics(f0, sr, 20)
    k = np.arange(1, n_harm + 1)
    inharmonicity = rng.uniform(5e-5, 4e-4)
    freqs = k * f0 * np.sqrt(1.0 + inharmonicity * k**2)
    keep = freqs < 0.45 * sr
    k, freqs = k[keep], freqs[keep]
    velocity = rng.uniform(0.5, 1.0)
    amps = np.exp(-k / (4.0 + 8.0 * velocity)) / k
    tau = np.clip(2.5 * (261.6 / f0) ** 0.6, 0.4, 5.0)
    rates = (1.0 + 0.3 * (k - 1)) / tau
    tone = np.zeros(n)
    for amp, freq, rate in zip(amps, freqs, rates, strict=True):
        stop = min(n, int(np.ceil(11.5 / rate * sr)) + 1)
        tone[:stop] += amp * np.exp(-rate * t[:stop]) * np.sin(2 * np.pi * freq * t[:stop])
    # two-stage decay: loud prompt sound followed by a quieter after-sound
    env = (0.55 * np.exp(-t / 0.12) + 0.45) * _ramp(n, max(1, int(0.001 * sr)), int(0.015 * sr))
    m = min(n, int(0.02 * sr))
    hammer = np.zeros(n)
    hammer[:m] = 0.25 * noise[:m] * np.exp(-np.arange(m) / (0.004 * sr))
    return velocity * (env * tone + hammer)


def _drum_hit(rng, n, sr, noises):
    t = np.arange(n) / sr
    kind = rng.choice(3, p=[0.35, 0.3, 0.35])
    if kind == 0:  # kick: sine sweeping down, decaying
        freq = rng.uniform(40.0, 55.0) + rng.uniform(60.0, 100.0) * np.exp(-t / 0.04)
        hit = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / rng.uniform(0.12, 0.22))
        m = min(n, int(0.003 * sr))
        hit[:m] += 0.3 * noises["low"][:m]
    elif kind == 1:  # snare: band noise and a short body tone
        hit = 0.8 * noises["band"] * np.exp(-t / rng.uniform(0.07, 0.12))
        hit += 0.5 * np.sin(2 * np.pi * rng.uniform(170, 200) * t) * np.exp(-t / 0.05)
    else:  # hi-hat: short high-passed noise, sometimes open
        tau = rng.uniform(0.1, 0.2) if rng.uniform() < 0.2 else rng.uniform(0.02, 0.04)
        hit = 0.5 * noises["high"] * np.exp(-t / tau)
    return rng.uniform(0.6, 1.0) * hit * _ramp(n, 0, min(n, int(0.005 * sr)))


def _synthesize(instrument, n_samples, sr, rng):
    """Stem of ``instrument`` and the list of its notes.

    Returns the float64 stem (not normalised) and a list of
    ``(start, length, f0)`` tuples in samples and Hz (``f0`` is ``None`` for
    drum hits).
    """
    starts, lengths = _schedule(rng, n_samples, sr, instrument)
    stem = np.zeros(n_samples)
    notes = []
    if instrument == "drums":
        noises = {
            "low": _filtered_noise(rng, n_samples, sr, high=3000.0),
            "band": _filtered_noise(rng, n_samples, sr, low=1000.0, high=7000.0),
            "high": _filtered_noise(rng, n_samples, sr, low=7000.0),
        }
        for start, length in zip(starts, lengths, strict=True):
            sl = slice(start, start + length)
            stem[sl] += _drum_hit(rng, length, sr, {k: v[sl] for k, v in noises.items()})
            notes.append((start, length, None))
        return stem, notes

    if instrument == "flute":
        noise = _filtered_noise(rng, n_samples, sr, low=1500.0, high=9000.0, order=2)
        note_fn = _flute_note
    elif instrument == "guitar":
        noise = _filtered_noise(rng, n_samples, sr, low=2000.0)
        note_fn = _guitar_note
    elif instrument == "violin":
        noise = _filtered_noise(rng, n_samples, sr, low=3000.0, order=2)
        note_fn = _violin_note
    else:  # piano
        noise = _filtered_noise(rng, n_samples, sr, high=2500.0, order=2)
        note_fn = _piano_note
    low, high = _pitch_range(instrument, sr)
    pitches = rng.randint(low, high + 1, size=len(starts))
    for start, length, pitch in zip(starts, lengths, pitches, strict=True):
        f0 = float(_midi_to_hz(pitch))
        sl = slice(start, start + length)
        stem[sl] += rng.uniform(0.6, 1.0) * note_fn(rng, length, sr, f0, noise[sl])
        notes.append((start, length, f0))
    return stem, notes


# ---------------------------------------------------------------------------
# public generators
# ---------------------------------------------------------------------------


def make_instrument_stem(instrument, *, duration=20.0, sr=44100, random_state=None):
    """Generate the stem of one synthetic instrument.

    Single notes of random pitch (within the instrument's range) and random
    length (0.25 to 1 s; drum hits 0.125 to 0.5 s) are joined in time, with
    an occasional short rest, as in the report's section IV-A.  The timbres
    are built to be told apart in a spectrogram:

    - ``"drums"``: kick (low, downward sine sweep), snare (band-passed noise
      and a short body tone) and hi-hat (short high-passed noise) hits;
    - ``"flute"``: few strong low harmonics, breath noise, slow attack and a
      delayed vibrato;
    - ``"guitar"``: plucked string, fast attack, exponential decay, bright
      harmonics that decay faster than the fundamental;
    - ``"violin"``: sawtooth-like rich spectrum with a body resonance, bowed
      attack and sustain, strong vibrato;
    - ``"piano"``: hammer attack, two-stage exponential decay, slightly
      inharmonic (stretched) partials.

    Parameters
    ----------
    instrument : {"drums", "flute", "guitar", "violin", "piano"}
        Instrument to synthesise.
    duration : float, default=20.0
        Length of the stem in seconds.
    sr : int, default=44100
        Sample rate in Hz (at least 2000).
    random_state : int, RandomState instance or None, default=None
        Determines the notes and their timbral variations.  Pass an int for
        reproducible output across multiple function calls.

    Returns
    -------
    stem : ndarray of shape (n_samples,), dtype float32
        The stem, ``n_samples = round(duration * sr)``, peak-normalised to an
        absolute maximum of 0.5.

    See Also
    --------
    make_mixtures : Add random subsets of stems to form mixtures.
    make_instrument_dataset : Labelled isolated stems.

    Examples
    --------
    >>> from skaesep.datasets import make_instrument_stem
    >>> stem = make_instrument_stem("violin", duration=0.5, sr=8000, random_state=0)
    >>> stem.shape, stem.dtype
    ((4000,), dtype('float32'))
    >>> float(abs(stem).max())
    0.5
    """
    _check_instrument(instrument)
    sr = _check_sr(sr)
    n_samples = _n_samples(duration, sr)
    rng = check_random_state(random_state)
    stem, _ = _synthesize(instrument, n_samples, sr, rng)
    peak = np.max(np.abs(stem))
    if peak > 0:
        stem *= _PEAK / peak
    return stem.astype(np.float32)


def _check_n_instruments(n_instruments, n_available):
    if isinstance(n_instruments, numbers.Integral) and not isinstance(n_instruments, bool):
        low = high = int(n_instruments)
    else:
        try:
            low, high = n_instruments
        except (TypeError, ValueError):
            raise ValueError(
                f"n_instruments must be an int or a (low, high) pair, got {n_instruments!r}."
            ) from None
        if not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in (low, high)
        ):
            raise ValueError(f"n_instruments must hold integers, got {n_instruments!r}.")
        low, high = int(low), int(high)
    if not 1 <= low <= high <= n_available:
        raise ValueError(
            f"n_instruments={n_instruments!r} must satisfy 1 <= low <= high <= "
            f"len(instruments)={n_available}."
        )
    return low, high


def make_mixtures(
    n_mixtures=10,
    *,
    n_instruments=(1, 3),
    instruments=INSTRUMENTS,
    duration=20.0,
    sr=44100,
    random_state=None,
):
    """Generate mixtures of random subsets of synthetic instruments.

    Each mixture adds the stems (see :func:`make_instrument_stem`) of a
    random subset of ``instruments`` with equal gain, as in the report's
    section IV-A ("uniformly linearly added", 1 to 3 instruments).

    Parameters
    ----------
    n_mixtures : int, default=10
        Number of mixtures.
    n_instruments : int or tuple of (int, int), default=(1, 3)
        Number of instruments in each mixture, or an inclusive ``(low,
        high)`` range from which it is drawn uniformly for every mixture.
    instruments : sequence of str, default=INSTRUMENTS
        Instruments to choose from (a subset of :data:`INSTRUMENTS`).  Their
        order fixes the order of the ``sources`` axis.
    duration : float, default=20.0
        Length of every mixture in seconds.
    sr : int, default=44100
        Sample rate in Hz (at least 2000).
    random_state : int, RandomState instance or None, default=None
        Determines the subsets and the stems.  Pass an int for reproducible
        output across multiple function calls.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        mixtures : ndarray of shape (n_mixtures, n_samples), dtype float32
            The mixtures; ``mixtures == sources.sum(axis=1)``.  Each stem
            peaks at 0.5, so a mixture of three may exceed 1 in magnitude.
        sources : ndarray of shape (n_mixtures, n_instruments, n_samples), \
dtype float32
            ``sources[i, j]`` is the stem of ``instruments[j]`` in mixture
            ``i``, all zeros when that instrument is absent.
        present : ndarray of shape (n_mixtures, n_instruments), dtype bool
            Which instruments each mixture contains.
        seeds : ndarray of shape (n_mixtures, n_instruments), dtype int64
            ``sources[i, j]`` equals ``make_instrument_stem(instruments[j],
            duration=duration, sr=sr, random_state=seeds[i, j])``; -1 where
            the instrument is absent.
        instruments : tuple of str
            Names of the instruments along the second axis of ``sources``.
        sr : int
            Sample rate in Hz.
        DESCR : str
            Short description of the data.

    See Also
    --------
    make_instrument_stem : Stem of one synthetic instrument.

    Examples
    --------
    >>> from skaesep.datasets import make_mixtures
    >>> data = make_mixtures(4, duration=0.5, sr=8000, random_state=0)
    >>> data.mixtures.shape, data.sources.shape
    ((4, 4000), (4, 5, 4000))
    >>> bool((data.mixtures == data.sources.sum(axis=1)).all())
    True
    >>> data.present.sum(axis=1).tolist()
    [1, 1, 2, 3]
    """
    n_mixtures = _check_positive_int(n_mixtures, "n_mixtures")
    instruments = _check_instruments(instruments)
    low, high = _check_n_instruments(n_instruments, len(instruments))
    sr = _check_sr(sr)
    n_samples = _n_samples(duration, sr)
    rng = check_random_state(random_state)

    # Draw every subset and seed first: the choice of instruments then does
    # not depend on duration or sr.
    present = np.zeros((n_mixtures, len(instruments)), dtype=bool)
    seeds = np.full((n_mixtures, len(instruments)), -1, dtype=np.int64)
    for i in range(n_mixtures):
        k = rng.randint(low, high + 1)
        present[i, rng.choice(len(instruments), size=k, replace=False)] = True
        seeds[i] = rng.randint(np.iinfo(np.int32).max, size=len(instruments))
    seeds[~present] = -1

    sources = np.zeros((n_mixtures, len(instruments), n_samples), dtype=np.float32)
    for i, j in zip(*np.nonzero(present), strict=True):
        sources[i, j] = make_instrument_stem(
            instruments[j], duration=duration, sr=sr, random_state=int(seeds[i, j])
        )
    mixtures = sources.sum(axis=1, dtype=np.float32)
    descr = (
        f"{n_mixtures} synthetic mixtures of {low} to {high} of the instruments "
        f"{', '.join(instruments)}; {duration} s at {sr} Hz, mono, equal gain."
    )
    return Bunch(
        mixtures=mixtures,
        sources=sources,
        present=present,
        seeds=seeds,
        instruments=instruments,
        sr=sr,
        DESCR=descr,
    )


def make_instrument_dataset(
    *,
    instruments=INSTRUMENTS,
    n_clips_per_instrument=2,
    duration=20.0,
    sr=44100,
    random_state=None,
):
    """Generate labelled isolated stems of synthetic instruments.

    Meant for training the identified mode, where the separator learns
    which code-layer units belong to which instrument from isolated stems.

    Parameters
    ----------
    instruments : sequence of str, default=INSTRUMENTS
        Instruments to generate (a subset of :data:`INSTRUMENTS`).
    n_clips_per_instrument : int, default=2
        Number of independent stems per instrument.
    duration : float, default=20.0
        Length of every stem in seconds.
    sr : int, default=44100
        Sample rate in Hz (at least 2000).
    random_state : int, RandomState instance or None, default=None
        Determines the stems.  Pass an int for reproducible output across
        multiple function calls.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : ndarray of shape (n_clips, n_samples), dtype float32
            The stems, grouped by instrument in the order of
            ``instruments``; ``n_clips = len(instruments) *
            n_clips_per_instrument``.
        target : ndarray of shape (n_clips,), dtype str
            Instrument name of each stem.
        target_names : tuple of str
            The instruments.
        sr : int
            Sample rate in Hz.
        DESCR : str
            Short description of the data.

    Examples
    --------
    >>> from skaesep.datasets import make_instrument_dataset
    >>> data = make_instrument_dataset(
    ...     instruments=("drums", "piano"), duration=0.25, sr=8000, random_state=0)
    >>> data.data.shape
    (4, 2000)
    >>> data.target.tolist()
    ['drums', 'drums', 'piano', 'piano']
    """
    instruments = _check_instruments(instruments)
    n_clips = _check_positive_int(n_clips_per_instrument, "n_clips_per_instrument")
    sr = _check_sr(sr)
    n_samples = _n_samples(duration, sr)
    rng = check_random_state(random_state)
    seeds = rng.randint(np.iinfo(np.int32).max, size=(len(instruments), n_clips))
    data = np.empty((len(instruments) * n_clips, n_samples), dtype=np.float32)
    for j, name in enumerate(instruments):
        for c in range(n_clips):
            data[j * n_clips + c] = make_instrument_stem(
                name, duration=duration, sr=sr, random_state=int(seeds[j, c])
            )
    target = np.repeat(np.asarray(instruments, dtype=str), n_clips)
    descr = (
        f"{n_clips} isolated synthetic stem(s) of each of {', '.join(instruments)}; "
        f"{duration} s at {sr} Hz, mono."
    )
    return Bunch(data=data, target=target, target_names=instruments, sr=sr, DESCR=descr)


# ---------------------------------------------------------------------------
# user recordings
# ---------------------------------------------------------------------------


def _read_clip(path, sr, mono):
    """``path`` as float32 ``(n_samples,)`` or ``(n_channels, n_samples)`` at ``sr``."""
    audio, file_sr = read_audio(path)
    audio = librosa.to_mono(audio) if mono else np.atleast_2d(audio)
    if sr is not None and file_sr != sr:
        audio = librosa.resample(audio, orig_sr=file_sr, target_sr=sr)
    return np.ascontiguousarray(audio, dtype=np.float32), file_sr


def _fit_length(audio, n_samples):
    if audio.shape[-1] >= n_samples:
        return audio[..., :n_samples]
    pad = [(0, 0)] * (audio.ndim - 1) + [(0, n_samples - audio.shape[-1])]
    return np.pad(audio, pad)


def load_stems(directory, *, sr=44100, duration=None, mono=True, join_notes=False):
    """Load recordings from a folder with one subfolder per instrument.

    The expected layout is ``directory/<instrument>/<any name>.<ext>``, for
    instance the Philharmonia Orchestra samples the report used, or the
    output of ``scripts/render_fluidr3.py``.  Every format soundfile reads
    (WAV, FLAC, OGG, MP3, AIFF, ...) is accepted, also in nested folders
    below an instrument folder; other files and hidden entries are ignored.
    Subfolders holding no audio are skipped.

    Parameters
    ----------
    directory : str or path-like
        Root folder.  Subfolder names become the instrument labels.
    sr : int or None, default=44100
        Sample rate to resample every clip to (with :func:`librosa.resample`).
        ``None`` keeps the files' rate, which must then be the same for all.
    duration : float or None, default=None
        If given, every clip (or joined stem) is cut or zero-padded to
        ``round(duration * sr)`` samples and ``data`` is a single array.
    mono : bool, default=True
        Average the channels to one.  With ``mono=False`` every clip has
        shape ``(n_channels, n_samples)``.
    join_notes : bool, default=False
        Join all files of one instrument in filename order into a single
        stem, as the report joins single notes in time (section IV-A).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : list of ndarray, or ndarray of shape (n_clips, n_samples)
            The float32 clips (an array when ``duration`` is given; with
            ``mono=False`` each clip has a leading channel axis).
        target : ndarray of shape (n_clips,), dtype str
            Instrument (subfolder) name of each clip.
        target_names : tuple of str
            Sorted instrument names found.
        filenames : list
            Path of each clip, or with ``join_notes=True`` the list of paths
            joined into each stem.
        sr : int
            Sample rate of ``data`` in Hz.

    Raises
    ------
    ValueError
        If ``directory`` does not exist or is not a folder, holds no audio in
        instrument subfolders, a file cannot be read or fails
        :func:`skaesep.audio.check_audio` (empty, NaN or huge samples; the
        message names the file), or with ``sr=None`` the files have different sample rates.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import soundfile as sf
    >>> from skaesep.datasets import load_stems, make_instrument_stem
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "flute").mkdir()
    >>> stem = make_instrument_stem("flute", duration=0.5, sr=8000, random_state=0)
    >>> sf.write(root / "flute" / "flute_0.wav", stem, 8000)
    >>> data = load_stems(root, sr=16000)
    >>> data.target.tolist(), data.data[0].shape
    (['flute'], (8000,))
    """
    root = Path(directory)
    if not root.exists():
        raise ValueError(f"Folder {str(root)!r} does not exist.")
    if not root.is_dir():
        raise ValueError(f"{str(root)!r} is not a folder.")
    if sr is not None:
        if not isinstance(sr, numbers.Integral) or isinstance(sr, bool) or sr <= 0:
            raise ValueError(f"sr must be a positive integer or None, got {sr!r}.")
        sr = int(sr)

    groups = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = audio_files(sub)
        if files:
            groups.append((sub.name, files))
    if not groups:
        loose = [p.name for p in audio_files(root) if p.parent == root]
        hint = (
            f" Found audio directly in it ({', '.join(loose[:3])}...); move each "
            "instrument's files into a subfolder named after the instrument."
            if loose
            else ""
        )
        raise ValueError(
            f"No audio files found in instrument subfolders of {str(root)!r}; expected "
            f"<folder>/<instrument>/<file>.wav (or .flac, .mp3, ...).{hint}"
        )

    clips, targets, filenames, rates = [], [], [], set()
    for name, files in groups:
        loaded = []
        for path in files:
            audio, file_sr = _read_clip(path, sr, mono)
            rates.add(file_sr)
            loaded.append(audio)
        if join_notes:
            if not mono and len({a.shape[0] for a in loaded}) > 1:
                raise ValueError(
                    f"Cannot join files of {name!r} with different channel counts; use mono=True."
                )
            clips.append(np.concatenate(loaded, axis=-1))
            targets.append(name)
            filenames.append([str(p) for p in files])
        else:
            clips.extend(loaded)
            targets.extend([name] * len(loaded))
            filenames.extend(str(p) for p in files)

    if sr is None:
        if len(rates) > 1:
            raise ValueError(
                f"Files in {str(root)!r} have different sample rates {sorted(rates)}; "
                "pass sr to resample them."
            )
        sr = rates.pop()
    if duration is not None:
        n_samples = _n_samples(duration, sr)
        clips = [_fit_length(c, n_samples) for c in clips]
        if mono or len({c.shape for c in clips}) == 1:
            clips = np.stack(clips).astype(np.float32, copy=False)
    return Bunch(
        data=clips,
        target=np.asarray(targets, dtype=str),
        target_names=tuple(name for name, _ in groups),
        filenames=filenames,
        sr=sr,
    )


def load_demo_mixture():
    """A 7-second mixture of drums, flute and piano, with its true stems.

    Real-instrument audio for trying a model trained on recordings, such as
    the built-in model ``"default"``: one stem per instrument rendered from
    the FluidR3 General MIDI soundfont (random single notes joined in time,
    report section IV-A, with other note sequences than the built-in model
    was trained or checked on), 44100 Hz mono, peak-normalised to 0.5 and
    stored as 16-bit FLAC in ``skaesep/data/demo_mixture/``.  The mixture is
    their sum (equal gain).  ``scripts/render_demo_mixture.py`` renders them
    again.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        mixture : ndarray of shape (n_samples,), dtype float32
            The sum of the stems.
        references : ndarray of shape (n_sources, n_samples), dtype float32
            The stems, in the order of ``names``.
        names : tuple of str
            Instrument of each stem: ``("drums", "flute", "piano")``.
        sr : int
            Sample rate in Hz (44100).

    See Also
    --------
    load_stems : Reads the stems (from a folder of the same layout).

    Examples
    --------
    >>> from skaesep.datasets import load_demo_mixture
    >>> demo = load_demo_mixture()
    >>> demo.names, demo.references.shape, demo.sr
    (('drums', 'flute', 'piano'), (3, 308700), 44100)
    """
    stems = load_stems(Path(str(resources.files("skaesep") / "data" / "demo_mixture")), sr=None)
    references = np.stack(stems.data)
    return Bunch(
        mixture=references.sum(axis=0),
        references=references,
        names=tuple(stems.target.tolist()),
        sr=stems.sr,
    )
