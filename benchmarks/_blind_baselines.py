"""Blind separation baselines of the benchmarks, on the report's STFT.

Not a benchmark: helpers imported by ``bench_separation.py`` and
``bench_blind.py``. Every method gets only the mixture and the number of
sources, returns one estimate per source (ratio masks on the mixture STFT,
so the estimates sum to the mixture) and is scored on the best permutation:

* :func:`nmf_kmeans`: KL-NMF of the mixture, its components grouped by
  k-means on their log-normalised basis spectra;
* :func:`nmf_mfcc`: the same NMF, its components grouped by k-means on the
  MFCCs of their basis spectra (Spiertz & Gnann 2009, "Source-filter based
  clustering for monaural blind source separation", DAFx);
* :func:`hpss`: harmonic-percussive separation
  (:func:`librosa.decompose.hpss`), two sources, for mixtures with drums;
* :func:`test_time_clustering`: the report's proposal (III-D), a fitted
  skaesep network whose code units are grouped by a GMM on the mixture's own
  codes.
"""

import librosa
import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import NMF
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from skaesep import CodeLayerClusterer, MaskResynthesizer
from skaesep._masking import ratio_masks

NMF_COMPONENTS = 30
NMF_ITER = 200
#: MFCCs per basis spectrum (c0, its level, left out).
N_MFCC = 13


def magnitude(spectrogram, audio):
    """STFT magnitude ``(n_bins, n_frames)`` of one or more clips, clips joined in time."""
    S = np.abs(spectrogram.stft(np.atleast_2d(audio))).astype(np.float64)
    return np.concatenate(list(S), axis=1) + 1e-10


def kl_nmf(n_components=NMF_COMPONENTS, max_iter=NMF_ITER):
    """The KL-NMF (multiplicative updates) every NMF method of the benchmarks uses."""
    return NMF(
        n_components,
        beta_loss="kullback-leibler",
        solver="mu",
        max_iter=max_iter,
        init="nndsvda",
        random_state=0,
    )


def mask_separate(spectrogram, mix, estimates):
    """Ratio masks of magnitude ``estimates`` on the mixture STFT, inverted."""
    S = spectrogram.stft(mix)
    return spectrogram.istft(ratio_masks(np.asarray(estimates)) * S, length=mix.shape[-1])


def _nmf_grouped(spectrogram, mix, n_sources, features, max_iter):
    V = magnitude(spectrogram, mix)
    nmf = kl_nmf(max_iter=max_iter)
    H = nmf.fit_transform(V.T).T  # (k, frames)
    W = nmf.components_.T  # (bins, k)
    labels = KMeans(n_sources, n_init=10, random_state=0).fit_predict(features(W))
    parts = [W[:, labels == j] @ H[labels == j] for j in range(n_sources)]
    return mask_separate(spectrogram, mix, parts)


def nmf_kmeans(spectrogram, mix, n_sources, *, max_iter=NMF_ITER):
    """Blind NMF, components grouped by k-means of their log-normalised basis spectra."""
    return _nmf_grouped(
        spectrogram,
        mix,
        n_sources,
        lambda W: np.log(W / W.sum(axis=0) + 1e-6).T,
        max_iter,
    )


def basis_mfcc(W, spectrogram):
    """MFCCs 1..``N_MFCC`` of each basis spectrum (columns of ``W``), mapped to mel."""
    mel = librosa.filters.mel(sr=spectrogram.sr, n_fft=spectrogram.win_length_, n_mels=64)
    power = mel @ (W / W.max(axis=0)) ** 2  # (n_mels, k), each basis at unit peak
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(power, ref=np.max), n_mfcc=N_MFCC + 1)
    return mfcc[1:].T  # (k, N_MFCC)


def nmf_mfcc(spectrogram, mix, n_sources, *, max_iter=NMF_ITER):
    """Blind NMF, components grouped by k-means of their basis spectra's MFCCs."""
    return _nmf_grouped(
        spectrogram, mix, n_sources, lambda W: basis_mfcc(W, spectrogram), max_iter
    )


def hpss(spectrogram, mix):
    """Harmonic and percussive parts of the mixture (soft masks, power 2)."""
    S = spectrogram.stft(mix)
    harmonic, percussive = librosa.decompose.hpss(S, mask=True)
    return spectrogram.istft(np.stack([harmonic, percussive]) * S, length=mix.shape[-1])


def test_time_clustering(separator, mix, n_sources, random_state=0):
    """The report's blind step: a fitted network, its units clustered on the mixture's codes."""
    spectrogram, autoencoder, _ = (step for _, step in separator.pipeline_.steps)
    codes = autoencoder.transform(spectrogram.transform(mix[None]))
    clusterer = CodeLayerClusterer(
        n_sources, n_units=autoencoder.encoder_weights_[-1].shape[1], random_state=random_state
    ).fit(codes)
    pipe = Pipeline(
        [("spectrogram", spectrogram), ("autoencoder", autoencoder), ("clusterer", clusterer)]
    )
    blind = MaskResynthesizer(FrozenEstimator(pipe), chunk_hop=separator.chunk_hop)
    return blind.fit(mix[None]).separate(mix)
