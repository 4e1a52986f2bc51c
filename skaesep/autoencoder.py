"""Deep autoencoder pretrained as stacked RBMs and fine-tuned by backprop."""

import time
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils.validation import check_is_fitted, check_non_negative

from ._base import binary_cross_entropy
from ._network import Workspace, backprop, propagate
from ._parallel import ThreadTeam, default_threads
from ._sklearn_compat import Interval, StrOptions, _fit_context, validate_data
from ._stochastic_optimizers import make_optimizer
from .rbm import pretrain_rbm


class StackedRBMAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Deep autoencoder: greedy RBM pretraining, unrolling, cross-entropy fine-tuning.

    The report's network (section III-C, after Hinton & Salakhutdinov 2006).
    Each layer is first trained as a Bernoulli RBM on the layer below
    (contrastive divergence CD-k with momentum and weight decay, in the manner
    of :class:`sklearn.neural_network.BernoulliRBM`); the RBMs are unrolled into
    an encoder and a mirrored decoder whose weights start as the transposed
    encoder weights; the whole network is then fine-tuned by backpropagation of
    the cross-entropy between input and reconstruction. Every unit is a
    sigmoid. Inputs are expected in [0, 1], e.g. from
    :class:`SpectrogramTransformer`.

    Parameters
    ----------
    layer_sizes : tuple of int, default=(500, 500, 500, 500)
        Units of the encoder's hidden layers; the last is the code layer.
    input_size : int, default=None
        Features of one network input. Each row is split into consecutive
        blocks of ``input_size`` features (e.g. the chunks of a
        :class:`SpectrogramTransformer` row), each encoded on its own; the
        code of a row is its blocks' codes one after another. ``None`` makes
        the whole row one input.
    pretrain_epochs : int, default=5
        Passes over the data for each RBM; 0 skips pretraining.
    pretrain_learning_rate : float, default=0.1
        Learning rate of the CD updates.
    pretrain_momentum : float, default=0.5
        Momentum of the CD updates.
    weight_decay : float, default=2e-4
        L2 penalty on the RBM weights during pretraining.
    cd_steps : int, default=1
        Gibbs steps ``k`` of CD-k.
    solver : {"adam", "sgd"}, default="adam"
        Fine-tuning optimiser: Adam, or SGD with momentum.
    learning_rate_init : float, default=1e-3
        Fine-tuning step size.
    momentum : float, default=0.9
        Momentum of the ``"sgd"`` solver.
    batch_size : int, default=64
        Network inputs per mini-batch, for pretraining and fine-tuning.
    max_iter : int, default=20
        Fine-tuning epochs at most.
    tol : float, default=1e-4
        Improvement of the (validation) loss below which an epoch counts as
        no change.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the inputs, stop when their loss
        has not improved for ``n_iter_no_change`` epochs and keep the best
        weights.
    validation_fraction : float, default=0.1
        Share of inputs held out with ``early_stopping``.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping.
    verbose : int, default=0
        Print the loss of each epoch when positive.
    n_threads : int, default=None
        Threads sharing each mini-batch while fitting, and each block of
        inputs in ``transform``/``inverse_transform``; each runs one BLAS
        thread (:class:`skaesep._parallel.ThreadTeam`). ``None`` uses the
        cores this process may run on, at most 8 and at most
        ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS`` when set
        (:func:`skaesep._parallel.default_threads`). Given ``random_state``
        the fitted model does not depend on it, up to float rounding.
        OpenBLAS's own threads are not used: on a busy machine they ran tens
        of times slower than one thread (``docs/parallel.rst``).
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, Gibbs sampling and shuffling.

    Attributes
    ----------
    encoder_weights_ : list of ndarray
        Weights of the encoder, ``encoder_weights_[i]`` of shape
        ``(n_in, layer_sizes[i])``.
    encoder_biases_ : list of ndarray
        Biases of the encoder's layers.
    decoder_weights_ : list of ndarray
        Weights of the decoder, from the code layer to the reconstruction.
    decoder_biases_ : list of ndarray
        Biases of the decoder's layers.
    pretrain_errors_ : list of list of float
        Mean squared reconstruction error of each RBM after each epoch.
    loss_curve_ : list of float
        Mean cross-entropy per element on the training inputs, per epoch.
    validation_scores_ : list of float or None
        Validation cross-entropy per epoch with ``early_stopping``.
    best_loss_ : float
        Lowest (validation, with ``early_stopping``) loss reached.
    n_iter_ : int
        Fine-tuning epochs run.
    fit_times_ : dict
        Wall seconds of ``"pretraining"`` and ``"fine-tuning"`` in ``fit``.
    input_size_ : int
        Features of one network input.
    n_features_in_ : int
        Features per row seen in ``fit``.

    See Also
    --------
    sklearn.neural_network.BernoulliRBM : A single RBM, trained by PCD.
    CodeLayerClusterer : Groups the code layer's units into sources.

    References
    ----------
    .. [1] "An Autoencoder as a Naive Approach to Audio Source Separation",
       the report this package implements, section III-C (stacked RBMs,
       unrolling and cross-entropy fine-tuning).
    .. [2] G. E. Hinton and R. R. Salakhutdinov, "Reducing the dimensionality
       of data with neural networks", Science 313 (5786), pp. 504-507, 2006.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep import StackedRBMAutoencoder
    >>> X = np.random.default_rng(0).random((200, 20)).astype(np.float32)
    >>> ae = StackedRBMAutoencoder((16, 8), max_iter=5, random_state=0).fit(X)
    >>> ae.transform(X).shape, ae.transform(X).dtype
    ((200, 8), dtype('float32'))
    >>> ae.inverse_transform(ae.transform(X)).shape
    (200, 20)
    """

    _parameter_constraints: dict = {
        "layer_sizes": ["array-like"],
        "input_size": [Interval(Integral, 1, None, closed="left"), None],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "pretrain_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "pretrain_momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "cd_steps": [Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions({"adam", "sgd"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        layer_sizes=(500, 500, 500, 500),
        *,
        input_size=None,
        pretrain_epochs=5,
        pretrain_learning_rate=0.1,
        pretrain_momentum=0.5,
        weight_decay=2e-4,
        cd_steps=1,
        solver="adam",
        learning_rate_init=1e-3,
        momentum=0.9,
        batch_size=64,
        max_iter=20,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        verbose=0,
        n_threads=None,
        random_state=None,
    ):
        self.layer_sizes = layer_sizes
        self.input_size = input_size
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_learning_rate = pretrain_learning_rate
        self.pretrain_momentum = pretrain_momentum
        self.weight_decay = weight_decay
        self.cd_steps = cd_steps
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.verbose = verbose
        self.n_threads = n_threads
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Pretrain the RBM stack, unroll it and fine-tune the autoencoder.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative inputs, ideally in [0, 1].
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted autoencoder.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        check_non_negative(X, f"{type(self).__name__}.fit")
        layer_sizes = self._validate_layer_sizes()
        self.input_size_ = self._check_input_size(X.shape[1])
        blocks = X.reshape(-1, self.input_size_)
        rng = check_random_state(self.random_state)

        t0 = time.perf_counter()
        self._pretrain(blocks, layer_sizes, rng)
        t1 = time.perf_counter()
        self._fine_tune(blocks, rng)
        self.fit_times_ = {"pretraining": t1 - t0, "fine-tuning": time.perf_counter() - t1}
        self._n_features_out = (X.shape[1] // self.input_size_) * layer_sizes[-1]
        return self

    def _validate_layer_sizes(self):
        sizes = np.asarray(self.layer_sizes)
        if sizes.ndim != 1 or sizes.size == 0 or not np.issubdtype(sizes.dtype, np.integer):
            raise ValueError(
                f"layer_sizes must be a non-empty sequence of ints, got {self.layer_sizes!r}."
            )
        if (sizes < 1).any():
            raise ValueError(f"layer_sizes must be positive, got {self.layer_sizes!r}.")
        return [int(s) for s in sizes]

    def _check_input_size(self, n_features):
        input_size = n_features if self.input_size is None else self.input_size
        if n_features % input_size:
            raise ValueError(
                f"X has {n_features} features, not a multiple of input_size={input_size}."
            )
        return input_size

    def _pretrain(self, X, layer_sizes, rng):
        dtype = X.dtype
        self.encoder_weights_, self.encoder_biases_ = [], []
        visible_biases = []
        self.pretrain_errors_ = []
        V = X
        for i, n_hidden in enumerate(layer_sizes):
            if self.verbose:
                print(
                    "[%s] Pretraining RBM %d of %d (%d -> %d units)"
                    % (type(self).__name__, i + 1, len(layer_sizes), V.shape[1], n_hidden)
                )
            W, b_hid, b_vis, errors = pretrain_rbm(
                V,
                n_hidden,
                n_epochs=self.pretrain_epochs,
                learning_rate=self.pretrain_learning_rate,
                momentum=self.pretrain_momentum,
                weight_decay=self.weight_decay,
                cd_steps=self.cd_steps,
                batch_size=self.batch_size,
                random_state=rng,
                verbose=self.verbose,
                n_threads=self._threads(),
            )
            self.encoder_weights_.append(W)
            self.encoder_biases_.append(b_hid)
            visible_biases.append(b_vis)
            self.pretrain_errors_.append(errors)
            if i + 1 < len(layer_sizes):
                with ThreadTeam(self._threads()) as team:
                    V = propagate(V, [W], [b_hid], team)
        # Unroll: the decoder mirrors the encoder with transposed weights.
        self.decoder_weights_ = [W.T.copy() for W in reversed(self.encoder_weights_)]
        self.decoder_biases_ = [b.astype(dtype, copy=True) for b in reversed(visible_biases)]

    # ------------------------------------------------------- fine-tuning
    def _threads(self):
        """Threads of the team: ``n_threads``, or :func:`~skaesep._parallel.default_threads`."""
        return self.n_threads or default_threads()

    def _layers(self):
        return (
            self.encoder_weights_ + self.decoder_weights_,
            self.encoder_biases_ + self.decoder_biases_,
        )

    def _fine_tune(self, X, rng):
        weights, biases = self._layers()
        params = weights + biases
        n_samples = X.shape[0]
        X_val = None
        if self.early_stopping:
            n_val = int(round(self.validation_fraction * n_samples))
            if n_val < 1 or n_val >= n_samples:
                raise ValueError(
                    f"early_stopping with validation_fraction={self.validation_fraction} "
                    f"leaves no training or no validation inputs out of {n_samples}."
                )
            order = rng.permutation(n_samples)
            X_val, X = X[order[:n_val]], X[order[n_val:]]
            n_samples = X.shape[0]
        batch_size = min(self.batch_size, n_samples)
        workspace = Workspace(weights, batch_size, X.dtype)
        Xb_buf = np.empty((batch_size, X.shape[1]), dtype=X.dtype)

        self.loss_curve_ = []
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_loss_ = np.inf
        best_params = None
        no_change = 0
        converged = False
        with ThreadTeam(self._threads()) as team:
            optimizer = make_optimizer(
                self.solver, params, self.learning_rate_init, momentum=self.momentum, team=team
            )
            for epoch in range(self.max_iter):
                t0 = time.perf_counter()
                order = rng.permutation(n_samples)
                loss_sum = 0.0
                for batch in gen_batches(n_samples, batch_size):
                    idx = order[batch]
                    Xb = np.take(X, idx, axis=0, out=Xb_buf[: idx.shape[0]])
                    loss, grads = backprop(Xb, weights, biases, workspace, team=team)
                    optimizer.update_params(grads)
                    loss_sum += loss * Xb.size
                loss = loss_sum / X.size
                self.loss_curve_.append(loss)
                if self.early_stopping:
                    loss = self._score_loss(X_val)
                    self.validation_scores_.append(loss)
                self.n_iter_ = epoch + 1
                if self.verbose:
                    print(
                        "[%s] Iteration %d, loss = %.4f, %.2fs"
                        % (type(self).__name__, self.n_iter_, loss, time.perf_counter() - t0)
                    )
                if loss < self.best_loss_ - self.tol:
                    no_change = 0
                else:
                    no_change += 1
                if loss < self.best_loss_:
                    self.best_loss_ = loss
                    if self.early_stopping:
                        best_params = [p.copy() for p in params]
                if no_change >= self.n_iter_no_change:
                    converged = True
                    break
        if best_params is not None:
            for p, best in zip(params, best_params):
                p[...] = best
        if not converged:
            warnings.warn(
                f"{type(self).__name__}: fine-tuning reached max_iter={self.max_iter} "
                "without converging; raise max_iter.",
                ConvergenceWarning,
                stacklevel=2,
            )

    # --------------------------------------------------------- inference
    def encode(self, X):
        """Code-layer activations of network inputs.

        Parameters
        ----------
        X : ndarray of shape ``(n_inputs, input_size_)``
            Network inputs (blocks), not rows of ``n_features_in_``.

        Returns
        -------
        codes : ndarray of shape (n_inputs, layer_sizes[-1])
        """
        with ThreadTeam(self._threads()) as team:
            return propagate(X, self.encoder_weights_, self.encoder_biases_, team)

    def decode(self, codes):
        """Reconstructions in [0, 1] of code-layer activations.

        Parameters
        ----------
        codes : ndarray of shape (n_inputs, layer_sizes[-1])

        Returns
        -------
        X : ndarray of shape ``(n_inputs, input_size_)``
        """
        with ThreadTeam(self._threads()) as team:
            return propagate(codes, self.decoder_weights_, self.decoder_biases_, team)

    def transform(self, X):
        """Encode each row's blocks to the code layer.

        Parameters
        ----------
        X : array-like of shape ``(n_samples, n_features_in_)``
            Non-negative inputs.

        Returns
        -------
        codes : ndarray of shape (n_samples, n_blocks * layer_sizes[-1])
            Code-layer activations, block after block.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        check_non_negative(X, f"{type(self).__name__}.transform")
        return self.encode(X.reshape(-1, self.input_size_)).reshape(X.shape[0], -1)

    def inverse_transform(self, X):
        """Decode codes back to reconstructions of the input.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_blocks * layer_sizes[-1])
            Codes, e.g. from ``transform``, possibly masked.

        Returns
        -------
        X_rec : ndarray of shape ``(n_samples, n_blocks * input_size_)``
        """
        check_is_fitted(self)
        n_code = self.encoder_weights_[-1].shape[1]
        X = np.asarray(X)
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        if X.ndim != 2 or X.shape[1] % n_code:
            raise ValueError(
                f"inverse_transform expects codes of shape (n_samples, k * {n_code}), "
                f"got {X.shape}."
            )
        return self.decode(X.reshape(-1, n_code)).reshape(X.shape[0], -1)

    def _score_loss(self, X):
        return binary_cross_entropy(X, self.decode(self.encode(X)))

    def score(self, X, y=None):
        """Negative mean cross-entropy of the reconstruction (higher is better).

        Deterministic, so :class:`~sklearn.model_selection.GridSearchCV` can
        select layer sizes with no ``scoring``.

        Parameters
        ----------
        X : array-like of shape ``(n_samples, n_features_in_)``
            Inputs in [0, 1].
        y : None
            Ignored.

        Returns
        -------
        score : float
            ``-binary_cross_entropy(X, reconstruction)`` per element.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        check_non_negative(X, f"{type(self).__name__}.score")
        return -self._score_loss(X.reshape(-1, self.input_size_))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
