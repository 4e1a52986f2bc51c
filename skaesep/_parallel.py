"""A persistent team of Python threads sharing the work of one mini-batch.

Each thread runs single-threaded BLAS on its own block of a product's output
(NumPy releases the GIL in ``matmul`` and in ufunc loops on large arrays), so
a training step never waits on OpenBLAS's spinning thread pools: with two
OpenBLAS libraries loaded (NumPy's and SciPy's, each with its own pool)
2-thread products alternating between them were measured up to 20 times
slower than one thread, and a BLAS pool whose partner thread is descheduled
by another process stalls whole products (``docs/benchmarks.rst``).

A :class:`ThreadTeam` holds ``n_threads - 1`` workers and the calling
thread, which works too, so a team of one runs everything in the caller. The
split of the work (:func:`blocks`) depends only on the array shapes and the
thread count, and every block writes disjoint output, so results do not
depend on which thread ran which block.
"""

import itertools
import os
import threading

from threadpoolctl import ThreadpoolController

_CONTROLLER = []  # the BLAS libraries, found once: a search takes milliseconds


def _controller():
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def available_cores():
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


#: Most threads ``n_threads=None`` uses. A 64-row mini-batch split among more
#: threads gives each one a few dozen output columns of a layer, where the
#: per-block dispatch (Python, under the GIL) and the optimiser step's memory
#: traffic, not the cores, bound a step (``docs/parallel.rst``); measured on 2
#: cores only.
MAX_DEFAULT_THREADS = 8

#: Variables that process pools set to share the cores among their workers
#: (joblib's loky workers, dask's nanny): ``n_threads=None`` keeps to them.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def default_threads():
    """Threads for ``n_threads=None``.

    The cores this process may run on, at most :data:`MAX_DEFAULT_THREADS`,
    and at most the smallest positive integer among :data:`THREAD_VARIABLES`
    that are set, so that worker processes of a pool do not each take every
    core.
    """
    limits = [available_cores(), MAX_DEFAULT_THREADS]
    for name in THREAD_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            limits.append(int(value))
    return min(limits)


def blocks(n, n_parts):
    """``n_parts`` contiguous slices of ``range(n)``, of sizes differing by at most one.

    Examples
    --------
    >>> blocks(5, 2)
    [slice(0, 3, None), slice(3, 5, None)]
    """
    q, r = divmod(n, n_parts)
    edges = [i * q + min(i, r) for i in range(n_parts + 1)]
    return [slice(a, b) for a, b in zip(edges, edges[1:])]


#: Blocks per thread of a parallel split: a thread held up (another process
#: on its core) leaves its unclaimed blocks to the others.
BLOCKS_PER_THREAD = 2


class _Job:
    """One :meth:`ThreadTeam.run`: blocks claimed one at a time by any thread."""

    def __init__(self, fn, n_blocks):
        self.fn = fn
        self.n_blocks = n_blocks
        self.claim = itertools.count().__next__  # atomic under the GIL
        self.left = n_blocks
        self.lock = threading.Lock()
        self.finished = threading.Lock()
        self.finished.acquire()
        self.error = None

    def work(self):
        while (k := self.claim()) < self.n_blocks:
            try:
                self.fn(k)
            except BaseException as exc:  # re-raised by run() in the caller
                self.error = exc
            with self.lock:
                self.left -= 1
                if self.left == 0:
                    self.finished.release()


class ThreadTeam:
    """``n_threads`` threads, the caller among them, sharing the blocks of one function.

    While the team is open, BLAS runs one thread per caller (threadpoolctl's
    limit of 1 on every BLAS library loaded when the first team was made,
    NumPy's among them); :meth:`close` (or
    leaving the ``with`` block) stops the workers and restores the limits.
    Work is split into :attr:`n_blocks` blocks (:meth:`blocks`), claimed by
    whichever thread is free, so a thread descheduled by another process
    delays a step by one block at most; a team of one runs one block, in the
    caller, with no synchronisation.

    Parameters
    ----------
    n_threads : int, default=1
        Threads of the team, the calling thread included.

    Examples
    --------
    >>> import numpy as np
    >>> out = np.zeros(8)
    >>> with ThreadTeam(2) as team:
    ...     parts = team.blocks(8)
    ...     team.run(lambda k: out.__setitem__(parts[k], k))
    >>> out
    array([0., 0., 1., 1., 2., 2., 3., 3.])
    """

    def __init__(self, n_threads=1):
        if int(n_threads) < 1:
            raise ValueError(f"n_threads must be at least 1, got {n_threads}.")
        self.n_threads = int(n_threads)
        self.n_blocks = 1 if self.n_threads == 1 else BLOCKS_PER_THREAD * self.n_threads
        self._limits = _controller().limit(limits=1, user_api="blas")
        self._cond = threading.Condition()
        self._generation = 0
        self._job = None
        self._workers = [
            threading.Thread(target=self._work, name=f"skaesep-team-{i}", daemon=True)
            for i in range(1, self.n_threads)
        ]
        for worker in self._workers:
            worker.start()

    def _work(self):
        seen = 0
        while True:
            with self._cond:
                while self._generation == seen:
                    self._cond.wait()
                seen, job = self._generation, self._job
            if job is None:
                return
            job.work()

    def run(self, fn, n_blocks=None):
        """Call ``fn(k)`` for every block ``k`` in ``range(n_blocks)``, in parallel.

        ``n_blocks`` defaults to :attr:`n_blocks`. Returns when every block
        is done; an exception raised by a block is raised here (after the
        others finish).
        """
        n_blocks = self.n_blocks if n_blocks is None else n_blocks
        if not self._workers or n_blocks <= 1:
            for k in range(n_blocks):
                fn(k)
            return
        job = _Job(fn, n_blocks)
        with self._cond:
            self._generation += 1
            self._job = job
            self._cond.notify_all()
        job.work()
        job.finished.acquire()
        if job.error is not None:
            raise job.error

    def blocks(self, n):
        """``range(n)`` split into :attr:`n_blocks` slices (some empty if ``n`` is small)."""
        return blocks(n, self.n_blocks)

    def close(self):
        """Stop the workers and restore the BLAS thread limits."""
        if self._workers:
            with self._cond:
                self._generation += 1
                self._job = None
                self._cond.notify_all()
            for worker in self._workers:
                worker.join()
            self._workers = []
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
