"""Soft clustering of code-layer units into sources."""

from numbers import Integral

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._sklearn_compat import Interval, StrOptions, _fit_context, validate_data


class CodeLayerClusterer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Soft-cluster the units of an autoencoder's code layer into sources.

    The report's source extraction (section III-D): the code layer's
    **units** (columns, as in :class:`sklearn.cluster.FeatureAgglomeration`),
    not the samples, are grouped by a :class:`~sklearn.mixture.GaussianMixture`,
    giving each unit a responsibility per source.

    - Blind, ``fit(codes)``: a unit is described by its activation profile
      over the inputs (standardised, reduced by PCA to at most
      ``max_dims`` dimensions); units that fire together fall in one source.
    - Identified, ``fit(codes, y)``: ``y`` names the instrument of each row
      (the report's "a sample of the instrument presented to the
      autoencoder"). A unit is described by its mean activation per
      instrument, normalised to sum to one; the mixture starts with one
      component per instrument and its components are matched to the
      instruments, so source ``k`` is instrument ``classes_[k]``. With fewer
      units than instruments no mixture can be fitted, and the normalised
      mean activations are the responsibilities.

    Parameters
    ----------
    n_sources : int, default=None
        Sources (mixture components). ``None``: the number of instruments in
        ``y`` when identified, 2 when blind. With ``y`` it must equal the
        number of instruments.
    n_units : int, default=None
        Units of the code layer. Rows of ``X`` hold consecutive codes of
        ``n_units`` each (as :class:`StackedRBMAutoencoder` returns with an
        ``input_size``). ``None``: each column is a unit.
    max_dims : int, default=8
        Dimensions kept by PCA of the unit profiles in blind mode.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="diag"
        Covariance of the Gaussian mixture.
    n_init : int, default=5
        Initialisations of the Gaussian mixture in blind mode.
    random_state : int, RandomState instance or None, default=None
        Seeds the PCA and the Gaussian mixture.

    Attributes
    ----------
    responsibilities_ : ndarray of shape (n_units, n_sources)
        Probability that each unit belongs to each source; rows sum to 1.
    classes_ : ndarray of shape (n_sources,)
        Name of each source: the instruments of ``y``, or ``0..n_sources_-1``.
    mixture_ : GaussianMixture or None
        The fitted mixture over unit descriptions (``None`` when identified
        with fewer units than instruments).
    n_units_ : int
        Units of the code layer.
    n_sources_ : int
        Sources.
    n_features_in_ : int
        Features of ``X`` seen in ``fit``.

    See Also
    --------
    StackedRBMAutoencoder : Produces the codes.
    MaskResynthesizer : Decodes each source's masked code.

    References
    ----------
    .. [1] "An Autoencoder as a Naive Approach to Audio Source Separation",
       the report this package implements, section III-D (soft clustering of the code units).

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep import CodeLayerClusterer
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(["flute", "drums"], 50)
    >>> codes = rng.random((100, 6)) * 0.1
    >>> codes[:50, :3] += 0.9   # units 0-2 fire for flute
    >>> codes[50:, 3:] += 0.9   # units 3-5 fire for drums
    >>> cl = CodeLayerClusterer(random_state=0).fit(codes, y)
    >>> cl.classes_
    array(['drums', 'flute'], dtype='<U5')
    >>> cl.responsibilities_.argmax(axis=1)
    array([1, 1, 1, 0, 0, 0])
    """

    _parameter_constraints: dict = {
        "n_sources": [Interval(Integral, 1, None, closed="left"), None],
        "n_units": [Interval(Integral, 1, None, closed="left"), None],
        "max_dims": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_sources=None,
        *,
        n_units=None,
        max_dims=8,
        covariance_type="diag",
        n_init=5,
        random_state=None,
    ):
        self.n_sources = n_sources
        self.n_units = n_units
        self.max_dims = max_dims
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Cluster the code units, blind (``y=None``) or identified by ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Codes, ``n_features`` a multiple of ``n_units``.
        y : array-like of shape (n_samples,), default=None
            Instrument of each row, for identified sources.

        Returns
        -------
        self : object
            Fitted clusterer.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        rng = check_random_state(self.random_state)
        self.n_units_ = X.shape[1] if self.n_units is None else self.n_units
        if X.shape[1] % self.n_units_:
            raise ValueError(
                f"X has {X.shape[1]} features, not a multiple of n_units={self.n_units_}."
            )
        n_blocks = X.shape[1] // self.n_units_
        codes = X.reshape(-1, self.n_units_)
        if y is None:
            self.n_sources_ = 2 if self.n_sources is None else self.n_sources
            self.classes_ = np.arange(self.n_sources_)
            self._check_enough_units()
            features = self._profile_features(codes, rng)
            # GMM and PCA run on NumPy whatever the array API setting.
            with config_context(array_api_dispatch=False):
                self.mixture_ = self._mixture(self.n_init, rng).fit(features)
                self.responsibilities_ = self.mixture_.predict_proba(features)
        else:
            y = column_or_1d(y, warn=True)
            if y.shape[0] != X.shape[0]:
                raise ValueError(f"y has {y.shape[0]} labels for {X.shape[0]} rows of X.")
            self.classes_, y_idx = np.unique(y, return_inverse=True)
            self.n_sources_ = len(self.classes_)
            if self.n_sources is not None and self.n_sources != self.n_sources_:
                raise ValueError(
                    f"n_sources={self.n_sources} but y names {self.n_sources_} instruments."
                )
            features = self._instrument_features(codes, np.repeat(y_idx, n_blocks))
            if self.n_units_ < self.n_sources_:
                # Too few units to fit a component per instrument.
                self.mixture_ = None
                self.responsibilities_ = features
            else:
                self.responsibilities_ = self._identified_responsibilities(features, rng)
        self._n_features_out = self.n_sources_ * X.shape[1]
        return self

    def _check_enough_units(self):
        if self.n_units_ < self.n_sources_:
            raise ValueError(
                f"CodeLayerClusterer got {self.n_units_} feature(s) (code units) for "
                f"{self.n_sources_} sources; it needs at least one unit per source."
            )

    def _mixture(self, n_init, rng, means_init=None):
        return GaussianMixture(
            n_components=self.n_sources_,
            covariance_type=self.covariance_type,
            n_init=n_init,
            means_init=means_init,
            reg_covar=1e-4,
            random_state=rng,
        )

    def _profile_features(self, codes, rng):
        """Standardised activation profile of each unit, reduced by PCA."""
        profiles = np.asarray(codes, dtype=np.float64).T
        profiles = profiles - profiles.mean(axis=1, keepdims=True)
        std = profiles.std(axis=1, keepdims=True)
        profiles /= np.where(std > 0, std, 1.0)
        n_dims = min(self.max_dims, *profiles.shape)
        with config_context(array_api_dispatch=False):
            return PCA(n_components=n_dims, random_state=rng).fit_transform(profiles)

    @staticmethod
    def _instrument_features(codes, labels):
        """Mean activation of each unit per instrument, normalised per unit."""
        n_classes = labels.max() + 1
        means = np.zeros((codes.shape[1], n_classes))
        for k in range(n_classes):
            means[:, k] = codes[labels == k].mean(axis=0)
        total = means.sum(axis=1, keepdims=True)
        uniform = np.full_like(means, 1.0 / n_classes)
        return np.divide(means, total, out=uniform, where=total > 0)

    def _identified_responsibilities(self, features, rng):
        """Mixture started at one component per instrument, matched back to them."""
        n = self.n_sources_
        preferred = features.argmax(axis=1)
        means_init = np.eye(n)
        for k in range(n):
            if (preferred == k).any():
                means_init[k] = features[preferred == k].mean(axis=0)
        with config_context(array_api_dispatch=False):
            self.mixture_ = self._mixture(1, rng, means_init).fit(features)
            proba = self.mixture_.predict_proba(features)
        # Component j is matched to the instrument k its mean favours most.
        _, order = linear_sum_assignment(-self.mixture_.means_.T)
        return proba[:, order]

    def transform(self, X):
        """Mask the codes with each source's unit responsibilities.

        Parameters
        ----------
        X : array-like of shape ``(n_samples, n_features_in_)``
            Codes.

        Returns
        -------
        masked : ndarray of shape ``(n_samples, n_sources_ * n_features_in_)``
            For each source ``k`` in turn, the codes times the
            responsibilities of their units for ``k``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        n_blocks = X.shape[1] // self.n_units_
        R = np.tile(self.responsibilities_.T, (1, n_blocks)).astype(X.dtype)
        return (X[:, None, :] * R[None]).reshape(X.shape[0], -1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
