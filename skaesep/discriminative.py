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
update is written with the in-place helpers of :mod:`skaesep._base` and the
autoencoder's own optimiser, on the live arrays of
:meth:`StackedRBMAutoencoder._layers`.
"""

import time

import numpy as np
from sklearn.utils import check_random_state

from ._base import binary_cross_entropy, sigmoid_, sigmoid_derivative_
from .autoencoder import _Optimizer


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


def _decode_loss(output, target, context):
    """Cross-entropy of every decode with its source; delta at the output's pre-activation."""
    loss = binary_cross_entropy(target, output)
    # Sigmoid output with cross-entropy: the output delta is output - target.
    return loss, output - target


def _mask_loss(output, target, context):
    """Squared error of the masked mixture magnitudes, over the present sources.

    The decodes ``D_k`` are mapped back to magnitudes ``U_k`` (the inverse of
    the log scaling), the masks ``m_k = U_k / sum_j U_j`` over the sources
    present in the mixture are applied to the mixture magnitude ``|X|``, and
    the loss is ``(m_k |X| - |S_k|)^2`` relative to the sources' mean energy,
    averaged over elements: the energy-weighted error that SDR measures.
    Returns the loss and the delta (of the loss summed over elements) at the
    output pre-activation.
    """
    mix_mag, src_mag, present, unscale, unscale_grad = context
    n_classes = present.shape[0]
    D = output.reshape(n_classes, -1, output.shape[-1])
    U = unscale(D) * present
    total = U.sum(axis=0) + 1e-8
    masks = U / total
    err = masks * mix_mag - src_mag
    # Per element, relative to the sources' mean energy, like the cross-entropy.
    norm = float(np.einsum("kbi,kbi->", src_mag, src_mag)) / src_mag.size + 1e-12
    loss = float(np.einsum("kbi,kbi->", err, err)) / norm / err.size
    g = (2.0 / norm) * err * mix_mag  # d (loss * size) / d mask
    gU = (g - (g * masks).sum(axis=0)) / total * present
    gD = gU * unscale_grad(D, U)
    gD *= D
    gD *= 1 - D
    return loss, gD.reshape(output.shape)


def _combined_loss(output, target, context):
    """``_mask_loss`` plus ``_decode_loss``."""
    mask_value, mask_delta = _mask_loss(output, target, context)
    decode_value, decode_delta = _decode_loss(output, target, context)
    return mask_value + decode_value, mask_delta + decode_delta


def _masked_backprop(X, T, R, weights, biases, n_encoder, optimizer, loss=_decode_loss,
                     context=None):
    """One optimiser step of a masked-decode loss; returns the loss.

    ``X`` (B, n_in) mixtures, ``T`` (K, B, n_in) targets, ``R`` (K, n_code)
    responsibilities. The K decodes run as one batch of K * B rows.
    """
    n_classes, batch = T.shape[0], X.shape[0]
    enc_act = [X]
    for W, b in zip(weights[:n_encoder], biases[:n_encoder]):
        Z = enc_act[-1] @ W
        Z += b
        enc_act.append(sigmoid_(Z))
    code = enc_act[-1]
    masked = (R[:, None, :] * code[None]).reshape(n_classes * batch, -1)
    dec_act = [masked]
    for W, b in zip(weights[n_encoder:], biases[n_encoder:]):
        Z = dec_act[-1] @ W
        Z += b
        dec_act.append(sigmoid_(Z))
    target = T.reshape(n_classes * batch, -1)
    value, delta = loss(dec_act[-1], target, context)
    delta /= batch
    n_layers = len(weights)
    grads_W = [None] * n_layers
    grads_b = [None] * n_layers
    for j in range(n_layers - n_encoder - 1, -1, -1):
        i = n_encoder + j
        grads_W[i] = dec_act[j].T @ delta
        grads_b[i] = delta.sum(axis=0)
        delta = delta @ weights[i].T
        if j:
            sigmoid_derivative_(dec_act[j], delta)
    # delta is now d loss / d masked code; back to the code through the masks.
    delta = (delta.reshape(n_classes, batch, -1) * R[:, None, :]).sum(axis=0)
    sigmoid_derivative_(code, delta)
    for i in range(n_encoder - 1, -1, -1):
        grads_W[i] = enc_act[i].T @ delta
        grads_b[i] = delta.sum(axis=0)
        if i:
            delta = sigmoid_derivative_(enc_act[i], delta @ weights[i].T)
    optimizer.step(grads_W + grads_b)
    return value


def _unscale_functions(spectrogram):
    """``unscale`` and its derivative, written for the mask loss."""
    if spectrogram.compression == "log":
        gain = 10.0 ** (spectrogram.dynamic_range / 20.0)
        L, c = np.log1p(gain), spectrogram.ref_ / gain

        def unscale(D):
            return np.expm1(D * L) * c

        def grad(D, U):
            return L * (U + c)  # d/dD of c * expm1(L D)
    else:

        def unscale(D):
            return D * spectrogram.ref_

        def grad(D, U):
            return spectrogram.ref_
    return unscale, grad


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
    if loss not in ("decode", "mask"):
        raise ValueError(f'loss must be "decode" or "mask", got {loss!r}.')
    rng = check_random_state(random_state)
    weights, biases = autoencoder._layers()
    n_encoder = len(autoencoder.encoder_weights_)
    dtype = weights[0].dtype
    R = np.asarray(responsibilities, dtype=dtype).T.copy()
    n_classes = R.shape[0]
    stfts = [np.asarray(S, dtype=np.complex64 if dtype == np.float32 else np.complex128)
             for S in stfts]
    labels = np.asarray(labels)
    optimizer = _Optimizer(weights + biases, "adam", learning_rate, 0.9)
    unscale, unscale_grad = _unscale_functions(spectrogram)
    loss_curve = []
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
                context = (unscale(X)[None], unscale(T), (T.max(axis=2, keepdims=True) > 0),
                           unscale, unscale_grad)
                value = _masked_backprop(X, T, R, weights, biases, n_encoder, optimizer,
                                         _combined_loss, context)
            else:
                value = _masked_backprop(X, T, R, weights, biases, n_encoder, optimizer)
            total += value * batch
            seen += batch
        loss_curve.append(total / n_mixtures)
        if verbose:
            print(
                "[discriminative_fine_tune] Iteration %d, loss = %.4f, %.2fs"
                % (epoch + 1, loss_curve[-1], time.perf_counter() - t0)
            )
    return loss_curve
