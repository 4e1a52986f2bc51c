"""Optimisers against plain NumPy references, in the caller and on a thread team."""

import numpy as np
import pytest

from skaesep._parallel import ThreadTeam
from skaesep._stochastic_optimizers import (
    BLOCK_SIZE,
    AdamOptimizer,
    SGDOptimizer,
    make_optimizer,
)


def reference_adam(params, grads, m, s, t, lr, b1=0.9, b2=0.999, eps=1e-8):
    step = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    for i, (p, g) in enumerate(zip(params, grads)):
        m[i] = b1 * m[i] + (1 - b1) * g
        s[i] = b2 * s[i] + (1 - b2) * g * g
        params[i] = p - step * m[i] / (np.sqrt(s[i]) + eps)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_adam_matches_reference(n_threads):
    rng = np.random.default_rng(2)
    # One parameter spans several blocks, with a partial last block.
    shapes = [(3, BLOCK_SIZE // 2 + 7), (5,), (BLOCK_SIZE + 1,)]
    params = [rng.normal(size=s).astype(np.float32) for s in shapes]
    ref = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    s = [np.zeros_like(p) for p in params]
    with ThreadTeam(n_threads) as team:
        opt = AdamOptimizer(params, 1e-2, team=team)
        for t in range(1, 4):
            grads = [rng.normal(size=p.shape).astype(np.float32) for p in params]
            reference_adam(ref, [g.copy() for g in grads], m, s, t, 1e-2)
            opt.update_params(grads)
    for got, want in zip(params, ref):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_sgd_matches_reference():
    rng = np.random.default_rng(3)
    params = [rng.normal(size=(4, BLOCK_SIZE // 3)).astype(np.float32), np.zeros(3, np.float32)]
    ref = [p.copy() for p in params]
    vel = [np.zeros_like(p) for p in params]
    with ThreadTeam(2) as team:
        opt = SGDOptimizer(params, 0.1, 0.9, team=team)
        for _ in range(3):
            grads = [rng.normal(size=p.shape).astype(np.float32) for p in params]
            for i, g in enumerate(grads):
                vel[i] = 0.9 * vel[i] - 0.1 * g
                ref[i] = ref[i] + vel[i]
            opt.update_params(grads)
    for got, want in zip(params, ref):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_make_optimizer_names_the_solvers():
    p = [np.zeros(3)]
    assert isinstance(make_optimizer("adam", p, 1e-3), AdamOptimizer)
    assert isinstance(make_optimizer("sgd", p, 1e-3, momentum=0.5), SGDOptimizer)
    with pytest.raises(ValueError, match="solver"):
        make_optimizer("lbfgs", p, 1e-3)
