"""Greedy pretraining of one Bernoulli RBM layer by contrastive divergence."""

import numpy as np
from sklearn.utils import gen_batches

from ._base import sigmoid_


def pretrain_rbm(
    V,
    n_hidden,
    *,
    n_epochs=5,
    learning_rate=0.1,
    momentum=0.5,
    weight_decay=2e-4,
    cd_steps=1,
    batch_size=64,
    rng=None,
):
    """Train a Bernoulli-Bernoulli RBM on ``V`` with CD-k.

    Hidden states are sampled; visible reconstructions are kept as
    probabilities (Hinton 2010, "A practical guide to training RBMs"), and
    the statistics use hidden probabilities. Updates carry momentum and an L2
    weight decay.

    Parameters
    ----------
    V : ndarray of shape (n_samples, n_visible)
        Visible data in [0, 1]; its dtype is the dtype of the result.
    n_hidden : int
        Hidden units.
    n_epochs : int, default=5
        Passes over ``V``; 0 returns the initial weights.
    learning_rate, momentum, weight_decay : float
        Step size, momentum and L2 penalty of the updates.
    cd_steps : int, default=1
        Gibbs steps ``k``.
    batch_size : int, default=64
        Samples per update.
    rng : numpy.random.RandomState
        Source of randomness.

    Returns
    -------
    W : ndarray of shape (n_visible, n_hidden)
    hidden_bias : ndarray of shape (n_hidden,)
    visible_bias : ndarray of shape (n_visible,)
    errors : list of float
        Mean squared one-step reconstruction error after each epoch.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> V = (rng.random_sample((100, 12)) > 0.5).astype(np.float32)
    >>> W, c, b, errors = pretrain_rbm(V, 4, n_epochs=3, rng=rng)
    >>> W.shape, W.dtype, len(errors)
    ((12, 4), dtype('float32'), 3)
    """
    dtype = V.dtype
    n_samples, n_visible = V.shape
    W = rng.normal(0.0, 0.01, (n_visible, n_hidden)).astype(dtype)
    hidden_bias = np.zeros(n_hidden, dtype=dtype)
    # Visible biases start at the log-odds of each unit's mean activation.
    p = np.clip(V.mean(axis=0), 1e-3, 1 - 1e-3)
    visible_bias = np.log(p / (1 - p)).astype(dtype)
    vel_W = np.zeros_like(W)
    vel_h = np.zeros_like(hidden_bias)
    vel_v = np.zeros_like(visible_bias)
    batch_size = min(batch_size, n_samples)
    errors = []
    for _ in range(n_epochs):
        order = rng.permutation(n_samples)
        sq_err = 0.0
        for batch in gen_batches(n_samples, batch_size):
            v0 = V[order[batch]]
            h0 = sigmoid_(v0 @ W + hidden_bias)
            h = h0
            for _step in range(cd_steps):
                h_sample = (rng.random_sample(h.shape) < h).astype(dtype)
                v = sigmoid_(h_sample @ W.T + visible_bias)
                h = sigmoid_(v @ W + hidden_bias)
            n = v0.shape[0]
            grad_W = v0.T @ h0
            grad_W -= v.T @ h
            grad_W /= n
            grad_W -= weight_decay * W
            vel_W *= momentum
            vel_W += learning_rate * grad_W
            W += vel_W
            vel_h *= momentum
            vel_h += learning_rate * (h0 - h).mean(axis=0)
            hidden_bias += vel_h
            vel_v *= momentum
            vel_v += learning_rate * (v0 - v).mean(axis=0)
            visible_bias += vel_v
            diff = v0 - v
            sq_err += float(np.einsum("ij,ij->", diff, diff))
        errors.append(sq_err / V.size)
    return W, hidden_bias, visible_bias, errors
