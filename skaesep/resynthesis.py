"""Separation: per-source decodes turned into masks on the mixture STFT."""

from numbers import Integral, Real

import librosa
import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, column_or_1d
from threadpoolctl import threadpool_limits

from ._sklearn_compat import HasMethods, Interval, StrOptions, _fit_context, validate_data
from .audio import check_audio
from .autoencoder import StackedRBMAutoencoder
from .clustering import CodeLayerClusterer
from .discriminative import discriminative_fine_tune
from .spectrogram import WINDOW, SpectrogramTransformer, window_length


def make_separation_pipeline(
    *,
    sr=44100,
    bandwidth=75.0,
    n_frames=15,
    layer_sizes=(500, 500, 500, 500),
    n_sources=None,
    random_state=None,
    **autoencoder_params,
):
    """The report's analysis pipeline: spectrogram, autoencoder, unit clusters.

    Sets the autoencoder's ``input_size`` to one chunk and the clusterer's
    ``n_units`` to the code layer, so the three steps agree.

    Parameters
    ----------
    sr, bandwidth, n_frames
        See :class:`SpectrogramTransformer`.
    layer_sizes : tuple of int
        See :class:`StackedRBMAutoencoder`.
    n_sources : int, default=None
        See :class:`CodeLayerClusterer`.
    random_state : int, RandomState instance or None, default=None
        Seeds the autoencoder and the clusterer.
    **autoencoder_params
        Further parameters of :class:`StackedRBMAutoencoder`.

    Returns
    -------
    pipeline : Pipeline
        Steps ``"spectrogram"``, ``"autoencoder"`` and ``"clusterer"``.

    Examples
    --------
    >>> from skaesep import make_separation_pipeline
    >>> pipe = make_separation_pipeline(n_frames=1, layer_sizes=(64, 16))
    >>> pipe.get_params()["autoencoder__input_size"], pipe.get_params()["clusterer__n_units"]
    (533, 16)
    """
    if len(layer_sizes) == 0:
        raise ValueError("layer_sizes must hold at least one layer size, got ().")
    spectrogram = SpectrogramTransformer(sr, bandwidth, n_frames=n_frames)
    n_bins = window_length(sr, bandwidth) // 2 + 1
    return Pipeline(
        [
            ("spectrogram", spectrogram),
            (
                "autoencoder",
                StackedRBMAutoencoder(
                    layer_sizes,
                    input_size=n_frames * n_bins,
                    random_state=random_state,
                    **autoencoder_params,
                ),
            ),
            (
                "clusterer",
                CodeLayerClusterer(
                    n_sources, n_units=list(layer_sizes)[-1], random_state=random_state
                ),
            ),
        ]
    )


class MaskResynthesizer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Separate recordings with per-source decodes of a clustered code layer.

    The report's resynthesis (section III-D): a recording's chunks are
    encoded; for each source the code is masked by the units'
    responsibilities for that source and decoded; the decodes, mapped back to
    magnitudes, give soft masks ``M_k ** p / sum_j M_j ** p`` that sum to one
    over the sources; each mask multiplies the mixture's complex STFT (so the
    mixture's phase is kept) and is inverted by ISTFT. Chunks overlap by
    ``n_frames - chunk_hop`` frames and their estimates are averaged. Because
    the masks sum to one, the separated sources add up to the mixture.

    Parameters
    ----------
    pipeline : Pipeline, default=None
        A three-step pipeline of :class:`SpectrogramTransformer`,
        :class:`StackedRBMAutoencoder` and :class:`CodeLayerClusterer`, as
        :func:`make_separation_pipeline` builds; it is cloned and fitted by
        ``fit``. Wrap an already fitted one in
        :class:`sklearn.frozen.FrozenEstimator` to use it as it is. ``None``
        uses ``make_separation_pipeline()``. An autoencoder ``input_size`` or
        clusterer ``n_units`` left at ``None`` is set to match the steps.
    mask_power : float, default=1.0
        Exponent ``p`` of the masks: 1 gives magnitude ratio masks, 2 Wiener
        (power) masks.
    chunk_hop : int, default=None
        Frames between successive chunks when separating. ``None`` uses half
        a chunk (at least 1).
    discriminative_epochs : int, default=0
        Epochs of discriminative fine-tuning through the masks after the
        pipeline is fitted, when ``fit`` gets isolated instruments with ``y``
        (ignored without ``y`` or with a frozen pipeline). Each epoch draws
        ``discriminative_mixtures`` random mixtures of chunks of the training
        clips, and the autoencoder learns to decode each instrument's masked
        code to that instrument's spectrum; see
        :func:`skaesep.discriminative.discriminative_fine_tune`. 0 keeps the
        report's purely unsupervised network.
    discriminative_mixtures : int, default=20000
        Mixture chunks drawn per discriminative epoch.
    max_mixed_sources : int, default=3
        Instruments in one training mixture at most (1 to this many).
    discriminative_learning_rate : float, default=1e-3
        Adam step size of the discriminative fine-tuning.
    discriminative_loss : {"decode", "mask"}, default="decode"
        ``"decode"``: each source's masked decode should equal its scaled
        spectrum. ``"mask"``: in addition, the ratio masks of the sources in
        the mixture, applied to its magnitude, should give each source's
        magnitude (energy-weighted squared error, as SDR weighs it).
    random_state : int, RandomState instance or None, default=None
        Seeds every step of the pipeline whose own ``random_state`` is
        ``None``; steps with a seed of their own keep it. Also seeds the
        discriminative mixtures.

    Attributes
    ----------
    pipeline_ : Pipeline
        The fitted pipeline.
    classes_ : ndarray of shape (n_sources,)
        Name of each source (the clusterer's ``classes_``).
    n_sources_ : int
        Sources produced.
    n_features_in_ : int
        Samples per clip seen in ``fit``.
    discriminative_loss_curve_ : list of float
        Loss per discriminative epoch (empty when none ran).

    See Also
    --------
    make_separation_pipeline : Builds the pipeline this separates with.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep import MaskResynthesizer, make_separation_pipeline
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(22050) / 22050
    >>> X = np.stack([np.sin(2 * np.pi * 440 * t), rng.normal(0, 0.3, t.size)])
    >>> pipe = make_separation_pipeline(sr=22050, n_frames=1, layer_sizes=(32, 8),
    ...                                 max_iter=3)
    >>> sep = MaskResynthesizer(pipe, random_state=0).fit(X, ["tone", "noise"])
    >>> sources = sep.separate(X[0] + X[1])
    >>> sources.shape
    (2, 22050)
    >>> bool(np.allclose(sources.sum(axis=0), X[0] + X[1], atol=1e-5))
    True
    """

    _parameter_constraints: dict = {
        "pipeline": [HasMethods(["fit", "transform"]), None],
        "mask_power": [Interval(Real, 0, None, closed="neither")],
        "chunk_hop": [Interval(Integral, 1, None, closed="left"), None],
        "discriminative_epochs": [Interval(Integral, 0, None, closed="left")],
        "discriminative_mixtures": [Interval(Integral, 1, None, closed="left")],
        "max_mixed_sources": [Interval(Integral, 1, None, closed="left")],
        "discriminative_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "discriminative_loss": [StrOptions({"decode", "mask"})],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        pipeline=None,
        *,
        mask_power=1.0,
        chunk_hop=None,
        discriminative_epochs=0,
        discriminative_mixtures=20000,
        max_mixed_sources=3,
        discriminative_learning_rate=1e-3,
        discriminative_loss="decode",
        random_state=None,
    ):
        self.pipeline = pipeline
        self.mask_power = mask_power
        self.chunk_hop = chunk_hop
        self.discriminative_epochs = discriminative_epochs
        self.discriminative_mixtures = discriminative_mixtures
        self.max_mixed_sources = max_mixed_sources
        self.discriminative_learning_rate = discriminative_learning_rate
        self.discriminative_loss = discriminative_loss
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the spectrogram, the autoencoder and the unit clusters on clips.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Training waveforms: mixtures for blind separation, or isolated
            instruments with ``y``.
        y : array-like of shape (n_clips,), default=None
            Instrument of each clip, for identified sources.

        Returns
        -------
        self : object
            Fitted separator.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        self.discriminative_loss_curve_ = []
        if isinstance(self.pipeline, FrozenEstimator):
            self.pipeline_ = self.pipeline.estimator
            check_is_fitted(self.pipeline_)
        else:
            self.pipeline_ = self._fit_pipeline(X, y)
            if y is not None and self.discriminative_epochs > 0:
                self._fit_discriminative(X, y)
        spectrogram, _, clusterer = self._steps()
        self.classes_ = clusterer.classes_
        self.n_sources_ = len(self.classes_)
        self._n_features_out = self.n_sources_ * X.shape[1]
        return self

    def _fit_pipeline(self, X, y):
        pipeline = make_separation_pipeline() if self.pipeline is None else clone(self.pipeline)
        if not isinstance(pipeline, Pipeline) or len(pipeline) != 3:
            raise ValueError(
                "pipeline must be a 3-step Pipeline (spectrogram, autoencoder, clusterer), "
                f"got {pipeline!r}."
            )
        spectrogram, autoencoder, clusterer = (step for _, step in pipeline.steps)
        if self.random_state is not None:
            rng = check_random_state(self.random_state)
            for step in (autoencoder, clusterer):
                seed = rng.randint(np.iinfo(np.int32).max)
                if step.get_params().get("random_state", 0) is None:
                    step.set_params(random_state=seed)
        Xt = spectrogram.fit_transform(X)
        if autoencoder.get_params().get("input_size", 0) is None:
            autoencoder.set_params(input_size=spectrogram.chunk_size_)
        codes = autoencoder.fit_transform(Xt)
        if clusterer.get_params().get("n_units", 0) is None:
            clusterer.set_params(n_units=autoencoder.encoder_weights_[-1].shape[1])
        clusterer.fit(codes, y)
        return pipeline

    def _fit_discriminative(self, X, y):
        spectrogram, autoencoder, clusterer = self._steps()
        if autoencoder.input_size_ != spectrogram.chunk_size_:
            raise ValueError(
                "discriminative_epochs needs the autoencoder's input_size to be one "
                f"spectrogram chunk ({spectrogram.chunk_size_}), got {autoencoder.input_size_}."
            )
        labels = np.searchsorted(clusterer.classes_, column_or_1d(y))
        rng = check_random_state(self.random_state)
        # The autoencoder's own thread policy: small mini-batch products.
        with threadpool_limits(limits=autoencoder.n_threads or 1, user_api="blas"):
            self.discriminative_loss_curve_ = discriminative_fine_tune(
                autoencoder,
                spectrogram,
                clusterer.responsibilities_,
                [spectrogram.stft(clip) for clip in X],
                labels,
                n_epochs=self.discriminative_epochs,
                n_mixtures=self.discriminative_mixtures,
                max_sources=self.max_mixed_sources,
                learning_rate=self.discriminative_learning_rate,
                batch_size=autoencoder.batch_size,
                loss=self.discriminative_loss,
                random_state=rng,
                verbose=autoencoder.verbose,
            )

    def _steps(self):
        return tuple(step for _, step in self.pipeline_.steps)

    def transform(self, X):
        """Separate clips of the length seen in ``fit``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Mixtures.

        Returns
        -------
        sources : ndarray of shape (n_clips, n_sources * n_samples)
            Each row holds the clip's sources one after another; see
            :meth:`separate` for shape ``(n_clips, n_sources_, n_samples)``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return np.stack([self.separate(clip) for clip in X]).reshape(X.shape[0], -1)

    def separate(self, audio, sources=None):
        """Separate a recording of any length.

        Parameters
        ----------
        audio : array-like of shape (n_samples,) or (n_channels, n_samples)
            Mixture at the spectrogram's sample rate, time last; channels
            are separated one by one.
        sources : array-like of str or int, default=None
            Names (entries of ``classes_``) of the sources known to be in
            the mixture; the masks are shared among these alone and only
            their estimates are returned, in the order given. ``None``
            separates into every source.

        Returns
        -------
        sources : ndarray of shape (n_sources, n_samples) or (n_sources, n_channels, n_samples)
            Separated sources, in the order of ``classes_`` (or of
            ``sources``); they sum to ``audio``.

        Raises
        ------
        ValueError
            If ``audio`` fails :func:`skaesep.audio.check_audio` (e.g. a
            time-first array), or ``sources`` names no source of ``classes_``.
        """
        check_is_fitted(self)
        audio = check_audio(audio)
        keep = None
        if sources is not None:
            names = list(self.classes_)
            unknown = [s for s in sources if s not in names]
            if unknown or len(sources) == 0:
                raise ValueError(
                    f"sources must name entries of classes_ {names}, got {list(sources)}."
                )
            keep = np.array([names.index(s) for s in sources])
        if audio.ndim == 1:
            return self._separate_one(audio, keep)
        return np.stack([self._separate_one(channel, keep) for channel in audio], axis=1)

    def _separate_one(self, y, keep=None):
        """Sources of one recording, computed block by block of STFT frames.

        Equals masking the whole STFT at once and inverting it with
        ``spectrogram.istft`` (up to float rounding), but only one block of
        ``_BLOCK_FRAMES`` frames (and the chunks that cover it) is in memory at
        a time: the per-block inverse FFTs are overlap-added into the output
        and divided by the window envelope at the end, as ``librosa.istft``
        does.
        """
        spectrogram, _, _ = self._steps()
        n = y.shape[-1]
        n_fft, hop = spectrogram.win_length_, spectrogram.hop_length_
        pad = n_fft // 2
        n_t = 1 + max(n, n_fft) // hop  # frames of spectrogram.stft(y)
        # Frames that librosa.istft(..., length=n) overlap-adds.
        n_ola = min(n_t, int(np.ceil((n + 2 * pad) / hop)))
        n_pieces = -(-n_fft // hop)
        length = max((n_ola + n_pieces + 1) * hop, n + 2 * pad)
        window = librosa.filters.get_window(WINDOW, n_fft, fftbins=True).astype(y.dtype)
        n_out = self.n_sources_ if keep is None else len(keep)
        out = np.zeros((n_out, length), dtype=y.dtype)
        for f0 in range(0, n_ola, _BLOCK_FRAMES):
            f1 = min(f0 + _BLOCK_FRAMES, n_ola)
            S, s0 = self._stft_frames(y, f0, f1, n_t)
            estimates = self._block_estimates(S, s0, f0, f1, n_t)
            if keep is not None:
                estimates = estimates[keep]
            masks = self._masks(estimates)
            frames = np.fft.irfft(masks * S[:, f0 - s0 : f1 - s0], n=n_fft, axis=-2)
            frames *= window[:, None]
            for k in range(n_out):
                _overlap_add(out[k, f0 * hop :], frames[k], hop)
        envelope = np.zeros(length, dtype=y.dtype)
        _overlap_add(envelope, np.broadcast_to((window**2)[:, None], (n_fft, n_ola)), hop)
        # In place: boolean indexing would copy the whole output twice.
        nonzero = envelope > np.finfo(envelope.dtype).tiny
        np.divide(out, envelope, out=out, where=nonzero)
        return out[:, pad : pad + n]

    def _stft_frames(self, y, f0, f1, n_t):
        """STFT frames covering output frames [f0, f1) and their chunks' inputs.

        Returns the complex frames ``S[:, s0:s1]`` of ``spectrogram.stft(y)``
        and ``s0``.
        """
        spectrogram, _, _ = self._steps()
        n_frames, hop_c = spectrogram.n_frames, self._chunk_hop()
        c_lo, c_hi = self._chunk_range(f0, f1, n_t)
        s0 = min(f0, c_lo * hop_c)
        s1 = min(max(f1, c_hi * hop_c + n_frames), n_t)
        n_fft, hop = spectrogram.win_length_, spectrogram.hop_length_
        # Samples of the centred (zero-padded by n_fft // 2) signal these frames see.
        start = s0 * hop - n_fft // 2
        segment = np.zeros((s1 - s0 - 1) * hop + n_fft, dtype=y.dtype)
        a, b = max(start, 0), min(start + segment.size, y.shape[-1])
        if b > a:
            segment[a - start : b - start] = y[a:b]
        S = librosa.stft(
            segment,
            n_fft=n_fft,
            hop_length=hop,
            win_length=n_fft,
            window=WINDOW,
            center=False,
        )
        return S, s0

    def _chunk_hop(self):
        spectrogram, _, _ = self._steps()
        return self.chunk_hop or max(1, spectrogram.n_frames // 2)

    def _chunk_range(self, f0, f1, n_t):
        """First and last chunk (inclusive) that hold a frame of [f0, f1)."""
        spectrogram, _, _ = self._steps()
        n_frames, hop_c = spectrogram.n_frames, self._chunk_hop()
        n_chunks = 1 + max(0, -(-(n_t - n_frames) // hop_c))
        c_lo = min(max(0, -(-(f0 - n_frames + 1) // hop_c)), n_chunks - 1)
        c_hi = min(n_chunks - 1, (f1 - 1) // hop_c)
        return c_lo, max(c_lo, c_hi)

    def _block_estimates(self, S, s0, f0, f1, n_t):
        """Magnitude estimate of each source on frames [f0, f1) (before unscaling).

        Encodes the chunks that cover the frames in one product, decodes every
        source's masked codes in one product, and averages the chunks'
        overlapping frames.
        """
        spectrogram, autoencoder, clusterer = self._steps()
        n_frames, hop_c = spectrogram.n_frames, self._chunk_hop()
        c_lo, c_hi = self._chunk_range(f0, f1, n_t)
        V = spectrogram.scale(np.abs(S).astype(S.real.dtype, copy=False))
        n_bins = V.shape[0]
        starts = np.arange(c_lo, c_hi + 1) * hop_c - s0
        span = starts[-1] + n_frames
        padded = np.zeros((span, n_bins), dtype=V.dtype)
        valid = min(V.shape[1], span)
        padded[:valid] = V[:, :valid].T
        frames = starts[:, None] + np.arange(n_frames)
        # (chunks, frames, bins) flattened: the chunk layout of SpectrogramTransformer.
        chunks = padded[frames].reshape(len(starts), -1)
        codes = autoencoder.encode(chunks)
        r = clusterer.responsibilities_.astype(V.dtype).T  # (n_sources, n_units)
        masked = (codes[None, :, :] * r[:, None, :]).reshape(-1, codes.shape[1])
        decoded = autoencoder.decode(masked).reshape(len(r), len(starts), n_frames, n_bins)
        acc = np.zeros((len(r), span, n_bins), dtype=V.dtype)
        weight = np.zeros(span, dtype=V.dtype)
        # Overlap-add: within one frame offset the chunks' frames are distinct.
        for j in range(n_frames):
            acc[:, starts + j] += decoded[:, :, j]
            weight[starts + j] += 1.0
        a, b = f0 - s0, f1 - s0
        with np.errstate(invalid="ignore", divide="ignore"):
            est = acc[:, a:b] / weight[a:b, None]
        return est.transpose(0, 2, 1)

    def _masks(self, estimates):
        """Soft masks ``M_k ** p / sum_j M_j ** p`` from scaled estimates."""
        spectrogram, _, _ = self._steps()
        estimates = spectrogram.unscale(estimates)
        estimates **= self.mask_power
        total = estimates.sum(axis=0)
        return np.divide(
            estimates,
            total,
            out=np.full_like(estimates, 1.0 / len(estimates)),
            where=total > 0,
        )


# STFT frames separated at a time (about 25 s at 44.1 kHz): bounds memory and
# keeps the encode/decode products a few hundred chunks tall.
_BLOCK_FRAMES = 4096


def _overlap_add(y, frames, hop):
    """``y[t * hop + i] += frames[i, t]`` for frames of shape (n_fft, n_frames)."""
    n_fft, n = frames.shape
    for q in range(0, n_fft, hop):
        width = min(hop, n_fft - q)
        first = q // hop
        rows = y[first * hop : (first + n) * hop].reshape(n, hop)
        rows[:, :width] += frames[q : q + width].T
