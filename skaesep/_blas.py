"""A BLAS dot product of whole arrays, for the losses and reconstruction errors.

The training and inference loops call ``np.matmul(out=)`` on blocks of their
arrays (:mod:`skaesep._parallel`), so every product goes to NumPy's OpenBLAS;
SciPy's ``?gemm`` with ``alpha``/``beta``, used before to fuse updates, loads
a second OpenBLAS with a thread pool of its own, and two spinning pools on
two cores were measured up to 20 times slower than one thread.
"""

import numpy as np


def dot(x, y):
    """``sum(x * y)`` of two arrays of one dtype, as a Python float.

    Examples
    --------
    >>> import numpy as np
    >>> dot(np.ones((2, 3), np.float32), np.full((2, 3), 2, np.float32))
    12.0
    """
    return float(np.dot(x.reshape(-1), y.reshape(-1)))
