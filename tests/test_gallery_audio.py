"""The gallery's audio players (examples/_audio.py) hold WAVs a browser can play."""

import base64
import importlib.util
import io
import re
from pathlib import Path

import numpy as np
import soundfile as sf

AUDIO = Path(__file__).resolve().parent.parent / "examples" / "_audio.py"


def _load_audio_module():
    spec = importlib.util.spec_from_file_location("_gallery_audio", AUDIO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _decode(page):
    uris = re.findall(r"<audio controls preload='none' src='data:audio/wav;base64,([^']+)'>", page)
    return [sf.read(io.BytesIO(base64.b64decode(uri))) for uri in uris]


def test_players_embed_one_resampled_wav_per_clip_at_one_gain():
    audio = _load_audio_module()
    sr = 44100
    t = np.arange(sr // 2) / sr  # 0.5 s
    loud = 0.5 * np.sin(2 * np.pi * 440 * t)
    quiet = 0.1 * np.sin(2 * np.pi * 220 * t)
    page = audio.Players({"loud <a>": loud, "quiet": quiet}, sr)._repr_html_()

    assert "loud &lt;a&gt;" in page and "quiet" in page
    clips = _decode(page)
    assert len(clips) == 2
    for y, rate in clips:
        assert rate == audio.PLAYER_SR
        assert y.shape == (audio.PLAYER_SR // 2,)
    (y_loud, _), (y_quiet, _) = clips
    # the loudest clip peaks at PEAK; the other keeps its level relative to it
    assert abs(np.max(np.abs(y_loud)) - audio.PEAK) < 0.01
    assert abs(np.max(np.abs(y_quiet)) - audio.PEAK / 5) < 0.01


def test_players_of_silence_stay_silent():
    audio = _load_audio_module()
    page = audio.Players({"silence": np.zeros(1600)}, audio.PLAYER_SR)._repr_html_()
    ((y, rate),) = _decode(page)
    assert rate == audio.PLAYER_SR and y.shape == (1600,) and not y.any()
