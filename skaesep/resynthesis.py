"""Separation: per-source decodes turned into masks on the mixture STFT."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._sklearn_compat import HasMethods, Interval, _fit_context, validate_data
from .autoencoder import StackedRBMAutoencoder
from .clustering import CodeLayerClusterer
from .spectrogram import SpectrogramTransformer


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
    spectrogram = SpectrogramTransformer(sr, bandwidth, n_frames=n_frames)
    n_bins = round(1.81 * sr / bandwidth) // 2 + 1
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
    random_state : int, RandomState instance or None, default=None
        Seeds every step of the pipeline whose own ``random_state`` is
        ``None``; steps with a seed of their own keep it.

    Attributes
    ----------
    pipeline_ : Pipeline
        The fitted pipeline.
    classes_ : ndarray of shape (n_sources_,)
        Name of each source (the clusterer's ``classes_``).
    n_sources_ : int
        Sources produced.
    n_features_in_ : int
        Samples per clip seen in ``fit``.

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
        "random_state": ["random_state"],
    }

    def __init__(self, pipeline=None, *, mask_power=1.0, chunk_hop=None, random_state=None):
        self.pipeline = pipeline
        self.mask_power = mask_power
        self.chunk_hop = chunk_hop
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
        if isinstance(self.pipeline, FrozenEstimator):
            self.pipeline_ = self.pipeline.estimator
            check_is_fitted(self.pipeline_)
        else:
            self.pipeline_ = self._fit_pipeline(X, y)
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
        sources : ndarray of shape (n_clips, n_sources_ * n_samples)
            Each row holds the clip's sources one after another; see
            :meth:`separate` for shape ``(n_clips, n_sources_, n_samples)``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self.separate(X).reshape(X.shape[0], -1)

    def separate(self, y):
        """Separate recordings of any length.

        Parameters
        ----------
        y : array-like of shape (n_samples,) or (n_clips, n_samples)
            Mono mixtures at the spectrogram's sample rate.

        Returns
        -------
        sources : ndarray of shape (n_sources_, n_samples) or (n_clips, n_sources_, n_samples)
            Separated sources in the order of ``classes_``; they sum to ``y``.
        """
        check_is_fitted(self)
        y = np.asarray(y)
        if y.dtype not in (np.float32, np.float64):
            y = y.astype(np.float64)
        if y.ndim not in (1, 2) or y.shape[-1] == 0:
            raise ValueError(f"separate expects audio of shape (n_samples,) or "
                             f"(n_clips, n_samples) with n_samples > 0, got {y.shape}.")
        if not np.isfinite(y).all():
            raise ValueError("separate got audio with NaN or infinite samples.")
        if y.ndim == 1:
            return self._separate_one(y)
        return np.stack([self._separate_one(clip) for clip in y])

    def _separate_one(self, y):
        spectrogram, autoencoder, clusterer = self._steps()
        S = spectrogram.stft(y)
        estimates = self._source_spectrograms(np.abs(S).astype(y.dtype, copy=False))
        estimates **= self.mask_power
        total = estimates.sum(axis=0)
        masks = np.divide(
            estimates,
            total,
            out=np.full_like(estimates, 1.0 / len(estimates)),
            where=total > 0,
        )
        return spectrogram.istft(masks * S, length=y.shape[-1]).astype(y.dtype, copy=False)

    def _source_spectrograms(self, magnitude):
        """Magnitude estimate of each source, shape (n_sources, n_bins, n_frames)."""
        spectrogram, autoencoder, clusterer = self._steps()
        n_frames = spectrogram.n_frames
        hop = self.chunk_hop or max(1, n_frames // 2)
        V = spectrogram.scale(magnitude)
        n_bins, n_t = V.shape
        n_chunks = 1 + max(0, -(-(n_t - n_frames) // hop))
        padded = np.zeros((n_bins, (n_chunks - 1) * hop + n_frames), dtype=V.dtype)
        padded[:, :n_t] = V
        starts = np.arange(n_chunks) * hop
        frames = starts[:, None] + np.arange(n_frames)
        # (chunks, frames, bins) flattened: the chunk layout of SpectrogramTransformer.
        chunks = padded.T[frames].reshape(n_chunks, -1)
        codes = autoencoder.encode(chunks)
        weight = np.zeros(padded.shape[1], dtype=V.dtype)
        for j in range(n_frames):
            weight[starts + j] += 1.0
        out = np.empty((clusterer.n_sources_, n_bins, n_t), dtype=V.dtype)
        acc = np.empty((padded.shape[1], n_bins), dtype=V.dtype)
        for k in range(clusterer.n_sources_):
            r = clusterer.responsibilities_[:, k].astype(V.dtype)
            decoded = autoencoder.decode(codes * r).reshape(n_chunks, n_frames, n_bins)
            acc[...] = 0.0
            # Overlap-add: within one frame offset the chunks' frames are distinct.
            for j in range(n_frames):
                acc[starts + j] += decoded[:, j]
            out[k] = (acc[:n_t] / weight[:n_t, None]).T
        return spectrogram.unscale(out)
