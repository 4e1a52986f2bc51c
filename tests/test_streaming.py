"""Long files stream: the input memory-mapped, the sources computed and written block by block."""

import os

import numpy as np
import pytest
import soundfile as sf

import skaesep._separation_engine as engine
from skaesep import separate, separate_blocks
from skaesep.audio import read_audio
from skaesep.cli import main
from skaesep.datasets import make_instrument_stem
from skaesep.persistence import save_model
from skaesep.presets import make_preset

SR = 8000


@pytest.fixture(scope="module")
def model():
    X = np.stack(
        [make_instrument_stem(name, duration=2.0, sr=SR, random_state=k)
         for k, name in enumerate(["flute", "drums"])]
    )  # fmt: skip
    return make_preset("demo", sr=SR, random_state=0).fit(X, ["flute", "drums"])


def _mixture(seconds, n_channels=2):
    rng = np.random.default_rng(3)
    flute = make_instrument_stem("flute", duration=seconds, sr=SR, random_state=5)
    drums = make_instrument_stem("drums", duration=seconds, sr=SR, random_state=6)
    gains = rng.uniform(0.5, 1.0, (n_channels, 2))
    return (gains @ np.stack([flute, drums])).astype(np.float32)


def test_memory_mapped_reading_equals_reading_and_leaves_nothing(tmp_path):
    audio = _mixture(3.0)
    sf.write(tmp_path / "mix.wav", audio.T, SR, subtype="FLOAT")
    mapped, sr = read_audio(tmp_path / "mix.wav", mmap_dir=tmp_path)
    assert sr == SR and not mapped.flags.owndata
    np.testing.assert_array_equal(mapped, read_audio(tmp_path / "mix.wav")[0])
    assert os.listdir(tmp_path) == ["mix.wav"]  # the decoded copy is unlinked at once


@pytest.mark.parametrize("n_channels", [1, 2])
def test_blocks_join_into_the_separation_and_sum_to_the_mixture(model, monkeypatch, n_channels):
    audio = _mixture(6.0, n_channels)
    audio = audio[0] if n_channels == 1 else audio
    whole = separate(audio, model, sources=None).sources
    monkeypatch.setattr(engine, "BLOCK_FRAMES", 16)  # many blocks on a short recording
    result = separate_blocks(audio, model, sources=None)
    blocks = list(result.blocks)
    assert len(blocks) > 10 and result.n_channels == n_channels
    assert {b.shape[:-1] for b in blocks} == {whole.shape[:-1]}
    joined = np.concatenate(blocks, axis=-1)
    np.testing.assert_allclose(joined, whole, atol=1e-5)
    np.testing.assert_allclose(joined.sum(axis=0), audio, atol=1e-4)


def test_presence_statistics_do_not_depend_on_the_block_size(model, monkeypatch):
    audio = _mixture(6.0)
    whole = model.detect_sources(audio).probabilities
    monkeypatch.setattr(engine, "BLOCK_FRAMES", 16)
    np.testing.assert_allclose(model.detect_sources(audio).probabilities, whole, rtol=1e-6)


def test_batched_code_statistics_equal_those_of_each_recording(model):
    spectrogram, autoencoder, _ = model._steps()
    recordings = _mixture(1.51, n_channels=3)  # three mono recordings of one length
    batched = engine.batch_code_moments(
        np.abs(spectrogram.stft(recordings)), spectrogram=spectrogram, autoencoder=autoencoder
    )
    each = [
        engine.code_moments(r, spectrogram=spectrogram, autoencoder=autoencoder)
        for r in recordings
    ]
    assert batched.shape == (3, 2 * autoencoder.layer_sizes[-1])
    np.testing.assert_allclose(batched, each, rtol=1e-4, atol=1e-6)


def test_cli_streams_a_file_in_blocks_that_sum_to_it(model, tmp_path, monkeypatch):
    audio = _mixture(6.0)
    sf.write(tmp_path / "song.wav", audio.T, SR, subtype="FLOAT")
    save_model(model, tmp_path / "m.skaesep")
    monkeypatch.setattr(engine, "BLOCK_FRAMES", 16)
    out = tmp_path / "out"
    args = ["separate", str(tmp_path / "song.wav"), "-n", str(tmp_path / "m.skaesep")]
    assert main([*args, "-o", str(out), "-q", "--all-sources"]) == 0
    stems = [sf.read(out / "song" / f"{name}.wav", always_2d=True)[0].T for name in model.classes_]
    np.testing.assert_allclose(sum(stems), audio, atol=1e-4)
    assert sorted(os.listdir(out)) == ["song"]  # no decoded copy or partial track left
