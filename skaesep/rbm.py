"""Greedy pretraining of one Bernoulli RBM layer by contrastive divergence."""

import time
from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from ._base import sigmoid_
from ._blas import dot
from ._parallel import ThreadTeam
from ._sklearn_compat import Interval, validate_params

#: Elements of the gradient computed and applied at a time, per thread: the
#: gradient, velocity and weight blocks stay in the core's L2 cache.
UPDATE_BLOCK = 1 << 16

#: Multiply-adds of one mini-batch product (``batch_size * n_visible *
#: n_hidden``) below which a layer runs in one thread whatever ``n_threads``:
#: handing half of a product this small to a second thread costs as much as it
#: saves (533 -> 500 at batch 64, 17 M, was 0.87x as fast at 2 threads as at 1;
#: 7995 -> 500, 256 M, 2.02x faster; ``docs/benchmarks.rst``).
MIN_SPLIT_WORK = 50_000_000


@validate_params(
    {
        "V": [np.ndarray],
        "n_hidden": [Interval(Integral, 1, None, closed="left")],
        "n_epochs": [Interval(Integral, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "cd_steps": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_threads": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
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
    random_state=None,
    verbose=0,
    n_threads=1,
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
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the Gibbs samples.
    verbose : int, default=0
        Print each epoch's reconstruction error and time as it ends, in the
        manner of :class:`sklearn.neural_network.BernoulliRBM`.
    n_threads : int, default=1
        Threads sharing each mini-batch (:class:`skaesep._parallel.ThreadTeam`),
        each running one BLAS thread; a layer whose mini-batch products are
        smaller than :data:`MIN_SPLIT_WORK` multiply-adds runs in one. The
        result does not depend on it (up to float rounding).

    Returns
    -------
    W : ndarray of shape (n_visible, n_hidden)
    hidden_bias : ndarray of shape (n_hidden,)
    visible_bias : ndarray of shape (n_visible,)
    errors : list of float
        Mean squared one-step reconstruction error after each epoch.

    References
    ----------
    .. [1] "An Autoencoder as a Naive Approach to Audio Source Separation",
       the report this package implements, section III-C (greedy RBM pretraining).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.RandomState(0)
    >>> V = (rng.random_sample((100, 12)) > 0.5).astype(np.float32)
    >>> W, c, b, errors = pretrain_rbm(V, 4, n_epochs=3, random_state=rng)
    >>> W.shape, W.dtype, len(errors)
    ((12, 4), dtype('float32'), 3)
    """
    if V.ndim != 2 or V.shape[0] == 0 or V.dtype not in (np.float32, np.float64):
        raise ValueError(
            "pretrain_rbm expects a non-empty float32 or float64 array of shape "
            f"(n_samples, n_visible), got {V.dtype} of shape {V.shape}."
        )
    rng = check_random_state(random_state)
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
    # Uniforms for the Gibbs samples are drawn in the data's dtype (float32
    # for float32 data), in the calling thread, from a generator seeded by
    # ``rng``: the same numbers whatever the thread count.
    gen = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
    # Workspace, allocated once. Rows [0, n) of VV and HH hold the positive
    # phase (v0, h0), rows [n, 2n) the negative one (v, h), so that
    # ``v0.T @ h0 - v.T @ h`` is the single product ``VV.T @ [h0; -h]``.
    VV = np.empty((2 * batch_size, n_visible), dtype=dtype)
    HH = np.empty((2 * batch_size, n_hidden), dtype=dtype)
    U = np.empty((batch_size, n_hidden), dtype=dtype)
    errors = []
    if batch_size * n_visible * n_hidden < MIN_SPLIT_WORK:
        n_threads = 1
    with ThreadTeam(n_threads) as team:
        # Block i of a step is a block of hidden units (columns of h and W)
        # or of visible units (columns of v, rows of W, with a gradient
        # buffer for a cache-sized sub-block of those rows).
        hid, vis = team.blocks(n_hidden), team.blocks(n_visible)
        sub = max(1, UPDATE_BLOCK // n_hidden)
        scratch = [np.empty((min(sub, n_visible), n_hidden), dtype=dtype) for _ in vis]
        err = np.zeros(len(vis))

        def hidden(v, h, u, i):
            """``h = sigmoid(v W + c)`` on block ``i``; then ``u = (u < h)`` if ``u``."""
            c = hid[i]
            h_c = np.matmul(v, W[:, c], out=h[:, c])
            h_c += hidden_bias[c]
            sigmoid_(h_c)
            if u is not None:
                np.less(u[:, c], h_c, out=u[:, c])

        def visible(u, v, i):
            """``v = sigmoid(u W.T + b)`` on block ``i``."""
            c = vis[i]
            v_c = np.matmul(u, W[c].T, out=v[:, c])
            v_c += visible_bias[c]
            sigmoid_(v_c)

        def update(n, step, i):
            """Momentum step of block ``i``'s visible units and hidden units."""
            r = vis[i]
            for a in range(r.start, r.stop, sub):
                b = min(a + sub, r.stop)
                # vel_W = momentum * vel_W + step * (v0.T h0 - v.T h) - lr * decay * W
                g = np.matmul(VV[: 2 * n, a:b].T, HH[: 2 * n], out=scratch[i][: b - a])
                g *= step
                vel = vel_W[a:b]
                vel *= momentum
                vel += g
                np.multiply(W[a:b], learning_rate * weight_decay, out=g)
                vel -= g
                W[a:b] += vel
            vel_v[r] *= momentum
            vel_v[r] += step * (VV[:n, r].sum(axis=0) - VV[n : 2 * n, r].sum(axis=0))
            visible_bias[r] += vel_v[r]
            c = hid[i]
            vel_h[c] *= momentum
            vel_h[c] += step * HH[: 2 * n, c].sum(axis=0)  # h0 - h: HH holds [h0; -h]
            hidden_bias[c] += vel_h[c]
            d = VV[n : 2 * n, r] - VV[:n, r]
            err[i] = dot(d, d)

        for epoch in range(n_epochs):
            t0 = time.perf_counter()
            order = rng.permutation(n_samples)
            sq_err = 0.0
            for start in range(0, n_samples, batch_size):
                idx = order[start : start + batch_size]
                n = idx.shape[0]
                v0, v = VV[:n], VV[n : 2 * n]
                h0, h = HH[:n], HH[n : 2 * n]
                u = U[:n]
                np.take(V, idx, axis=0, out=v0)
                gen.random(out=u, dtype=dtype)
                # u becomes the 0/1 hidden sample
                team.run(partial(hidden, v0, h0, u))
                for step_ in range(cd_steps):
                    team.run(partial(visible, u, v))
                    if step_ + 1 < cd_steps:
                        gen.random(out=u, dtype=dtype)
                        team.run(partial(hidden, v, h, u))
                    else:
                        team.run(partial(hidden, v, h, None))
                np.negative(h, out=h)
                team.run(partial(update, n, learning_rate / n))
                sq_err += float(err.sum())
            errors.append(sq_err / V.size)
            if verbose:
                print(
                    "[pretrain_rbm] Iteration %d, reconstruction error = %.4f, time = %.2fs"
                    % (epoch + 1, errors[-1], time.perf_counter() - t0),
                    flush=True,
                )
    return W, hidden_bias, visible_bias, errors
