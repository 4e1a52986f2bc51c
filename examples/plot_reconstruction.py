"""
Input spectrogram and reconstruction (report Fig. 4 and 5)
==========================================================

The report trained its autoencoder on the spectrogram of a mixture of
instruments and found a reconstruction in which "individual features are
unrecognizable" (Fig. 5). Here the report's network
(``make_preset("report")`` of :mod:`skaesep.presets`: bandwidth 75 Hz, 533 bins,
15-frame chunks, four layers of 500 sigmoid units, cross-entropy) is trained
on the package's synthetic stand-ins for its five instruments
(:mod:`skaesep.datasets`), and a held-out mixture (other note sequences) of
violin, piano, drums and guitar is passed through it. A frame-level network
(``n_frames=1``, the report's section V-A) is shown beside it.

The reconstruction is put in numbers on held-out audio
(:func:`~skaesep.metrics.reconstruction_error`): the report's loss, the mean
binary cross-entropy per input value, and the spectral SNR
``10 log10(sum V^2 / sum (V - V_hat)^2)`` of the scaled [0, 1] spectrogram.
Each Fig. 5 prints both for the mixture it shows.

The settings are small so that the page builds in seconds: 6 s of each
instrument and fewer epochs than the presets. :doc:`/quality` has the same
numbers for the full presets on FluidR3 renderings.
"""

# %%
# Data: five synthetic instruments, 6 s each, 44.1 kHz
# ----------------------------------------------------
# One training stem per instrument; the held-out stems are other note
# sequences of the same instruments (other seeds).
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skaesep.datasets import make_instrument_dataset
from skaesep.metrics import reconstruction_error
from skaesep.plotting import plot_reconstruction, plot_spectrogram
from skaesep.presets import make_preset

warnings.filterwarnings("ignore", category=ConvergenceWarning)
DURATION = 6.0
train = make_instrument_dataset(n_clips_per_instrument=1, duration=DURATION, random_state=0)
test = make_instrument_dataset(n_clips_per_instrument=1, duration=DURATION, random_state=1)
print(train.data.shape, train.target.tolist())

# %%
# Train the report's network (spectrogram and autoencoder steps)
# ---------------------------------------------------------------
# The autoencoder is trained, without labels, on the isolated training stems:
# 3 RBM epochs per layer and 10 fine-tuning epochs (the preset: 5 and 20).


def fit_network(**params):
    pipe = make_preset("report", random_state=0, **params).pipeline
    pipe.set_params(autoencoder__random_state=0)
    spectrogram, autoencoder = pipe[0], pipe[1]
    autoencoder.fit(spectrogram.fit_transform(train.data))
    return spectrogram, autoencoder


spectrogram, autoencoder = fit_network(pretrain_epochs=3, max_iter=10)
print(autoencoder)

# %%
# Held-out mixture: violin, piano, drums and guitar
# -------------------------------------------------
names = ["violin", "piano", "drums", "guitar"]
mixture = sum(test.data[test.target.tolist().index(name)] for name in names)


def reconstruct(spectrogram, autoencoder, audio):
    """Scaled spectrogram of ``audio`` and its reconstruction, chunk by chunk."""
    V = spectrogram.scale(np.abs(spectrogram.stft(audio)))
    chunks = spectrogram.to_chunks(V)
    V_hat = spectrogram.from_chunks(autoencoder.decode(autoencoder.encode(chunks)), V.shape[-1])
    return V, V_hat[0]


def numbers(spectrogram, autoencoder):
    """Held-out cross-entropy and spectral SNR, averaged over the test stems and the mixture."""
    errors = [
        reconstruction_error(*reconstruct(spectrogram, autoencoder, audio))
        for audio in [*test.data, mixture]
    ]
    return np.mean([e.cross_entropy for e in errors]), np.mean([e.snr for e in errors])


V, V_hat = reconstruct(spectrogram, autoencoder, mixture)
ce, snr = numbers(spectrogram, autoencoder)
print(f"report network: held-out cross-entropy {ce:.4f}, spectral SNR {snr:.1f} dB")
print(
    "a network that outputs the mean value: cross-entropy "
    f"{reconstruction_error(V, np.full_like(V, V.mean())).cross_entropy:.4f}"
)

# %%
# Fig. 4: the held-out mixture
# ----------------------------
plot_spectrogram(
    np.abs(spectrogram.stft(mixture)),
    sr=spectrogram.sr,
    hop_length=spectrogram.hop_length_,
    title="Fig. 4: violin, piano, drums and guitar (held-out)",
)

# %%
# Fig. 5: input and reconstruction by the report's network
# --------------------------------------------------------
# Both panels in dB below the input's loudest bin (the network's [0, 1]
# values mapped back with the transformer's ``unscale``); the title of (b)
# has the error of this mixture, the averages above include the stems.
fig = plot_reconstruction(
    V,
    V_hat,
    sr=spectrogram.sr,
    hop_length=spectrogram.hop_length_,
    unscale=spectrogram.unscale,
)
fig.suptitle("Fig. 5, report network (15-frame chunks, 4 x 500 units)")

# %%
# Frame-level input (report section V-A)
# --------------------------------------
# One frame per input (533 units) and a narrower code layer, 533-512-256.
spec1, ae1 = fit_network(n_frames=1, layer_sizes=(512, 256), pretrain_epochs=3, max_iter=8)
V1, V1_hat = reconstruct(spec1, ae1, mixture)
ce1, snr1 = numbers(spec1, ae1)
print(f"frame-level 533-512-256: held-out cross-entropy {ce1:.4f}, spectral SNR {snr1:.1f} dB")
fig = plot_reconstruction(
    V1, V1_hat, sr=spec1.sr, hop_length=spec1.hop_length_, unscale=spec1.unscale
)
fig.suptitle("Fig. 5, frame-level network (1 frame, 533-512-256)")
plt.show()
