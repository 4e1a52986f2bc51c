"""Reading and writing audio files: soundfile in, atomic soundfile out."""

from pathlib import Path

import numpy as np
import soundfile as sf

from ._atomic import atomic_path


def read_audio(path):
    """Read an audio file as float32 with time on the last axis.

    Parameters
    ----------
    path : str or Path
        Any format soundfile reads (WAV, FLAC, OGG, ...).

    Returns
    -------
    y : ndarray of shape (n_samples,) or (n_channels, n_samples)
        Mono files give 1-D arrays.
    sr : int
        The file's sample rate.

    Raises
    ------
    ValueError
        If the file cannot be read, is empty, or holds NaN or infinite samples.
    """
    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for unreadable files
        raise ValueError(f"cannot read audio file {path}: {exc}") from exc
    if data.shape[0] == 0:
        raise ValueError(f"audio file {path} holds no samples.")
    if not np.isfinite(data).all():
        raise ValueError(f"audio file {path} holds NaN or infinite samples.")
    y = data.T
    return (y[0] if y.shape[0] == 1 else np.ascontiguousarray(y)), int(sr)


def write_audio(path, y, sr, *, force=False):
    """Write a WAV file atomically: the file is complete or absent.

    The audio goes to a temporary file beside ``path`` that is renamed over
    it once written, so an interrupted write never leaves half a file.

    Parameters
    ----------
    path : str or Path
        Destination (``.wav``).
    y : ndarray of shape (n_samples,) or (n_channels, n_samples)
        Audio, time last.
    sr : int
        Sample rate in Hz.
    force : bool, default=False
        Replace an existing file; otherwise an existing file raises.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``force`` is False.
    """
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass force=True (--force) to overwrite it.")
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(tmp, np.asarray(y, dtype=np.float32).T, sr, subtype="FLOAT")
