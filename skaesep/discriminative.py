"""Discriminative fine-tuning of the autoencoder through its source masks.

The report's network is trained to reconstruct its input; nothing in that
objective asks the units of one instrument to stay silent for another. The
methods the report cites ([7], [14]) train instead on mixtures whose sources
are known. :func:`discriminative_fine_tune` does that with the report's own
estimators and their roles unchanged: random mixtures are built from isolated
training stems (their complex STFTs add up exactly), and the autoencoder is
fine-tuned so that the decode of the mixture's code masked by the unit
responsibilities of source ``k``, ``decode(encode(mixture) * r_k)``, matches
source ``k``'s scaled spectrum (all zeros for an instrument not in the
mixture), by the report's cross-entropy loss.

The responsibilities ``r_k`` stay fixed; only weights and biases move. The
step is the network core's :func:`skaesep._network.backprop` with a code hook
that masks the code once per source, and the autoencoder's Adam optimiser,
on the live arrays of :meth:`StackedRBMAutoencoder._layers`.
"""

import time
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from ._base import binary_cross_entropy, sigmoid_derivative_
from ._masking import ratio_masks
from ._network import Workspace, backprop
from ._sklearn_compat import HasMethods, Interval, StrOptions, validate_params
from ._stochastic_optimizers import AdamOptimizer


def _chunk_index(n_t, n_frames, rng, size):
    """Random chunk starts in a spectrogram of ``n_t`` frames."""
    return rng.randint(0, max(1, n_t - n_frames + 1), size=size)


def make_mixture_batch(stfts, labels, n_classes, spectrogram, batch_size, max_sources, rng):
    """Random mixtures of chunks of isolated stems, with their scaled sources.

    Parameters
    ----------
    stfts : list of ndarray of shape (n_bins, n_frames_i)
        Complex STFTs of isolated training clips.
    labels : ndarray of shape (n_clips,)
        Class index of each clip, in ``range(n_classes)``.
    n_classes : int
        Number of sources.
    spectrogram : SpectrogramTransformer
        Fitted; supplies ``n_frames``, ``scale`` and the chunk layout.
    batch_size : int
        Mixtures to build.
    max_sources : int
        Each mixture holds between 1 and ``max_sources`` distinct classes.
    rng : numpy.random.RandomState
        Source of randomness.

    Returns
    -------
    X : ndarray of shape (batch_size, chunk_size)
        Scaled mixture chunks.
    T : ndarray of shape (n_classes, batch_size, chunk_size)
        Scaled chunk of each class's source in each mixture (0 if absent).

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep import SpectrogramTransformer
    >>> from skaesep.discriminative import make_mixture_batch
    >>> rng = np.random.RandomState(0)
    >>> clips = rng.normal(size=(2, 8000)).astype(np.float32)
    >>> spec = SpectrogramTransformer(8000, 100, n_frames=2).fit(clips)
    >>> stfts = [spec.stft(c) for c in clips]
    >>> X, T = make_mixture_batch(stfts, np.array([0, 1]), 2, spec, 4, 2, rng)
    >>> X.shape, T.shape
    ((4, 146), (2, 4, 146))
    """
    n_frames = spectrogram.n_frames
    n_bins = stfts[0].shape[0]
    by_class = [np.flatnonzero(labels == k) for k in range(n_classes)]
    present_classes = [k for k in range(n_classes) if by_class[k].size]
    dtype = np.float32 if stfts[0].dtype == np.complex64 else np.float64
    X = np.zeros((batch_size, n_frames, n_bins), dtype=dtype)
    T = np.zeros((n_classes, batch_size, n_frames, n_bins), dtype=dtype)
    mix = np.empty((n_frames, n_bins), dtype=stfts[0].dtype)
    high = min(max_sources, len(present_classes))
    for i in range(batch_size):
        n_src = rng.randint(1, high + 1)
        chosen = rng.choice(present_classes, size=n_src, replace=False)
        mix[...] = 0
        for k in chosen:
            S = stfts[by_class[k][rng.randint(by_class[k].size)]]
            start = _chunk_index(S.shape[1], n_frames, rng, 1)[0]
            part = S[:, start : start + n_frames].T
            src = np.zeros((n_frames, n_bins), dtype=S.dtype)
            src[: part.shape[0]] = part
            mix += src
            T[k, i] = np.abs(src)
        X[i] = np.abs(mix)
    X = spectrogram.scale(X).reshape(batch_size, -1)
    T = spectrogram.scale(T).reshape(n_classes, batch_size, -1)
    return X, T


class _MaskedCodes:
    """Code hook of :func:`skaesep._network.backprop`: one masked code per source.

    ``forward`` maps a code batch ``(B, n_code)`` to the ``K * B`` decoder
    inputs ``code * r_k``; ``backward`` sums their deltas back through the
    masks. Buffers are allocated once for mini-batches of up to ``n_rows``.
    """

    def __init__(self, R, n_rows):
        self.R = R  # (n_sources, n_code)
        n_classes, n_code = R.shape
        self._masked = np.empty(n_classes * n_rows * n_code, dtype=R.dtype)
        self._d_code = np.empty(n_rows * n_code, dtype=R.dtype)

    def forward(self, code):
        n_classes, n_code = self.R.shape
        n = code.shape[0]
        masked = self._masked[: n_classes * n * n_code].reshape(n_classes, n, n_code)
        np.multiply(self.R[:, None, :], code[None], out=masked)
        return masked.reshape(n_classes * n, n_code)

    def backward(self, delta):
        n_classes, n_code = self.R.shape
        n = delta.shape[0] // n_classes
        d_code = self._d_code[: n * n_code].reshape(n, n_code)
        return np.einsum("knc,kc->nc", delta.reshape(n_classes, n, n_code), self.R, out=d_code)


class _DecodeLoss:
    """Cross-entropy of every source's decode with its scaled spectrum.

    The delta at the output's pre-activation is ``output - target`` (sigmoid
    output with cross-entropy), divided by the number of mixtures.
    """

    def __init__(self, n_classes):
        self.n_classes = n_classes

    def __call__(self, output, target, delta, workspace):
        n = output.shape[0]
        value = binary_cross_entropy(target, output, workspace.scratch[:n], delta)
        np.subtract(output, target, out=delta)
        delta *= self.n_classes / n
        return value


class _MaskLoss(_DecodeLoss):
    """Squared error of the masked mixture magnitudes, plus the decode loss.

    The decodes ``D_k`` are mapped back to magnitudes ``U_k``
    (:meth:`SpectrogramTransformer.unscale`), the masks
    ``m_k = U_k / sum_j U_j`` over the sources present in the mixture
    (:func:`skaesep._masking.ratio_masks`) are applied to the mixture
    magnitude ``|X|``, and the loss is ``(m_k |X| - |S_k|)^2`` relative to
    the sources' mean energy, averaged over elements: the energy-weighted
    error that SDR measures. The decode loss keeps absent sources silent.
    ``set_batch`` gives it each mini-batch's magnitudes.
    """

    def __init__(self, n_classes, spectrogram):
        super().__init__(n_classes)
        self.spectrogram = spectrogram

    def set_batch(self, X, T):
        unscale = self.spectrogram.unscale
        self.mix_mag = unscale(X)[None]
        self.src_mag = unscale(T)
        self.present = T.max(axis=2, keepdims=True) > 0

    def __call__(self, output, target, delta, workspace):
        decode_value = super().__call__(output, target, delta, workspace)
        n_classes = self.n_classes
        batch = output.shape[0] // n_classes
        D = output.reshape(n_classes, batch, -1)
        U = self.spectrogram.unscale(D) * self.present
        masks = ratio_masks(U)
        total = U.sum(axis=0)
        src_mag = self.src_mag
        err = masks * self.mix_mag - src_mag
        # Per element, relative to the sources' mean energy, like the cross-entropy.
        norm = float(np.einsum("kbi,kbi->", src_mag, src_mag)) / src_mag.size + 1e-12
        value = float(np.einsum("kbi,kbi->", err, err)) / norm / err.size
        g = (2.0 / norm) * err * self.mix_mag  # d (loss * size) / d mask
        gU = g - (g * masks).sum(axis=0)
        np.divide(gU, total, out=gU, where=total > 0)
        gU *= self.present
        gD = gU * self.spectrogram.unscale_gradient(D, U)
        sigmoid_derivative_(D, gD)
        gD /= batch
        delta += gD.reshape(delta.shape)
        return value + decode_value


@validate_params(
    {
        "autoencoder": [HasMethods(["encode", "decode"])],
        "spectrogram": [HasMethods(["scale", "unscale", "unscale_gradient"])],
        "responsibilities": ["array-like"],
        "stfts": [list],
        "labels": ["array-like"],
        "n_epochs": [Interval(Integral, 0, None, closed="left")],
        "n_mixtures": [Interval(Integral, 1, None, closed="left")],
        "max_sources": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "loss": [StrOptions({"decode", "mask"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "n_threads": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def discriminative_fine_tune(
    autoencoder,
    spectrogram,
    responsibilities,
    stfts,
    labels,
    *,
    n_epochs=10,
    n_mixtures=20000,
    max_sources=3,
    learning_rate=1e-3,
    batch_size=64,
    loss="decode",
    random_state=None,
    verbose=0,
    n_threads=1,
):
    """Fine-tune a fitted autoencoder so that masked codes decode to sources.

    Parameters
    ----------
    autoencoder : StackedRBMAutoencoder
        Fitted, with ``input_size_ == spectrogram.chunk_size_``; updated in
        place.
    spectrogram : SpectrogramTransformer
        Fitted.
    responsibilities : ndarray of shape (n_units, n_sources)
        Unit responsibilities per source (``CodeLayerClusterer``), fixed.
    stfts : list of ndarray of shape (n_bins, n_frames_i)
        Complex STFTs of isolated training clips.
    labels : ndarray of shape (n_clips,)
        Source index (column of ``responsibilities``) of each clip.
    n_epochs : int, default=10
        Passes, each over ``n_mixtures`` freshly drawn mixtures.
    n_mixtures : int, default=20000
        Mixture chunks per epoch.
    max_sources : int, default=3
        Sources per mixture at most (at least 1).
    learning_rate : float, default=1e-3
        Adam step size.
    batch_size : int, default=64
        Mixtures per step.
    loss : {"decode", "mask"}, default="decode"
        ``"decode"``: cross-entropy of each source's decode with its scaled
        spectrum (zeros for absent sources). ``"mask"``: squared error of the
        masked mixture magnitude of each present source, relative to the
        sources' energy (masks trained jointly, as Huang et al. 2014 do), plus
        the ``"decode"`` loss so absent sources stay silent.
    random_state : int, RandomState instance or None, default=None
        Seeds the mixtures.
    verbose : int, default=0
        Print the loss of each epoch when positive.
    n_threads : int, default=1
        Threads of the optimiser's elementwise update.

    Returns
    -------
    loss_curve : list of float
        Mean loss of each epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep import SpectrogramTransformer, StackedRBMAutoencoder
    >>> from skaesep.discriminative import discriminative_fine_tune
    >>> rng = np.random.RandomState(0)
    >>> clips = rng.normal(size=(2, 8000)).astype(np.float32)
    >>> spec = SpectrogramTransformer(8000, 100, n_frames=1).fit(clips)
    >>> Xt = spec.transform(clips)
    >>> ae = StackedRBMAutoencoder((8, 4), input_size=spec.chunk_size_, max_iter=1,
    ...                            random_state=0).fit(Xt)
    >>> R = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], dtype=float)
    >>> curve = discriminative_fine_tune(ae, spec, R, [spec.stft(c) for c in clips],
    ...                                  np.array([0, 1]), n_epochs=2, n_mixtures=32,
    ...                                  random_state=0)
    >>> len(curve)
    2
    """
    rng = check_random_state(random_state)
    weights, biases = autoencoder._layers()
    n_encoder = len(autoencoder.encoder_weights_)
    dtype = weights[0].dtype
    R = np.asarray(responsibilities, dtype=dtype).T.copy()
    n_classes = R.shape[0]
    complex_dtype = np.complex64 if dtype == np.float32 else np.complex128
    stfts = [np.asarray(S, dtype=complex_dtype) for S in stfts]
    labels = np.asarray(labels)
    loss_fn = _DecodeLoss(n_classes) if loss == "decode" else _MaskLoss(n_classes, spectrogram)
    hook = _MaskedCodes(R, batch_size)
    workspace = Workspace(
        weights, batch_size, dtype, n_encoder=n_encoder, decoder_rows=n_classes * batch_size
    )
    loss_curve = []
    with AdamOptimizer(weights + biases, learning_rate, n_threads=n_threads) as optimizer:
        for epoch in range(n_epochs):
            t0 = time.perf_counter()
            total, seen = 0.0, 0
            while seen < n_mixtures:
                batch = min(batch_size, n_mixtures - seen)
                X, T = make_mixture_batch(
                    stfts, labels, n_classes, spectrogram, batch, max_sources, rng
                )
                X, T = X.astype(dtype, copy=False), T.astype(dtype, copy=False)
                if loss == "mask":
                    loss_fn.set_batch(X, T)
                value, grads = backprop(
                    X,
                    weights,
                    biases,
                    workspace,
                    target=T.reshape(n_classes * batch, -1),
                    loss=loss_fn,
                    n_encoder=n_encoder,
                    code_hook=hook,
                )
                optimizer.update_params(grads)
                total += value * batch
                seen += batch
            loss_curve.append(total / n_mixtures)
            if verbose:
                print(
                    "[discriminative_fine_tune] Iteration %d, loss = %.4f, %.2fs"
                    % (epoch + 1, loss_curve[-1], time.perf_counter() - t0)
                )
    return loss_curve
