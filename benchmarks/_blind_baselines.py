"""Blind separation baselines of the benchmarks, on the report's STFT.

Not a benchmark: helpers imported by ``bench_separation.py`` and
``bench_blind.py``. Every method gets only the mixture and the number of
sources, returns one estimate per source (ratio masks on the mixture STFT,
so the estimates sum to the mixture) and is scored on the best permutation:

* blind NMF + k-means of log basis spectra: ``_suite.NMFBaselines.blind``;
* :func:`nmf_mfcc`: the same KL-NMF of the mixture, its components grouped
  by k-means on the MFCCs of their basis spectra (Spiertz & Gnann 2009,
  "Source-filter based clustering for monaural blind source separation",
  DAFx);
* :func:`hpss`: harmonic-percussive separation
  (:func:`librosa.decompose.hpss`), two sources, for mixtures with drums;
* :func:`test_time_clustering`: the report's proposal (III-D), a fitted
  skaesep network whose code units are grouped by a GMM on the mixture's own
  codes.
"""

import librosa
import numpy as np
from _suite import NMF_ITER, NMFBaselines
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from skaesep import CodeLayerClusterer, MaskResynthesizer

#: MFCCs per basis spectrum (c0, its level, left out).
N_MFCC = 13


def basis_mfcc(W, spectrogram):
    """MFCCs 1..``N_MFCC`` of each basis spectrum (columns of ``W``), mapped to mel."""
    mel = librosa.filters.mel(sr=spectrogram.sr, n_fft=spectrogram.win_length_, n_mels=64)
    power = mel @ (W / W.max(axis=0)) ** 2  # (n_mels, k), each basis at unit peak
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(power, ref=np.max), n_mfcc=N_MFCC + 1)
    return mfcc[1:].T  # (k, N_MFCC)


class BlindNMF(NMFBaselines):
    """:class:`NMFBaselines` without training data, plus MFCC clustering of the components."""

    def __init__(self, max_iter=NMF_ITER):
        super().__init__(None, max_iter=max_iter)

    def mfcc(self, mix, n_sources):
        """Blind NMF of ``mix``, components grouped by k-means of their basis spectra's MFCCs."""
        return self.blind(mix, n_sources, features=lambda W: basis_mfcc(W, self.spec))

    def hpss(self, mix):
        """Harmonic and percussive parts of the mixture (librosa's soft masks, power 2)."""
        S = self.spec.stft(mix)
        harmonic, percussive = librosa.decompose.hpss(S, mask=True)
        return self.spec.istft(np.stack([harmonic, percussive]) * S, length=mix.shape[-1])


def test_time_clustering(separator, mix, n_sources, random_state=0):
    """The report's blind step: a fitted network, its units clustered on the mixture's codes."""
    spectrogram, autoencoder, _ = (step for _, step in separator.pipeline_.steps)
    chunks = spectrogram.to_chunks(spectrogram.scale(np.abs(spectrogram.stft(mix))))
    codes = autoencoder.encode(chunks)  # any length, unlike transform
    clusterer = CodeLayerClusterer(
        n_sources, n_units=autoencoder.encoder_weights_[-1].shape[1], random_state=random_state
    ).fit(codes)
    pipe = Pipeline(
        [("spectrogram", spectrogram), ("autoencoder", autoencoder), ("clusterer", clusterer)]
    )
    blind = MaskResynthesizer(FrozenEstimator(pipe), chunk_hop=separator.chunk_hop)
    return blind.fit(mix[None]).separate(mix)
