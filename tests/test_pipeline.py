"""Composition: Pipeline, GridSearchCV and joblib round trips at realistic size."""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skaesep import (
    MaskResynthesizer,
    SpectrogramTransformer,
    StackedRBMAutoencoder,
    make_separation_pipeline,
)

SR = 44100


def _clips(n_clips, seconds, sr=SR, seed=0):
    """Tone-plus-noise clips: a harmonic note and a decaying noise burst per second."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    clips = []
    for _ in range(n_clips):
        f0 = rng.uniform(200, 600)
        tone = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 5))
        burst = rng.normal(size=t.size) * np.exp(-20 * (t % 1.0))
        clips.append(0.3 * tone + 0.3 * burst)
    return np.asarray(clips, dtype=np.float32)


@pytest.fixture(scope="module")
def clips_20s():
    return _clips(3, 20.0)


def test_report_geometry_and_row_contract_on_20s_clips(clips_20s):
    spec = SpectrogramTransformer().fit(clips_20s)
    assert (spec.win_length_, spec.n_bins_, spec.chunk_size_) == (1064, 533, 15 * 533)
    Xt = spec.transform(clips_20s)
    # One row per clip; a 20 s clip is 3317 frames, i.e. 222 chunks of 15.
    assert Xt.shape == (3, 222 * 7995)
    assert Xt.dtype == np.float32
    assert 0.0 <= Xt.min() and Xt.max() == pytest.approx(1.0)


def test_pipeline_fit_on_20s_clips_gives_one_code_row_per_clip(clips_20s):
    pipe = make_separation_pipeline(
        layer_sizes=(64, 16), n_sources=2, max_iter=2, pretrain_epochs=1, random_state=0
    )
    pipe.fit(clips_20s)
    codes = pipe[:-1].transform(clips_20s)
    assert codes.shape == (3, 222 * 16)
    masked = pipe.transform(clips_20s)
    assert masked.shape == (3, 2 * 222 * 16)
    # The masked codes of the two sources add back up to the codes.
    np.testing.assert_allclose(masked.reshape(3, 2, -1).sum(axis=1), codes, rtol=1e-5)


def test_grid_search_over_layer_sizes_uses_reconstruction_score():
    X = _clips(4, 1.0)
    pipe = Pipeline(
        [
            ("spectrogram", SpectrogramTransformer(n_frames=1)),
            (
                "autoencoder",
                StackedRBMAutoencoder(
                    input_size=533, max_iter=3, pretrain_epochs=1, random_state=0
                ),
            ),
        ]
    )
    search = GridSearchCV(pipe, {"autoencoder__layer_sizes": [(8,), (64, 32)]}, cv=2)
    search.fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(scores)) and np.all(scores < 0)
    assert search.best_params_["autoencoder__layer_sizes"] in [(8,), (64, 32)]
    assert search.best_estimator_.score(X) == pytest.approx(search.best_estimator_.score(X))


def test_joblib_round_trip_is_bit_identical(tmp_path, clips_20s):
    sep = MaskResynthesizer(
        make_separation_pipeline(layer_sizes=(32, 8), n_frames=3, max_iter=2, pretrain_epochs=1),
        random_state=0,
    ).fit(clips_20s[:2], ["a", "b"])
    path = tmp_path / "model.joblib"
    joblib.dump(sep, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.transform(clips_20s[2:]), sep.transform(clips_20s[2:]))
    np.testing.assert_array_equal(loaded.classes_, ["a", "b"])


def test_separation_of_20s_clip_sums_to_mixture_any_length(clips_20s):
    sep = MaskResynthesizer(
        make_separation_pipeline(layer_sizes=(32, 8), n_frames=3, max_iter=2, pretrain_epochs=1),
        random_state=0,
    ).fit(clips_20s)
    # A length never seen in fit: separate() takes any length, transform() does not.
    mixture = clips_20s[0, : SR * 7 + 123]
    sources = sep.separate(mixture)
    assert sources.shape == (sep.n_sources_, mixture.size) and sources.dtype == np.float32
    np.testing.assert_allclose(sources.sum(axis=0), mixture, atol=1e-4)
    with pytest.raises(ValueError, match="features"):
        sep.transform(mixture[None])
