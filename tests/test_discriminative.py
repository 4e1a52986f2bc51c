from types import SimpleNamespace

import numpy as np
import pytest

from skaesep import MaskResynthesizer, SpectrogramTransformer, StackedRBMAutoencoder
from skaesep._masking import ratio_masks
from skaesep._network import Workspace, backprop
from skaesep._parallel import ThreadTeam
from skaesep.discriminative import (
    _DecodeLoss,
    _MaskedCodes,
    _MaskLoss,
    _MixITLoss,
    _PermutationInvariant,
    discriminative_fine_tune,
    make_mixit_batch,
    make_mixture_batch,
    make_segment_batch,
)
from skaesep.presets import make_preset

SR = 8000


def _stems(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = sum(np.sin(2 * np.pi * 220 * h * t) / h for h in range(1, 4))
    noise = np.diff(rng.normal(size=t.size + 1))
    return np.stack([0.3 * tone, 0.1 * noise]).astype(np.float32)


def _check_gradients(step, weights, biases, grads, scale):
    """One weight and one bias per layer against central differences of ``step``."""
    n_layers = len(weights)
    for layer in range(n_layers):
        for param, grad_ in ((weights, grads[layer]), (biases, grads[n_layers + layer])):
            idx = (1, 2) if param is weights else (2,)
            param[layer][idx] += 1e-6
            up = step()[0]
            param[layer][idx] -= 2e-6
            down = step()[0]
            param[layer][idx] += 1e-6
            assert (up - down) / 2e-6 * scale == pytest.approx(grad_[idx], rel=1e-4, abs=1e-9)


@pytest.mark.parametrize("loss", ["decode", "mask"])
@pytest.mark.parametrize("compression", ["log", "linear"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_masked_backprop_gradient_matches_finite_differences(loss, compression, n_threads):
    rng = np.random.RandomState(0)
    spec = SpectrogramTransformer(SR, 1000, n_frames=1, compression=compression)
    spec.fit(rng.normal(size=(1, 4000)))
    n = spec.chunk_size_
    sizes = [n, 5, 3, 5, n]
    weights = [rng.normal(0, 0.5, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.5, b) for b in sizes[1:]]
    X, T, R = rng.rand(4, n), rng.rand(3, 4, n), rng.rand(3, 3)
    T[2, :2] = 0  # source 2 is absent from the first two mixtures
    loss_fn = _DecodeLoss(3) if loss == "decode" else _MaskLoss(3, spec)
    if loss == "mask":
        loss_fn.set_batch(X, T)
    workspace = Workspace(weights, 4, X.dtype, n_encoder=2, decoder_rows=12)
    hook = _MaskedCodes(R.T.copy(), 4)

    def step():
        value, grads = backprop(
            X,
            weights,
            biases,
            workspace,
            target=T.reshape(12, -1),
            loss=loss_fn,
            n_encoder=2,
            code_hook=hook,
            team=team,
        )
        return value, [g.copy() for g in grads]

    with ThreadTeam(n_threads) as team:
        _, grads = step()
        # The loss is a mean per element; the gradients are of its sum per mixture.
        scale = T.size / X.shape[0]
        _check_gradients(step, weights, biases, grads, scale)


def _invariant_loss(kind, spec, segment_frames):
    if kind == "mixit":
        return _MixITLoss(3, spec, segment_frames)
    inner = _DecodeLoss(3) if kind == "pit-decode" else _MaskLoss(3, spec)
    return _PermutationInvariant(inner, segment_frames)


@pytest.mark.parametrize("kind", ["pit-decode", "pit-mask", "mixit"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_invariant_loss_gradient_matches_finite_differences(kind, n_threads):
    rng = np.random.RandomState(1)
    spec = SpectrogramTransformer(SR, 1000, n_frames=1, compression="linear")
    spec.fit(rng.normal(size=(1, 4000)))
    n = spec.chunk_size_
    sizes = [n, 5, 3, 5, n]
    weights = [rng.normal(0, 0.5, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    biases = [rng.normal(0, 0.5, b) for b in sizes[1:]]
    # 2 segments of 3 rows; 3 source slots (PIT) or the 2 mixtures (MixIT).
    X, T, R = rng.rand(6, n), rng.rand(2 if kind == "mixit" else 3, 6, n), rng.rand(3, 3)
    if kind != "mixit":
        T[2, 3:] = 0  # slot 2 is empty in the second segment
    workspace = Workspace(weights, 6, X.dtype, n_encoder=2, decoder_rows=18)
    hook = _MaskedCodes(R.T.copy(), 6)

    def step():
        loss_fn, target = _invariant_loss(kind, spec, 3), T.copy()  # PIT reorders its target
        loss_fn.set_batch(X, target)
        value, grads = backprop(
            X,
            weights,
            biases,
            workspace,
            target=target.reshape(-1, n),
            loss=loss_fn,
            n_encoder=2,
            code_hook=hook,
            team=team,
        )
        return value, [g.copy() for g in grads]

    with ThreadTeam(n_threads) as team:
        _, grads = step()
        scale = T.size / X.shape[0]  # the gradients are of the loss summed per mixture
        _check_gradients(step, weights, biases, grads, scale)


def _call(loss_fn, X, T, output):
    target = T.copy()
    if hasattr(loss_fn, "set_batch"):
        loss_fn.set_batch(X, target)
    delta, workspace = np.empty_like(output), SimpleNamespace(scratch=np.empty_like(output))
    return loss_fn(output, target.reshape(-1, T.shape[-1]), delta, workspace)


@pytest.mark.parametrize("kind", ["pit-decode", "pit-mask"])
def test_pit_loss_ignores_the_order_of_sources_in_each_segment(kind):
    rng = np.random.RandomState(0)
    spec = SpectrogramTransformer(SR, 1000, n_frames=1, compression="linear")
    spec.fit(rng.normal(size=(1, 4000)))
    X, T = rng.rand(8, spec.chunk_size_), rng.rand(3, 8, spec.chunk_size_)
    output = 0.05 + 0.9 * rng.rand(3 * 8, spec.chunk_size_)
    swapped = T.copy()
    swapped[:, 4:] = T[[2, 0, 1], 4:]  # the second segment's sources in another order
    inner = _DecodeLoss(3) if kind == "pit-decode" else _MaskLoss(3, spec)
    pit = _invariant_loss(kind, spec, 4)
    assert _call(pit, X, swapped, output) == pytest.approx(_call(pit, X, T, output))
    # Not invariant without the wrapper, and the wrapper takes the best order.
    fixed = [_call(inner, X, t, output) for t in (T, swapped)]
    assert fixed[0] != pytest.approx(fixed[1])
    assert _call(pit, X, T, output) <= min(fixed) + 1e-12
    # Per segment: one order for the whole segment, not one per row.
    rows = swapped.copy()
    rows[:, 5] = T[[1, 2, 0], 5]
    per_row = _call(_invariant_loss(kind, spec, 1), X, rows, output)
    assert per_row < _call(pit, X, rows, output)


def test_mixit_loss_is_the_best_split_of_the_sources_into_the_two_mixtures():
    rng = np.random.RandomState(0)
    spec = SpectrogramTransformer(SR, 1000, n_frames=1, compression="linear")
    spec.fit(rng.normal(size=(1, 4000)))
    L, n = 4, spec.chunk_size_
    X, T = rng.rand(2 * L, n), rng.rand(2, 2 * L, n)
    output = 0.05 + 0.9 * rng.rand(3 * 2 * L, n)
    value = _call(_MixITLoss(3, spec, L), X, T, output)
    assert value == pytest.approx(_call(_MixITLoss(3, spec, L), X, T[::-1], output))
    # Brute force over the 8 splits of the 3 sources, for each segment.
    Y = ratio_masks(spec.unscale(output.reshape(3, 2 * L, n))) * spec.unscale(X)
    R = spec.unscale(T)
    best = 0.0
    for s in range(2):
        rows = slice(s * L, (s + 1) * L)
        costs = []
        for split in range(8):
            a = np.array([split >> k & 1 for k in range(3)], dtype=bool)
            err_a = Y[a, rows].sum(axis=0) - R[0, rows]
            err_b = Y[~a, rows].sum(axis=0) - R[1, rows]
            costs.append((err_a**2).sum() + (err_b**2).sum())
        best += min(costs)
    assert value == pytest.approx(best / ((R**2).sum() / R.size) / R.size)


def test_segment_batches_are_consecutive_chunks_of_distinct_groups():
    stems = _stems(seconds=2.0)
    stems = np.concatenate([stems, stems[:1] * 0.5])  # a second take of the tone
    spec = SpectrogramTransformer(SR, 100, n_frames=2, compression="linear").fit(stems)
    stfts = [spec.stft(s) for s in stems]
    rng = np.random.RandomState(0)
    X, T = make_segment_batch(stfts, np.array([0, 1, 0]), 3, spec, 30, 5, 3, rng)
    assert X.shape == (150, spec.chunk_size_) and T.shape == (3, 150, spec.chunk_size_)
    chunks = X.reshape(30, 5, 2, -1)
    # Within a segment chunk j + 1 starts where chunk j's second frame was: hop 1.
    np.testing.assert_allclose(chunks[:, 1:, 0], chunks[:, :-1, 1])
    # Two groups: never the two takes of the tone in one mixture, never 3 sources.
    present = (T.max(axis=2) > 0).reshape(3, 30, 5).any(axis=2)
    assert not present[2].any() and set(present.sum(axis=0)) == {1, 2}
    X, T = make_mixit_batch(stfts, spec, 30, 5, rng)
    assert T.shape == (2, 150, spec.chunk_size_) and (T.max(axis=2) > 0).all()
    assert (X <= T.sum(axis=0) + 1e-6).all()


def test_mixture_batch_sources_add_up_and_absent_ones_are_silent():
    stems = _stems()
    spec = SpectrogramTransformer(SR, 100, n_frames=2, compression="linear").fit(stems)
    stfts = [spec.stft(s) for s in stems]
    X, T = make_mixture_batch(stfts, np.array([0, 1]), 3, spec, 50, 2, np.random.RandomState(0))
    assert X.shape == (50, spec.chunk_size_) and T.shape == (3, 50, spec.chunk_size_)
    assert not T[2].any()  # class 2 has no clip
    # Magnitudes are sub-additive: the mixture never exceeds the sum of its sources.
    assert (X <= T.sum(axis=0) + 1e-6).all()
    n_present = (T.max(axis=2) > 0).sum(axis=0)
    assert set(n_present) == {1, 2}


@pytest.mark.parametrize(
    "loss, invariance", [("decode", None), ("mask", None), ("mask", "pit"), ("mask", "mixit")]
)
def test_fine_tuning_lowers_the_masked_decode_loss(loss, invariance):
    stems = _stems()
    spec = SpectrogramTransformer(SR, 100, n_frames=1).fit(stems)
    ae = StackedRBMAutoencoder(
        (16, 8), input_size=spec.chunk_size_, max_iter=3, random_state=0
    ).fit(spec.transform(stems))
    R = np.repeat(np.eye(2), 4, axis=0)
    stfts = [spec.stft(s) for s in stems]
    curve = discriminative_fine_tune(
        ae,
        spec,
        R,
        stfts,
        np.array([0, 1]),
        n_epochs=6,
        n_mixtures=256,
        learning_rate=1e-2,
        loss=loss,
        random_state=0,
        invariance=invariance,
        segment_frames=8,
    )
    assert len(curve) == 6 and curve[-1] < curve[0]


@pytest.mark.parametrize(
    "loss, invariance", [("decode", None), ("mask", "pit"), ("mask", "mixit")]
)
def test_fine_tuning_gives_the_same_model_at_1_and_2_threads(loss, invariance):
    stems = _stems()
    spec = SpectrogramTransformer(SR, 100, n_frames=1).fit(stems)
    R = np.repeat(np.eye(2), 4, axis=0)
    stfts = [spec.stft(s) for s in stems]
    fitted = []
    for n_threads in (1, 2):
        ae = StackedRBMAutoencoder(
            (16, 8), input_size=spec.chunk_size_, max_iter=2, n_threads=n_threads, random_state=0
        ).fit(spec.transform(stems))
        curve = discriminative_fine_tune(
            ae, spec, R, stfts, np.array([0, 1]), n_epochs=2, n_mixtures=64, learning_rate=1e-2,
            loss=loss, random_state=0, n_threads=n_threads, invariance=invariance,
            segment_frames=8,
        )  # fmt: skip
        fitted.append((curve, ae._layers()[0] + ae._layers()[1]))
    (curve_1, params_1), (curve_2, params_2) = fitted
    np.testing.assert_allclose(curve_1, curve_2, rtol=1e-4)
    for a, b in zip(params_1, params_2):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_separator_runs_discriminative_epochs_only_with_labels_or_timbre_groups():
    stems = _stems()
    pipe = make_preset(
        "separation", random_state=0, sr=SR, bandwidth=100, layer_sizes=(16, 8), max_iter=2
    ).pipeline
    sep = MaskResynthesizer(
        pipe, discriminative_epochs=2, discriminative_mixtures=64, random_state=0
    )
    sep.fit(stems, ["tone", "noise"])
    assert len(sep.discriminative_loss_curve_) == 2
    # The report's blind form (units clustered at test time) has no labels to train with.
    assert sep.set_params(blind_method="units").fit(stems).discriminative_loss_curve_ == []
    sep.set_params(blind_method="timbre")
    mix = stems.sum(axis=0)
    est = sep.fit(stems, ["tone", "noise"]).separate(mix, sources=["noise"])
    # One named source takes the whole mixture.
    assert est.shape == (1, mix.size) and np.allclose(est[0], mix, atol=1e-5)
    with pytest.raises(ValueError, match="sources must name"):
        sep.separate(mix, sources=["violin"])
    spec, ae = sep.pipeline_[0], sep.pipeline_[1]
    with pytest.raises(ValueError, match="'loss' parameter"):
        discriminative_fine_tune(ae, spec, np.eye(8, 2), [], [], loss="l1")


def test_report_preset_is_the_reports_configuration():
    p = make_preset("report").get_params()
    assert p["pipeline__spectrogram__bandwidth"] == 75
    assert p["pipeline__spectrogram__n_frames"] == 15
    assert p["pipeline__autoencoder__input_size"] == 15 * 533
    assert tuple(p["pipeline__autoencoder__layer_sizes"]) == (500,) * 4
    assert p["discriminative_epochs"] == 0


def test_mixture_batch_sources_are_the_augmented_stems():
    from skaesep.discriminative import StemAugmentation, check_augmentation

    rng = np.random.RandomState(0)
    clips = rng.normal(size=(3, 8000)).astype(np.float32)
    spec = SpectrogramTransformer(8000, 100, n_frames=2).fit(clips)
    stfts = [spec.stft(c) for c in clips]
    labels = np.array([0, 1, 2])
    args = (stfts, labels, 3, spec, 40, 3)
    X0, T0 = make_mixture_batch(*args, np.random.RandomState(1))
    # A gain that draws nothing from rng: the same mixtures, every stem half as loud
    # (scaled values are clipped at the fitted maximum, so not louder).
    X2, T2 = make_mixture_batch(
        *args, np.random.RandomState(1), augment=lambda r: np.full(spec.n_bins_, 0.5)
    )
    np.testing.assert_allclose(spec.unscale(T2), 0.5 * spec.unscale(T0), rtol=1e-3, atol=1e-5)
    loud = X0 >= 1.0  # mixtures louder than every training clip are clipped
    np.testing.assert_allclose(
        spec.unscale(X2)[~loud], 0.5 * spec.unscale(X0)[~loud], rtol=1e-3, atol=1e-5
    )
    # Random gains and tilts: the mixture is still the sum of its (augmented) sources,
    # so it is at most the sum of their magnitudes and the sources differ from T0.
    aug = StemAugmentation(np.fft.rfftfreq(spec.win_length_, 1 / 8000), 6.0, 2.0)
    Xa, Ta = make_mixture_batch(*args, np.random.RandomState(1), augment=aug)
    assert np.all(spec.unscale(Xa) <= spec.unscale(Ta).sum(axis=0) * (1 + 1e-4) + 1e-6)
    assert not np.allclose(Ta, T0)
    assert check_augmentation(None) == {
        "gain_db": 0.0,
        "tilt_db": 0.0,
        "pitch_semitones": 0.0,
        "onset_s": 0.0,
    }


def test_onset_aligned_mixtures_take_every_stem_at_an_onset_plus_a_shared_delay():
    from skaesep.discriminative import note_onsets

    sr = 8000
    t = np.arange(3 * sr) / sr
    # Two instruments, decaying notes every 0.5 s and every 0.6 s, each note at its
    # own pitch (so that every frame of a clip differs from the others).
    clips = np.stack(
        [
            np.sin(2 * np.pi * (300 + 100 * (t // 0.5)) * t) * np.exp(-8 * (t % 0.5)),
            np.sin(2 * np.pi * (1500 + 150 * (t // 0.6)) * t) * np.exp(-8 * (t % 0.6)),
        ]
    ).astype(np.float32)
    spec = SpectrogramTransformer(sr, 100, n_frames=1).fit(clips)
    stfts = [spec.stft(c) for c in clips]
    onsets = [note_onsets(S, spec) for S in stfts]
    hop_s = spec.hop_length_ / sr
    np.testing.assert_allclose(onsets[0] * hop_s, [0.5, 1.0, 1.5, 2.0, 2.5], atol=2 * hop_s)
    np.testing.assert_allclose(onsets[1] * hop_s, [0.6, 1.2, 1.8, 2.4], atol=2 * hop_s)
    args = (stfts, np.array([0, 1]), 2, spec, 60, 2)
    frames = [np.abs(S).T for S in stfts]  # (n_frames, n_bins) per clip

    def starts(T):
        """The frame each source chunk was taken at (or None when absent)."""
        out = []
        for i in range(T.shape[1]):
            row = []
            for k in range(2):
                if not T[k, i].any():
                    row.append(None)
                    continue
                err = np.abs(spec.scale(frames[k]) - T[k, i]).max(axis=1)
                row.append(int(np.argmin(err)))
            out.append(row)
        return out

    for max_delay in (1, 40):
        rng = np.random.RandomState(0)
        X, T = make_mixture_batch(*args, rng, onsets=onsets, max_delay=max_delay)
        pairs = 0
        for a, b in starts(T):
            delays = [
                s - onsets[k][onsets[k] <= s].max() for k, s in enumerate((a, b)) if s is not None
            ]
            assert all(0 <= d < max_delay for d in delays)
            if len(delays) == 2:
                pairs += 1
                assert delays[0] == delays[1]  # the mixture's delay is shared
        assert pairs > 10
    # Without onsets the starts are anywhere, most of them off the onsets.
    X, T = make_mixture_batch(*args, np.random.RandomState(0))
    taken = [s for row in starts(T) for s in row if s is not None]
    on_onset = [s in set(onsets[0]) | set(onsets[1]) for s in taken]
    assert np.mean(on_onset) < 0.5


def test_stem_augmentation_stays_in_its_ranges():
    from skaesep.discriminative import StemAugmentation

    freqs = np.array([10.0, 62.5, 500.0, 1000.0, 4000.0])
    aug = StemAugmentation(freqs, gain_db=6.0, tilt_db=2.0)
    rng = np.random.RandomState(0)
    gains_db = np.array([20 * np.log10(aug(rng)) for _ in range(500)])
    assert np.all(np.abs(gains_db[:, 3]) <= 6.0 + 1e-9)  # 1 kHz: the gain alone
    assert gains_db[:, 3].min() < -5 and gains_db[:, 3].max() > 5
    tilt = gains_db[:, 4] - gains_db[:, 3]  # two octaves above 1 kHz
    assert np.all(np.abs(tilt) <= 4.0 + 1e-9) and tilt.min() < -3.5 and tilt.max() > 3.5
    np.testing.assert_allclose(gains_db[:, 0], gains_db[:, 1])  # clamped below 62.5 Hz


def test_pitch_shifted_clips_move_a_tone_by_the_interval():
    from skaesep.discriminative import pitch_shifted_clips

    sr = 8000
    t = np.arange(sr) / sr
    tone = np.sin(2 * np.pi * 440 * t)
    down, up = pitch_shifted_clips([tone], sr, 12)

    def peak(x):  # frequency when played back at sr
        return np.argmax(np.abs(np.fft.rfft(x))) * sr / x.size

    assert abs(peak(down) - 220) < 2 and abs(peak(up) - 880) < 2
    assert pitch_shifted_clips([tone], sr, 0) == []


def test_early_stopping_stops_after_n_iter_no_change_and_keeps_the_best_epoch():
    train, held = _stems(seed=0), _stems(seed=1)
    spec = SpectrogramTransformer(SR, 100, n_frames=1).fit(train)
    R = np.repeat(np.eye(2), 4, axis=0)
    stfts = [spec.stft(s) for s in train]
    validation = ([spec.stft(s) for s in held], np.array([0, 1]))

    def fine_tune(n_epochs, n_iter_no_change):
        ae = StackedRBMAutoencoder(
            (16, 8), input_size=spec.chunk_size_, max_iter=2, n_threads=1, random_state=0
        ).fit(spec.transform(train))
        # A large step: the validation loss goes up and down.
        curves = discriminative_fine_tune(
            ae, spec, R, stfts, np.array([0, 1]), n_epochs=n_epochs, n_mixtures=640,
            learning_rate=0.3, random_state=0, n_threads=1, validation=validation,
            n_iter_no_change=n_iter_no_change,
        )  # fmt: skip
        return curves, ae

    (loss_curve, val_curve), stopped = fine_tune(20, 2)
    best = int(np.argmin(val_curve))
    assert len(val_curve) == len(loss_curve) == best + 1 + 2 < 20
    assert all(v >= val_curve[best] for v in val_curve[best + 1 :])
    # The weights kept are those after the best epoch: training just that long gives them.
    (_, val_best), exact = fine_tune(best + 1, 100)
    np.testing.assert_allclose(val_best, val_curve[: best + 1], rtol=1e-6)
    for a, b in zip(
        stopped._layers()[0] + stopped._layers()[1], exact._layers()[0] + exact._layers()[1]
    ):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="needs invariance=None"):
        discriminative_fine_tune(
            stopped, spec, R, stfts, np.array([0, 1]), n_epochs=1, n_mixtures=64,
            invariance="pit", validation=validation,
        )  # fmt: skip


def test_separator_holds_out_clips_for_early_stopping():
    from skaesep.resynthesis import _held_out

    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    held = _held_out(labels, 0.25, np.random.RandomState(0))
    # One of four, one of two (at least one), none of a single clip.
    assert [int(held[labels == k].sum()) for k in range(3)] == [1, 1, 0]
    stems = np.concatenate([_stems(seed=0), _stems(seed=1)])
    names = ["tone", "noise", "tone", "noise"]
    pipe = make_preset(
        "separation", random_state=0, sr=SR, bandwidth=100, layer_sizes=(16, 8), max_iter=2
    ).pipeline
    sep = MaskResynthesizer(
        pipe,
        discriminative_epochs=4,
        discriminative_mixtures=640,
        discriminative_validation_fraction=0.5,
        random_state=0,
    ).fit(stems, names)
    assert (
        1 <= len(sep.discriminative_validation_curve_) == len(sep.discriminative_loss_curve_) <= 4
    )
    assert (
        sep.set_params(discriminative_validation_fraction=None)
        .fit(stems, names)
        .discriminative_validation_curve_
        == []
    )
