"""The block-wise separation engine: STFT → encode/decode → masks → inverse FFT → overlap-add.

Functions, kept apart from :class:`MaskResynthesizer` (which validates and
orchestrates), in the manner of open-unmix's ``filtering.py``. A recording is
processed in blocks of :data:`BLOCK_FRAMES` STFT frames: each block's frames
(:meth:`SpectrogramTransformer.stft_frames`) and the chunks covering them are
encoded in one product, every source's masked code is decoded in one
product, the decodes become soft masks (:func:`skaesep._masking.ratio_masks`)
on the mixture's complex frames, and their inverse FFTs are overlap-added and
divided by the window envelope as :func:`librosa.istft` does. Samples are
yielded as soon as no later frame touches them, so memory stays bounded by
the block size whatever the recording's length, and the output can be
streamed to disk.
"""

import librosa
import numpy as np

from ._masking import ratio_masks
from .spectrogram import WINDOW

#: STFT frames separated at a time (about 6 s at 44.1 kHz): bounds memory and
#: keeps the encode/decode products a thousand chunks tall (1024 vs 4096 frames:
#: 0.94 vs 1.08 GB peak RSS on a 60-minute file, the same speed; docs/bad_input.rst).
BLOCK_FRAMES = 1024


def chunk_range(f0, f1, n_t, n_frames, chunk_hop):
    """First and last chunk (inclusive) that hold a frame of ``[f0, f1)``.

    Chunk ``c`` covers frames ``[c * chunk_hop, c * chunk_hop + n_frames)`` of
    a spectrogram of ``n_t`` frames (the last chunk padded with silence).
    """
    n_chunks = 1 + max(0, -(-(n_t - n_frames) // chunk_hop))
    c_lo = min(max(0, -(-(f0 - n_frames + 1) // chunk_hop)), n_chunks - 1)
    c_hi = min(n_chunks - 1, (f1 - 1) // chunk_hop)
    return c_lo, max(c_lo, c_hi)


def source_estimates(V, s0, f0, f1, n_t, *, autoencoder, responsibilities, n_frames, chunk_hop):
    """Scaled magnitude estimate of each source on frames ``[f0, f1)``.

    Parameters
    ----------
    V : ndarray of shape (n_bins, n)
        Scaled mixture magnitudes of frames ``[s0, s0 + n)``, which hold
        every frame of the chunks covering ``[f0, f1)``.
    s0, f0, f1, n_t : int
        First frame of ``V``, the frame range, the recording's frame count.
    autoencoder : StackedRBMAutoencoder
        Fitted.
    responsibilities : ndarray of shape (n_sources, n_units)
        Mask of the code for each source.
    n_frames, chunk_hop : int
        Frames per chunk and frames between chunks.

    Returns
    -------
    estimates : ndarray of shape (n_sources, n_bins, f1 - f0)
        Each frame averaged over the chunks that hold it.
    """
    c_lo, c_hi = chunk_range(f0, f1, n_t, n_frames, chunk_hop)
    n_bins = V.shape[0]
    starts = np.arange(c_lo, c_hi + 1) * chunk_hop - s0
    span = starts[-1] + n_frames
    padded = np.zeros((span, n_bins), dtype=V.dtype)
    valid = min(V.shape[1], span)
    padded[:valid] = V[:, :valid].T
    # (chunks, frames, bins) flattened: the chunk layout of SpectrogramTransformer.
    chunks = padded[starts[:, None] + np.arange(n_frames)].reshape(len(starts), -1)
    codes = autoencoder.encode(chunks)
    r = responsibilities.astype(V.dtype, copy=False)
    masked = (codes[None, :, :] * r[:, None, :]).reshape(-1, codes.shape[1])
    decoded = autoencoder.decode(masked).reshape(len(r), len(starts), n_frames, n_bins)
    acc = np.zeros((len(r), span, n_bins), dtype=V.dtype)
    weight = np.zeros(span, dtype=V.dtype)
    # Overlap-add: within one frame offset the chunks' frames are distinct.
    for j in range(n_frames):
        acc[:, starts + j] += decoded[:, :, j]
        weight[starts + j] += 1.0
    a, b = f0 - s0, f1 - s0
    acc = acc[:, a:b]
    acc /= weight[a:b, None]
    return acc.transpose(0, 2, 1)


def overlap_add(y, frames, hop):
    """``y[t * hop + i] += frames[i, t]`` for frames of shape (n_fft, n_frames)."""
    n_fft, n = frames.shape
    for q in range(0, n_fft, hop):
        width = min(hop, n_fft - q)
        first = q // hop
        rows = y[first * hop : (first + n) * hop].reshape(n, hop)
        rows[:, :width] += frames[q : q + width].T


def overlap_add_frames(spectrogram, n_samples):
    """STFT frames that :func:`librosa.istft` overlap-adds for ``n_samples`` samples."""
    n_t = spectrogram.n_stft_frames(n_samples)
    pad = spectrogram.win_length_ // 2
    return min(n_t, int(np.ceil((n_samples + 2 * pad) / spectrogram.hop_length_)))


def mono_frames(spectrogram, audio, start, stop):
    """STFT frames ``[start, stop)`` of the channel average of ``audio``.

    ``audio`` of shape (n_samples,) or (n_channels, n_samples); the STFT is
    linear, so averaging the channels' frames equals transforming their
    average waveform, without a mono copy of the whole recording.
    """
    S = spectrogram.stft_frames(audio, start, stop)
    return S if S.ndim == 2 else S.mean(axis=0)


def code_moments(audio, *, spectrogram, autoencoder):
    """Mean and standard deviation of each code unit over a recording's chunks.

    The chunks are those of ``spectrogram.to_chunks`` on the whole
    recording's scaled magnitudes (non-overlapping, the last padded), encoded
    block by block so memory stays bounded whatever the length.

    Parameters
    ----------
    audio : ndarray of shape (n_samples,) or (n_channels, n_samples)
        One recording; channels are averaged.
    spectrogram : SpectrogramTransformer
        Fitted.
    autoencoder : StackedRBMAutoencoder
        Fitted.

    Returns
    -------
    moments : ndarray of shape (2 * n_units,)
        The units' means, then their standard deviations.
    """
    n_t = spectrogram.n_stft_frames(audio.shape[-1])
    step = max(1, BLOCK_FRAMES // spectrogram.n_frames) * spectrogram.n_frames
    total = total_sq = 0.0
    n_chunks = 0
    for f0 in range(0, n_t, step):
        f1 = min(f0 + step, n_t)
        V = spectrogram.scale(np.abs(mono_frames(spectrogram, audio, f0, f1)))
        codes = autoencoder.encode(spectrogram.to_chunks(V.astype(audio.dtype, copy=False)))
        codes = codes.astype(np.float64, copy=False)
        total = total + codes.sum(axis=0)
        total_sq = total_sq + (codes**2).sum(axis=0)
        n_chunks += len(codes)
    mean = total / n_chunks
    return np.concatenate([mean, np.sqrt(np.maximum(total_sq / n_chunks - mean**2, 0.0))])


def batch_code_moments(magnitudes, *, spectrogram, autoencoder):
    """:func:`code_moments` of many short recordings given by their STFT magnitudes.

    Parameters
    ----------
    magnitudes : ndarray of shape (n_recordings, n_bins, n_stft_frames)
        Unscaled STFT magnitudes of recordings of one length, few enough to
        be encoded in one product.
    spectrogram : SpectrogramTransformer
        Fitted.
    autoencoder : StackedRBMAutoencoder
        Fitted.

    Returns
    -------
    moments : ndarray of shape (n_recordings, 2 * n_units)
        The units' means, then their standard deviations, of each recording
        (its :func:`code_moments`, up to float rounding).
    """
    codes = autoencoder.encode(spectrogram.to_chunks(spectrogram.scale(magnitudes)))
    codes = codes.astype(np.float64, copy=False).reshape(len(magnitudes), -1, codes.shape[1])
    return np.concatenate([codes.mean(axis=1), codes.std(axis=1)], axis=1)


def iter_masks(audio, *, spectrogram, autoencoder, responsibilities, chunk_hop, mask_power):
    """Soft masks of each source on consecutive blocks of the recording's STFT.

    Yields ``(f0, f1, S, masks)``: the complex mixture frames ``S`` of shape
    ``(n_bins, f1 - f0)`` and the masks of shape ``(n_sources, n_bins, f1 - f0)``
    on them, for blocks of :data:`BLOCK_FRAMES` frames covering the frames
    that :func:`librosa.istft` overlap-adds for ``n_samples`` samples.
    Parameters as in :func:`iter_separate`; a 2-D ``audio`` of shape
    (n_channels, n_samples) is taken as its channel average
    (:func:`mono_frames`).
    """
    n_frames = spectrogram.n_frames
    n_t = spectrogram.n_stft_frames(audio.shape[-1])
    n_ola = overlap_add_frames(spectrogram, audio.shape[-1])
    for f0 in range(0, n_ola, BLOCK_FRAMES):
        f1 = min(f0 + BLOCK_FRAMES, n_ola)
        c_lo, c_hi = chunk_range(f0, f1, n_t, n_frames, chunk_hop)
        s0 = min(f0, c_lo * chunk_hop)
        s1 = min(max(f1, c_hi * chunk_hop + n_frames), n_t)
        S = mono_frames(spectrogram, audio, s0, s1)
        V = spectrogram.scale(np.abs(S).astype(audio.dtype, copy=False))
        estimates = source_estimates(
            V,
            s0,
            f0,
            f1,
            n_t,
            autoencoder=autoencoder,
            responsibilities=responsibilities,
            n_frames=n_frames,
            chunk_hop=chunk_hop,
        )
        yield (
            f0,
            f1,
            S[:, f0 - s0 : f1 - s0],
            ratio_masks(spectrogram.unscale(estimates), mask_power),
        )


def source_energies(audio, **kwargs):
    """Energy of each source's masked mixture spectrogram, ``sum |M_k S|^2``.

    Parameters as in :func:`iter_separate`; no inverse FFT is computed.

    Returns
    -------
    energies : ndarray of shape (n_sources,)
    """
    total = np.zeros(len(kwargs["responsibilities"]))
    for _, _, S, masks in iter_masks(audio, **kwargs):
        power = (S.real**2 + S.imag**2).astype(masks.dtype, copy=False)
        total += np.einsum("kft,ft->k", masks**2, power)
    return total


def iter_separate(audio, *, spectrogram, autoencoder, responsibilities, chunk_hop, mask_power):
    """Separate one recording, yielding consecutive blocks of its sources.

    Equals masking the whole STFT at once and inverting it with
    ``spectrogram.istft`` (up to float rounding).

    Parameters
    ----------
    audio : ndarray of shape (n_samples,)
        One mono recording, float32 or float64.
    spectrogram : SpectrogramTransformer
        Fitted.
    autoencoder : StackedRBMAutoencoder
        Fitted.
    responsibilities : ndarray of shape (n_sources, n_units)
        Code mask of each source to separate.
    chunk_hop : int
        Frames between successive chunks.
    mask_power : float
        Exponent of the soft masks.

    Yields
    ------
    block : ndarray of shape (n_sources, m)
        The sources' next ``m`` samples; the blocks add up to ``n_samples``.
    """
    n = audio.shape[-1]
    n_fft, hop = spectrogram.win_length_, spectrogram.hop_length_
    pad = n_fft // 2
    window = librosa.filters.get_window(WINDOW, n_fft, fftbins=True).astype(audio.dtype)
    n_src = len(responsibilities)
    # Overlap-added output and window envelope on samples of the centred
    # signal, from `origin` on; what no later frame touches is yielded.
    carry = np.zeros((n_src, 0), dtype=audio.dtype)
    carry_env = np.zeros(0, dtype=audio.dtype)
    emitted, end = pad, pad + n
    tiny = np.finfo(audio.dtype).tiny
    blocks = iter_masks(
        audio,
        spectrogram=spectrogram,
        autoencoder=autoencoder,
        responsibilities=responsibilities,
        chunk_hop=chunk_hop,
        mask_power=mask_power,
    )
    n_ola = overlap_add_frames(spectrogram, n)
    for f0, f1, S, masks in blocks:
        frames = np.fft.irfft(masks * S, n=n_fft, axis=-2)
        frames *= window[:, None]
        origin = f0 * hop
        length = (f1 - f0 - 1) * hop + n_fft
        # overlap_add views whole hops: room for the last frame's last hop.
        room = (f1 - f0 + -(-n_fft // hop)) * hop
        acc = np.zeros((n_src, room), dtype=audio.dtype)
        env = np.zeros(room, dtype=audio.dtype)
        acc[:, : carry.shape[1]] += carry
        env[: carry_env.size] += carry_env
        for k in range(n_src):
            overlap_add(acc[k], frames[k], hop)
        overlap_add(env, np.broadcast_to((window**2)[:, None], (n_fft, f1 - f0)), hop)
        final = origin + (f1 - f0) * hop if f1 < n_ola else origin + length
        a, b = max(emitted, origin), min(final, end)
        if b > a:
            block = acc[:, a - origin : b - origin]
            e = env[a - origin : b - origin]
            np.divide(block, e, out=block, where=e > tiny)
            yield block
            emitted = b
        carry = acc[:, final - origin : length]
        carry_env = env[final - origin : length]
    if emitted < end:  # samples no frame reaches are silent
        yield np.zeros((n_src, end - emitted), dtype=audio.dtype)
