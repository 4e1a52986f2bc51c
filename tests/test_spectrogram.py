import numpy as np
import pytest

from skaesep import SpectrogramTransformer
from skaesep.spectrogram import window_length


@pytest.mark.parametrize(
    "sr, bandwidth, expected", [(44100, 75, 1064), (44100, 150, 532), (22050, 75, 532)]
)
def test_window_length_follows_report_formula(sr, bandwidth, expected):
    assert window_length(sr, bandwidth) == expected


@pytest.mark.parametrize("compression", ["log", "linear"])
def test_scaling_is_invertible_and_in_unit_interval(compression):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 8000))
    spec = SpectrogramTransformer(sr=8000, bandwidth=30, compression=compression).fit(X)
    M = np.abs(spec.stft(X))
    V = spec.scale(M)
    assert V.min() >= 0 and V.max() == pytest.approx(1.0)
    np.testing.assert_allclose(spec.unscale(V), M, rtol=1e-6, atol=1e-9 * spec.ref_)


def test_chunks_round_trip_and_layout():
    X = np.random.default_rng(1).normal(size=(1, 5000))
    spec = SpectrogramTransformer(sr=8000, bandwidth=40, n_frames=4).fit(X)
    V = spec.scale(np.abs(spec.stft(X[0])))
    chunks = spec.to_chunks(V)
    # Chunk 0 holds frames 0..3, each frame's bins contiguous.
    np.testing.assert_array_equal(chunks[0, : spec.n_bins_], V[:, 0])
    np.testing.assert_array_equal(chunks[0, spec.n_bins_ : 2 * spec.n_bins_], V[:, 1])
    np.testing.assert_array_equal(spec.from_chunks(chunks, V.shape[1]), V[None])


def test_stft_istft_round_trip():
    x = np.random.default_rng(2).normal(size=12345).astype(np.float32)
    spec = SpectrogramTransformer().fit(x[None])
    np.testing.assert_allclose(spec.istft(spec.stft(x), length=x.size), x, atol=1e-5)


def test_inverse_transform_griffin_lim_recovers_magnitudes():
    sr = 8000
    t = np.arange(sr) / sr
    X = np.sin(2 * np.pi * 440 * t)[None] * np.hanning(sr)
    spec = SpectrogramTransformer(sr=sr, bandwidth=40).fit(X)
    y = spec.inverse_transform(spec.transform(X))
    assert y.shape == X.shape
    # Phase differs, magnitudes agree: compare spectrogram magnitudes.
    M, M_hat = np.abs(spec.stft(X[0])), np.abs(spec.stft(y[0]))
    assert np.linalg.norm(M - M_hat) / np.linalg.norm(M) < 0.2


def test_silent_audio_is_rejected():
    with pytest.raises(ValueError, match="silent audio"):
        SpectrogramTransformer().fit(np.zeros((2, 3000)))


def test_bad_shapes_and_values_are_rejected():
    spec = SpectrogramTransformer()
    with pytest.raises(ValueError, match="2D array"):
        spec.fit(np.ones(100))
    with pytest.raises(ValueError, match="NaN"):
        spec.fit(np.full((1, 100), np.nan))
    spec.fit(np.random.default_rng(0).normal(size=(1, 2000)))
    with pytest.raises(ValueError, match="inverse_transform expects"):
        spec.inverse_transform(np.zeros((1, 10)))


def test_too_wide_bandwidth_is_rejected():
    with pytest.raises(ValueError, match="lower the bandwidth"):
        SpectrogramTransformer(sr=100, bandwidth=1000).fit(np.ones((1, 50)))
