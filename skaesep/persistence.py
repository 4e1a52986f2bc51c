"""Saving and loading fitted separators as model files."""

from pathlib import Path

import joblib
from sklearn.utils.validation import check_is_fitted

from . import __version__
from ._atomic import atomic_path
from .resynthesis import MaskResynthesizer

_FORMAT = "skaesep-model"


def save_model(model, path):
    """Save a fitted :class:`MaskResynthesizer` to ``path`` atomically.

    The file is a joblib pickle of the estimator with a small header naming
    the format and the skaesep version; it is written to a temporary file and
    renamed, so a failed save leaves no half-written model.

    Parameters
    ----------
    model : MaskResynthesizer
        A fitted separator.
    path : str or Path
        Destination file.
    """
    if not isinstance(model, MaskResynthesizer):
        raise TypeError(f"save_model expects a MaskResynthesizer, got {type(model).__name__}.")
    check_is_fitted(model)
    with atomic_path(path) as tmp:
        joblib.dump({"format": _FORMAT, "version": __version__, "model": model}, tmp)


def load_model(path):
    """Load a separator saved by :func:`save_model`.

    Model files are pickles: load only files you trust.

    Parameters
    ----------
    path : str or Path
        A model file.

    Returns
    -------
    model : MaskResynthesizer
        The fitted separator.

    Raises
    ------
    ValueError
        If the file is missing, corrupt, or not a skaesep model.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model file {path} does not exist.")
    try:
        payload = joblib.load(path)
    except Exception as exc:  # pickle and joblib raise many types on corrupt files
        raise ValueError(f"model file {path} is corrupt or not a joblib file: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(
            f"{path} is not a skaesep model file (it holds a {type(payload).__name__}); "
            "make one with `skaesep train` or skaesep.save_model."
        )
    model = payload["model"]
    if not isinstance(model, MaskResynthesizer):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a MaskResynthesizer.")
    return model
