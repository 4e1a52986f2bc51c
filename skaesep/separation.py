"""Separate an array or an audio file with a fitted model, at any sample rate."""

from numbers import Integral
from pathlib import Path

import librosa
import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from .audio import check_audio, read_audio
from .persistence import load_model


def separate(audio, model, *, sr=None, sources="auto", n_sources=None):
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
    sources : "auto", list of str or None, default="auto"
        ``"auto"``: only the sources the model detects in the recording
        (:meth:`MaskResynthesizer.detect_sources`; every source for a model
        without a presence detector). A list: the instruments known to play.
        ``None``: every source of the model.
    n_sources : int, default=None
        Keep the ``n_sources`` sources likeliest to be present instead (see
        :meth:`MaskResynthesizer.separate`; e.g. for a blind model, how many
        instruments play).

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``sources`` of shape (n_sources, n_samples) or
        (n_sources, n_channels, n_samples) at the input's rate, ``names``
        (of the returned sources), ``sr``, and ``detected`` (the result of
        :meth:`MaskResynthesizer.detect_sources` in ``"auto"`` mode, else
        ``None``).

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
    >>> out = separate(X.T[:4000].T, model, sr=16000, sources=None)  # stereo, twice the rate
    >>> out.sources.shape, out.names.tolist(), out.sr
    ((2, 2, 4000), ['loud', 'soft'], 16000)
    """
    result = separate_blocks(audio, model, sr=sr, sources=sources, n_sources=n_sources)
    sources_ = np.concatenate(list(result.pop("blocks")), axis=-1)
    return Bunch(sources=sources_, **result)


def separate_blocks(audio, model, *, sr=None, sources="auto", n_sources=None, mmap_dir=None):
    """:func:`separate`, block by block: the way to stream a long file to disk.

    Memory stays bounded by a block (about 6 s of audio) whatever the
    recording's length when the file is at the model's sample rate and
    ``mmap_dir`` is given; at another rate the whole recording is resampled
    in memory first.

    Parameters
    ----------
    audio, model, sr, sources, n_sources
        As in :func:`separate`.
    mmap_dir : str or Path, default=None
        For a file ``audio``: decode it into a memory-mapped file in this
        folder (:func:`skaesep.audio.read_audio`) instead of memory.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``blocks`` (a generator of float32 arrays of shape (n_sources, m) or
        (n_sources, n_channels, m), consecutive stretches of the sources),
        ``names``, ``sr``, ``detected`` as in :func:`separate`, and
        ``n_channels`` (1 for mono audio).

    Raises
    ------
    ValueError
        As :func:`separate`, before any block is computed.
    """
    if isinstance(model, (str, Path)):
        model = load_model(model)
    check_is_fitted(model)
    model_sr = model.pipeline_[0].sr
    if isinstance(audio, (str, Path)):
        audio, sr = read_audio(audio, mmap_dir=mmap_dir)
    else:
        audio = check_audio(audio)
        if sr is None:
            sr = model_sr
        elif not isinstance(sr, Integral) or isinstance(sr, bool) or sr < 1:
            raise ValueError(f"sr must be a positive integer number of Hz, got {sr!r}.")
        sr = int(sr)
    n_samples = audio.shape[-1]
    x = audio if sr == model_sr else librosa.resample(audio, orig_sr=sr, target_sr=model_sr)
    detected = None
    if n_sources is not None and isinstance(sources, str):
        sources = None
    if isinstance(sources, str) and sources == "auto":
        if model.presence_coef_ is None:
            sources = None  # a model without a presence detector separates into all
        else:
            detected = model.detect_sources(x)
            sources = list(detected.present)  # detected once, not again by the model
    names, blocks = model.separate_blocks(x, sources, n_sources=n_sources)
    if sr != model_sr:
        estimates = np.concatenate(list(blocks), axis=-1)
        estimates = librosa.resample(estimates, orig_sr=model_sr, target_sr=sr)
        blocks = iter([librosa.util.fix_length(estimates, size=n_samples)])
    return Bunch(
        blocks=(b.astype(np.float32, copy=False) for b in blocks),
        names=names,
        sr=sr,
        detected=detected,
        n_channels=1 if audio.ndim == 1 else audio.shape[0],
    )
