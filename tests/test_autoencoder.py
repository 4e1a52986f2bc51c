import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from skaesep import StackedRBMAutoencoder
from skaesep._base import binary_cross_entropy
from skaesep._network import Workspace, backprop
from skaesep.rbm import pretrain_rbm


def _patterns(n=400, n_features=24, seed=0, dtype=np.float32):
    """Inputs in [0, 1] made of a few prototype patterns plus noise."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((4, n_features)) > 0.5
    X = prototypes[rng.integers(0, 4, n)] * 0.8 + rng.random((n, n_features)) * 0.2
    return X.astype(dtype)


def test_rbm_pretraining_lowers_reconstruction_error():
    X = _patterns(dtype=np.float64)
    _, _, _, errors = pretrain_rbm(
        X, 8, n_epochs=10, learning_rate=0.5, random_state=np.random.RandomState(0)
    )
    assert errors[-1] < 0.5 * errors[0]


def test_unrolled_decoder_starts_from_transposed_encoder():
    X = _patterns()
    ae = StackedRBMAutoencoder((12, 6), pretrain_epochs=2, max_iter=1, random_state=0)
    ae.fit(X)
    # After one epoch the decoder has moved, but its shapes mirror the encoder.
    assert [W.shape for W in ae.decoder_weights_] == [(6, 12), (12, 24)]
    ae0 = StackedRBMAutoencoder((12, 6), pretrain_epochs=2, max_iter=1, random_state=0)
    ae0._validate_layer_sizes()
    ae0._pretrain(X, [12, 6], np.random.RandomState(0))
    for W_enc, W_dec in zip(ae0.encoder_weights_, reversed(ae0.decoder_weights_)):
        np.testing.assert_array_equal(W_dec, W_enc.T)


def test_fine_tuning_lowers_loss_and_beats_pretraining_alone():
    X = _patterns()
    pre = StackedRBMAutoencoder((16, 8), max_iter=1, learning_rate_init=1e-12, random_state=0)
    tuned = StackedRBMAutoencoder((16, 8), max_iter=40, learning_rate_init=1e-2, random_state=0)
    with pytest.warns(ConvergenceWarning):
        pre.fit(X)
    tuned.fit(X)
    assert tuned.loss_curve_[-1] < tuned.loss_curve_[0]
    assert tuned.score(X) > pre.score(X)
    assert tuned.n_iter_ == len(tuned.loss_curve_) <= 40


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_backprop_gradient_matches_finite_differences(solver):
    """The hand-written backward pass computes the gradient of the loss."""
    X = _patterns(n=5, n_features=6, dtype=np.float64)
    ae = StackedRBMAutoencoder((4, 3), max_iter=1, solver=solver, random_state=0)
    ae.fit(X)
    weights, biases = ae._layers()
    _, grads = backprop(X, weights, biases, Workspace(weights, len(X), X.dtype))
    grads = [g.copy() for g in grads]
    # backprop's loss is per element; its gradient is per sample: scale to match.
    scale = X.shape[1]
    eps = 1e-6
    for p, g in zip(weights + biases, grads):
        idx = (0,) * p.ndim
        old = p[idx]
        p[idx] = old + eps
        up = binary_cross_entropy(X, ae.decode(ae.encode(X)))
        p[idx] = old - eps
        down = binary_cross_entropy(X, ae.decode(ae.encode(X)))
        p[idx] = old
        assert (up - down) / (2 * eps) * scale == pytest.approx(g[idx], rel=1e-4, abs=1e-8)


def test_float32_stays_float32():
    X = _patterns()
    ae = StackedRBMAutoencoder((8,), max_iter=2, random_state=0).fit(X)
    assert all(W.dtype == np.float32 for W in ae.encoder_weights_ + ae.decoder_weights_)
    assert ae.transform(X).dtype == np.float32
    assert ae.inverse_transform(ae.transform(X)).dtype == np.float32


def test_early_stopping_keeps_best_validation_loss():
    X = _patterns(n=300)
    ae = StackedRBMAutoencoder(
        (16, 8), early_stopping=True, max_iter=60, n_iter_no_change=3, random_state=0
    ).fit(X)
    assert len(ae.validation_scores_) == ae.n_iter_
    assert ae.best_loss_ == min(ae.validation_scores_)


def test_input_size_splits_rows_into_blocks():
    X = _patterns(n=50, n_features=24)
    ae = StackedRBMAutoencoder((5,), input_size=8, max_iter=2, random_state=0).fit(X)
    codes = ae.transform(X)
    assert codes.shape == (50, 3 * 5)
    np.testing.assert_allclose(codes[:, 5:10], ae.encode(X[:, 8:16]), rtol=1e-6)
    assert ae.inverse_transform(codes).shape == X.shape


def test_verbose_prints_iterations(capsys):
    StackedRBMAutoencoder((4,), max_iter=2, verbose=1, random_state=0).fit(_patterns(n=50))
    out = capsys.readouterr().out
    assert "[StackedRBMAutoencoder] Iteration 2, loss =" in out
    assert "Pretraining RBM 1 of 1" in out
    assert "[pretrain_rbm] Iteration 1, reconstruction error =" in out


def test_bad_input_errors():
    ae = StackedRBMAutoencoder((4,), max_iter=1)
    with pytest.raises(ValueError, match="Negative values"):
        ae.fit(-np.ones((5, 4)))
    with pytest.raises(ValueError, match="not a multiple of input_size"):
        StackedRBMAutoencoder((4,), input_size=3).fit(np.ones((5, 4)))
    with pytest.raises(ValueError, match="layer_sizes must be a non-empty sequence"):
        StackedRBMAutoencoder(("a",)).fit(np.ones((5, 4)))
    with pytest.raises(ValueError, match="leaves no training or no validation"):
        StackedRBMAutoencoder((4,), early_stopping=True, validation_fraction=0.01).fit(
            np.ones((5, 4)) / 2
        )
