"""Waveforms to network inputs: STFT magnitudes in chunks, scaled into [0, 1]."""

from numbers import Integral, Real

import librosa
import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._sklearn_compat import Interval, StrOptions, _fit_context, validate_data

WINDOW = "hamming"


def window_length(sr, bandwidth):
    """Analysis window length in samples, ``m = 1.81 * sr / bandwidth`` (report IV-B).

    Parameters
    ----------
    sr : float
        Sample rate in Hz.
    bandwidth : float
        Bandwidth ``b`` in Hz of the analysis window.

    Returns
    -------
    m : int
        Window length, rounded to the nearest sample.

    References
    ----------
    .. [1] "An Autoencoder as a Naive Approach to Audio Source Separation",
       the report this package implements, section III-A (the window length rule).

    Examples
    --------
    >>> window_length(44100, 75)
    1064
    >>> window_length(44100, 75) // 2 + 1  # frequency bins, as in the report
    533
    """
    return int(round(1.81 * sr / bandwidth))


class SpectrogramTransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Turn waveforms into chunks of STFT magnitude frames scaled into [0, 1].

    The report's input representation (sections III-A, III-B and IV-B): the
    magnitude of a Hamming-windowed STFT whose window length follows the
    bandwidth, ``m = 1.81 * sr / bandwidth`` (1064 samples and 533 bins at
    44.1 kHz and 75 Hz), cut into chunks of ``n_frames`` consecutive frames,
    each chunk one input of the autoencoder. Magnitudes are mapped into
    [0, 1] for Bernoulli units by a fitted, invertible scaling.

    Parameters
    ----------
    sr : int, default=44100
        Sample rate of the waveforms in Hz.
    bandwidth : float, default=75.0
        Bandwidth ``b`` in Hz that sets the window length.
    hop_length : int, default=None
        Samples between successive frames, fewer than the window length.
        ``None`` uses a quarter of the window length.
    n_frames : int, default=15
        STFT frames in one chunk, i.e. in one network input.
    compression : {"log", "linear"}, default="log"
        ``"log"`` maps a magnitude ``M`` to
        ``log1p(M / floor_) / log1p(ref_ / floor_)``, with
        ``floor_ = ref_ * 10 ** (-dynamic_range / 20)``; ``"linear"`` maps it
        to ``M / ref_``. Values are clipped to [0, 1].
    dynamic_range : float, default=60.0
        Range in dB below ``ref_`` that the log compression resolves.

    Attributes
    ----------
    win_length_ : int
        Window length ``m`` in samples; also the FFT size.
    hop_length_ : int
        Hop between frames in samples.
    n_bins_ : int
        Frequency bins per frame, ``win_length_ // 2 + 1``.
    chunk_size_ : int
        Features of one chunk, ``n_frames * n_bins_``: one network input.
    n_chunks_ : int
        Chunks per clip of ``n_features_in_`` samples.
    ref_ : float
        Largest STFT magnitude seen in ``fit``; it maps to 1.
    n_features_in_ : int
        Samples per clip seen in ``fit``.

    See Also
    --------
    MaskResynthesizer : Separates recordings of any length with these chunks.

    Notes
    -----
    Rows of ``transform`` hold a clip's chunks one after another, each chunk
    frame after frame with the ``n_bins_`` bins of a frame contiguous. The last
    chunk is padded with silent frames.

    References
    ----------
    .. [1] "An Autoencoder as a Naive Approach to Audio Source Separation",
       the report this package implements, section III-A and III-B (STFT, chunks and scaling).

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep import SpectrogramTransformer
    >>> X = np.random.default_rng(0).normal(size=(2, 44100)).astype(np.float32)
    >>> spec = SpectrogramTransformer().fit(X)
    >>> spec.win_length_, spec.n_bins_, spec.chunk_size_
    (1064, 533, 7995)
    >>> spec.transform(X).shape == (2, spec.n_chunks_ * 7995)
    True
    """

    _parameter_constraints: dict = {
        "sr": [Interval(Integral, 1, None, closed="left")],
        "bandwidth": [Interval(Real, 0, None, closed="neither")],
        "hop_length": [Interval(Integral, 1, None, closed="left"), None],
        "n_frames": [Interval(Integral, 1, None, closed="left")],
        "compression": [StrOptions({"log", "linear"})],
        "dynamic_range": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        sr=44100,
        bandwidth=75.0,
        *,
        hop_length=None,
        n_frames=15,
        compression="log",
        dynamic_range=60.0,
    ):
        self.sr = sr
        self.bandwidth = bandwidth
        self.hop_length = hop_length
        self.n_frames = n_frames
        self.compression = compression
        self.dynamic_range = dynamic_range

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the window geometry and the [0, 1] scaling.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        self.win_length_ = window_length(self.sr, self.bandwidth)
        if self.win_length_ < 2:
            raise ValueError(
                f"bandwidth={self.bandwidth} at sr={self.sr} gives a window of "
                f"{self.win_length_} sample(s); lower the bandwidth."
            )
        self.hop_length_ = self.hop_length or max(1, self.win_length_ // 4)
        if self.hop_length_ >= self.win_length_:
            raise ValueError(
                f"hop_length={self.hop_length} is not below the window length "
                f"({self.win_length_} samples at sr={self.sr}, bandwidth={self.bandwidth}): "
                "frames that do not overlap cannot be inverted and the separated sources "
                "would not sum to the mixture; use a hop below it "
                f"(the default is {self.win_length_ // 4})."
            )
        self.n_bins_ = self.win_length_ // 2 + 1
        self.chunk_size_ = self.n_frames * self.n_bins_
        magnitude = np.abs(self.stft(X))
        self.ref_ = float(magnitude.max())
        if not self.ref_ > 0:
            raise ValueError("SpectrogramTransformer.fit got silent audio: every sample is 0.")
        self.n_chunks_ = -(-magnitude.shape[-1] // self.n_frames)
        self._n_features_out = self.n_chunks_ * self.chunk_size_
        return self

    def transform(self, X):
        """Chunked, scaled STFT magnitudes of each clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Waveforms of the length seen in ``fit``.

        Returns
        -------
        Xt : ndarray of shape ``(n_clips, n_chunks_ * chunk_size_)``
            One row per clip; see Notes of the class for the layout.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        V = self.scale(np.abs(self.stft(X)))
        return self.to_chunks(V).reshape(X.shape[0], -1)

    def inverse_transform(self, X):
        """Waveforms from chunked, scaled magnitudes by Griffin-Lim.

        No phase survives ``transform``, so the phase is estimated with
        :func:`librosa.griffinlim` (32 iterations). To resynthesise with the
        mixture's own phase, use :class:`MaskResynthesizer`.

        Parameters
        ----------
        X : array-like of shape ``(n_clips, n_chunks_ * chunk_size_)``
            Output of ``transform``, or an estimate in the same layout.

        Returns
        -------
        waveforms : ndarray of shape ``(n_clips, n_features_in_)``
            Resynthesised waveforms.
        """
        check_is_fitted(self)
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self._n_features_out:
            raise ValueError(
                f"inverse_transform expects shape (n_clips, {self._n_features_out}), "
                f"got {X.shape}."
            )
        n_t = self.n_stft_frames(self.n_features_in_)
        M = self.unscale(self.from_chunks(X.reshape(-1, self.chunk_size_), n_t, X.shape[0]))
        # Griffin-Lim re-analyses its estimate: keep that at least a window long.
        waveforms = librosa.griffinlim(
            M,
            n_iter=32,
            hop_length=self.hop_length_,
            win_length=self.win_length_,
            n_fft=self.win_length_,
            window=WINDOW,
            length=max(self.n_features_in_, self.win_length_),
            random_state=0,
        )
        return waveforms[:, : self.n_features_in_]

    def stft(self, y):
        """Complex STFT with the fitted window (``librosa.stft``, centred frames).

        Parameters
        ----------
        y : ndarray of shape (..., n_samples)
            Waveforms; signals shorter than one window are zero-padded.

        Returns
        -------
        S : ndarray of shape ``(..., n_bins_, n_stft_frames)``
            Complex spectrogram.
        """
        y = np.asarray(y)
        if y.shape[-1] < self.win_length_:
            pad = [(0, 0)] * (y.ndim - 1) + [(0, self.win_length_ - y.shape[-1])]
            y = np.pad(y, pad)
        return librosa.stft(
            y,
            n_fft=self.win_length_,
            hop_length=self.hop_length_,
            win_length=self.win_length_,
            window=WINDOW,
            center=True,
            pad_mode="constant",
        )

    def istft(self, S, length):
        """Inverse of :meth:`stft` (``librosa.istft``), trimmed to ``length`` samples."""
        return librosa.istft(
            S,
            hop_length=self.hop_length_,
            win_length=self.win_length_,
            n_fft=self.win_length_,
            window=WINDOW,
            center=True,
            length=length,
        )

    def stft_frames(self, audio, start, stop):
        """Frames ``[start, stop)`` of :meth:`stft` of ``audio``, from those samples alone.

        Equal to ``self.stft(audio)[..., start:stop]`` (up to float rounding)
        but reads and transforms only the samples those frames see, so a long
        recording can be analysed block by block.

        Parameters
        ----------
        audio : ndarray of shape (..., n_samples)
            Waveforms, time on the last axis (a memory-mapped file works:
            only the samples needed are read).
        start, stop : int
            Frame range, ``0 <= start < stop <= n_stft_frames(n_samples)``.

        Returns
        -------
        S : ndarray of shape ``(..., n_bins_, stop - start)``
        """
        n_fft, hop = self.win_length_, self.hop_length_
        # Samples of the centred (zero-padded by n_fft // 2) signal these frames see.
        first = start * hop - n_fft // 2
        length = (stop - start - 1) * hop + n_fft
        segment = np.zeros((*audio.shape[:-1], length), dtype=audio.dtype)
        a, b = max(first, 0), min(first + length, audio.shape[-1])
        if b > a:
            segment[..., a - first : b - first] = audio[..., a:b]
        return librosa.stft(
            segment, n_fft=n_fft, hop_length=hop, win_length=n_fft, window=WINDOW, center=False
        )

    def n_stft_frames(self, n_samples):
        """Frames of :meth:`stft` for a waveform of ``n_samples`` samples."""
        return 1 + max(n_samples, self.win_length_) // self.hop_length_

    def _log_constants(self):
        """``L`` and ``c`` of the log compression ``M = c * expm1(L * V)``."""
        gain = 10.0 ** (self.dynamic_range / 20.0)
        return np.log1p(gain), self.ref_ / gain

    def scale(self, magnitude):
        """Map non-negative magnitudes into [0, 1] with the fitted scaling."""
        if self.compression == "log":
            L, c = self._log_constants()
            V = np.log1p(magnitude / c) / L
        else:
            V = magnitude / self.ref_
        return np.clip(V, 0.0, 1.0, out=V).astype(magnitude.dtype, copy=False)

    def unscale(self, V):
        """Inverse of :meth:`scale` on [0, 1] values."""
        if self.compression == "log":
            L, c = self._log_constants()
            M = np.expm1(V * L) * c
        else:
            M = V * self.ref_
        return M.astype(np.asarray(V).dtype, copy=False)

    def unscale_gradient(self, V, M=None):
        """Derivative of :meth:`unscale` at ``V``, elementwise.

        Parameters
        ----------
        V : ndarray
            Scaled values.
        M : ndarray, default=None
            ``unscale(V)``, if already computed.

        Returns
        -------
        dM_dV : ndarray or float
            ``L * (M + c)`` for the log compression, ``ref_`` for the linear one.
        """
        if self.compression == "log":
            L, c = self._log_constants()
            M = self.unscale(V) if M is None else M
            return L * (M + c)
        return self.ref_

    def to_chunks(self, V):
        """Cut frames into non-overlapping chunks of ``n_frames``.

        Parameters
        ----------
        V : ndarray of shape ``(..., n_bins_, n_stft_frames)``
            Spectrograms; the last chunk is padded with zeros.

        Returns
        -------
        chunks : ndarray of shape ``(n_spectrograms * n_chunks, chunk_size_)``
        """
        n_t = V.shape[-1]
        n_chunks = -(-n_t // self.n_frames)
        V = V.reshape(-1, self.n_bins_, n_t)
        pad = n_chunks * self.n_frames - n_t
        V = np.pad(V, ((0, 0), (0, 0), (0, pad)))
        # (n, bins, chunks, frames) -> (n, chunks, frames, bins)
        V = V.reshape(V.shape[0], self.n_bins_, n_chunks, self.n_frames).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(V).reshape(-1, self.chunk_size_)

    def from_chunks(self, chunks, n_stft_frames, n_spectrograms=1):
        """Inverse of :meth:`to_chunks`, dropping the padded frames.

        Returns
        -------
        V : ndarray of shape ``(n_spectrograms, n_bins_, n_stft_frames)``
        """
        V = chunks.reshape(n_spectrograms, -1, self.n_frames, self.n_bins_)
        V = V.transpose(0, 3, 1, 2).reshape(n_spectrograms, self.n_bins_, -1)
        return V[..., :n_stft_frames]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
