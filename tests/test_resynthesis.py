import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from skaesep import MaskResynthesizer, SpectrogramTransformer, make_separation_pipeline
from skaesep.metrics import bss_eval
from skaesep.resynthesis import SCORE_FILTER_LENGTH

SR = 8000


def _stems(seconds=2.0, seed=0):
    """A low harmonic tone and high-passed noise bursts: two easy sources."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = sum(np.sin(2 * np.pi * 220 * h * t) / h for h in range(1, 4))
    noise = np.diff(rng.normal(size=t.size + 1)) * (np.sin(2 * np.pi * 2 * t) > 0)
    return np.stack([0.3 * tone, 0.3 * noise]).astype(np.float32)


def _small_pipeline(**kw):
    params = dict(sr=SR, bandwidth=30, n_frames=1, layer_sizes=(64, 16), max_iter=30)
    params.update(kw)
    return make_separation_pipeline(random_state=0, **params)


@pytest.fixture(scope="module")
def separator():
    stems = _stems()
    return MaskResynthesizer(_small_pipeline(learning_rate_init=1e-2), random_state=0).fit(
        stems, ["tone", "noise"]
    )


def test_identified_separation_puts_each_instrument_in_its_source(separator):
    stems = _stems(seed=1)
    est = separator.separate(stems.sum(axis=0))
    assert list(separator.classes_) == ["noise", "tone"]
    # Each estimate correlates best with its own instrument's stem.
    corr = np.corrcoef(np.vstack([est, stems]))[:2, 2:]
    assert corr[0, 1] > corr[0, 0] and corr[1, 0] > corr[1, 1]


def test_sources_sum_to_mixture_for_channels_and_mask_powers(separator):
    mix = _stems(seed=2).sum(axis=0)
    stereo = np.stack([mix, mix[::-1]])
    for power in (1.0, 2.0):
        sep = separator.set_params(mask_power=power)
        est = sep.separate(stereo)  # (n_channels, n_samples) -> (n_sources, n_channels, ...)
        assert est.shape == (2, 2, mix.size)
        np.testing.assert_allclose(est.sum(axis=0), stereo, atol=1e-5)
        np.testing.assert_allclose(est[:, 0], sep.separate(mix), atol=1e-6)
    separator.set_params(mask_power=1.0)


def test_silence_splits_evenly(separator):
    est = separator.separate(np.zeros(3000, dtype=np.float32))
    assert est.shape == (2, 3000) and not est.any()


def test_frozen_fitted_pipeline_is_used_as_is():
    stems = _stems()
    pipe = _small_pipeline(max_iter=2)
    pipe.fit(stems, ["tone", "noise"])
    sep = MaskResynthesizer(FrozenEstimator(pipe)).fit(stems)
    assert sep.pipeline_ is pipe
    assert list(sep.classes_) == ["noise", "tone"]


def test_bad_input_is_rejected(separator):
    with pytest.raises(ValueError, match="NaN or infinite"):
        separator.separate(np.array([0.0, np.nan, 1.0]))
    with pytest.raises(ValueError, match="n_samples > 0"):
        separator.separate(np.zeros(0))
    with pytest.raises(ValueError, match="shape"):
        separator.separate(np.zeros((2, 2, 10)))
    with pytest.raises(ValueError, match=r"time must be the last axis.*audio\.T"):
        separator.separate(np.zeros((3000, 2)))  # time-first, as soundfile.read gives
    with pytest.raises(ValueError, match="3-step Pipeline"):
        MaskResynthesizer(Pipeline([("s", SpectrogramTransformer())])).fit(_stems())


def _mixture_sdr(clips):
    """Mean SDR of the unseparated mixture over the pairs that ``score`` builds."""
    sdrs = []
    for i in range(len(clips)):
        for j in range(i + 1, len(clips)):
            rms = np.sqrt(np.mean(clips[[i, j]].astype(np.float64) ** 2, axis=1))
            refs = clips[[i, j]] * (rms.mean() / rms)[:, None]
            mix = refs.sum(axis=0)
            sdrs.append(bss_eval(refs, [mix, mix], filter_length=SCORE_FILTER_LENGTH).sdr)
    return np.mean(sdrs)


def test_score_is_deterministic_over_subsampled_pairs(separator):
    clips = np.concatenate([_stems(seed=s) for s in range(10, 18)])  # 8 tones, 8 noises
    labels = ["tone", "noise"] * 8
    score = separator.score(clips, labels)  # 64 pairs: SCORE_MAX_PAIRS are drawn
    assert score == separator.score(clips, labels)
    assert score > _mixture_sdr(clips[:2])


def test_score_rejects_bad_labels(separator):
    clips = _stems(seed=1)
    with pytest.raises(ValueError, match="score needs y"):
        separator.score(clips, None)
    with pytest.raises(ValueError, match="two non-silent clips of different instruments"):
        separator.score(clips, ["tone", "tone"])
    with pytest.raises(ValueError, match="two non-silent clips of different instruments"):
        separator.score(np.stack([clips[0], 0 * clips[1]]), ["tone", "noise"])
    with pytest.raises(ValueError, match="must name entries of classes_"):
        separator.score(clips, ["tone", "cello"])
    with pytest.raises(ValueError, match="features"):
        separator.score(clips[:, :-1], ["tone", "noise"])


@pytest.fixture(scope="module")
def four_instruments():
    from skaesep.datasets import make_instrument_stem
    from skaesep.presets import make_preset

    sr = 16000
    names = ["drums", "flute", "piano", "violin"]
    X = np.stack(
        [
            make_instrument_stem(n, duration=6.0, sr=sr, random_state=s)
            for n in names
            for s in (0, 1)
        ]
    ).astype(np.float32)
    sep = make_preset("demo", sr=sr, random_state=0)
    sep.set_params(
        discriminative_epochs=4, discriminative_mixtures=4000, discriminative_loss="mask"
    )
    return sep.fit(X, [n for n in names for _ in (0, 1)]), sr


def test_score_beats_the_unseparated_mixture_on_synthetic_instruments(four_instruments):
    from skaesep.datasets import make_instrument_stem

    sep, sr = four_instruments
    names = ["drums", "flute", "piano", "violin"]
    held_out = np.stack(
        [make_instrument_stem(n, duration=6.0, sr=sr, random_state=9) for n in names]
    )
    score = sep.score(held_out, names)
    assert score > _mixture_sdr(held_out) + 1.0
    assert score == sep.score(held_out, names)


@pytest.mark.parametrize("pair", [("drums", "flute"), ("drums", "violin")])
def test_presence_detection_finds_the_two_of_four_instruments(four_instruments, pair):
    from skaesep.datasets import make_instrument_stem

    sep, sr = four_instruments
    refs = np.stack([make_instrument_stem(n, duration=6.0, sr=sr, random_state=9) for n in pair])
    mix = refs.sum(axis=0)
    assert list(sep.detect_sources(mix).present) == list(pair)
    est, names = sep.separate(mix, sources="auto", return_names=True)
    assert list(names) == list(pair) and est.shape == (2, mix.size)
    np.testing.assert_allclose(est.sum(axis=0), mix, atol=1e-4)


@pytest.mark.parametrize("invariant_training", [None, "pit", "mixit"])
def test_blind_fit_separates_two_unlabelled_instruments(tmp_path, invariant_training):
    from skaesep.datasets import make_instrument_stem
    from skaesep.presets import make_preset

    sr = 16000
    X = np.stack(
        [
            make_instrument_stem(n, duration=6.0, sr=sr, random_state=s)
            for n in ("drums", "flute")
            for s in (0, 1, 2)
        ]
    ).astype(np.float32)
    sep = make_preset("demo", sr=sr, random_state=0)
    sep.set_params(
        discriminative_epochs=4,
        discriminative_mixtures=4000,
        discriminative_loss="mask",
        invariant_training=invariant_training,
        invariant_epochs=3,
    )
    sep.fit(X)  # no labels
    assert sep.blind_ and sep.timbre_labels_ is not None
    assert len(sep.invariant_loss_curve_) == (0 if invariant_training is None else 3)
    refs = np.stack(
        [make_instrument_stem(n, duration=6.0, sr=sr, random_state=9) for n in ("drums", "flute")]
    )
    mix = refs.sum(axis=0)
    est, names = sep.separate(mix, n_sources=2, return_names=True)
    assert list(names) == ["source_1", "source_2"] and est.shape == (2, mix.size)
    energy = (est**2).sum(axis=1)
    assert energy[0] >= energy[1]  # ordered by energy
    got = bss_eval(refs, est, compute_permutation=True)["sdr"].mean()
    mixture = bss_eval(refs, np.stack([mix, mix]))["sdr"].mean()
    assert got > mixture + 1.0
    assert sep.score(refs, ["drums", "flute"]) > _mixture_sdr(refs) + 1.0
    with pytest.raises(ValueError, match="n_sources must be between"):
        sep.separate(mix, n_sources=sep.n_sources_ + 1)


def test_invariant_training_is_validated_and_only_for_blind_fits():
    stems = _stems()
    sep = MaskResynthesizer(_small_pipeline(max_iter=2), invariant_training="permute")
    with pytest.raises(ValueError, match="'invariant_training' parameter"):
        sep.fit(stems)
    sep.set_params(invariant_training="pit", invariant_epochs=2, discriminative_mixtures=64)
    assert sep.fit(stems, ["tone", "noise"]).invariant_loss_curve_ == []  # labels: not blind
    assert len(sep.fit(stems).invariant_loss_curve_) == 2


def test_stage_times_name_every_stage_that_ran_in_order():
    stems = _stems()
    sep = MaskResynthesizer(
        _small_pipeline(max_iter=2), discriminative_epochs=1, discriminative_mixtures=64
    )
    sep.fit(stems, ["tone", "noise"])
    pipeline = ["spectrogram", "pretraining", "fine-tuning", "clustering"]
    assert list(sep.stage_times_) == [
        *pipeline,
        "discriminative fine-tuning",
        "presence calibration",
    ]
    assert all(t >= 0 for t in sep.stage_times_.values())
    sep.set_params(discriminative_epochs=0, invariant_training="pit", invariant_epochs=1)
    sep.fit(stems)  # blind
    assert list(sep.stage_times_) == [*pipeline, "invariant training", "presence calibration"]


def test_augmented_discriminative_fit_separates_and_saves(tmp_path):
    from skaesep import load_model, save_model
    from skaesep.datasets import make_instrument_stem
    from skaesep.presets import make_preset

    sr = 16000
    names = ["drums", "flute"]
    X = np.stack(
        [
            make_instrument_stem(n, duration=6.0, sr=sr, random_state=s)
            for n in names
            for s in (0, 1)
        ]
    ).astype(np.float32)
    augmentation = {"gain_db": 6.0, "tilt_db": 2.0, "pitch_semitones": 1.0, "onset_s": 0.25}
    sep = make_preset("demo", sr=sr, random_state=0).set_params(
        discriminative_epochs=3,
        discriminative_mixtures=3000,
        discriminative_loss="mask",
        discriminative_augmentation=augmentation,
    )
    sep.fit(X, [n for n in names for _ in (0, 1)])
    assert len(sep.discriminative_loss_curve_) == 3
    refs = np.stack([make_instrument_stem(n, duration=6.0, sr=sr, random_state=9) for n in names])
    assert sep.score(refs, names) > _mixture_sdr(refs) + 1.0
    path = tmp_path / "aug.skaesep"
    save_model(sep, path)
    assert load_model(path).discriminative_augmentation == augmentation


@pytest.mark.parametrize(
    "augmentation, message",
    [({"gain": 6}, "unknown augmentation 'gain'"), ({"tilt_db": -1}, "'tilt_db' must be")],
)
def test_bad_augmentation_is_named(augmentation, message):
    sep = MaskResynthesizer(
        _small_pipeline(max_iter=2),
        discriminative_epochs=1,
        discriminative_mixtures=64,
        discriminative_augmentation=augmentation,
    )
    with pytest.raises(ValueError, match=message):
        sep.fit(_stems(), ["tone", "noise"])
