"""The thread team: blocks, errors, BLAS limits, and results that do not depend on threads."""

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from skaesep import StackedRBMAutoencoder, rbm
from skaesep._parallel import (
    MAX_DEFAULT_THREADS,
    THREAD_VARIABLES,
    ThreadTeam,
    available_cores,
    blocks,
    default_threads,
)
from skaesep.rbm import pretrain_rbm


def _blas_threads():
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}


@pytest.mark.parametrize("n, parts", [(0, 3), (5, 2), (7, 7), (3, 5), (100, 4)])
def test_blocks_cover_the_range_in_order(n, parts):
    got = blocks(n, parts)
    assert len(got) == parts
    assert [i for s in got for i in range(n)[s]] == list(range(n))
    sizes = [s.stop - s.start for s in got]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_run_calls_every_block_once(n_threads):
    out = np.zeros(1000, dtype=int)
    with ThreadTeam(n_threads) as team:
        parts = team.blocks(out.size)
        for step in range(50):  # many steps: no block is lost or run twice

            def block(k, step=step):
                out[parts[k]] += step + 1

            team.run(block)
    np.testing.assert_array_equal(out, np.full(1000, 50 * 51 // 2))


def test_run_uses_several_threads():
    names = set()
    barrier = threading.Barrier(2, timeout=10)

    def block(k):
        names.add(threading.current_thread().name)
        if k < 2:
            barrier.wait()  # blocks 0 and 1 can only finish on two threads at once

    with ThreadTeam(2) as team:
        team.run(block)
    assert len(names) == 2


def test_a_block_error_is_raised_in_the_caller_and_the_team_goes_on():
    with ThreadTeam(2) as team:
        with pytest.raises(ZeroDivisionError):
            team.run(lambda k: 1 / (k - 3))
        done = []
        team.run(done.append)
        assert sorted(done) == list(range(team.n_blocks))


def test_team_limits_blas_to_one_thread_and_restores_it():
    before = _blas_threads()
    with ThreadTeam(2) as team:
        assert _blas_threads() == {1}
        seen = []
        team.run(lambda k: seen.append(_blas_threads()))
        assert all(s == {1} for s in seen)
    assert _blas_threads() == before
    assert not [t for t in threading.enumerate() if t.name.startswith("skaesep-team")]


def test_team_rejects_zero_threads():
    with pytest.raises(ValueError, match="at least 1"):
        ThreadTeam(0)


def test_small_layers_run_in_one_thread(monkeypatch):
    monkeypatch.undo()  # conftest's split of every layer
    # At batch 64 the 533-bin frame layer of the presets is below the
    # threshold, the report's 7995-wide chunk layer above it.
    assert 64 * 533 * 500 < rbm.MIN_SPLIT_WORK <= 64 * 7995 * 500
    teams = []

    class Recording(ThreadTeam):
        def __init__(self, n_threads=1):
            teams.append(n_threads)
            super().__init__(n_threads)

    monkeypatch.setattr(rbm, "ThreadTeam", Recording)
    V = np.random.default_rng(0).random((40, 30)).astype(np.float32)
    work = 8 * 30 * 20  # multiply-adds of one mini-batch product
    for threshold in (work + 1, work):
        monkeypatch.setattr(rbm, "MIN_SPLIT_WORK", threshold)
        pretrain_rbm(V, 20, n_epochs=1, batch_size=8, n_threads=2)
    assert teams == [1, 2]


def test_same_seed_same_rbm_at_1_and_2_threads():
    V = (np.random.default_rng(0).random((150, 40)) ** 2).astype(np.float32)
    kw = dict(n_epochs=3, batch_size=32, cd_steps=2, random_state=0)
    one = pretrain_rbm(V, 24, n_threads=1, **kw)
    two = pretrain_rbm(V, 24, n_threads=2, **kw)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_same_seed_same_autoencoder_at_1_and_2_threads():
    X = np.random.default_rng(1).random((120, 30)).astype(np.float32)
    kw = dict(pretrain_epochs=2, max_iter=3, batch_size=16, random_state=0)
    one = StackedRBMAutoencoder((20, 10), n_threads=1, **kw).fit(X)
    two = StackedRBMAutoencoder((20, 10), n_threads=2, **kw).fit(X)
    for a, b in zip(one._layers()[0] + one._layers()[1], two._layers()[0] + two._layers()[1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(one.transform(X), two.transform(X), rtol=1e-5, atol=1e-6)


def test_default_threads_is_the_cores_bounded_by_the_pool_variables(monkeypatch):
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    cores = min(available_cores(), MAX_DEFAULT_THREADS)
    assert default_threads() == cores
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert default_threads() == cores
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert default_threads() == 1
    monkeypatch.setattr("skaesep._parallel.available_cores", lambda: 64)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    assert default_threads() == MAX_DEFAULT_THREADS
