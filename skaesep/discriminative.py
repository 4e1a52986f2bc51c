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

import librosa
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.utils import check_random_state

from ._base import binary_cross_entropy, sigmoid_derivative_
from ._masking import ratio_masks
from ._network import Workspace, backprop
from ._parallel import ThreadTeam, default_threads
from ._sklearn_compat import HasMethods, Interval, StrOptions, validate_params
from ._stochastic_optimizers import AdamOptimizer


def _chunk_index(n_t, n_frames, rng, size):
    """Random chunk starts in a spectrogram of ``n_t`` frames."""
    return rng.randint(0, max(1, n_t - n_frames + 1), size=size)


#: Keys of the ``augmentation`` of :func:`discriminative_fine_tune` and
#: :class:`~skaesep.MaskResynthesizer`.
AUGMENTATION_KEYS = ("gain_db", "tilt_db", "pitch_semitones", "onset_s")


def check_augmentation(augmentation):
    """The augmentation dict with every key, zero when not given.

    Parameters
    ----------
    augmentation : dict or None
        Half-ranges of the random changes, in :data:`AUGMENTATION_KEYS`:
        ``gain_db`` (gain of each stem in a mixture), ``tilt_db`` (spectral
        tilt of each stem, dB per octave about 1 kHz) and ``pitch_semitones``
        (copies of the training clips resampled this many semitones up and
        down); ``onset_s`` makes the stems of each mixture start notes
        together, as in ensemble music: each stem is taken at one of its
        note onsets plus a delay shared by the mixture, drawn in
        ``[0, onset_s)`` seconds (:func:`note_onsets`). ``None`` means no
        augmentation.

    Returns
    -------
    augmentation : dict
        ``{key: float}`` for every key.

    Raises
    ------
    ValueError
        For an unknown key or a negative or non-numeric value.

    Examples
    --------
    >>> from skaesep.discriminative import check_augmentation
    >>> check_augmentation({"gain_db": 6})
    {'gain_db': 6.0, 'tilt_db': 0.0, 'pitch_semitones': 0.0, 'onset_s': 0.0}
    """
    augmentation = {} if augmentation is None else dict(augmentation)
    unknown = sorted(set(augmentation) - set(AUGMENTATION_KEYS))
    if unknown:
        raise ValueError(
            f"unknown augmentation {', '.join(map(repr, unknown))}; the keys are "
            f"{', '.join(AUGMENTATION_KEYS)}."
        )
    out = {}
    for key in AUGMENTATION_KEYS:
        value = augmentation.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, Real) or not value >= 0:
            raise ValueError(f"augmentation {key!r} must be a number >= 0, got {value!r}.")
        out[key] = float(value)
    return out


class StemAugmentation:
    """Random gain and spectral tilt of one stem, as a gain per frequency bin.

    A stem's complex STFT multiplied by the gains is the STFT of the stem
    filtered by a zero-phase equaliser, so a mixture of augmented stems is
    still the exact sum of its sources.

    Parameters
    ----------
    frequencies : ndarray of shape (n_bins,)
        Centre frequency of each bin in Hz.
    gain_db : float
        Gains are drawn uniformly in ``[-gain_db, gain_db]`` dB.
    tilt_db : float
        Tilts are drawn uniformly in ``[-tilt_db, tilt_db]`` dB per octave
        about 1 kHz (bins below 62.5 Hz take the 62.5 Hz gain).

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep.discriminative import StemAugmentation
    >>> aug = StemAugmentation(np.array([500.0, 1000.0, 2000.0]), gain_db=0, tilt_db=6)
    >>> print(np.round(20 * np.log10(aug(np.random.RandomState(0))), 2))  # one octave apart
    [-2.58  0.    2.58]
    """

    def __init__(self, frequencies, gain_db, tilt_db):
        self.octaves = np.log2(np.maximum(np.asarray(frequencies, dtype=float), 62.5) / 1000.0)
        self.gain_db = gain_db
        self.tilt_db = tilt_db

    def __call__(self, rng):
        """Gains of one stem, shape ``(n_bins,)``."""
        gain = rng.uniform(-self.gain_db, self.gain_db)
        tilt = rng.uniform(-self.tilt_db, self.tilt_db)
        return 10.0 ** ((gain + tilt * self.octaves) / 20.0)


def note_onsets(S, spectrogram):
    """Frames of the note onsets of one clip, for onset-aligned mixtures.

    Parameters
    ----------
    S : ndarray of shape (n_bins, n_frames)
        Complex STFT of the clip (:meth:`SpectrogramTransformer.stft`).
    spectrogram : SpectrogramTransformer
        Fitted; supplies the sample rate and hop.

    Returns
    -------
    onsets : ndarray of int
        Frame index of each onset librosa's detector finds in the clip's
        level (dB, the top 40 dB), may be empty; a note at the clip's first
        frame has no rise to detect.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep import SpectrogramTransformer
    >>> from skaesep.discriminative import note_onsets
    >>> sr = 8000
    >>> t = np.arange(2 * sr) / sr
    >>> clip = (np.sin(2 * np.pi * 440 * t) * np.exp(-8 * (t % 0.5))).astype(np.float32)
    >>> spec = SpectrogramTransformer(sr, 100, n_frames=1).fit(clip[None])
    >>> seconds = note_onsets(spec.stft(clip), spec) * spec.hop_length_ / sr
    >>> [round(float(x), 2) for x in seconds]  # a note every 0.5 s, the first at 0 s
    [0.5, 1.0, 1.5]
    """
    # Levels 40 dB below the clip's peak are ignored: the ripple of a window's
    # side lobes there would read as onsets.
    level = librosa.amplitude_to_db(np.abs(S), ref=np.max, top_db=40.0)
    envelope = librosa.onset.onset_strength(S=level, sr=spectrogram.sr)
    return librosa.onset.onset_detect(
        onset_envelope=envelope, sr=spectrogram.sr, hop_length=spectrogram.hop_length_
    )


def pitch_shifted_clips(clips, sr, semitones):
    """Copies of clips resampled ``semitones`` up and down (pitch and length change).

    Parameters
    ----------
    clips : sequence of ndarray of shape (n_samples_i,)
        Waveforms.
    sr : int
        Their sample rate.
    semitones : float
        Shift of each copy; 0 gives no copies.

    Returns
    -------
    shifted : list of ndarray
        Two copies of each clip (down, then up), clip after clip.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep.discriminative import pitch_shifted_clips
    >>> up_down = pitch_shifted_clips([np.zeros(1200)], 12000, 12)
    >>> [c.size for c in up_down]
    [2400, 600]
    """
    if semitones <= 0:
        return []
    return [
        librosa.resample(np.asarray(clip), orig_sr=sr, target_sr=sr * 2.0 ** (s / 12.0))
        for clip in clips
        for s in (semitones, -semitones)
    ]


def make_mixture_batch(
    stfts,
    labels,
    n_classes,
    spectrogram,
    batch_size,
    max_sources,
    rng,
    augment=None,
    *,
    onsets=None,
    max_delay=1,
):
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
    augment : callable, default=None
        ``augment(rng)`` gives the gain per frequency bin of one stem (e.g.
        :class:`StemAugmentation`); the sources are the augmented stems.
    onsets : list of ndarray, default=None
        Onset frames of each clip (:func:`note_onsets`). Given, the stems of
        a mixture are taken at one of their onsets plus a delay of
        ``0 .. max_delay - 1`` frames shared by the mixture (a clip without
        onsets at a random frame).
    max_delay : int, default=1
        Delays drawn with ``onsets``.

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
        delay = None if onsets is None else rng.randint(max_delay)
        for k in chosen:
            clip = by_class[k][rng.randint(by_class[k].size)]
            S = stfts[clip]
            if delay is not None and onsets[clip].size:
                onset = onsets[clip][rng.randint(onsets[clip].size)]
                start = min(onset + delay, max(0, S.shape[1] - n_frames))
            else:
                start = _chunk_index(S.shape[1], n_frames, rng, 1)[0]
            part = S[:, start : start + n_frames].T
            src = np.zeros((n_frames, n_bins), dtype=S.dtype)
            src[: part.shape[0]] = part
            if augment is not None:
                src *= augment(rng).astype(dtype)
            mix += src
            T[k, i] = np.abs(src)
        X[i] = np.abs(mix)
    X = spectrogram.scale(X).reshape(batch_size, -1)
    T = spectrogram.scale(T).reshape(n_classes, batch_size, -1)
    return X, T


def _segment_chunks(S, start, n_rows, n_frames):
    """``n_rows`` chunks of ``n_frames`` frames of ``S`` from frame ``start``, hop 1.

    Returns a complex array ``(n_rows, n_frames, n_bins)``, zero past the end.
    """
    span = np.zeros((n_rows + n_frames - 1, S.shape[0]), dtype=S.dtype)
    part = S[:, start : start + span.shape[0]].T
    span[: part.shape[0]] = part
    windows = np.lib.stride_tricks.sliding_window_view(span, n_frames, axis=0)
    return windows.transpose(0, 2, 1)


def make_segment_batch(
    stfts, groups, n_slots, spectrogram, n_segments, segment_frames, max_sources, rng
):
    """Mixtures of segments of unlabelled clips, with each source in a slot.

    Each segment mixes ``segment_frames`` consecutive chunks of 1 to
    ``max_sources`` clips of distinct ``groups`` (the timbre pseudo-labels:
    two takes of one instrument are not mixed as two sources). Source ``j``
    of a segment is in slot ``j``; which source a unit group should
    produce is left to the permutation-invariant loss.

    Parameters
    ----------
    stfts : list of ndarray of shape (n_bins, n_frames_i)
        Complex STFTs of the clips.
    groups : ndarray of shape (n_clips,)
        Group of each clip.
    n_slots : int
        Source slots (the model's sources), at least ``max_sources``.
    spectrogram : SpectrogramTransformer
        Fitted.
    n_segments, segment_frames : int
        Segments to build and chunks per segment.
    max_sources : int
        Sources per segment at most.
    rng : numpy.random.RandomState
        Source of randomness.

    Returns
    -------
    X : ndarray of shape (n_segments * segment_frames, chunk_size)
        Scaled mixture chunks, segment after segment.
    T : ndarray of shape (n_slots, n_segments * segment_frames, chunk_size)
        Scaled chunks of each slot's source (0 for an empty slot).
    """
    return _segment_batch(
        stfts, groups, n_slots, spectrogram, n_segments, segment_frames, max_sources, rng
    )


def make_mixit_batch(stfts, spectrogram, n_segments, segment_frames, rng):
    """Mixtures of two mixtures: segments of two distinct recordings added.

    Mixture-invariant training (Wisdom et al. 2020): the network separates
    the sum, and its sources are judged by how well some grouping of them
    gives back each of the two recordings.

    Parameters
    ----------
    stfts : list of ndarray of shape (n_bins, n_frames_i)
        Complex STFTs of the recordings (solo clips or mixtures), at least 2.
    spectrogram : SpectrogramTransformer
        Fitted.
    n_segments, segment_frames : int
        Segments to build and chunks per segment.
    rng : numpy.random.RandomState
        Source of randomness.

    Returns
    -------
    X : ndarray of shape (n_segments * segment_frames, chunk_size)
        Scaled chunks of the mixtures of mixtures.
    T : ndarray of shape (2, n_segments * segment_frames, chunk_size)
        Scaled chunks of the two recordings.
    """
    return _segment_batch(stfts, None, 2, spectrogram, n_segments, segment_frames, 2, rng)


def _segment_batch(stfts, groups, n_slots, spectrogram, n_segments, segment_frames, high, rng):
    """:func:`make_segment_batch`; ``groups=None`` mixes exactly 2 distinct clips (MixIT)."""
    n_frames, n_bins, L = spectrogram.n_frames, stfts[0].shape[0], segment_frames
    dtype = np.float32 if stfts[0].dtype == np.complex64 else np.float64
    X = np.zeros((n_segments, L, n_frames, n_bins), dtype=dtype)
    T = np.zeros((n_slots, n_segments, L, n_frames, n_bins), dtype=dtype)
    if groups is not None:
        by_group = [np.flatnonzero(groups == g) for g in np.unique(groups)]
        high = min(high, len(by_group))
    for i in range(n_segments):
        if groups is None:
            clips = rng.choice(len(stfts), size=2, replace=False)
        else:
            chosen = rng.choice(len(by_group), size=rng.randint(1, high + 1), replace=False)
            clips = [by_group[g][rng.randint(by_group[g].size)] for g in chosen]
        mix = np.zeros((L, n_frames, n_bins), dtype=stfts[0].dtype)
        for j, c in enumerate(clips):
            S = stfts[c]
            start = _chunk_index(S.shape[1], L + n_frames - 1, rng, 1)[0]
            src = _segment_chunks(S, start, L, n_frames)
            mix += src
            T[j, i] = np.abs(src)
        X[i] = np.abs(mix)
    rows = n_segments * L
    X = spectrogram.scale(X).reshape(rows, -1)
    T = spectrogram.scale(T).reshape(n_slots, rows, -1)
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
        gD = _mask_gradient_delta(g, masks, total, self.present, D, U, self.spectrogram)
        delta += gD.reshape(delta.shape)
        return value + decode_value


def _mask_gradient_delta(g, masks, total, present, D, U, spectrogram):
    """Delta at the decodes' pre-activation from ``g``, the gradient at the masks.

    The chain through the ratio masks ``m_k = U_k / sum_j U_j``, the
    unscaling ``U = unscale(D)`` and the sigmoid, per mixture (divided by the
    rows of the batch).
    """
    gU = g - (g * masks).sum(axis=0)
    np.divide(gU, total, out=gU, where=total > 0)
    gU *= present
    gD = gU * spectrogram.unscale_gradient(D, U)
    sigmoid_derivative_(D, gD)
    gD /= D.shape[1]
    return gD


class _PermutationInvariant:
    """A loss taken under the best assignment of unit groups to sources, per segment.

    The targets come in slots (:func:`make_segment_batch`); for each segment
    of ``segment_frames`` consecutive rows the slots are assigned to the
    unit groups by the permutation that minimises the decode cross-entropy
    of the segment (an assignment problem, :func:`scipy.optimize.linear_sum_assignment`,
    as asteroid's ``PITLossWrapper`` solves it), and ``inner`` is evaluated
    on the targets so reordered. Assigning per segment rather than per row
    keeps a group on one source over time (per frame, identities flip).
    """

    def __init__(self, inner, segment_frames):
        self.inner = inner
        self.segment_frames = segment_frames

    def set_batch(self, X, T):
        self.X = X

    def __call__(self, output, target, delta, workspace):
        n_groups = self.inner.n_classes
        T = target.reshape(n_groups, -1, self.segment_frames, target.shape[-1])
        D = output.reshape(T.shape)
        eps = 1e-7
        logit = np.log(np.clip(D, eps, 1 - eps)) - np.log(np.clip(1 - D, eps, 1 - eps))
        # Cross-entropy of slot i's target against group k's decode, less that of
        # an empty target: -sum t * logit(d) (the rest does not depend on the target).
        cost = -np.einsum("isrf,ksrf->sik", T, logit)
        for s in range(T.shape[1]):
            slots, chosen = linear_sum_assignment(cost[s])
            T[chosen, s] = T[slots, s].copy()
        if hasattr(self.inner, "set_batch"):
            self.inner.set_batch(self.X, target.reshape(n_groups, -1, target.shape[-1]))
        return self.inner(output, target, delta, workspace)


class _MixITLoss:
    """Mixture-invariant loss: the sources grouped into the two mixtures they came from.

    The masks of all sources, ``m_k = U_k / sum_j U_j``, applied to the
    magnitude ``|X|`` of the mixture of mixtures, give estimates ``Y_k``;
    for each segment the sources are split into two sets ``A`` and ``B``
    (each of the ``2 ** n_sources`` splits, as asteroid's generalised
    ``MixITLossWrapper``) so that ``sum_A Y_k`` and ``sum_B Y_k`` best match
    the two recordings' magnitudes, and the loss is that squared error
    relative to their mean energy (as :class:`_MaskLoss`).
    """

    def __init__(self, n_classes, spectrogram, segment_frames):
        self.n_classes = n_classes
        self.spectrogram = spectrogram
        self.segment_frames = segment_frames
        splits = np.arange(2**n_classes)[:, None] >> np.arange(n_classes) & 1
        self.splits = splits.astype(float)  # (n_splits, n_sources): 1 = mixture A

    def set_batch(self, X, T):
        unscale = self.spectrogram.unscale
        self.mix_mag = unscale(X)[None]
        self.ref_mag = unscale(T)  # (2, rows, F)

    def __call__(self, output, target, delta, workspace):
        K, L = self.n_classes, self.segment_frames
        rows = output.shape[0] // K
        D = output.reshape(K, rows, -1)
        U = self.spectrogram.unscale(D)
        masks = ratio_masks(U)
        total = U.sum(axis=0)
        Y = masks * self.mix_mag
        n_seg = rows // L
        Ys = Y.reshape(K, n_seg, L, -1)
        Ra, Rb = self.ref_mag.reshape(2, n_seg, L, -1)
        # ||a.Y - Ra||^2 + ||(1 - a).Y - Rb||^2 for every split a, per segment.
        G = np.einsum("ksrf,lsrf->skl", Ys, Ys)
        pa = np.einsum("ksrf,srf->sk", Ys, Ra)
        pb = np.einsum("ksrf,srf->sk", Ys, Rb)
        a, b = self.splits, 1 - self.splits
        cost = (
            np.einsum("pk,skl,pl->sp", a, G, a)
            + np.einsum("pk,skl,pl->sp", b, G, b)
            - 2 * (pa @ a.T + pb @ b.T)
        )
        best = a[np.argmin(cost, axis=1)]  # (n_seg, K)
        in_a = np.repeat(best.T, L, axis=1)[:, :, None]  # (K, rows, 1)
        err_a = (Y * in_a).sum(axis=0) - self.ref_mag[0]
        err_b = (Y * (1 - in_a)).sum(axis=0) - self.ref_mag[1]
        norm = float(np.einsum("ari,ari->", self.ref_mag, self.ref_mag)) / self.ref_mag.size
        norm += 1e-12
        value = float(np.einsum("ri,ri->", err_a, err_a) + np.einsum("ri,ri->", err_b, err_b))
        value /= norm * self.ref_mag.size
        g = (2.0 / norm) * np.where(in_a > 0, err_a, err_b) * self.mix_mag
        gD = _mask_gradient_delta(g, masks, total, 1.0, D, U, self.spectrogram)
        delta[...] = gD.reshape(delta.shape)
        return value


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
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "invariance": [StrOptions({"pit", "mixit"}), None],
        "segment_frames": [Interval(Integral, 1, None, closed="left")],
        "augmentation": [dict, None],
        "validation": [tuple, None],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
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
    n_threads=None,
    invariance=None,
    segment_frames=20,
    augmentation=None,
    validation=None,
    n_iter_no_change=3,
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
        Source index (column of ``responsibilities``) of each clip; with
        ``invariance="pit"``, a group (e.g. a timbre pseudo-label) that only
        keeps two clips of one group out of one mixture; ignored with
        ``"mixit"``.
    n_epochs : int, default=10
        Passes, each over ``n_mixtures`` freshly drawn mixtures.
    n_mixtures : int, default=20000
        Mixture chunks per epoch (whole segments with ``invariance``).
    max_sources : int, default=3
        Sources per mixture at most (at least 1).
    learning_rate : float, default=1e-3
        Adam step size.
    batch_size : int, default=64
        Mixtures per step; with ``invariance``, chunks per step, in
        ``max(1, batch_size // segment_frames)`` whole segments.
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
    n_threads : int, default=None
        Threads sharing each mini-batch's products and update, each running
        one BLAS thread (:class:`skaesep._parallel.ThreadTeam`); ``None``
        uses the available cores, at most 8 and at most
        ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS`` when set
        (:func:`skaesep._parallel.default_threads`). Given ``random_state``
        the result does not depend on it, up to float rounding.
    invariance : {None, "pit", "mixit"}, default=None
        ``None``: source ``k`` of a mixture is the clips of label ``k``.
        ``"pit"`` (permutation-invariant training): mixtures of segments of
        1 to ``max_sources`` clips of distinct labels
        (:func:`make_segment_batch`), ``loss`` taken under the assignment of
        the clips to the sources (columns of ``responsibilities``) that
        minimises the segment's decode cross-entropy, chosen per segment.
        ``"mixit"`` (mixture-invariant training, Wisdom et al. 2020):
        segments of two distinct clips (solo or mixtures, no labels) added
        (:func:`make_mixit_batch`); the loss is the squared error of the
        masked magnitudes under the best split of the sources into the two
        clips, per segment (``loss`` is not used).
    segment_frames : int, default=20
        Consecutive chunks of one mixture that share an assignment (with
        ``invariance``).
    augmentation : dict, default=None
        Random gain (``gain_db``) and spectral tilt (``tilt_db``) of every
        stem of every mixture (:class:`StemAugmentation`; without
        ``invariance``), onset-aligned stems (``onset_s``); see
        :func:`check_augmentation`. ``pitch_semitones`` is not used here:
        pass the resampled clips (:func:`pitch_shifted_clips`) among
        ``stfts``.
    validation : tuple (stfts, labels), default=None
        Complex STFTs and source indices of held-out clips (without
        ``invariance``). Given, early stopping: after each epoch the loss is
        measured on fixed random mixtures of these clips (a tenth of
        ``n_mixtures``, at least ``batch_size``, drawn once, built like the
        training mixtures but without ``augmentation``); training stops
        after ``n_iter_no_change`` epochs without a lower validation loss,
        and the weights of the epoch with the lowest are kept.
    n_iter_no_change : int, default=3
        Epochs without improvement that stop training, with ``validation``.

    Returns
    -------
    loss_curve : list of float
        Mean loss of each epoch.
    validation_curve : list of float
        With ``validation``: the validation loss after each epoch.

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
    n_segments = max(1, batch_size // segment_frames)
    if invariance == "pit":
        loss_fn = _PermutationInvariant(loss_fn, segment_frames)
    elif invariance == "mixit":
        if len(stfts) < 2:
            raise ValueError(f'invariance="mixit" needs at least 2 clips, got {len(stfts)}.')
        loss_fn = _MixITLoss(n_classes, spectrogram, segment_frames)
    rows = batch_size if invariance is None else n_segments * segment_frames
    aug = check_augmentation(augmentation)
    augment = None
    if aug["gain_db"] > 0 or aug["tilt_db"] > 0:
        frequencies = librosa.fft_frequencies(sr=spectrogram.sr, n_fft=spectrogram.win_length_)
        augment = StemAugmentation(frequencies, aug["gain_db"], aug["tilt_db"])
    aligned = {}
    if aug["onset_s"] > 0:
        aligned = dict(
            onsets=[note_onsets(S, spectrogram) for S in stfts],
            max_delay=max(1, round(aug["onset_s"] * spectrogram.sr / spectrogram.hop_length_)),
        )
    hook = _MaskedCodes(R, rows)
    workspace = Workspace(weights, rows, dtype, n_encoder=n_encoder, decoder_rows=n_classes * rows)
    loss_curve = []
    if validation is not None:
        if invariance is not None:
            raise ValueError("validation (early stopping) needs invariance=None.")
        val_stfts, val_labels = validation
        val_stfts = [np.asarray(S, dtype=complex_dtype) for S in val_stfts]
        val_rng = check_random_state(rng.randint(np.iinfo(np.int32).max))
        val_args = (val_stfts, np.asarray(val_labels), n_classes, spectrogram, batch_size)
        val_batches = [
            make_mixture_batch(*val_args, max_sources, val_rng)
            for _ in range(max(1, n_mixtures // 10 // batch_size))
        ]
        validation_curve, best_loss, best_params, no_change = [], np.inf, None, 0
    with ThreadTeam(n_threads or default_threads()) as team:
        optimizer = AdamOptimizer(weights + biases, learning_rate, team=team)
        for epoch in range(n_epochs):
            t0 = time.perf_counter()
            total, seen = 0.0, 0
            while seen < n_mixtures:
                if invariance is None:
                    batch = min(batch_size, n_mixtures - seen)
                    X, T = make_mixture_batch(
                        stfts, labels, n_classes, spectrogram, batch, max_sources, rng, augment,
                        **aligned,
                    )  # fmt: skip
                elif invariance == "pit":
                    X, T = make_segment_batch(
                        stfts, labels, n_classes, spectrogram, n_segments, segment_frames,
                        min(max_sources, n_classes), rng,
                    )  # fmt: skip
                else:
                    X, T = make_mixit_batch(stfts, spectrogram, n_segments, segment_frames, rng)
                batch = X.shape[0]
                X, T = X.astype(dtype, copy=False), T.astype(dtype, copy=False)
                if hasattr(loss_fn, "set_batch"):
                    loss_fn.set_batch(X, T)
                value, grads = backprop(
                    X,
                    weights,
                    biases,
                    workspace,
                    target=T.reshape(-1, T.shape[-1]),
                    loss=loss_fn,
                    n_encoder=n_encoder,
                    code_hook=hook,
                    team=team,
                )
                optimizer.update_params(grads)
                total += value * batch
                seen += batch
            loss_curve.append(total / seen)
            if verbose:
                print(
                    "[discriminative_fine_tune] Iteration %d, loss = %.4f, %.2fs"
                    % (epoch + 1, loss_curve[-1], time.perf_counter() - t0)
                )
            if validation is None:
                continue
            value = 0.0
            for X, T in val_batches:
                X, T = X.astype(dtype, copy=False), T.astype(dtype, copy=False)
                if hasattr(loss_fn, "set_batch"):
                    loss_fn.set_batch(X, T)
                value += backprop(
                    X, weights, biases, workspace, target=T.reshape(-1, T.shape[-1]),
                    loss=loss_fn, n_encoder=n_encoder, code_hook=hook, team=team,
                )[0]  # fmt: skip
            validation_curve.append(value / len(val_batches))
            if verbose:
                print(f"[discriminative_fine_tune] validation loss = {validation_curve[-1]:.4f}")
            if validation_curve[-1] < best_loss:
                best_loss, no_change = validation_curve[-1], 0
                best_params = [p.copy() for p in weights + biases]
            else:
                no_change += 1
                if no_change >= n_iter_no_change:
                    break
    if validation is None:
        return loss_curve
    if best_params is not None:
        for p, best in zip(weights + biases, best_params):
            p[...] = best
    return loss_curve, validation_curve
