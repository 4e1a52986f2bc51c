"""Separation: per-source decodes turned into masks on the mixture STFT."""

import time
from numbers import Integral, Real

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._separation_engine import (
    batch_code_moments,
    code_moments,
    iter_separate,
    source_energies,
)
from ._sklearn_compat import HasMethods, Interval, StrOptions, _fit_context, validate_data
from ._timbre import timbre_clusters, timbre_features
from .audio import check_audio
from .autoencoder import StackedRBMAutoencoder
from .clustering import CodeLayerClusterer
from .discriminative import check_augmentation, discriminative_fine_tune, pitch_shifted_clips
from .metrics import bss_eval
from .spectrogram import SpectrogramTransformer, window_length


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

    References
    ----------
    .. [1] "An Autoencoder as a Naive Approach to Audio Source Separation",
       the report this package implements, section III (the whole pipeline).

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


def _held_out(labels, fraction, rng):
    """Mask of the clips held out for validation: ``fraction`` of each label's, at least one.

    A label with a single clip keeps it for training.
    """
    held = np.zeros(len(labels), dtype=bool)
    for label in np.unique(labels):
        clips = np.flatnonzero(labels == label)
        if clips.size >= 2:
            n = min(clips.size - 1, max(1, int(round(fraction * clips.size))))
            held[rng.choice(clips, size=n, replace=False)] = True
    return held


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
    discriminative_augmentation : dict, default=None
        Random changes of the discriminative step's training mixtures, by
        half-range: ``{"gain_db": g}`` draws each stem's gain in ``[-g, g]``
        dB (unequal mixing gains), ``"tilt_db"`` a spectral tilt in dB per
        octave about 1 kHz, ``"pitch_semitones"`` adds copies of the
        training clips resampled that many semitones up and down,
        ``"onset_s"`` takes the stems of each mixture at their note onsets
        plus a delay in ``[0, onset_s)`` s that they share (notes starting
        together, as in ensemble music). ``None`` mixes the stems as they
        are. ``docs/quality.rst`` has what each
        measured; see
        :func:`skaesep.discriminative.check_augmentation`.
    discriminative_validation_fraction : float, default=None
        Early stopping of the discriminative step: this share of each
        instrument's clips (at least one of an instrument with two or more)
        is held out of its training mixtures; after each epoch the loss on
        mixtures of the held-out clips is measured, the step stops after
        ``discriminative_n_iter_no_change`` epochs without a lower one and
        keeps the weights of the best epoch (``discriminative_epochs`` is
        then the most it runs). ``None`` runs every epoch on every clip.
    discriminative_n_iter_no_change : int, default=3
        Epochs without a lower validation loss that stop the step, with
        ``discriminative_validation_fraction``.
    blind_method : {"timbre", "units"}, default="timbre"
        How ``fit`` without ``y`` finds its sources. ``"timbre"``: the
        recordings are cut into segments of ``blind_segment`` seconds, grouped
        by timbre (MFCC statistics, k-means, count by silhouette unless the
        clusterer's ``n_sources`` is set), and the groups train the identified
        pipeline and the discriminative fine-tuning as if they were
        instruments. ``"units"``: the report's proposal as it stands, a label-
        free network whose code units the clusterer groups (no discriminative
        step).
    blind_segment : float, default=2.0
        Seconds per segment of the ``"timbre"`` blind training.
    invariant_training : {None, "pit", "mixit"}, default=None
        A last step of the blind ``fit``, seeded by the model fitted so far:
        ``invariant_epochs`` epochs of fine-tuning through the masks with a
        loss that does not say which source is which.
        ``"pit"`` (permutation-invariant training): mixtures of segments of 1
        to ``max_mixed_sources`` training segments of distinct timbre groups,
        each segment's sources assigned to the model's sources by the best
        permutation for ``invariant_segment`` consecutive chunks (the loss is
        ``discriminative_loss``), so a wrong timbre group costs nothing.
        ``"mixit"`` (mixture-invariant training, Wisdom et al. 2020): for
        recordings that are themselves mixtures; two training segments are
        added and the model's sources are split into two sets that must give
        back the two segments. ``None`` keeps the timbre-group training alone.
        See :func:`skaesep.discriminative.discriminative_fine_tune`
        (``invariance``).
    invariant_epochs : int, default=5
        Epochs of ``invariant_training``, of ``discriminative_mixtures``
        chunks each.
    invariant_segment : int, default=20
        Consecutive chunks of one mixture that share an assignment of sources
        in ``invariant_training`` (per chunk, identities would flip).
    presence_threshold : float, default=0.5
        Probability above which :meth:`detect_sources` (and
        ``separate(..., sources="auto")``) counts a source as present.
    presence_mixtures : int, default=1000
        Random training mixtures (3 s of 1 to ``max_mixed_sources`` clips,
        each at a gain of -6 to +6 dB) the presence detector is fitted on.
        Far fewer than the code statistics' dimension (twice the code units)
        and the logistic regressions are overconfident on other timbres and
        on ensemble music: ``docs/quality.rst`` measures 200 against 1000.
    random_state : int, RandomState instance or None, default=None
        Seeds every step of the pipeline whose own ``random_state`` is
        ``None``; steps with a seed of their own keep it. Also seeds the
        discriminative mixtures, the timbre groups and the presence
        calibration.

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
    discriminative_validation_curve_ : list of float
        Validation loss after each discriminative epoch (empty without
        ``discriminative_validation_fraction``).
    invariant_loss_curve_ : list of float
        Loss per ``invariant_training`` epoch (empty when none ran).
    stage_times_ : dict
        Wall seconds of each stage of ``fit`` that ran, in order:
        ``"spectrogram"``, ``"pretraining"``, ``"fine-tuning"``,
        ``"clustering"``, ``"discriminative fine-tuning"`` or
        ``"invariant training"``, ``"presence calibration"``.
    blind_ : bool
        Whether the model was fitted without labels; its sources are then
        returned ordered by energy and named ``source_1``, ``source_2``, ...
    timbre_labels_ : ndarray of shape (n_segments,) or None
        Timbre group of each training segment (``"timbre"`` blind training).
    presence_coef_, presence_intercept_ : ndarray or None
        Logistic regression of each source's presence on the standardised
        code statistics (``presence_mean_``, ``presence_scale_``); ``None``
        without labels or timbre groups.

    See Also
    --------
    make_separation_pipeline : Builds the pipeline this separates with.

    References
    ----------
    .. [1] "An Autoencoder as a Naive Approach to Audio Source Separation",
       the report this package implements, sections III-D (identification and
       resynthesis) and V (the proposed improvements).

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
        "discriminative_augmentation": [dict, None],
        "discriminative_validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "discriminative_n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "blind_method": [StrOptions({"timbre", "units"})],
        "blind_segment": [Interval(Real, 0, None, closed="neither")],
        "invariant_training": [StrOptions({"pit", "mixit"}), None],
        "invariant_epochs": [Interval(Integral, 0, None, closed="left")],
        "invariant_segment": [Interval(Integral, 1, None, closed="left")],
        "presence_threshold": [Interval(Real, 0, 1, closed="neither")],
        "presence_mixtures": [Interval(Integral, 1, None, closed="left")],
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
        discriminative_augmentation=None,
        discriminative_validation_fraction=None,
        discriminative_n_iter_no_change=3,
        blind_method="timbre",
        blind_segment=2.0,
        invariant_training=None,
        invariant_epochs=5,
        invariant_segment=20,
        presence_threshold=0.5,
        presence_mixtures=1000,
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
        self.discriminative_augmentation = discriminative_augmentation
        self.discriminative_validation_fraction = discriminative_validation_fraction
        self.discriminative_n_iter_no_change = discriminative_n_iter_no_change
        self.blind_method = blind_method
        self.blind_segment = blind_segment
        self.invariant_training = invariant_training
        self.invariant_epochs = invariant_epochs
        self.invariant_segment = invariant_segment
        self.presence_threshold = presence_threshold
        self.presence_mixtures = presence_mixtures
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the spectrogram, the autoencoder and the unit clusters on clips.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Training waveforms: isolated instruments with ``y``; without
            ``y``, unlabelled recordings (solo clips, mixtures or both) for a
            blind model (see ``blind_method``).
        y : array-like of shape (n_clips,), default=None
            Instrument of each clip, for identified sources.

        Returns
        -------
        self : object
            Fitted separator.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        augmentation = check_augmentation(self.discriminative_augmentation)
        self.discriminative_loss_curve_ = []
        self.discriminative_validation_curve_ = []
        self.invariant_loss_curve_ = []
        self.stage_times_ = {}
        self.blind_ = y is None
        self.timbre_labels_ = None
        clips, labels = X, y
        if isinstance(self.pipeline, FrozenEstimator):
            self.pipeline_ = self.pipeline.estimator
            check_is_fitted(self.pipeline_)
        else:
            if y is None and self.blind_method == "timbre":
                clips, labels = self._timbre_pseudo_labels(X)
                self.timbre_labels_ = labels
            self.pipeline_ = self._fit_pipeline(clips, labels)
            if labels is not None and self.discriminative_epochs > 0:
                t0 = time.perf_counter()
                curves = self._fit_discriminative(clips, labels, augmentation=augmentation)
                if self.discriminative_validation_fraction is None:
                    self.discriminative_loss_curve_ = curves
                else:
                    self.discriminative_loss_curve_, self.discriminative_validation_curve_ = curves
                self.stage_times_["discriminative fine-tuning"] = time.perf_counter() - t0
            if y is None and self.invariant_training is not None and self.invariant_epochs > 0:
                t0 = time.perf_counter()
                labels = self._fit_invariant(clips, labels)
                self.stage_times_["invariant training"] = time.perf_counter() - t0
        spectrogram, _, clusterer = self._steps()
        if isinstance(self.pipeline, FrozenEstimator):
            # Blind when its units were clustered without instrument names.
            self.blind_ = np.issubdtype(clusterer.classes_.dtype, np.integer)
        self.classes_ = clusterer.classes_
        self.n_sources_ = len(self.classes_)
        self._n_features_out = self.n_sources_ * X.shape[1]
        t0 = time.perf_counter()
        self._fit_presence(clips, labels)
        self.stage_times_["presence calibration"] = time.perf_counter() - t0
        return self

    def _fit_invariant(self, clips, labels):
        """The ``invariant_training`` step; returns each clip's source after it."""
        # Timbre groups keep two takes of one instrument out of a PIT mixture.
        groups = np.arange(len(clips)) if labels is None else labels
        self.invariant_loss_curve_ = self._fit_discriminative(
            clips, groups, invariance=self.invariant_training, n_epochs=self.invariant_epochs
        )
        # The loss let sources trade places: each segment now belongs to the
        # source that takes most of it, which the presence detector learns.
        classes = self._steps()[2].classes_
        return classes[[np.argmax(self._energy_shares(clip)) for clip in clips]]

    def _timbre_pseudo_labels(self, X):
        """Segments of the clips and their timbre groups, named ``source_k``."""
        spectrogram = clone(self._pipeline_template()[0])
        spectrogram._validate_params()  # e.g. sr=0, before it divides anything
        seg = int(round(self.blind_segment * spectrogram.sr))
        if X.shape[1] >= 2 * seg:
            n_seg = X.shape[1] // seg
            segments = X[:, : n_seg * seg].reshape(-1, seg)
        else:
            segments = X
        rms = np.sqrt(np.mean(segments.astype(np.float64) ** 2, axis=1))
        segments = segments[rms > 1e-3 * rms.max()] if rms.max() > 0 else segments[:0]
        if len(segments) < 2:
            raise ValueError(
                "blind training needs at least 2 non-silent segments of "
                f"{self.blind_segment:g} s; got {len(segments)}."
            )
        spectrogram.fit(segments)
        clusterer = self._pipeline_template()[2]
        groups = timbre_clusters(
            timbre_features(segments, spectrogram),
            clusterer.get_params().get("n_sources"),
            random_state=check_random_state(self.random_state).randint(np.iinfo(np.int32).max),
        )
        return segments, np.array([f"source_{g + 1}" for g in groups])

    def _pipeline_template(self):
        """The unfitted pipeline to clone, checked to be spectrogram, autoencoder, clusterer."""
        pipeline = make_separation_pipeline() if self.pipeline is None else self.pipeline
        if not isinstance(pipeline, Pipeline) or len(pipeline) != 3:
            raise ValueError(
                "pipeline must be a 3-step Pipeline (spectrogram, autoencoder, clusterer), "
                f"got {pipeline!r}."
            )
        return pipeline

    def _presence_features(self, audio):
        """Mean and deviation of each code unit over a recording's chunks."""
        spectrogram, autoencoder, _ = self._steps()
        return code_moments(audio, spectrogram=spectrogram, autoencoder=autoencoder)

    def _fit_presence(self, clips, labels):
        """One logistic regression per source on codes of random training mixtures.

        The code tells instruments apart (``docs/quality.rst``); which ones a
        mixture holds is a multi-label classification of its code statistics.
        """
        self.presence_coef_ = self.presence_intercept_ = None
        if labels is None:
            return
        idx = np.searchsorted(self.classes_, column_or_1d(labels))
        rng = check_random_state(self.random_state)
        spectrogram, autoencoder, _ = self._steps()
        # Mixtures are sums of the clips' STFT frames, so each clip is transformed once.
        stfts = [spectrogram.stft(clip) for clip in clips]
        n_t = stfts[0].shape[1]
        length = min(n_t, spectrogram.n_stft_frames(3 * spectrogram.sr))
        by_class = [np.flatnonzero(idx == k) for k in range(self.n_sources_)]
        # A source no clip belongs to is never present in these mixtures.
        with_clips = np.array([k for k in range(self.n_sources_) if by_class[k].size])
        high = min(self.max_mixed_sources, len(with_clips))
        truth = np.zeros((self.presence_mixtures, self.n_sources_), dtype=bool)
        features = []
        for i in range(0, self.presence_mixtures, _PRESENCE_BATCH):
            batch = truth[i : i + _PRESENCE_BATCH]
            mixtures = np.zeros((len(batch), stfts[0].shape[0], length), dtype=stfts[0].dtype)
            for mix, present in zip(mixtures, batch):
                chosen = rng.choice(with_clips, size=rng.randint(1, high + 1), replace=False)
                present[chosen] = True
                for k in chosen:
                    S = stfts[by_class[k][rng.randint(by_class[k].size)]]
                    start = rng.randint(n_t - length + 1)
                    gain_db = rng.uniform(-_PRESENCE_GAIN_DB, _PRESENCE_GAIN_DB)
                    mix += 10 ** (gain_db / 20) * S[:, start : start + length]
            features.append(
                batch_code_moments(
                    np.abs(mixtures), spectrogram=spectrogram, autoencoder=autoencoder
                )
            )
        F = np.concatenate(features)
        self.presence_mean_ = F.mean(axis=0)
        self.presence_scale_ = F.std(axis=0) + 1e-6
        Z = (F - self.presence_mean_) / self.presence_scale_
        coef, intercept = [], []
        for k in range(self.n_sources_):
            if truth[:, k].all() or not truth[:, k].any():  # one class only
                coef.append(np.zeros(Z.shape[1]))
                intercept.append(10.0 if truth[:, k].all() else -10.0)
                continue
            clf = LogisticRegression(C=1.0, max_iter=1000).fit(Z, truth[:, k])
            coef.append(clf.coef_[0])
            intercept.append(clf.intercept_[0])
        self.presence_coef_ = np.array(coef)
        self.presence_intercept_ = np.array(intercept)

    def _energy_shares(self, audio, keep=slice(None)):
        """Share of the mixture's energy (channels averaged) that each source's mask takes.

        The masks are those of the sources ``keep`` (all by default).
        """
        spectrogram, autoencoder, clusterer = self._steps()
        energies = source_energies(
            audio,
            spectrogram=spectrogram,
            autoencoder=autoencoder,
            responsibilities=clusterer.responsibilities_.T[keep],
            chunk_hop=self._chunk_hop(),
            mask_power=self.mask_power,
        )
        total = energies.sum()
        return energies / total if total > 0 else np.full(len(energies), 1 / len(energies))

    def detect_sources(self, audio):
        """Which sources are present in a recording.

        Each source has a logistic regression on the recording's code
        statistics (mean and deviation of every code unit), fitted in ``fit``
        on ``presence_mixtures`` random mixtures of 1 to ``max_mixed_sources``
        training clips at random gains.

        Parameters
        ----------
        audio : array-like of shape (n_samples,) or (n_channels, n_samples)
            A mixture at the model's sample rate; channels are averaged.

        Returns
        -------
        result : :class:`~sklearn.utils.Bunch`
            ``present`` (names of the sources found, in the order of
            ``classes_``; the likeliest is always present) and
            ``probabilities`` (of each source being present).
        """
        check_is_fitted(self)
        if self.presence_coef_ is None:
            raise ValueError(
                "this model has no presence detector: fit it with labels (or blind, "
                'blind_method="timbre") to use sources="auto".'
            )
        audio = check_audio(audio)
        z = (self._presence_features(audio) - self.presence_mean_) / self.presence_scale_
        proba = expit(self.presence_coef_ @ z + self.presence_intercept_)
        present = proba >= self.presence_threshold
        present[np.argmax(proba)] = True
        return Bunch(present=self.classes_[present], probabilities=proba)

    def _fit_pipeline(self, X, y):
        pipeline = clone(self._pipeline_template())
        spectrogram, autoencoder, clusterer = (step for _, step in pipeline.steps)
        if self.random_state is not None:
            rng = check_random_state(self.random_state)
            for step in (autoencoder, clusterer):
                seed = rng.randint(np.iinfo(np.int32).max)
                if step.get_params().get("random_state", 0) is None:
                    step.set_params(random_state=seed)
        t0 = time.perf_counter()
        Xt = spectrogram.fit_transform(X)
        self.stage_times_["spectrogram"] = time.perf_counter() - t0
        if autoencoder.get_params().get("input_size", 0) is None:
            autoencoder.set_params(input_size=spectrogram.chunk_size_)
        codes = autoencoder.fit(Xt).transform(Xt)
        self.stage_times_.update(autoencoder.fit_times_)
        if clusterer.get_params().get("n_units", 0) is None:
            clusterer.set_params(n_units=autoencoder.encoder_weights_[-1].shape[1])
        t0 = time.perf_counter()
        clusterer.fit(codes, y)
        self.stage_times_["clustering"] = time.perf_counter() - t0
        return pipeline

    def _fit_discriminative(self, X, y, *, invariance=None, n_epochs=None, augmentation=None):
        """Fine-tune through the masks; returns the loss curve.

        Without ``invariance`` ``y`` names each clip's source; with it ``y``
        only groups clips. ``augmentation`` is a checked
        ``discriminative_augmentation`` (only without ``invariance``). With
        ``discriminative_validation_fraction`` (and no ``invariance``) the
        clips held out for early stopping are chosen here, and the
        validation curve is returned too.
        """
        spectrogram, autoencoder, clusterer = self._steps()
        if autoencoder.input_size_ != spectrogram.chunk_size_:
            option = "discriminative_epochs" if invariance is None else "invariant_training"
            raise ValueError(
                f"{option} needs the autoencoder's input_size to be one "
                f"spectrogram chunk ({spectrogram.chunk_size_}), got {autoencoder.input_size_}."
            )
        y = column_or_1d(y)
        labels = np.searchsorted(clusterer.classes_, y) if invariance is None else y
        rng = check_random_state(self.random_state)
        validation = None
        if invariance is None and self.discriminative_validation_fraction is not None:
            held = _held_out(labels, self.discriminative_validation_fraction, rng)
            validation = ([spectrogram.stft(clip) for clip in X[held]], labels[held])
            X, labels = X[~held], labels[~held]
        stfts = [spectrogram.stft(clip) for clip in X]
        if augmentation is not None and augmentation["pitch_semitones"] > 0:
            shifted = pitch_shifted_clips(X, spectrogram.sr, augmentation["pitch_semitones"])
            stfts += [spectrogram.stft(clip) for clip in shifted]
            labels = np.concatenate([labels, np.repeat(labels, 2)])
        return discriminative_fine_tune(
            autoencoder,
            spectrogram,
            clusterer.responsibilities_,
            stfts,
            labels,
            n_epochs=self.discriminative_epochs if n_epochs is None else n_epochs,
            n_mixtures=self.discriminative_mixtures,
            max_sources=self.max_mixed_sources,
            learning_rate=self.discriminative_learning_rate,
            batch_size=autoencoder.batch_size,
            loss=self.discriminative_loss,
            random_state=rng,
            verbose=autoencoder.verbose,
            n_threads=autoencoder.n_threads,
            invariance=invariance,
            segment_frames=self.invariant_segment,
            augmentation=augmentation,
            validation=validation,
            n_iter_no_change=self.discriminative_n_iter_no_change,
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
            Each row holds the clip's sources one after another, as
            :meth:`separate` returns them.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return np.stack([self.separate(clip).reshape(-1) for clip in X])

    def separate(self, audio, sources=None, *, n_sources=None, return_names=False):
        """Separate a recording of any length.

        Parameters
        ----------
        audio : array-like of shape (n_samples,) or (n_channels, n_samples)
            A mixture at the spectrogram's sample rate, time on the last
            axis; each channel is separated on its own (with the same sources).
        sources : "auto", array-like of str or None, default=None
            Which sources to share the mixture among. Names (entries of
            ``classes_``): those known to be in the mixture, returned in the
            order given. ``"auto"``: those :meth:`detect_sources` finds.
            ``None``: every source (or the ``n_sources`` largest).
        n_sources : int, default=None
            Keep the ``n_sources`` sources likeliest to be present (by
            :meth:`detect_sources`; by the largest energy share for a model
            without a presence detector, ``blind_method="units"``), e.g. for
            a blind model the number of instruments playing.
        return_names : bool, default=False
            Also return the names of the returned sources.

        Returns
        -------
        sources : ndarray of shape (n_sources, n_samples) or (n_sources, n_channels, n_samples)
            Separated sources; they sum to ``audio``. Identified models
            return them in the order of ``classes_`` (or of ``sources``);
            blind models by decreasing energy, named ``source_1``,
            ``source_2``, ...
        names : ndarray of shape (n_sources,)
            With ``return_names``.

        Raises
        ------
        ValueError
            If ``audio`` fails :func:`skaesep.audio.check_audio` (e.g. a
            time-first array), or ``sources`` names no source of ``classes_``.
        """
        names, blocks = self.separate_blocks(audio, sources, n_sources=n_sources)
        out = np.concatenate(list(blocks), axis=-1)
        return (out, names) if return_names else out

    def separate_blocks(self, audio, sources=None, *, n_sources=None):
        """Separate a recording block by block, for streaming long files to disk.

        The same separation as :meth:`separate` (which joins these blocks),
        with memory bounded by the block size (about 6 s of audio at
        44.1 kHz) whatever the recording's length: ``audio`` may be a
        memory-mapped file (:func:`skaesep.audio.read_audio` with
        ``mmap_dir``). Which sources to return is decided first, from the
        whole recording (presence or energy, block by block too).

        Parameters
        ----------
        audio, sources, n_sources
            As in :meth:`separate`.

        Returns
        -------
        names : ndarray of shape (n_sources,)
            Names of the returned sources.
        blocks : generator of ndarray of shape (n_sources, m) or (n_sources, n_channels, m)
            Consecutive blocks of the sources; their lengths add up to
            ``n_samples`` and each block's sources sum to that stretch of
            ``audio``.

        Raises
        ------
        ValueError
            As :meth:`separate`, before any block is computed.
        """
        check_is_fitted(self)
        audio = check_audio(audio)
        keep, names = self._select_sources(audio, sources, n_sources)
        spectrogram, autoencoder, clusterer = self._steps()
        params = dict(
            spectrogram=spectrogram,
            autoencoder=autoencoder,
            responsibilities=clusterer.responsibilities_.T[keep],
            chunk_hop=self._chunk_hop(),
            mask_power=self.mask_power,
        )
        if audio.ndim == 1:
            return names, iter_separate(audio, **params)
        # The channels' blocks have the same lengths: they follow the frame grid.
        channels = [iter_separate(channel, **params) for channel in audio]
        return names, (np.stack(block, axis=1) for block in zip(*channels))

    def _select_sources(self, audio, sources, n_sources):
        """Indices into ``classes_`` of the sources to return, and their names."""
        all_names = list(self.classes_)
        shares = None
        if isinstance(sources, str):
            if sources != "auto":
                raise ValueError(
                    f'sources must be "auto", None or a list of names, got {sources!r}.'
                )
            if n_sources is not None:
                raise ValueError('give sources="auto" or n_sources, not both.')
            detected = self.detect_sources(audio)
            keep = np.searchsorted(self.classes_, detected.present)
        elif sources is not None:
            sources = list(sources)
            unknown = [s for s in sources if s not in all_names]
            if unknown or len(sources) == 0:
                raise ValueError(
                    f"sources must name entries of classes_ {all_names}, got {sources}."
                )
            keep = np.array([all_names.index(s) for s in sources])
        else:
            keep = np.arange(self.n_sources_)
        if n_sources is not None:
            if not 1 <= n_sources <= len(keep):
                raise ValueError(
                    f"n_sources must be between 1 and {len(keep)} (the model's sources), "
                    f"got {n_sources}."
                )
            if self.presence_coef_ is not None:
                # The likeliest present: measured far better than the largest energy
                # for blind models, whose timbre groups outnumber the instruments.
                rank = self.detect_sources(audio).probabilities
            else:
                rank = shares = self._energy_shares(audio)
            keep = keep[np.argsort(-rank[keep], kind="stable")[:n_sources]]
            if not self.blind_:
                keep = np.sort(keep) if sources is None else keep
        if self.blind_:
            if shares is None or len(keep) < self.n_sources_:
                # Ordered by the energies the kept sources' own masks give them.
                shares = np.zeros(self.n_sources_)
                shares[keep] = self._energy_shares(audio, keep)
            keep = keep[np.argsort(-shares[keep], kind="stable")]
            return keep, np.array([f"source_{i + 1}" for i in range(len(keep))])
        return keep, self.classes_[keep]

    def score(self, X, y):
        """Mean SDR of the separation of two-instrument mixtures of labelled clips.

        The mixtures are built from held-out isolated clips, deterministically:
        every pair of non-silent clips ``i < j`` with ``y[i] != y[j]`` (at most
        ``SCORE_MAX_PAIRS`` of them, drawn without replacement with seed 0 when
        there are more), each clip rescaled to the pair's mean RMS (equal
        gain) and the two added. Each mixture is separated into the pair's
        instruments (``separate(mix, sources=[y[i], y[j]])``), or, for a blind
        model, into its two largest sources, matched to the clips by the
        permutation of best SIR. The score is the mean over pairs and both
        sources of the BSS Eval SDR (:func:`skaesep.metrics.bss_eval`) with a
        ``SCORE_FILTER_LENGTH``-tap distortion filter (at most half a clip,
        for very short clips). Higher is better, so
        :class:`~sklearn.model_selection.GridSearchCV` needs no ``scoring``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples)
            Isolated instruments, as ``fit`` takes them (the length seen in
            ``fit``).
        y : array-like of shape (n_clips,)
            Instrument of each clip; for an identified model, entries of
            ``classes_``.

        Returns
        -------
        score : float
            Mean SDR in dB.

        Raises
        ------
        ValueError
            If ``y`` is missing, no two non-silent clips have different
            instruments, or (identified model) an instrument is not in
            ``classes_``.
        """
        check_is_fitted(self)
        if y is None:
            raise ValueError("score needs y, the instrument of each clip of X.")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], reset=False)
        rms = np.sqrt(np.mean(X.astype(np.float64) ** 2, axis=1))
        pairs = [
            (i, j)
            for i in range(len(X))
            for j in range(i + 1, len(X))
            if y[i] != y[j] and rms[i] > 0 and rms[j] > 0
        ]
        if not pairs:
            raise ValueError(
                "score needs at least two non-silent clips of different instruments, "
                f"got instruments {np.unique(y).tolist()}."
            )
        if len(pairs) > SCORE_MAX_PAIRS:
            chosen = np.random.RandomState(0).choice(len(pairs), SCORE_MAX_PAIRS, replace=False)
            pairs = [pairs[k] for k in np.sort(chosen)]
        filter_length = min(SCORE_FILTER_LENGTH, X.shape[1] // 2)
        sdrs = []
        for i, j in pairs:
            gain = (rms[i] + rms[j]) / 2
            refs = np.stack([X[i] * (gain / rms[i]), X[j] * (gain / rms[j])])
            mix = refs.sum(axis=0)
            if self.blind_:
                est = self.separate(mix, n_sources=2)
            else:
                est = self.separate(mix, sources=[y[i], y[j]])
            result = bss_eval(
                refs, est, compute_permutation=self.blind_, filter_length=filter_length
            )
            sdrs.append(result.sdr)
        return float(np.mean(sdrs))

    def _chunk_hop(self):
        spectrogram, _, _ = self._steps()
        return self.chunk_hop or max(1, spectrogram.n_frames // 2)


#: Mixtures of clip pairs that :meth:`MaskResynthesizer.score` separates at most.
SCORE_MAX_PAIRS = 50

#: Taps of the BSS Eval distortion filter of :meth:`MaskResynthesizer.score`.
SCORE_FILTER_LENGTH = 64

#: Largest per-clip gain (dB, either way) in the presence detector's training mixtures.
_PRESENCE_GAIN_DB = 6.0

#: Presence training mixtures encoded in one product (bounds the STFTs' memory).
_PRESENCE_BATCH = 50
