"""One shim for the scikit-learn names skaesep uses that are private or moved.

Keeping them here means a scikit-learn release that moves them breaks one
import line, not every estimator.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions, validate_params
from sklearn.utils.validation import validate_data

__all__ = [
    "HasMethods",
    "Interval",
    "StrOptions",
    "_fit_context",
    "validate_data",
    "validate_params",
]
