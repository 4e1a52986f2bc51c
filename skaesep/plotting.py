"""The report's figures, drawn to be read.

Fig. 4 (:func:`plot_spectrogram`), Fig. 5 (:func:`plot_reconstruction`),
Fig. 6 (:func:`plot_code_activations`) and estimated against true sources
(:func:`plot_separation`), drawn with matplotlib and
:func:`librosa.display.specshow`: frequency on a log axis in Hz, time in
seconds, magnitudes in dB on a labelled colour bar. Each function returns the
matplotlib :class:`~matplotlib.figure.Figure` it drew on.
"""

from numbers import Integral, Real

import librosa
import librosa.display
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from ._sklearn_compat import Interval, validate_params
from .metrics import reconstruction_error

__all__ = [
    "plot_code_activations",
    "plot_reconstruction",
    "plot_separation",
    "plot_spectrogram",
]

_CMAP = "magma"
_RATE = {
    "sr": [Interval(Integral, 1, None, closed="left")],
    "hop_length": [Interval(Integral, 1, None, closed="left")],
}
_TOP_DB = {"top_db": [Interval(Real, 0, None, closed="neither")]}


def _check_magnitudes(x, name, ndim):
    """``x`` as a float array of ``ndim`` dimensions of finite, non-negative values."""
    x = np.asarray(x, dtype=float)
    if x.ndim != ndim or 0 in x.shape:
        shape = "(n_bins, n_frames)" if ndim == 2 else "(n_sources, n_bins, n_frames)"
        raise ValueError(
            f"{name} must be a non-empty array of shape {shape}, got shape {x.shape}."
        )
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise ValueError(f"{name} must hold finite non-negative magnitudes.")
    return x


def _to_db(magnitude, ref):
    """Magnitudes in dB relative to ``ref > 0``, floored 160 dB below it."""
    return librosa.amplitude_to_db(magnitude, ref=ref, amin=1e-8 * ref, top_db=None)


def _check_not_silent(x, name):
    if not x.any():
        raise ValueError(f"{name} is all zero (silence): there is nothing to draw in dB.")


def _specshow(data, *, sr, hop_length, ax, vmin, vmax):
    """One spectrogram panel: log-frequency axis in Hz, time in seconds."""
    img = librosa.display.specshow(
        data,
        sr=sr,
        hop_length=hop_length,
        x_axis="s",
        y_axis="log",
        ax=ax,
        cmap=_CMAP,
        vmin=vmin,
        vmax=vmax,
    )
    ax.set(xlabel="Time (s)", ylabel="Frequency (Hz)")
    return img


@validate_params(
    {
        "magnitude": ["array-like"],
        **_RATE,
        "title": [str],
        **_TOP_DB,
        "ax": "no_validation",
    },
    prefer_skip_nested_validation=True,
)
def plot_spectrogram(
    magnitude, *, sr, hop_length, title="Input spectrogram", top_db=80.0, ax=None
):
    """Fig. 4: a magnitude spectrogram in dB below its loudest bin.

    Parameters
    ----------
    magnitude : array-like of shape (n_bins, n_frames)
        STFT magnitudes, e.g. ``np.abs(SpectrogramTransformer.stft(y))``.
    sr : int
        Sample rate in Hz.
    hop_length : int
        Hop between frames in samples.
    title : str, default="Input spectrogram"
        Axes title.
    top_db : float, default=80.0
        Range of the colour scale in dB below the loudest bin; quieter bins
        are drawn as the bottom colour.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure when ``None``.

    Returns
    -------
    fig : matplotlib Figure
        The figure of ``ax``; its colour bar is labelled in dB.

    See Also
    --------
    plot_separation : Estimated against true source spectrograms.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep.plotting import plot_spectrogram
    >>> fig = plot_spectrogram(np.random.default_rng(0).random((65, 40)), sr=8000,
    ...                        hop_length=32)
    >>> ax = fig.axes[0]
    >>> ax.get_title(), ax.get_yscale(), ax.get_ylabel()
    ('Input spectrogram', 'symlog', 'Frequency (Hz)')
    """
    magnitude = _check_magnitudes(magnitude, "magnitude", 2)
    _check_not_silent(magnitude, "magnitude")
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    img = _specshow(
        _to_db(magnitude, magnitude.max()),
        sr=sr,
        hop_length=hop_length,
        ax=ax,
        vmin=-top_db,
        vmax=0.0,
    )
    ax.set_title(title)
    ax.figure.colorbar(img, ax=ax, format="%+.0f", label="Magnitude (dB re. loudest bin)")
    return ax.figure


@validate_params(
    {
        "inputs": ["array-like"],
        "reconstruction": ["array-like"],
        **_RATE,
        "unscale": [callable, None],
        **_TOP_DB,
        "fig": "no_validation",
    },
    prefer_skip_nested_validation=True,
)
def plot_reconstruction(
    inputs, reconstruction, *, sr, hop_length, unscale=None, top_db=80.0, fig=None
):
    """Fig. 5: the network's input above its reconstruction, with the error.

    The title of the reconstruction panel prints the error of this
    reconstruction (:func:`skaesep.metrics.reconstruction_error`): the
    report's loss (mean binary cross-entropy per value) and the spectral SNR in
    dB, both of the scaled [0, 1] values the network sees.

    Parameters
    ----------
    inputs : array-like of shape (n_bins, n_frames)
        Scaled [0, 1] spectrogram fed to the autoencoder.
    reconstruction : array-like of shape (n_bins, n_frames)
        The autoencoder's output for it.
    sr, hop_length : int
        Sample rate and hop of the spectrogram.
    unscale : callable, default=None
        Maps scaled values back to magnitudes, e.g. the fitted
        :meth:`SpectrogramTransformer.unscale <skaesep.SpectrogramTransformer.unscale>`.
        When given, both panels are drawn in dB below the input's loudest bin;
        otherwise as the network's values on a 0 to 1 scale.
    top_db : float, default=80.0
        Range of the dB colour scale (with ``unscale``).
    fig : matplotlib Figure, default=None
        Figure to draw the two panels into; a new one when ``None``.

    Returns
    -------
    fig : matplotlib Figure
        Panels "(a) input" and "(b) reconstruction: ..." on one colour scale.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep.plotting import plot_reconstruction
    >>> V = np.random.default_rng(0).random((65, 40))
    >>> fig = plot_reconstruction(V, 0.5 * V, sr=8000, hop_length=32)
    >>> fig.axes[1].get_title()
    '(b) reconstruction: cross-entropy 0.688, spectral SNR 6.0 dB'
    """
    inputs = _check_magnitudes(inputs, "inputs", 2)
    reconstruction = _check_magnitudes(reconstruction, "reconstruction", 2)
    error = reconstruction_error(inputs, reconstruction)
    if unscale is None:
        panels = (inputs, reconstruction)
        scale = {"vmin": 0.0, "vmax": 1.0}
        label, fmt = "Network value (log-scaled magnitude, 0 to 1)", None
    else:
        magnitudes = [np.asarray(unscale(V), dtype=float) for V in (inputs, reconstruction)]
        ref = magnitudes[0].max()
        panels = [_to_db(M, ref) for M in magnitudes]
        scale = {"vmin": -top_db, "vmax": 0.0}
        label, fmt = "Magnitude (dB re. loudest input bin)", "%+.0f"
    if fig is None:
        fig = plt.figure(figsize=(8, 6), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True, sharey=True)
    titles = (
        "(a) input",
        f"(b) reconstruction: cross-entropy {error.cross_entropy:.3f}, "
        f"spectral SNR {error.snr:.1f} dB",
    )
    for ax, data, title in zip(axes, panels, titles):
        img = _specshow(data, sr=sr, hop_length=hop_length, ax=ax, **scale)
        ax.set_title(title)
        ax.label_outer()
    fig.colorbar(img, ax=axes, format=fmt, label=label)
    return fig


def _stagger_crowded_labels(ax):
    """Move every other x tick label two lines down if neighbouring labels would overlap."""
    labels = ax.get_xticklabels()
    if len(labels) < 2:
        return
    renderer = ax.figure.canvas.get_renderer()
    left, right = ax.get_xlim()
    scale = ax.get_window_extent(renderer).width / (right - left)
    centres = (np.asarray(ax.get_xticks()) - left) * scale
    half_widths = np.array([t.get_window_extent(renderer).width / 2 for t in labels])
    if np.all(np.diff(centres) > 1.1 * (half_widths[:-1] + half_widths[1:])):
        return
    texts = [t.get_text() for t in labels]
    ax.set_xticks(
        ax.get_xticks(), labels=[("\n\n" if k % 2 else "") + t for k, t in enumerate(texts)]
    )


@validate_params(
    {
        "mean_codes": ["array-like"],
        "instruments": ["array-like"],
        "sort": ["boolean"],
        "ax": "no_validation",
    },
    prefer_skip_nested_validation=True,
)
def plot_code_activations(mean_codes, instruments, *, sort=True, ax=None):
    """Fig. 6: mean code-layer activation of each instrument.

    With ``sort=True`` the units (columns) are grouped by the instrument they
    respond to most (the argmax of their column), each group from its most to
    its least active unit; the groups are separated by white lines, named on
    the unit axis with their size (every other name two lines lower when
    neighbouring names would overlap), and the block where a group meets its own
    instrument is outlined. A code that separates the instruments shows bright
    outlined blocks on a dark background.

    Parameters
    ----------
    mean_codes : array-like of shape (n_instruments, n_units)
        Mean activation of each code unit over many inputs of each instrument.
    instruments : sequence of str
        Instrument names, one per row.
    sort : bool, default=True
        Group the units by the instrument they prefer; ``False`` keeps the
        network's unit order.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure when ``None``.

    Returns
    -------
    fig : matplotlib Figure
        The figure of ``ax``; its colour bar is labelled.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep.plotting import plot_code_activations
    >>> codes = np.array([[0.1, 0.9, 0.2], [0.8, 0.2, 0.1]])
    >>> fig = plot_code_activations(codes, ["flute", "drums"])
    >>> ax = fig.axes[0]
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['flute', 'drums']
    >>> ax.images[0].get_array()[0].tolist()  # flute's units first
    [0.9, 0.2, 0.1]
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['flute\\n2 units', 'drums\\n1 unit']
    """
    mean_codes = np.asarray(mean_codes, dtype=float)
    instruments = [str(name) for name in instruments]
    if mean_codes.ndim != 2 or 0 in mean_codes.shape:
        raise ValueError(
            "mean_codes must be a non-empty array of shape (n_instruments, n_units), "
            f"got shape {mean_codes.shape}."
        )
    if len(instruments) != mean_codes.shape[0]:
        raise ValueError(
            f"instruments has {len(instruments)} names but mean_codes has "
            f"{mean_codes.shape[0]} rows; give one name per row."
        )
    if not np.all(np.isfinite(mean_codes)):
        raise ValueError("mean_codes must be finite.")
    n_instruments, n_units = mean_codes.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 1.4 + 0.45 * n_instruments), layout="constrained")
    if sort:
        preferred = mean_codes.argmax(axis=0)
        strength = mean_codes[preferred, np.arange(n_units)]
        mean_codes = mean_codes[:, np.lexsort((-strength, preferred))]
    in_unit_range = mean_codes.min() >= 0 and mean_codes.max() <= 1
    img = ax.imshow(
        mean_codes,
        aspect="auto",
        interpolation="nearest",
        cmap="viridis",
        **({"vmin": 0.0, "vmax": 1.0} if in_unit_range else {}),
    )
    ax.set_yticks(range(n_instruments), labels=instruments)
    ax.set_ylabel("instrument")
    if sort:
        counts = np.bincount(preferred, minlength=n_instruments)
        edges = np.concatenate([[0], np.cumsum(counts)])
        for k, (start, stop) in enumerate(zip(edges[:-1], edges[1:])):
            if stop == start:
                continue
            ax.add_patch(
                Rectangle((start - 0.5, k - 0.5), stop - start, 1, fill=False, ec="red", lw=1.5)
            )
        for edge in edges[1:-1]:
            ax.axvline(edge - 0.5, color="white", lw=1.5)
        shown = counts > 0
        centres = (edges[:-1] + edges[1:]) / 2 - 0.5
        ax.set_xticks(
            centres[shown],
            labels=[
                f"{name}\n{n} unit{'s' if n != 1 else ''}"
                for name, n, keep in zip(instruments, counts, shown)
                if keep
            ],
        )
        _stagger_crowded_labels(ax)
        ax.set_xlabel("code-layer units, grouped by the instrument they respond to most")
    else:
        ax.set_xlabel("code-layer unit")
    ax.set_title("Mean code-layer activation per instrument")
    label = "Mean activation (0 = off, 1 = on)" if in_unit_range else "Mean activation"
    ax.figure.colorbar(img, ax=ax, label=label)
    return ax.figure


@validate_params(
    {
        "references": ["array-like"],
        "estimates": ["array-like"],
        **_RATE,
        "names": ["array-like", None],
        "sdr": ["array-like", None],
        **_TOP_DB,
        "fig": "no_validation",
    },
    prefer_skip_nested_validation=True,
)
def plot_separation(
    references, estimates, *, sr, hop_length, names=None, sdr=None, top_db=80.0, fig=None
):
    """True against estimated source spectrograms, one row per source.

    Each row shows a source's reference (left) and its estimate (right). All
    panels share one dB scale, relative to the loudest bin of all references,
    so that the sources' loudness can be compared as well as their shapes.

    Parameters
    ----------
    references : array-like of shape (n_sources, n_bins, n_frames)
        STFT magnitudes of the true sources, e.g.
        ``np.abs(SpectrogramTransformer.stft(y))`` of each.
    estimates : array-like of shape (n_sources, n_bins, n_frames)
        STFT magnitudes of the estimates, in the order of ``references``.
    sr : int
        Sample rate in Hz.
    hop_length : int
        Hop between frames in samples.
    names : sequence of str of length n_sources, default=None
        Source names for the titles; ``None`` numbers them.
    sdr : array-like of shape (n_sources,), default=None
        SDR of each estimate in dB (e.g. ``evaluate_separation(...).sdr``),
        printed in the estimate's title when given.
    top_db : float, default=80.0
        Range of the colour scale in dB below the loudest reference bin.
    fig : matplotlib Figure, default=None
        Figure to draw the panels into; a new one when ``None``.

    Returns
    -------
    fig : matplotlib Figure
        ``n_sources`` rows of two panels and one colour bar labelled in dB.

    See Also
    --------
    skaesep.metrics.evaluate_separation : The SDR of each estimate.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep.plotting import plot_separation
    >>> S = np.random.default_rng(0).random((2, 65, 40))
    >>> fig = plot_separation(S, 0.5 * S, sr=8000, hop_length=32,
    ...                       names=["flute", "drums"], sdr=[6.0, 5.5])
    >>> [ax.get_title() for ax in fig.axes[:4]]  # doctest: +NORMALIZE_WHITESPACE
    ['flute: reference', 'flute: estimate, SDR 6.0 dB',
     'drums: reference', 'drums: estimate, SDR 5.5 dB']
    """
    references = _check_magnitudes(references, "references", 3)
    estimates = _check_magnitudes(estimates, "estimates", 3)
    if estimates.shape != references.shape:
        raise ValueError(
            f"estimates have shape {estimates.shape} but references {references.shape}; "
            "give one estimate per reference, with the same STFT."
        )
    _check_not_silent(references, "references")
    n_sources = references.shape[0]
    names = [f"source {k + 1}" for k in range(n_sources)] if names is None else list(names)
    if len(names) != n_sources:
        raise ValueError(f"names has {len(names)} entries for {n_sources} sources.")
    if sdr is not None:
        sdr = np.asarray(sdr, dtype=float)
        if sdr.shape != (n_sources,):
            raise ValueError(
                f"sdr must have shape ({n_sources},), one per source, got {sdr.shape}."
            )
    if fig is None:
        fig = plt.figure(figsize=(10, 0.6 + 2.4 * n_sources), layout="constrained")
    axes = fig.subplots(n_sources, 2, sharex=True, sharey=True, squeeze=False)
    ref = references.max()
    for k, name in enumerate(names):
        estimate_title = f"{name}: estimate" + ("" if sdr is None else f", SDR {sdr[k]:.1f} dB")
        for ax, S, title in zip(
            axes[k], (references[k], estimates[k]), (f"{name}: reference", estimate_title)
        ):
            img = _specshow(
                _to_db(S, ref),
                sr=sr,
                hop_length=hop_length,
                ax=ax,
                vmin=-top_db,
                vmax=0.0,
            )
            ax.set_title(title)
            ax.label_outer()
    fig.colorbar(img, ax=axes, format="%+.0f", label="Magnitude (dB re. loudest reference bin)")
    return fig
