"""Tests of skaesep.datasets and of the FluidR3 render script's MIDI writer."""

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sklearn.utils import check_random_state

from skaesep.datasets import (
    INSTRUMENTS,
    _synthesize,
    load_demo_mixture,
    load_stems,
    make_instrument_dataset,
    make_instrument_stem,
    make_mixtures,
)

SR = 22050
PITCHED = ("flute", "guitar", "violin", "piano")


# ---------------------------------------------------------------------------
# make_instrument_stem
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("instrument", INSTRUMENTS)
def test_stem_shape_dtype_peak(instrument):
    stem = make_instrument_stem(instrument, duration=1.5, sr=SR, random_state=0)
    assert stem.shape == (round(1.5 * SR),)
    assert stem.dtype == np.float32
    assert np.all(np.isfinite(stem))
    assert np.max(np.abs(stem)) == pytest.approx(0.5, rel=1e-6)
    # non-silent throughout most of the clip, not just a click
    frames = stem[: stem.size // 1024 * 1024].reshape(-1, 1024)
    assert np.mean(np.sqrt(np.mean(frames**2, axis=1)) > 1e-3) > 0.5


@pytest.mark.parametrize("instrument", INSTRUMENTS)
def test_stem_deterministic_and_seed_dependent(instrument):
    a = make_instrument_stem(instrument, duration=0.8, sr=8000, random_state=3)
    b = make_instrument_stem(instrument, duration=0.8, sr=8000, random_state=3)
    c = make_instrument_stem(instrument, duration=0.8, sr=8000, random_state=4)
    d = make_instrument_stem(
        instrument, duration=0.8, sr=8000, random_state=np.random.RandomState(3)
    )
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, d)
    assert not np.allclose(a, c)


@pytest.mark.parametrize(
    "sr, duration", [(2000, 0.3), (8000, 1.7), (16000, 0.01), (48000, 0.77), (44100, 1e-4)]
)
@pytest.mark.parametrize("instrument", INSTRUMENTS)
def test_stem_any_rate_and_duration(instrument, sr, duration):
    stem = make_instrument_stem(instrument, duration=duration, sr=sr, random_state=0)
    assert stem.shape == (round(duration * sr),)
    assert np.all(np.isfinite(stem)) and np.max(np.abs(stem)) > 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"instrument": "tuba"}, "Unknown instrument"),
        ({"sr": 1000}, "sr must be"),
        ({"sr": 22050.0}, "sr must be"),
        ({"duration": 0}, "duration must be"),
        ({"duration": -1.0}, "duration must be"),
        ({"duration": float("nan")}, "duration must be"),
        ({"duration": 1e-6}, "gives no samples"),
    ],
)
def test_stem_invalid(kwargs, match):
    kwargs = {"instrument": "flute", "duration": 0.1, "sr": 8000, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_instrument_stem(kwargs.pop("instrument"), **kwargs)


# ---------------------------------------------------------------------------
# timbres
# ---------------------------------------------------------------------------


def _hf_ratio_and_impulsiveness(x, sr):
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / sr)
    hf_ratio = power[freqs > 4000].sum() / power.sum()
    frames = x[: x.size // 1024 * 1024].reshape(-1, 1024)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return hf_ratio, np.percentile(rms, 95) / np.median(rms)


def test_drums_are_noisy_and_percussive():
    feats = {
        name: np.array(
            [
                _hf_ratio_and_impulsiveness(
                    make_instrument_stem(name, duration=3.0, sr=SR, random_state=s), SR
                )
                for s in range(3)
            ]
        )
        for name in INSTRUMENTS
    }
    pitched_hf = max(feats[n][:, 0].max() for n in PITCHED)
    pitched_imp = max(feats[n][:, 1].max() for n in PITCHED)
    # snare and hi-hat noise put far more energy above 4 kHz than any pitched
    # instrument, and the short hits make the frame energy spiky
    assert feats["drums"][:, 0].min() > 1.3 * pitched_hf
    assert feats["drums"][:, 1].min() > 1.1 * pitched_imp
    # the drum kit is broadband while flute energy sits in a few harmonics
    assert feats["flute"][:, 0].max() < 0.1


def _notes(instrument, duration=6.0, seed=0):
    stem, notes = _synthesize(instrument, int(duration * SR), SR, check_random_state(seed))
    return stem, notes


def _peak_track(x, f0, sr=SR):
    """Frequency of the strongest peak within +-7 % of f0, frame by frame."""
    n, hop, nfft = 1024, 256, 16384
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop] * np.hanning(n)
    mag = np.abs(np.fft.rfft(frames, nfft, axis=1)) + 1e-30
    freqs = np.fft.rfftfreq(nfft, 1 / sr)
    idx = np.nonzero((freqs > 0.93 * f0) & (freqs < 1.07 * f0))[0]
    k = idx[mag[:, idx].argmax(axis=1)]
    rows = np.arange(k.size)
    a, b, c = (np.log(mag[rows, k + o]) for o in (-1, 0, 1))
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sr / nfft


@pytest.mark.parametrize("instrument", PITCHED)
def test_pitch_and_vibrato(instrument):
    stem, notes = _notes(instrument)
    long_notes = [(s, n, f0) for s, n, f0 in notes if n >= 0.6 * SR]
    assert len(long_notes) >= 3
    for start, length, f0 in long_notes:
        seg = stem[start + int(0.3 * SR) : start + length - int(0.1 * SR)]
        cents = 1200 * np.log2(_peak_track(seg, f0) / f0)
        assert abs(np.median(cents)) < 15, "fundamental not at the note's pitch"
        if instrument in ("flute", "violin"):
            assert np.std(cents) > 4, "no vibrato"
        else:
            assert np.std(cents) < 1.5, "plucked/struck notes must hold their pitch"


@pytest.mark.parametrize("instrument", PITCHED)
def test_decay_versus_sustain(instrument):
    stem, notes = _notes(instrument)
    ratios = []
    for start, length, _ in notes:
        if length < 0.4 * SR:
            continue
        seg = stem[start + int(0.05 * SR) : start + length - int(0.1 * SR)]
        third = seg.size // 3
        ratios.append(np.sqrt(np.mean(seg[-third:] ** 2) / np.mean(seg[:third] ** 2)))
    assert len(ratios) >= 3
    if instrument in ("guitar", "piano"):
        assert max(ratios) < 0.8  # exponential decay
    else:
        assert min(ratios) > 0.85  # bowed / blown sustain


def test_violin_richer_than_flute():
    def high_harmonic_share(instrument):
        """Energy share of harmonics 6-12 among harmonics 1-12, per long note."""
        stem, notes = _notes(instrument)
        shares = []
        for start, length, f0 in notes:
            if length < 0.5 * SR or 12.5 * f0 > 0.45 * SR:
                continue
            seg = stem[start + int(0.2 * SR) : start + length - int(0.1 * SR)]
            power = np.abs(np.fft.rfft(seg * np.hanning(seg.size))) ** 2
            harmonic = np.fft.rfftfreq(seg.size, 1 / SR) / f0
            high = power[(harmonic >= 5.5) & (harmonic < 12.5)].sum()
            shares.append(high / power[(harmonic >= 0.5) & (harmonic < 12.5)].sum())
        assert len(shares) >= 3
        return np.array(shares)

    violin, flute = high_harmonic_share("violin"), high_harmonic_share("flute")
    assert violin.min() > 0.05  # sawtooth-like: many strong harmonics
    assert flute.max() < 0.04  # few strong low harmonics (plus breath noise)


def test_note_schedule_joined_in_time():
    for instrument in INSTRUMENTS:
        _, notes = _notes(instrument, duration=10.0, seed=1)
        starts = np.array([s for s, _, _ in notes])
        lengths = np.array([n for _, n, _ in notes])
        assert starts[0] == 0
        assert np.all(starts[1:] >= starts[:-1] + lengths[:-1])  # no overlap
        assert starts[-1] + lengths[-1] <= 10 * SR
        lo, hi = (0.125, 0.5) if instrument == "drums" else (0.25, 1.0)
        assert np.all(lengths[:-1] >= lo * SR - 1) and np.all(lengths <= hi * SR + 1)
        if instrument != "drums":
            assert len({f0 for _, _, f0 in notes}) >= 5  # pitches vary


# ---------------------------------------------------------------------------
# make_mixtures / make_instrument_dataset
# ---------------------------------------------------------------------------


def test_mixtures_structure():
    data = make_mixtures(12, duration=0.5, sr=8000, random_state=0)
    n_samples = 4000
    assert data.mixtures.shape == (12, n_samples) and data.mixtures.dtype == np.float32
    assert data.sources.shape == (12, 5, n_samples) and data.sources.dtype == np.float32
    assert data.present.shape == (12, 5) and data.present.dtype == bool
    assert data.instruments == INSTRUMENTS and data.sr == 8000
    np.testing.assert_array_equal(data.mixtures, data.sources.sum(axis=1))
    counts = data.present.sum(axis=1)
    assert counts.min() >= 1 and counts.max() <= 3 and len(set(counts)) > 1
    energy = np.abs(data.sources).max(axis=2)
    np.testing.assert_array_equal(energy > 0, data.present)
    assert np.all(data.seeds[~data.present] == -1)
    i, j = np.argwhere(data.present)[0]
    np.testing.assert_array_equal(
        data.sources[i, j],
        make_instrument_stem(
            INSTRUMENTS[j], duration=0.5, sr=8000, random_state=int(data.seeds[i, j])
        ),
    )


def test_mixtures_determinism_and_options():
    kw = dict(duration=0.3, sr=8000)
    a = make_mixtures(5, random_state=1, **kw)
    b = make_mixtures(5, random_state=1, **kw)
    c = make_mixtures(5, random_state=2, **kw)
    np.testing.assert_array_equal(a.mixtures, b.mixtures)
    np.testing.assert_array_equal(a.present, b.present)
    assert not np.allclose(a.mixtures, c.mixtures)
    # the subsets do not depend on duration or sample rate
    d = make_mixtures(5, random_state=1, duration=0.2, sr=16000)
    np.testing.assert_array_equal(a.present, d.present)
    assert d.mixtures.shape == (5, 3200)

    two = make_mixtures(
        6, n_instruments=2, instruments=("flute", "piano", "drums"), random_state=0, **kw
    )
    assert two.instruments == ("flute", "piano", "drums")
    assert two.sources.shape == (6, 3, 2400)
    assert np.all(two.present.sum(axis=1) == 2)
    np.testing.assert_array_equal(two.mixtures, two.sources.sum(axis=1))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_instruments": 0}, "n_instruments"),
        ({"n_instruments": (2, 1)}, "n_instruments"),
        ({"n_instruments": (1, 6)}, "n_instruments"),
        ({"n_instruments": "two"}, "n_instruments"),
        ({"n_instruments": (1.0, 2)}, "n_instruments"),
        ({"instruments": ("flute", "tuba")}, "Unknown instrument"),
        ({"instruments": ("flute", "flute")}, "duplicates"),
        ({"instruments": ()}, "at least one"),
        ({"n_mixtures": 0}, "n_mixtures"),
    ],
)
def test_mixtures_invalid(kwargs, match):
    kwargs = {"duration": 0.1, "sr": 8000, **kwargs}
    n_mixtures = kwargs.pop("n_mixtures", 2)
    with pytest.raises(ValueError, match=match):
        make_mixtures(n_mixtures, **kwargs)


def test_instrument_dataset():
    data = make_instrument_dataset(n_clips_per_instrument=2, duration=0.4, sr=8000, random_state=0)
    assert data.data.shape == (10, 3200) and data.data.dtype == np.float32
    assert data.target.tolist() == [n for n in INSTRUMENTS for _ in range(2)]
    assert data.target_names == INSTRUMENTS and data.sr == 8000
    assert len({row.tobytes() for row in data.data}) == 10  # all clips differ
    again = make_instrument_dataset(
        n_clips_per_instrument=2, duration=0.4, sr=8000, random_state=0
    )
    np.testing.assert_array_equal(data.data, again.data)
    other = make_instrument_dataset(
        n_clips_per_instrument=2, duration=0.4, sr=8000, random_state=1
    )
    assert not np.allclose(data.data, other.data)
    with pytest.raises(ValueError, match="n_clips_per_instrument"):
        make_instrument_dataset(n_clips_per_instrument=0, duration=0.1, sr=8000)


# ---------------------------------------------------------------------------
# load_stems
# ---------------------------------------------------------------------------


@pytest.fixture
def stem_folder(tmp_path):
    rng = np.random.RandomState(0)
    (tmp_path / "flute").mkdir()
    (tmp_path / "drums" / "nested").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    flute = [
        make_instrument_stem("flute", duration=d, sr=SR, random_state=i)
        for i, d in enumerate((0.5, 0.3))
    ]
    sf.write(tmp_path / "flute" / "a.wav", flute[0], SR, subtype="FLOAT")
    sf.write(tmp_path / "flute" / "b.flac", flute[1], SR)
    stereo = (0.3 * rng.uniform(-1, 1, size=(4410, 2))).astype(np.float32)
    sf.write(tmp_path / "drums" / "nested" / "hit.wav", stereo, 44100, subtype="FLOAT")
    sf.write(tmp_path / ".hidden" / "x.wav", stereo, 44100)
    (tmp_path / "flute" / "README.txt").write_text("not audio")
    return tmp_path, flute, stereo


def test_load_stems_round_trip(stem_folder):
    root, flute, stereo = stem_folder
    data = load_stems(root, sr=44100)
    assert data.target.tolist() == ["drums", "flute", "flute"]
    assert data.target_names == ("drums", "flute")
    assert data.sr == 44100
    assert [Path(f).name for f in data.filenames] == ["hit.wav", "a.wav", "b.flac"]
    # stereo at the target rate: exact channel mean
    np.testing.assert_array_equal(data.data[0], stereo.mean(axis=1))
    # 22050 Hz files resampled to 44100 Hz
    assert data.data[1].shape == (2 * flute[0].size,)
    assert data.data[2].shape == (2 * flute[1].size,)
    assert all(c.dtype == np.float32 for c in data.data)
    # resampled signal keeps its spectrum: compare at the original rate
    back = load_stems(root, sr=SR)
    np.testing.assert_allclose(back.data[1], flute[0], atol=1e-6)
    np.testing.assert_allclose(back.data[2], flute[1], atol=1e-4)  # 16-bit FLAC
    assert back.data[0].shape == (stereo.shape[0] // 2,)


def test_load_stems_options(stem_folder):
    root, flute, stereo = stem_folder
    fixed = load_stems(root, sr=SR, duration=0.4)
    assert isinstance(fixed.data, np.ndarray) and fixed.data.shape == (3, round(0.4 * SR))
    np.testing.assert_array_equal(fixed.data[1], flute[0][: round(0.4 * SR)])
    np.testing.assert_array_equal(fixed.data[2, flute[1].size :], 0)  # zero-padded

    joined = load_stems(root, sr=SR, join_notes=True)
    assert joined.target.tolist() == ["drums", "flute"]
    assert joined.data[1].shape == (flute[0].size + flute[1].size,)
    assert [Path(f).name for f in joined.filenames[1]] == ["a.wav", "b.flac"]
    np.testing.assert_allclose(joined.data[1][: flute[0].size], flute[0], atol=1e-6)

    multi = load_stems(root, sr=44100, mono=False)
    assert multi.data[0].shape == (2, stereo.shape[0])
    np.testing.assert_array_equal(multi.data[0], stereo.T)
    assert multi.data[1].shape == (1, 2 * flute[0].size)

    with pytest.raises(ValueError, match="different sample rates"):
        load_stems(root, sr=None)
    (root / "drums" / "nested" / "hit.wav").unlink()
    native = load_stems(root, sr=None)
    assert native.sr == SR and native.data[0].shape == flute[0].shape


def test_load_stems_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_stems(tmp_path / "missing")
    (tmp_path / "file.wav").write_bytes(b"")
    with pytest.raises(ValueError, match="not a folder"):
        load_stems(tmp_path / "file.wav")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="No audio files"):
        load_stems(empty)
    (empty / "violin").mkdir()
    (empty / "violin" / "notes.txt").write_text("no audio here")
    with pytest.raises(ValueError, match="No audio files"):
        load_stems(empty)
    loose = tmp_path / "loose"
    loose.mkdir()
    sf.write(loose / "note.wav", np.zeros(100, dtype=np.float32), 8000)
    with pytest.raises(ValueError, match="subfolder named after the instrument"):
        load_stems(loose)
    bad = tmp_path / "bad"
    (bad / "piano").mkdir(parents=True)
    sf.write(bad / "piano" / "good.wav", np.zeros(100, dtype=np.float32), 8000)
    (bad / "piano" / "broken.wav").write_bytes(b"RIFF0000WAVEnot really audio")
    with pytest.raises(ValueError, match="broken.wav"):
        load_stems(bad)


def test_load_demo_mixture():
    demo = load_demo_mixture()
    assert demo.names == ("drums", "flute", "piano")
    assert demo.sr == 44100
    assert demo.references.shape == (3, 7 * 44100)
    assert demo.references.dtype == demo.mixture.dtype == np.float32
    np.testing.assert_array_equal(demo.mixture, demo.references.sum(axis=0))
    # Peak-normalised to 0.5 by the render script, stored in 16 bits.
    np.testing.assert_allclose(np.abs(demo.references).max(axis=1), 0.5, atol=1e-4)
    # Three different instruments: no stem is a copy or a rescaling of another.
    corr = np.corrcoef(demo.references)
    assert np.all(np.abs(corr[np.triu_indices(3, 1)]) < 0.5)


# ---------------------------------------------------------------------------
# scripts/render_fluidr3.py (MIDI writing only; no fluidsynth needed)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def render_script(load_script):
    return load_script("render_fluidr3")


def _read_vlq(buf, pos):
    value = 0
    while True:
        byte = buf[pos]
        pos += 1
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos


def _parse_smf(data):
    """Minimal independent reader: (division, tempo, events, end_tick)."""
    assert data[:4] == b"MThd"
    length, fmt, ntracks, division = struct.unpack(">IHHH", data[4:14])
    assert (length, fmt, ntracks) == (6, 0, 1)
    assert data[14:18] == b"MTrk"
    (track_len,) = struct.unpack(">I", data[18:22])
    track = data[22:]
    assert len(track) == track_len
    pos, tick, events, tempo = 0, 0, [], None
    while pos < len(track):
        delta, pos = _read_vlq(track, pos)
        tick += delta
        status = track[pos]
        if status == 0xFF:
            meta, length = track[pos + 1], track[pos + 2]
            body = track[pos + 3 : pos + 3 + length]
            pos += 3 + length
            if meta == 0x51:
                tempo = int.from_bytes(body, "big")
            elif meta == 0x2F:
                assert pos == len(track), "data after end of track"
                return division, tempo, events, tick
        else:
            size = 2 if status & 0xF0 == 0xC0 else 3
            events.append((tick, bytes(track[pos : pos + size])))
            pos += size
    raise AssertionError("no end-of-track event")


def test_vlq(render_script):
    cases = {
        0: b"\x00",
        0x40: b"\x40",
        0x7F: b"\x7f",
        0x80: b"\x81\x00",
        0x2000: b"\xc0\x00",
        0x3FFF: b"\xff\x7f",
        0x4000: b"\x81\x80\x00",
        0x0FFFFFFF: b"\xff\xff\xff\x7f",
    }
    for value, encoded in cases.items():
        assert render_script.encode_vlq(value) == encoded
        assert _read_vlq(encoded, 0) == (value, len(encoded))
    with pytest.raises(ValueError):
        render_script.encode_vlq(-1)


def test_midi_file_bytes(render_script):
    events = [(960, bytes([0x80, 60, 0])), (0, bytes([0xC0, 40])), (0, bytes([0x90, 60, 100]))]
    data = render_script.midi_file_bytes(events, division=480, tempo=500000, end_tick=1920)
    division, tempo, parsed, end = _parse_smf(data)
    assert (division, tempo, end) == (480, 500000, 1920)
    assert parsed == [
        (0, bytes([0xC0, 40])),
        (0, bytes([0x90, 60, 100])),
        (960, bytes([0x80, 60, 0])),
    ]


@pytest.mark.parametrize("instrument", INSTRUMENTS + ("cello", "trumpet", "clarinet"))
def test_render_sequences(render_script, instrument):
    rs = render_script
    duration = 12.0
    notes = rs.note_sequence(instrument, duration, rs.clip_rng(0, instrument, 0))
    data = rs.midi_file_bytes(
        rs.sequence_events(notes, instrument), end_tick=rs.seconds_to_ticks(duration)
    )
    division, tempo, events, end = _parse_smf(data)
    ticks_per_second = division * 1e6 / tempo
    assert end == round(duration * ticks_per_second)

    channel = 9 if instrument == "drums" else 0
    assert all(msg[0] & 0x0F == channel for _, msg in events)
    programs = [msg[1] for _, msg in events if msg[0] & 0xF0 == 0xC0]
    expected = {"drums": 0, "piano": 0, "guitar": 24, "violin": 40, "flute": 73}
    expected.update(cello=42, trumpet=56, clarinet=71)
    assert programs == [expected[instrument]]

    ons = [(t, msg[1]) for t, msg in events if msg[0] & 0xF0 == 0x90 and msg[2] > 0]
    offs = [(t, msg[1]) for t, msg in events if msg[0] & 0xF0 == 0x80]
    assert len(ons) == len(offs) == len(notes) >= 10
    keys = [k for _, k in ons]
    if instrument == "drums":
        assert set(keys) <= {36, 38, 42, 46} and {36, 38} <= set(keys)
    else:
        low, high = rs.PITCH_RANGES[instrument]
        assert low <= min(keys) and max(keys) <= high and len(set(keys)) >= 5
    # single notes joined in time: each note ends before the next begins
    on_ticks = np.array([t for t, _ in ons])
    off_ticks = np.array([t for t, _ in offs])
    assert on_ticks[0] == 0
    assert np.all(off_ticks > on_ticks)
    assert np.all(off_ticks[:-1] <= on_ticks[1:])
    assert off_ticks[-1] <= end
    gaps = (on_ticks[1:] - on_ticks[:-1]) / ticks_per_second
    lo = 0.125 if instrument == "drums" else 0.25
    assert gaps.min() >= lo - 0.002 and gaps.max() <= 1.0 + 0.3 + 0.002


def test_render_seeds(render_script):
    rs = render_script
    assert rs.ALL_INSTRUMENTS[:5] == rs.INSTRUMENTS == INSTRUMENTS  # the defaults
    for instrument in rs.ALL_INSTRUMENTS:
        a = rs.note_sequence(instrument, 5.0, rs.clip_rng(0, instrument, 0))
        b = rs.note_sequence(instrument, 5.0, rs.clip_rng(0, instrument, 0))
        held_out = rs.note_sequence(instrument, 5.0, rs.clip_rng(1, instrument, 0))
        clip1 = rs.note_sequence(instrument, 5.0, rs.clip_rng(0, instrument, 1))
        assert a == b
        assert a != held_out and a != clip1


def test_render_reports_missing_requirements(render_script, tmp_path, capsys):
    code = render_script.main(
        ["--out", str(tmp_path / "out"), "--soundfont", str(tmp_path / "none.sf2")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "none.sf2" in err and "apt-get install -y fluidsynth fluid-soundfont-gm" in err
    assert not (tmp_path / "out").exists()
