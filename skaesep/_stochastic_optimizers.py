"""Stochastic optimisers updating a list of arrays in place.

After ``sklearn/neural_network/_stochastic_optimizers.py``: a base class owns
what every optimiser shares (here the block-wise elementwise update, whose
blocks a :class:`~skaesep._parallel.ThreadTeam` may share), and
:class:`SGDOptimizer` and :class:`AdamOptimizer` override only the update of
one block.
"""

import threading

import numpy as np

# Elements per block of the elementwise work: a block of each of an update's
# arrays stays in cache across the dozen passes of one Adam step.
BLOCK_SIZE = 1 << 15


class BaseOptimizer:
    """Base class of the optimisers: blocks and the update loop.

    ``update_params`` consumes its gradients (they are overwritten). The
    update runs block by block, so each block of a parameter and of its
    moments is read from memory once per step; with a team the blocks are
    claimed by its threads (NumPy releases the GIL inside its loops). Every
    block is updated the same way whoever runs it.

    Parameters
    ----------
    params : list of ndarray
        Parameters, updated in place.
    learning_rate_init : float
        Step size.
    team : ThreadTeam, default=None
        Threads sharing the blocks; ``None`` updates them in the caller.
    """

    def __init__(self, params, learning_rate_init, team=None):
        self.params = params
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate_init
        self.team = team
        self._scratch = threading.local()  # one work block per thread
        # (parameter index, start, stop) of each block.
        self._blocks = [
            (i, start, min(start + BLOCK_SIZE, p.size))
            for i, p in enumerate(params)
            for start in range(0, p.size, BLOCK_SIZE)
        ]

    def update_params(self, grads):
        """Update the parameters with their gradients (consumed).

        Parameters
        ----------
        grads : list of ndarray
            One gradient per parameter, of its shape and dtype; overwritten.
        """
        self._prepare_step()
        flat = [g.reshape(-1) for g in grads]
        blocks = self._blocks

        def update(k):
            i, a, b = blocks[k]
            tmp = getattr(self._scratch, "tmp", None)
            if tmp is None or tmp.dtype != flat[i].dtype:
                tmp = self._scratch.tmp = np.empty(BLOCK_SIZE, dtype=flat[i].dtype)
            self._update_block(i, a, b, flat[i][a:b], tmp[: b - a])

        if self.team is None:
            for k in range(len(blocks)):
                update(k)
        else:
            self.team.run(update, len(blocks))

    def _prepare_step(self):
        """Per-step state before the blocks are updated (e.g. Adam's bias correction)."""

    def _update_block(self, i, a, b, g, tmp):
        """Update elements ``[a, b)`` of parameter ``i`` from gradient ``g``."""
        raise NotImplementedError

    def _slice(self, arrays, i, a, b):
        return arrays[i].reshape(-1)[a:b]


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
    team : ThreadTeam, default=None
        Threads sharing the elementwise work.
    """

    def __init__(self, params, learning_rate_init=0.1, momentum=0.9, team=None):
        super().__init__(params, learning_rate_init, team)
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
    team : ThreadTeam, default=None
        Threads sharing the elementwise work.
    """

    def __init__(
        self,
        params,
        learning_rate_init=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        team=None,
    ):
        super().__init__(params, learning_rate_init, team)
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


def make_optimizer(solver, params, learning_rate_init, *, momentum=0.9, team=None):
    """The optimiser named ``solver`` ("adam" or "sgd") over ``params``.

    Examples
    --------
    >>> import numpy as np
    >>> p = [np.zeros(3)]
    >>> make_optimizer("sgd", p, 0.5, momentum=0.0).update_params([np.ones(3)])
    >>> p[0]
    array([-0.5, -0.5, -0.5])
    """
    if solver == "adam":
        return AdamOptimizer(params, learning_rate_init, team=team)
    if solver == "sgd":
        return SGDOptimizer(params, learning_rate_init, momentum, team=team)
    raise ValueError(f'solver must be "adam" or "sgd", got {solver!r}.')
