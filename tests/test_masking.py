"""The masks and the block-wise separation engine against whole-recording references."""

import numpy as np
import pytest
from scipy.special import expit

from skaesep import MaskResynthesizer, _separation_engine, make_separation_pipeline
from skaesep._masking import ratio_masks


def reference_separate(sep, y):
    """The whole-recording separation: every chunk at once, one ISTFT."""
    spectrogram, autoencoder, clusterer = sep._steps()
    S = spectrogram.stft(y)
    V = spectrogram.scale(np.abs(S).astype(y.dtype))
    n_frames = spectrogram.n_frames
    hop = sep.chunk_hop or max(1, n_frames // 2)
    n_bins, n_t = V.shape
    n_chunks = 1 + max(0, -(-(n_t - n_frames) // hop))
    padded = np.zeros((n_bins, (n_chunks - 1) * hop + n_frames), dtype=V.dtype)
    padded[:, :n_t] = V
    starts = np.arange(n_chunks) * hop
    chunks = padded.T[starts[:, None] + np.arange(n_frames)].reshape(n_chunks, -1)
    codes = expit_chain(chunks, autoencoder.encoder_weights_, autoencoder.encoder_biases_)
    est = []
    for k in range(clusterer.n_sources_):
        r = clusterer.responsibilities_[:, k].astype(V.dtype)
        dec = expit_chain(codes * r, autoencoder.decoder_weights_, autoencoder.decoder_biases_)
        dec = dec.reshape(n_chunks, n_frames, n_bins)
        acc = np.zeros((padded.shape[1], n_bins))
        weight = np.zeros(padded.shape[1])
        for c, start in enumerate(starts):
            acc[start : start + n_frames] += dec[c]
            weight[start : start + n_frames] += 1
        est.append((acc[:n_t] / weight[:n_t, None]).T)
    est = spectrogram.unscale(np.array(est, dtype=V.dtype)) ** sep.mask_power
    total = est.sum(axis=0)
    masks = np.where(total > 0, est / np.where(total > 0, total, 1), 1 / len(est))
    return spectrogram.istft(masks * S, length=y.shape[-1])


def expit_chain(A, weights, biases):
    for W, b in zip(weights, biases):
        A = expit(A @ W + b)
    return A


@pytest.fixture(scope="module")
def small_separator():
    sr = 8000
    t = np.arange(sr) / sr
    rng = np.random.default_rng(0)
    X = np.stack([np.sin(2 * np.pi * 440 * t), rng.normal(0, 0.3, t.size)]).astype(np.float32)
    pipe = make_separation_pipeline(
        sr=sr, bandwidth=200.0, n_frames=5, layer_sizes=(16, 8), max_iter=2, pretrain_epochs=1
    )
    return MaskResynthesizer(pipe, random_state=0).fit(X, ["tone", "noise"])


@pytest.mark.parametrize("n_samples", [30, 3001, 20011])
@pytest.mark.parametrize("chunk_hop", [None, 1, 5])
@pytest.mark.parametrize("mask_power", [1.0, 2.0])
def test_blockwise_separation_matches_whole_recording(
    monkeypatch, small_separator, n_samples, chunk_hop, mask_power
):
    monkeypatch.setattr(_separation_engine, "BLOCK_FRAMES", 16)  # many blocks, a partial last one
    sep = small_separator
    sep.set_params(chunk_hop=chunk_hop, mask_power=mask_power)
    y = np.random.default_rng(n_samples).normal(0, 0.3, n_samples).astype(np.float32)
    got = sep.separate(y)
    want = reference_separate(sep, y)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=0), y, atol=1e-5)


def test_ratio_masks_sum_to_one_and_share_silence():
    rng = np.random.default_rng(0)
    E = rng.random((3, 5, 7)).astype(np.float32)
    E[:, 0, 0] = 0
    for power in (0.5, 1.0, 2.0, 50.0):
        M = ratio_masks(E, power)
        assert M.dtype == np.float32 and np.isfinite(M).all()
        np.testing.assert_allclose(M.sum(axis=0), 1.0, rtol=1e-6)
        np.testing.assert_allclose(M[:, 0, 0], 1 / 3)
    want = E[:, 1:] ** 2 / (E[:, 1:] ** 2).sum(axis=0)
    np.testing.assert_allclose(ratio_masks(E, 2.0)[:, 1:], want, rtol=1e-5)


def test_large_mask_power_on_unit_amplitude_float32_gives_finite_sources(small_separator):
    """Bug: the estimates were raised to the power before being normalised (NaN).

    With this small window the magnitudes reach ~20, so ``20 ** 40`` overflows
    float32 as ``500 ** 20`` does at the report's window.
    """
    sep = small_separator
    sep.set_params(mask_power=40.0)
    t = np.arange(8000, dtype=np.float32) / 8000
    y = np.sign(np.sin(2 * np.pi * 440 * t)).astype(np.float32)  # unit amplitude
    sources = sep.separate(y)
    sep.set_params(mask_power=1.0)
    assert np.isfinite(sources).all()
    np.testing.assert_allclose(sources.sum(axis=0), y, atol=1e-4)


def test_iter_separate_yields_every_sample_once(monkeypatch, small_separator):
    monkeypatch.setattr(_separation_engine, "BLOCK_FRAMES", 8)
    sep = small_separator
    spectrogram, autoencoder, clusterer = sep._steps()
    y = np.random.default_rng(1).normal(0, 0.3, 5000).astype(np.float32)
    blocks = list(
        _separation_engine.iter_separate(
            y,
            spectrogram=spectrogram,
            autoencoder=autoencoder,
            responsibilities=clusterer.responsibilities_.T,
            chunk_hop=1,
            mask_power=1.0,
        )
    )
    assert len(blocks) > 3
    assert sum(b.shape[1] for b in blocks) == y.size
    np.testing.assert_allclose(np.concatenate(blocks, axis=1).sum(axis=0), y, atol=1e-5)
