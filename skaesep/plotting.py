"""The report's figures: input spectrogram, reconstruction, code activations.

Fig. 4 (:func:`plot_spectrogram`), Fig. 5 (:func:`plot_reconstruction`) and
Fig. 6 (:func:`plot_code_activations`), drawn with matplotlib and
:func:`librosa.display.specshow`. Each returns the matplotlib figure.
"""

import librosa
import librosa.display
import matplotlib.pyplot as plt
import numpy as np


def _specshow(V, *, sr, hop_length, ax, title, db=True):
    data = librosa.amplitude_to_db(V, ref=np.max) if db else V
    img = librosa.display.specshow(
        data, sr=sr, hop_length=hop_length, x_axis="time", y_axis="hz", ax=ax, cmap="magma"
    )
    ax.set_title(title)
    return img


def plot_spectrogram(magnitude, *, sr, hop_length, title="Input spectrogram", ax=None):
    """Fig. 4: a magnitude spectrogram in dB.

    Parameters
    ----------
    magnitude : ndarray of shape (n_bins, n_frames)
        STFT magnitudes, e.g. ``np.abs(SpectrogramTransformer.stft(y))``.
    sr : int
        Sample rate in Hz.
    hop_length : int
        Hop between frames in samples.
    title : str, default="Input spectrogram"
        Axes title.
    ax : matplotlib Axes, default=None
        Axes to draw on; a new figure when ``None``.

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_spectrogram(np.random.default_rng(0).random((65, 40)), sr=8000,
    ...                        hop_length=32)
    >>> fig.axes[0].get_title()
    'Input spectrogram'
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    img = _specshow(magnitude, sr=sr, hop_length=hop_length, ax=ax, title=title)
    ax.figure.colorbar(img, ax=ax, format="%+2.0f dB")
    return ax.figure


def plot_reconstruction(inputs, reconstruction, *, sr, hop_length):
    """Fig. 5: the network's input beside its reconstruction.

    Parameters
    ----------
    inputs : ndarray of shape (n_bins, n_frames)
        Scaled [0, 1] spectrogram fed to the autoencoder.
    reconstruction : ndarray of shape (n_bins, n_frames)
        The autoencoder's output for it.
    sr, hop_length : int
        Sample rate and hop of the spectrogram.

    Returns
    -------
    fig : matplotlib Figure
        Panels "(a) input" and "(b) reconstruction" on one colour scale.
    """
    fig, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True, layout="constrained")
    for ax, V, title in zip(axes, (inputs, reconstruction), ("(a) input", "(b) reconstruction")):
        img = _specshow(V, sr=sr, hop_length=hop_length, ax=ax, title=title, db=False)
        img.set_clim(0.0, 1.0)
    fig.colorbar(img, ax=axes, label="scaled magnitude")
    return fig


def plot_code_activations(mean_codes, instruments):
    """Fig. 6: mean code-layer activation of each instrument.

    Parameters
    ----------
    mean_codes : ndarray of shape (n_instruments, n_units)
        Mean activation of each code unit over many inputs of each instrument.
    instruments : sequence of str
        Instrument names, one per row.

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> fig = plot_code_activations(np.eye(2, 8), ["flute", "drums"])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['flute', 'drums']
    """
    mean_codes = np.asarray(mean_codes)
    fig, ax = plt.subplots(figsize=(8, 1 + 0.5 * len(instruments)), layout="constrained")
    img = ax.imshow(mean_codes, aspect="auto", interpolation="nearest", vmin=0, vmax=1)
    ax.set_yticks(range(len(instruments)), labels=list(instruments))
    ax.set_xlabel("code-layer unit")
    ax.set_title("Mean code-layer activation per instrument")
    fig.colorbar(img, ax=ax)
    return fig
