"""Separate an array or an audio file with a fitted model, at any sample rate."""

from numbers import Integral
from pathlib import Path

import librosa
import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from .audio import check_audio, read_audio
from .persistence import load_model


def separate(audio, model, *, sr=None):
    """Separate a recording into its instruments with a fitted model.

    Parameters
    ----------
    audio : str, Path or ndarray of shape (n_samples,) or (n_channels, n_samples)
        A file any format soundfile reads, or audio with time on the last axis.
    model : MaskResynthesizer, str or Path
        A fitted separator, or a model file saved by :func:`save_model`.
    sr : int, default=None
        Sample rate of an array ``audio``; ``None`` means the model's rate.
        Ignored for files, which carry their own.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``sources`` of shape (n_sources, n_samples) or
        (n_sources, n_channels, n_samples) at the input's rate, ``names``
        (the model's ``classes_``) and ``sr``.

    Raises
    ------
    ValueError
        If ``audio`` fails :func:`skaesep.audio.check_audio` (e.g. a
        time-first ``(n_samples, n_channels)`` array, NaN or huge samples),
        or ``sr`` is not a positive integer.

    Notes
    -----
    Audio at another rate than the model's is resampled to it
    (:func:`librosa.resample`) and the sources resampled back. Multichannel
    audio is separated channel by channel, so the output keeps the input's
    channel count; at the model's rate the sources of each channel sum to it.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep import MaskResynthesizer, make_separation_pipeline
    >>> from skaesep.separation import separate
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(0, 0.1, (2, 8000)) * [[1.0], [0.2]]
    >>> pipe = make_separation_pipeline(sr=8000, bandwidth=30, n_frames=1,
    ...                                 layer_sizes=(16, 4), max_iter=2)
    >>> model = MaskResynthesizer(pipe, random_state=0).fit(X, ["loud", "soft"])
    >>> out = separate(X.T[:4000].T, model, sr=16000)  # stereo at twice the rate
    >>> out.sources.shape, out.names.tolist(), out.sr
    ((2, 2, 4000), ['loud', 'soft'], 16000)
    """
    if isinstance(model, (str, Path)):
        model = load_model(model)
    check_is_fitted(model)
    model_sr = model.pipeline_[0].sr
    if isinstance(audio, (str, Path)):
        audio, sr = read_audio(audio)
    else:
        audio = check_audio(audio)
        if sr is None:
            sr = model_sr
        elif not isinstance(sr, Integral) or isinstance(sr, bool) or sr < 1:
            raise ValueError(f"sr must be a positive integer number of Hz, got {sr!r}.")
        sr = int(sr)
    n_samples = audio.shape[-1]
    x = audio if sr == model_sr else librosa.resample(audio, orig_sr=sr, target_sr=model_sr)
    sources = model.separate(x)
    if sr != model_sr:
        sources = librosa.resample(sources, orig_sr=model_sr, target_sr=sr)
        sources = librosa.util.fix_length(sources, size=n_samples)
    return Bunch(sources=sources.astype(np.float32, copy=False), names=model.classes_, sr=sr)
