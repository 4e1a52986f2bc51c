"""In-place activations, derivatives and losses of the network.

A small table in the manner of ``sklearn/neural_network/_base.py``: every
function works in place on float32 or float64 arrays so that the training loop
allocates nothing per mini-batch beyond its matrix products.
"""

import numpy as np
from scipy.special import expit


def sigmoid_(X):
    """Apply the logistic sigmoid to ``X`` in place and return it."""
    return expit(X, out=X)


def sigmoid_derivative_(Z, delta):
    """Multiply ``delta`` in place by the sigmoid's derivative at output ``Z``.

    ``Z`` holds sigmoid outputs, so the derivative is ``Z * (1 - Z)``.
    """
    delta *= Z
    delta *= 1 - Z
    return delta


def binary_cross_entropy(y_true, y_prob):
    """Mean binary cross-entropy per element, the report's loss (III-C).

    ``-sum(p log q + (1 - p) log(1 - q))`` divided by the number of elements,
    with ``q`` clipped away from 0 and 1 for finite logs.

    Examples
    --------
    >>> import numpy as np
    >>> round(float(binary_cross_entropy(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]]))), 4)
    0.6931
    """
    eps = np.finfo(y_prob.dtype).eps
    y_prob = np.clip(y_prob, eps, 1 - eps)
    loss = np.dot(y_true.ravel(), np.log(y_prob).ravel())
    loss += np.dot((1 - y_true).ravel(), np.log1p(-y_prob).ravel())
    return -float(loss) / y_prob.size
