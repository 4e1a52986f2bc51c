"""Timbre features and clusters of unlabelled clips: pseudo-labels for blind training.

The report's blind proposal groups code units at test time, and the
label-free network spreads each instrument over many units. Instead the
grouping is learnt at training time: unlabelled recordings are cut into
segments, each described by MFCC statistics (:func:`librosa.feature.mfcc`),
and grouped by k-means (number of groups by silhouette, or given); the
groups then train the identified pipeline as if they were instruments.
"""

import librosa
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

#: MFCCs per frame; a segment is described by their means and deviations.
N_MFCC = 20


def timbre_features(segments, spectrogram):
    """MFCC means and standard deviations of each segment.

    Parameters
    ----------
    segments : ndarray of shape (n_segments, n_samples)
        Waveforms.
    spectrogram : SpectrogramTransformer
        Fitted; its STFT (window, hop, rate) is analysed.

    Returns
    -------
    features : ndarray of shape (n_segments, 2 * N_MFCC)
        Means and deviations of MFCCs 1 to ``N_MFCC`` (c0, loudness, left out).
    """
    power = np.abs(spectrogram.stft(segments)) ** 2
    mel = librosa.feature.melspectrogram(
        S=power, sr=spectrogram.sr, n_fft=spectrogram.win_length_, n_mels=64
    )
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, ref=np.max), n_mfcc=N_MFCC + 1)
    mfcc = mfcc[..., 1:, :]  # c0 is loudness, not timbre
    return np.concatenate([mfcc.mean(axis=-1), mfcc.std(axis=-1)], axis=-1)


def timbre_clusters(features, n_clusters=None, *, max_clusters=8, random_state=None):
    """Group segments by timbre with k-means on standardised features.

    Parameters
    ----------
    features : ndarray of shape (n_segments, n_features)
        From :func:`timbre_features`.
    n_clusters : int, default=None
        Groups; ``None`` picks the count from 2 to ``max_clusters`` with the
        best silhouette score (BIC of Gaussian mixtures was measured to
        split one instrument by pitch into many groups).
    max_clusters : int, default=8
        Largest count tried.
    random_state : int, RandomState instance or None, default=None
        Seeds k-means.

    Returns
    -------
    labels : ndarray of shape (n_segments,)
        Group of each segment, ``0..n_clusters-1``, numbered by decreasing size.
    """
    Z = StandardScaler().fit_transform(features)
    n = Z.shape[0]

    def kmeans(k):
        return KMeans(k, n_init=10, random_state=random_state).fit(Z)

    if n_clusters is None and n > 2:
        fits = [kmeans(k) for k in range(2, min(max_clusters, n - 1) + 1)]
        model = max(fits, key=lambda m: silhouette_score(Z, m.labels_))
    else:
        model = kmeans(min(n_clusters or 2, n))
    labels = model.labels_
    # Number the groups by size, so labels do not depend on k-means' order.
    order = np.argsort(-np.bincount(labels, minlength=model.n_clusters), kind="stable")
    return np.argsort(order)[labels]
