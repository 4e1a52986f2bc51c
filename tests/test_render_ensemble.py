"""scripts/render_ensemble.py: the pieces' notes (no fluidsynth needed)."""

import pytest


@pytest.fixture(scope="module")
def ensemble(load_script):
    return load_script("render_ensemble")


def test_piece_is_deterministic_and_sized(ensemble):
    a = ensemble.make_piece(0, 3, 10.0)
    assert a == ensemble.make_piece(0, 3, 10.0)
    assert a != ensemble.make_piece(1, 3, 10.0)
    assert len(a["instruments"]) == 2 + 3 % 4
    assert set(a["instruments"]) <= set(ensemble.INSTRUMENTS)


@pytest.mark.parametrize("k", range(8))
def test_pitched_parts_stay_in_key_and_in_time(ensemble, k):
    piece = ensemble.make_piece(2, k, 10.0)
    in_key = {(piece["key"] + s) % 12 for s in ensemble.SCALES[piece["mode"]]}
    for name, notes in piece["notes"].items():
        assert notes, name
        assert all(0 <= onset < 10.0 and length > 0 for onset, length, _, _ in notes)
        if name != "drums":
            assert {key % 12 for _, _, key, _ in notes} <= in_key, name


def test_piano_plays_overlapping_chords(ensemble):
    piece = next(
        p for p in (ensemble.make_piece(0, k, 10.0) for k in range(20)) if "piano" in p["notes"]
    )
    notes = piece["notes"]["piano"]
    onsets = [n[0] for n in notes]
    assert max(onsets.count(t) for t in set(onsets)) == 4  # bass note + triad at once


def test_drums_on_midi_channel_10(ensemble):
    piece = next(
        p for p in (ensemble.make_piece(0, k, 10.0) for k in range(20)) if "drums" in p["notes"]
    )
    events = ensemble.stem_events(piece["notes"]["drums"], "drums")
    assert {m[0] & 0x0F for _, m in events} == {9}
    keys = {m[1] for _, m in events if m[0] & 0xF0 == 0x90}
    assert {ensemble.KICK, ensemble.SNARE, ensemble.CLOSED_HAT} <= keys


def test_repeated_key_is_cut_before_it_retriggers(ensemble):
    notes = [(0.0, 2.0, 60, 100), (1.0, 1.0, 60, 100), (0.0, 2.0, 64, 100)]
    events = ensemble.stem_events(notes, "piano")
    ticks = {}
    for tick, m in events:
        if m[0] & 0xF0 in (0x80, 0x90) and m[1] == 60:
            ticks.setdefault(m[0] & 0xF0, []).append(tick)
    # The first C4 ends where the second starts; the E4 keeps its full length.
    assert ticks[0x80][0] <= ticks[0x90][1]
    e4_off = [t for t, m in events if m[0] & 0xF0 == 0x80 and m[1] == 64]
    assert e4_off == [ensemble.render.seconds_to_ticks(2.0)]
