"""The fast training and inference paths against plain NumPy references.

Each reference below is the textbook form of the computation (fresh arrays,
``@``, no workspace, no BLAS alpha/beta, no blocks or threads); the fast path
must compute the same function up to float rounding. No timing is asserted.
"""

import numpy as np
import pytest
from scipy.special import expit

from skaesep import MaskResynthesizer, StackedRBMAutoencoder, make_separation_pipeline
from skaesep._blas import axpy, dot, gemm
from skaesep.autoencoder import _BLOCK, _Optimizer
from skaesep.rbm import pretrain_rbm


def reference_rbm(V, n_hidden, *, n_epochs, learning_rate, momentum, weight_decay, cd_steps,
                  batch_size, rng):
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
            v0 = V[order[start:start + batch_size]]
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
def test_pretrain_rbm_matches_reference(dtype, cd_steps):
    V = np.random.default_rng(0).random((70, 30)).astype(dtype)  # last batch is partial
    kw = dict(n_epochs=3, learning_rate=0.1, momentum=0.5, weight_decay=2e-4,
              cd_steps=cd_steps, batch_size=16)
    fast = pretrain_rbm(V, 12, rng=np.random.RandomState(0), **kw)
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
    pretrain_rbm(V, 4, n_epochs=1, batch_size=5, rng=np.random.RandomState(0))
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


def reference_adam(params, grads, m, s, t, lr, b1=0.9, b2=0.999, eps=1e-8):
    step = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    for i, (p, g) in enumerate(zip(params, grads)):
        m[i] = b1 * m[i] + (1 - b1) * g
        s[i] = b2 * s[i] + (1 - b2) * g * g
        params[i] = p - step * m[i] / (np.sqrt(s[i]) + eps)


class _Recorder:
    """Optimiser stand-in that keeps a copy of the gradients it is given."""

    def step(self, grads):
        self.grads = [g.copy() for g in grads]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backprop_matches_reference(dtype):
    rng = np.random.default_rng(1)
    sizes = [40, 16, 8, 16, 40]
    weights = [rng.normal(0, 0.3, (a, b)).astype(dtype) for a, b in zip(sizes, sizes[1:])]
    biases = [rng.normal(0, 0.1, b).astype(dtype) for b in sizes[1:]]
    X = rng.random((9, 40)).astype(dtype)
    ae = StackedRBMAutoencoder()
    rec = _Recorder()
    loss = ae._backprop(X, weights, biases, rec)
    want_loss, gW, gb = reference_backprop(X, weights, biases)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert loss == pytest.approx(float(want_loss), rel=tol)
    for got, want in zip(rec.grads, gW + gb):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=50 * tol, atol=tol)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_adam_matches_reference(n_threads):
    rng = np.random.default_rng(2)
    # One parameter spans several blocks, with a partial last block.
    shapes = [(3, _BLOCK // 2 + 7), (5,), (_BLOCK + 1,)]
    params = [rng.normal(size=s).astype(np.float32) for s in shapes]
    ref = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    s = [np.zeros_like(p) for p in params]
    opt = _Optimizer(params, "adam", 1e-2, 0.9, n_threads=n_threads)
    for t in range(1, 4):
        grads = [rng.normal(size=p.shape).astype(np.float32) for p in params]
        reference_adam(ref, [g.copy() for g in grads], m, s, t, 1e-2)
        opt.step(grads)
    opt.close()
    for got, want in zip(params, ref):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_sgd_matches_reference():
    rng = np.random.default_rng(3)
    params = [rng.normal(size=(4, _BLOCK // 3)).astype(np.float32), np.zeros(3, np.float32)]
    ref = [p.copy() for p in params]
    vel = [np.zeros_like(p) for p in params]
    opt = _Optimizer(params, "sgd", 0.1, 0.9, n_threads=2)
    for _ in range(3):
        grads = [rng.normal(size=p.shape).astype(np.float32) for p in params]
        for i, g in enumerate(grads):
            vel[i] = 0.9 * vel[i] - 0.1 * g
            ref[i] = ref[i] + vel[i]
        opt.step(grads)
    opt.close()
    for got, want in zip(params, ref):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_propagate_matches_reference(monkeypatch):
    """Blocked inference with reused buffers equals one plain pass."""
    import skaesep.autoencoder as mod

    monkeypatch.setattr(mod, "_INFERENCE_BATCH", 7)  # several blocks, a partial one
    rng = np.random.default_rng(4)
    sizes = [12, 9, 5, 9, 12]
    weights = [rng.normal(0, 0.5, (a, b)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
    biases = [rng.normal(0, 0.1, b).astype(np.float32) for b in sizes[1:]]
    X = rng.random((23, 12)).astype(np.float32)
    want = X
    for W, b in zip(weights, biases):
        want = expit(want @ W + b)
    got = StackedRBMAutoencoder._propagate(X, weights, biases)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Non-contiguous input, float64 input with float32 weights.
    np.testing.assert_allclose(
        StackedRBMAutoencoder._propagate(np.asfortranarray(X), weights, biases), want,
        rtol=1e-5, atol=1e-6)
    assert StackedRBMAutoencoder._propagate(X.astype(np.float64), weights, biases).dtype == (
        np.float64)


def test_gemm_axpy_dot():
    rng = np.random.default_rng(5)
    A = rng.random((6, 4)).astype(np.float32)
    B = rng.random((4, 5)).astype(np.float32)
    C = rng.random((6, 5)).astype(np.float32)
    want = 0.5 * A @ B + 2.0 * C
    got = gemm(A, B, C, alpha=0.5, beta=2.0)
    assert got is C
    np.testing.assert_allclose(C, want, rtol=1e-6)
    # Transposed (F-ordered) operands and a non-contiguous output.
    D = np.empty((5, 6), np.float32)
    np.testing.assert_allclose(gemm(B.T, A.T, D), B.T @ A.T, rtol=1e-6)
    E = np.zeros((12, 5), np.float32)[::2]
    np.testing.assert_allclose(gemm(A, B, E), A @ B, rtol=1e-6)
    y = np.ones(3, np.float32)
    axpy(np.arange(3, dtype=np.float32), y, 2.0)
    np.testing.assert_array_equal(y, [1, 3, 5])
    assert dot(A, A) == pytest.approx(float((A * A).sum()), rel=1e-6)


def test_fit_matches_reference_training():
    """A whole fit (pretraining + Adam fine-tuning) equals the reference loops."""
    X = np.random.default_rng(6).random((50, 20)).astype(np.float32)
    ae = StackedRBMAutoencoder((8, 4), pretrain_epochs=2, max_iter=2, batch_size=16,
                               random_state=0).fit(X)
    rng = np.random.RandomState(0)
    Ws, cs, bs = [], [], []
    V = X
    for n_hidden in (8, 4):
        W, c, b, _ = reference_rbm(V, n_hidden, n_epochs=2, learning_rate=0.1, momentum=0.5,
                                   weight_decay=2e-4, cd_steps=1, batch_size=16, rng=rng)
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
            Xb = X[order[start:start + 16]]
            _, gW, gb = reference_backprop(Xb, weights, biases)
            t += 1
            params = weights + biases
            reference_adam(params, gW + gb, m, s, t, 1e-3)
            weights, biases = params[:4], params[4:]
    got = ae.encoder_weights_ + ae.decoder_weights_ + ae.encoder_biases_ + ae.decoder_biases_
    for g, w in zip(got, weights + biases):
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-5)


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
            acc[start:start + n_frames] += dec[c]
            weight[start:start + n_frames] += 1
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
    pipe = make_separation_pipeline(sr=sr, bandwidth=200.0, n_frames=5, layer_sizes=(16, 8),
                                    max_iter=2, pretrain_epochs=1)
    return MaskResynthesizer(pipe, random_state=0).fit(X, ["tone", "noise"])


@pytest.mark.parametrize("n_samples", [30, 3001, 20011])
@pytest.mark.parametrize("chunk_hop", [None, 1, 5])
@pytest.mark.parametrize("mask_power", [1.0, 2.0])
def test_blockwise_separation_matches_whole_recording(monkeypatch, small_separator, n_samples,
                                                     chunk_hop, mask_power):
    import skaesep.resynthesis as mod

    monkeypatch.setattr(mod, "_BLOCK_FRAMES", 16)  # many blocks, a partial last one
    sep = small_separator
    sep.set_params(chunk_hop=chunk_hop, mask_power=mask_power)
    y = np.random.default_rng(n_samples).normal(0, 0.3, n_samples).astype(np.float32)
    got = sep.separate(y)
    want = reference_separate(sep, y)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=0), y, atol=1e-5)
