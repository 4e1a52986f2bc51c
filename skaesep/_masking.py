"""Soft masks shared by the separator, the oracle and the mask loss."""

import numpy as np


def ratio_masks(estimates, power=1.0):
    """Soft masks ``E_k ** p / sum_j E_j ** p`` over the first axis.

    The estimates are divided by their peak over the sources before the
    power, as :func:`librosa.util.softmask` does, so a large ``power`` neither
    overflows nor underflows to 0/0. Where every estimate is 0 each mask is
    ``1 / n_sources``: the masks always sum to one, so masked sources add up
    to the mixture.

    Parameters
    ----------
    estimates : ndarray of shape (n_sources, ...)
        Non-negative magnitude estimates of each source.
    power : float, default=1.0
        Exponent ``p``: 1 gives magnitude ratio masks, 2 Wiener (power) masks.

    Returns
    -------
    masks : ndarray of the shape and dtype of ``estimates``

    Examples
    --------
    >>> import numpy as np
    >>> ratio_masks(np.array([[3.0, 0.0], [1.0, 0.0]]))
    array([[0.75, 0.5 ],
           [0.25, 0.5 ]])
    >>> masks = ratio_masks(np.array([[1e30], [1e29]], dtype=np.float32), power=20)
    >>> bool(np.isfinite(masks).all()), float(masks[0, 0])
    (True, 1.0)
    """
    estimates = np.asarray(estimates)
    peak = estimates.max(axis=0, keepdims=True)
    silent = peak <= 0
    masks = np.divide(estimates, peak, out=np.zeros_like(estimates), where=~silent)
    if power != 1:
        masks **= power
    masks += silent  # every source equal where all are silent
    masks /= masks.sum(axis=0, keepdims=True)
    return masks
