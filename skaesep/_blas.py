"""In-place BLAS products for the training and inference loops.

NumPy's ``matmul`` has no ``alpha``/``beta``, so an update such as
``V = momentum * V + lr * A.T @ B`` costs a temporary and extra passes over a
weight-sized array. :func:`gemm` sends such products to BLAS ``?gemm`` from
:mod:`scipy.linalg.blas`, on the Fortran-ordered transposes of C-ordered
arrays (so nothing is copied), writing into ``C``. Plain products
(``alpha=1, beta=0``) go to ``np.matmul(out=C)``, whose OpenBLAS measured a
few per cent faster at the network's shapes.
"""

import numpy as np
from scipy.linalg import blas as _scipy_blas

_FUNCS = {}


def _func(name, dtype):
    key = (name, np.dtype(dtype).char)
    f = _FUNCS.get(key)
    if f is None:
        f = _FUNCS[key] = _scipy_blas.get_blas_funcs(name, dtype=np.dtype(dtype))
    return f


def _fortran_operand(X):
    """An F-ordered array ``F`` and flag ``t`` with ``op(F) == X.T``."""
    if X.flags.c_contiguous:
        return X.T, 0
    if X.flags.f_contiguous:
        return X, 1
    return np.ascontiguousarray(X).T, 0


def gemm(A, B, C, alpha=1.0, beta=0.0):
    """``C = alpha * A @ B + beta * C`` in place; returns ``C``.

    ``C`` must be C-contiguous; ``A`` and ``B`` may be C- or F-contiguous
    (e.g. the transpose of a C-ordered matrix) and of ``C``'s dtype.

    Examples
    --------
    >>> import numpy as np
    >>> A, B = np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)
    >>> C = np.ones((2, 4), np.float32)
    >>> gemm(A, B, C, alpha=2.0, beta=1.0)[0, 0]
    np.float32(7.0)
    """
    if A.shape[0] == 0 or B.shape[1] == 0:
        return C
    if alpha == 1.0 and beta == 0.0 and C.flags.c_contiguous:
        return np.matmul(A, B, out=C)
    if A.shape[1] == 0:
        C *= beta
        return C
    b, trans_b = _fortran_operand(B)
    a, trans_a = _fortran_operand(A)
    # Row-major C = A @ B is column-major C.T = B.T @ A.T.
    out = _func("gemm", C.dtype)(
        alpha, b, a, beta=beta, c=C.T, trans_a=trans_b, trans_b=trans_a, overwrite_c=1
    )
    if not np.shares_memory(out, C):  # pragma: no cover - only for odd layouts
        C[...] = out.T
    return C


def dot(x, y):
    """``sum(x * y)`` of two arrays of one dtype, as a Python float."""
    return float(np.dot(x.reshape(-1), y.reshape(-1)))


def axpy(x, y, a):
    """``y += a * x`` in place for contiguous arrays of one dtype; returns ``y``."""
    _func("axpy", y.dtype)(x.reshape(-1), y.reshape(-1), a=a)
    return y
