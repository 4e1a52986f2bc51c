"""Stochastic optimisers updating a list of arrays in place.

After ``sklearn/neural_network/_stochastic_optimizers.py``: a base class owns
what every optimiser shares (here the block-wise, threaded elementwise
update), and :class:`SGDOptimizer` and :class:`AdamOptimizer` override only
the update of one block. An optimiser is a context manager whose exit stops
its worker threads, also when the fit inside it raises.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Elements per block of the elementwise work: a block of each of an update's
# arrays stays in cache across the dozen passes of one Adam step.
BLOCK_SIZE = 1 << 15


class BaseOptimizer:
    """Base class of the optimisers: blocks, threads and the update loop.

    ``update_params`` consumes its gradients (they are overwritten). The
    update runs block by block, so each block of a parameter and of its
    moments is read from memory once per step, and the blocks are shared
    among ``n_threads`` threads (NumPy releases the GIL inside its loops).

    Parameters
    ----------
    params : list of ndarray
        Parameters, updated in place.
    learning_rate_init : float
        Step size.
    n_threads : int, default=1
        Threads sharing the elementwise work.
    """

    def __init__(self, params, learning_rate_init, n_threads=1):
        self.params = params
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate_init
        self.n_threads = max(1, int(n_threads))
        self._pool = None
        # (parameter index, start, stop) of each block, dealt to the threads.
        blocks = [
            (i, start, min(start + BLOCK_SIZE, p.size))
            for i, p in enumerate(params)
            for start in range(0, p.size, BLOCK_SIZE)
        ]
        self._shares = [blocks[k :: self.n_threads] for k in range(self.n_threads)]

    def update_params(self, grads):
        """Update the parameters with their gradients (consumed).

        Parameters
        ----------
        grads : list of ndarray
            One gradient per parameter, of its shape and dtype; overwritten.
        """
        self._prepare_step()
        flat = [g.reshape(-1) for g in grads]
        if self.n_threads == 1:
            self._update_blocks(flat, self._shares[0])
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.n_threads)
        for _ in self._pool.map(lambda share: self._update_blocks(flat, share), self._shares):
            pass

    def _prepare_step(self):
        """Per-step state before the blocks are updated (e.g. Adam's bias correction)."""

    def _update_blocks(self, grads, blocks):
        tmp = np.empty(BLOCK_SIZE, dtype=grads[0].dtype) if grads else None
        for i, a, b in blocks:
            self._update_block(i, a, b, grads[i][a:b], tmp[: b - a])

    def _update_block(self, i, a, b, g, tmp):
        """Update elements ``[a, b)`` of parameter ``i`` from gradient ``g``."""
        raise NotImplementedError

    def _slice(self, arrays, i, a, b):
        return arrays[i].reshape(-1)[a:b]

    def close(self):
        """Stop the worker threads, if any."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class SGDOptimizer(BaseOptimizer):
    """Stochastic gradient descent with momentum.

    ``v = momentum * v - learning_rate * g; p += v``.

    Parameters
    ----------
    params : list of ndarray
        Parameters, updated in place.
    learning_rate_init : float, default=0.1
        Step size.
    momentum : float, default=0.9
        Momentum, in [0, 1).
    n_threads : int, default=1
        Threads sharing the elementwise work.
    """

    def __init__(self, params, learning_rate_init=0.1, momentum=0.9, n_threads=1):
        super().__init__(params, learning_rate_init, n_threads)
        self.momentum = momentum
        self.velocities = [np.zeros_like(p) for p in params]

    def _update_block(self, i, a, b, g, tmp):
        p = self._slice(self.params, i, a, b)
        v = self._slice(self.velocities, i, a, b)
        v *= self.momentum
        g *= self.learning_rate
        v -= g
        p += v


class AdamOptimizer(BaseOptimizer):
    """Adam (Kingma & Ba 2014), with the bias correction folded into the step.

    Parameters
    ----------
    params : list of ndarray
        Parameters, updated in place.
    learning_rate_init : float, default=0.001
        Step size.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates.
    epsilon : float, default=1e-8
        Added to the root of the second moment.
    n_threads : int, default=1
        Threads sharing the elementwise work.
    """

    def __init__(
        self,
        params,
        learning_rate_init=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_threads=1,
    ):
        super().__init__(params, learning_rate_init, n_threads)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.t = 0
        self.ms = [np.zeros_like(p) for p in params]
        self.vs = [np.zeros_like(p) for p in params]

    def _prepare_step(self):
        self.t += 1
        self.learning_rate = (
            self.learning_rate_init * np.sqrt(1 - self.beta_2**self.t) / (1 - self.beta_1**self.t)
        )

    def _update_block(self, i, a, b, g, tmp):
        b1, b2 = self.beta_1, self.beta_2
        p = self._slice(self.params, i, a, b)
        m = self._slice(self.ms, i, a, b)
        s = self._slice(self.vs, i, a, b)
        m *= b1
        m += np.multiply(g, 1 - b1, out=tmp)
        s *= b2
        g *= g
        s += np.multiply(g, 1 - b2, out=tmp)
        # g is consumed: it holds the update direction from here on.
        np.sqrt(s, out=g)
        g += self.epsilon
        np.divide(m, g, out=g)
        g *= self.learning_rate
        p -= g


def make_optimizer(solver, params, learning_rate_init, *, momentum=0.9, n_threads=1):
    """The optimiser named ``solver`` ("adam" or "sgd") over ``params``.

    Examples
    --------
    >>> import numpy as np
    >>> p = [np.zeros(3)]
    >>> with make_optimizer("sgd", p, 0.5, momentum=0.0) as opt:
    ...     opt.update_params([np.ones(3)])
    >>> p[0]
    array([-0.5, -0.5, -0.5])
    """
    if solver == "adam":
        return AdamOptimizer(params, learning_rate_init, n_threads=n_threads)
    if solver == "sgd":
        return SGDOptimizer(params, learning_rate_init, momentum, n_threads=n_threads)
    raise ValueError(f'solver must be "adam" or "sgd", got {solver!r}.')
