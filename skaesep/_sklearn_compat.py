"""One shim for the scikit-learn names skaesep uses that are private or moved.

Keeping them here means a scikit-learn release that moves them breaks one
import line, not every estimator.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions, validate_params
from sklearn.utils.validation import validate_data as _validate_data

__all__ = [
    "HasMethods",
    "Interval",
    "StrOptions",
    "_fit_context",
    "validate_data",
    "validate_params",
]


def validate_data(_estimator, /, *args, **kwargs):
    """:func:`sklearn.utils.validation.validate_data`, with our words for ragged input.

    NumPy's message for rows of different lengths ("inhomogeneous shape")
    becomes one that names the estimator and the fix.
    """
    try:
        return _validate_data(_estimator, *args, **kwargs)
    except ValueError as exc:
        if "inhomogeneous" not in str(exc):
            raise
        raise ValueError(
            f"{type(_estimator).__name__} expects a 2-D array of equal-length rows, got a "
            "ragged sequence (rows of different lengths); cut or pad audio clips to one "
            "length first, e.g. with librosa.util.fix_length."
        ) from exc
