"""The network core and RBM pretraining against plain NumPy references.

Each reference below is the textbook form of the computation (fresh arrays,
``@``, no workspace, no blocks or threads); the fast path must compute the
same function up to float rounding, in the caller and split among two
threads (:class:`skaesep._parallel.ThreadTeam`). No timing is asserted.
"""

import numpy as np
import pytest
from scipy.special import expit
from test_stochastic_optimizers import reference_adam

from skaesep import StackedRBMAutoencoder, _network
from skaesep._blas import dot
from skaesep._network import Workspace, backprop, propagate
from skaesep._parallel import ThreadTeam
from skaesep.rbm import pretrain_rbm


def reference_rbm(
    V, n_hidden, *, n_epochs, learning_rate, momentum, weight_decay, cd_steps, batch_size, rng
):
    """CD-k as written in Hinton's guide, drawing the same random numbers."""
    dtype = V.dtype
    n_samples, n_visible = V.shape
    W = rng.normal(0.0, 0.01, (n_visible, n_hidden)).astype(dtype)
    c = np.zeros(n_hidden, dtype)
    p = np.clip(V.mean(axis=0), 1e-3, 1 - 1e-3)
    b = np.log(p / (1 - p)).astype(dtype)
    dW, dc, db = np.zeros_like(W), np.zeros_like(c), np.zeros_like(b)
    gen = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
    errors = []
    for _ in range(n_epochs):
        order = rng.permutation(n_samples)
        err = 0.0
        for start in range(0, n_samples, batch_size):
            v0 = V[order[start : start + batch_size]]
            h0 = expit(v0 @ W + c)
            h = h0
            for _ in range(cd_steps):
                hs = (gen.random(h.shape, dtype=dtype) < h).astype(dtype)
                v = expit(hs @ W.T + b)
                h = expit(v @ W + c)
            n = len(v0)
            dW = momentum * dW + learning_rate * ((v0.T @ h0 - v.T @ h) / n - weight_decay * W)
            dc = momentum * dc + learning_rate * (h0 - h).mean(axis=0)
            db = momentum * db + learning_rate * (v0 - v).mean(axis=0)
            W, c, b = W + dW, c + dc, b + db
            err += float(((v0 - v) ** 2).sum())
        errors.append(err / V.size)
    return W, c, b, errors


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cd_steps", [1, 2])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_pretrain_rbm_matches_reference(dtype, cd_steps, n_threads):
    V = np.random.default_rng(0).random((70, 30)).astype(dtype)  # last batch is partial
    kw = dict(
        n_epochs=3,
        learning_rate=0.1,
        momentum=0.5,
        weight_decay=2e-4,
        cd_steps=cd_steps,
        batch_size=16,
    )
    fast = pretrain_rbm(V, 12, random_state=np.random.RandomState(0), n_threads=n_threads, **kw)
    ref = reference_rbm(V, 12, rng=np.random.RandomState(0), **kw)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for got, want in zip(fast[:3], ref[:3]):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_allclose(fast[3], ref[3], rtol=tol)


def test_rbm_draws_float32_uniforms(monkeypatch):
    """Float32 data gets float32 random numbers (no float64 draw in the loop)."""
    dtypes = []
    real_default_rng = np.random.default_rng

    class Spy:
        def __init__(self, seed):
            self.gen = real_default_rng(seed)

        def random(self, *args, **kwargs):
            dtypes.append(np.dtype(kwargs.get("dtype", np.float64)))
            return self.gen.random(*args, **kwargs)

    V = np.random.default_rng(0).random((20, 8)).astype(np.float32)
    monkeypatch.setattr(np.random, "default_rng", Spy)
    pretrain_rbm(V, 4, n_epochs=1, batch_size=5, random_state=np.random.RandomState(0))
    assert dtypes and set(dtypes) == {np.dtype(np.float32)}


def reference_backprop(X, weights, biases):
    """Loss and gradients of the unrolled sigmoid net with cross-entropy."""
    acts = [X]
    for W, b in zip(weights, biases):
        acts.append(expit(acts[-1] @ W + b))
    out = acts[-1]
    eps = np.finfo(out.dtype).eps
    q = np.clip(out, eps, 1 - eps)
    loss = -np.mean(X * np.log(q) + (1 - X) * np.log1p(-q))
    delta = (out - X) / len(X)
    gW, gb = [None] * len(weights), [None] * len(weights)
    for i in range(len(weights) - 1, -1, -1):
        gW[i] = acts[i].T @ delta
        gb[i] = delta.sum(axis=0)
        if i:
            delta = (delta @ weights[i].T) * acts[i] * (1 - acts[i])
    return loss, gW, gb


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_backprop_matches_reference(dtype, n_threads):
    rng = np.random.default_rng(1)
    sizes = [40, 16, 8, 16, 40]
    weights = [rng.normal(0, 0.3, (a, b)).astype(dtype) for a, b in zip(sizes, sizes[1:])]
    biases = [rng.normal(0, 0.1, b).astype(dtype) for b in sizes[1:]]
    X = rng.random((9, 40)).astype(dtype)
    with ThreadTeam(n_threads) as team:
        loss, grads = backprop(X, weights, biases, Workspace(weights, 16, dtype), team=team)
    want_loss, gW, gb = reference_backprop(X, weights, biases)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert loss == pytest.approx(float(want_loss), rel=tol)
    for got, want in zip(grads, gW + gb):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=50 * tol, atol=tol)


@pytest.mark.parametrize("n_threads", [None, 1, 2])
def test_propagate_matches_reference(monkeypatch, n_threads):
    """Blocked inference with reused buffers equals one plain pass."""
    monkeypatch.setattr(_network, "INFERENCE_BATCH", 7)  # several blocks, a partial one
    rng = np.random.default_rng(4)
    sizes = [12, 9, 5, 9, 12]
    weights = [rng.normal(0, 0.5, (a, b)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
    biases = [rng.normal(0, 0.1, b).astype(np.float32) for b in sizes[1:]]
    X = rng.random((23, 12)).astype(np.float32)
    want = X
    for W, b in zip(weights, biases):
        want = expit(want @ W + b)
    team = None if n_threads is None else ThreadTeam(n_threads)
    got = propagate(X, weights, biases, team)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Non-contiguous input, float64 input with float32 weights.
    np.testing.assert_allclose(
        propagate(np.asfortranarray(X), weights, biases, team), want, rtol=1e-5, atol=1e-6
    )
    assert propagate(X.astype(np.float64), weights, biases, team).dtype == (np.float64)
    if team is not None:
        team.close()


def test_dot():
    A = np.random.default_rng(5).random((6, 4)).astype(np.float32)
    assert dot(A, A) == pytest.approx(float((A * A).sum()), rel=1e-6)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_fit_matches_reference_training(n_threads):
    """A whole fit (pretraining + Adam fine-tuning) equals the reference loops."""
    X = np.random.default_rng(6).random((50, 20)).astype(np.float32)
    ae = StackedRBMAutoencoder(
        (8, 4), pretrain_epochs=2, max_iter=2, batch_size=16, n_threads=n_threads, random_state=0
    ).fit(X)
    rng = np.random.RandomState(0)
    Ws, cs, bs = [], [], []
    V = X
    for n_hidden in (8, 4):
        W, c, b, _ = reference_rbm(
            V,
            n_hidden,
            n_epochs=2,
            learning_rate=0.1,
            momentum=0.5,
            weight_decay=2e-4,
            cd_steps=1,
            batch_size=16,
            rng=rng,
        )
        Ws.append(W), cs.append(c), bs.append(b)
        V = expit(V @ W + c)
    weights = Ws + [W.T.copy() for W in reversed(Ws)]
    biases = cs + list(reversed(bs))
    m = [np.zeros_like(p) for p in weights + biases]
    s = [np.zeros_like(p) for p in weights + biases]
    t = 0
    for _ in range(2):
        order = rng.permutation(len(X))
        for start in range(0, len(X), 16):
            Xb = X[order[start : start + 16]]
            _, gW, gb = reference_backprop(Xb, weights, biases)
            t += 1
            params = weights + biases
            reference_adam(params, gW + gb, m, s, t, 1e-3)
            weights, biases = params[:4], params[4:]
    got = ae.encoder_weights_ + ae.decoder_weights_ + ae.encoder_biases_ + ae.decoder_biases_
    for g, w in zip(got, weights + biases):
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-5)


def test_pretrain_rbm_default_random_state():
    """Bug: the default random state raised AttributeError."""
    V = np.random.default_rng(0).random((30, 6)).astype(np.float32)
    W, c, b, errors = pretrain_rbm(V, 3, n_epochs=2)
    assert W.shape == (6, 3) and len(errors) == 2 and np.isfinite(W).all()


def test_pretrain_rbm_validates_its_arguments():
    V = np.random.default_rng(0).random((30, 6))
    with pytest.raises(ValueError, match="'n_hidden' parameter"):
        pretrain_rbm(V, 0)
    with pytest.raises(ValueError, match="shape"):
        pretrain_rbm(V[:0], 3)


def test_pretrain_rbm_prints_each_epoch_as_it_ends(capsys):
    """Bug: epochs were printed only once the whole layer had finished.

    The shuffle at the start of epoch 2 must already see epoch 1's line.
    """
    seen = []

    class Spy(np.random.RandomState):
        def permutation(self, n):
            seen.append(capsys.readouterr().out)
            return super().permutation(n)

    V = np.random.default_rng(0).random((30, 6))
    pretrain_rbm(V, 3, n_epochs=3, random_state=Spy(0), verbose=1)
    assert "Iteration 1, reconstruction error" in seen[1]
    assert "Iteration 2, reconstruction error" in seen[2]
    assert "time = " in seen[1]


@pytest.mark.parametrize("n_threads", [1, 2])
def test_code_hook_backprop_matches_reference(n_threads):
    """Backprop through a code hook equals the plain chain rule through the masks."""
    rng = np.random.default_rng(7)
    sizes = [10, 6, 4, 6, 10]
    weights = [rng.normal(0, 0.5, (a, b)) for a, b in zip(sizes, sizes[1:])]
    biases = [rng.normal(0, 0.1, b) for b in sizes[1:]]
    X = rng.random((5, 10))
    R = rng.random((3, 4))  # 3 sources over 4 code units
    T = rng.random((3 * 5, 10))

    class Hook:
        def forward(self, code):
            return (R[:, None, :] * code[None]).reshape(-1, 4)

        def backward(self, delta):
            return (delta.reshape(3, 5, 4) * R[:, None, :]).sum(axis=0)

    ws = Workspace(weights, 5, X.dtype, n_encoder=2, decoder_rows=15)
    with ThreadTeam(n_threads) as team:
        loss, grads = backprop(
            X, weights, biases, ws, target=T, n_encoder=2, code_hook=Hook(), team=team
        )
    # Reference: autograd by hand with fresh arrays.
    a1 = expit(X @ weights[0] + biases[0])
    code = expit(a1 @ weights[1] + biases[1])
    m = Hook().forward(code)
    a3 = expit(m @ weights[2] + biases[2])
    out = expit(a3 @ weights[3] + biases[3])
    d4 = (out - T) / len(out)
    g3, gb3 = a3.T @ d4, d4.sum(0)
    d3 = (d4 @ weights[3].T) * a3 * (1 - a3)
    g2, gb2 = m.T @ d3, d3.sum(0)
    dcode = Hook().backward(d3 @ weights[2].T) * code * (1 - code)
    g1, gb1 = a1.T @ dcode, dcode.sum(0)
    d1 = (dcode @ weights[1].T) * a1 * (1 - a1)
    g0, gb0 = X.T @ d1, d1.sum(0)
    for got, want in zip(grads, [g0, g1, g2, g3, gb0, gb1, gb2, gb3]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    eps = np.finfo(float).eps
    q = np.clip(out, eps, 1 - eps)
    assert loss == pytest.approx(-np.mean(T * np.log(q) + (1 - T) * np.log1p(-q)))


def test_fit_stops_its_threads_when_it_raises(monkeypatch):
    """Bug: the optimiser's thread pool stayed open when a fit raised."""
    import threading

    import skaesep.autoencoder as mod

    calls = []

    def failing_backprop(*args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError("boom")
        return real_backprop(*args, **kwargs)

    real_backprop = mod.backprop
    monkeypatch.setattr(mod, "backprop", failing_backprop)
    X = np.random.default_rng(0).random((200, 8))
    ae = StackedRBMAutoencoder((4,), pretrain_epochs=0, batch_size=16, n_threads=2, random_state=0)
    with pytest.raises(RuntimeError, match="boom"):
        ae.fit(X)
    left = [t for t in threading.enumerate() if t.name.startswith("skaesep-team")]
    assert len(calls) == 3 and not left
