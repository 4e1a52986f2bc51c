"""
Quick start: separate a mixture of three instruments
=====================================================

Train a separator on isolated recordings of three synthetic instruments
(:mod:`skaesep.datasets`, no download), separate a held-out mixture of them,
score the estimates with BSS Eval beside the unprocessed mixture and the
oracle ratio mask, and compare the estimated with the true spectrograms.

The model is the ``"separation"`` preset (frame-level input, a 533-1024-512
network, discriminative fine-tuning through the masks; see :doc:`/user_guide`)
with fewer epochs and training mixtures, so that the page builds in seconds.
"""

# %%
# Training data: isolated instruments with their names
# ----------------------------------------------------
# Three 6-second clips per instrument. ``y`` names the instrument of each
# clip: the separator is *identified*, each source is a named instrument.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skaesep.datasets import make_instrument_dataset, make_mixtures
from skaesep.metrics import evaluate_separation, format_table, ideal_ratio_mask
from skaesep.plotting import plot_separation
from skaesep.presets import make_preset

warnings.filterwarnings("ignore", category=ConvergenceWarning)
INSTRUMENTS = ("drums", "flute", "piano")
train = make_instrument_dataset(
    instruments=INSTRUMENTS, n_clips_per_instrument=3, duration=6.0, random_state=0
)
print(train.data.shape, train.target.tolist())

# %%
# Fit the separator
# -----------------
# :func:`~skaesep.presets.make_preset` returns an unfitted
# :class:`~skaesep.MaskResynthesizer`; its parameters can be changed with
# ``set_params`` like any scikit-learn estimator.
model = make_preset("separation", random_state=0, pretrain_epochs=3, max_iter=10)
model.set_params(discriminative_epochs=5, discriminative_mixtures=4000)
model.fit(train.data, train.target)
print(model.classes_)

# %%
# Separate a held-out mixture
# ---------------------------
# Other note sequences of the same three instruments, added with equal gain.
# ``separate`` returns one waveform per source, in the order of
# ``model.classes_``; they sum to the mixture.
test = make_mixtures(1, n_instruments=3, instruments=INSTRUMENTS, duration=6.0, random_state=1)
mixture, references = test.mixtures[0], test.sources[0]
estimates = model.separate(mixture)
print(estimates.shape, "max |sum of sources - mixture|:", np.abs(estimates.sum(0) - mixture).max())

# %%
# Score it
# --------
# BSS Eval v3 in dB, mean over the three sources; SDRi is the SDR improvement
# over the mixture. The oracle ratio mask (the true sources' magnitudes as
# masks) is the ceiling of any method that masks the mixture's STFT.
spectrogram = model.pipeline_[0]
rows = {
    "skaesep": evaluate_separation(references, estimates, mixture),
    "mixture": evaluate_separation(references, np.stack([mixture] * 3), mixture),
    "oracle ratio mask": evaluate_separation(
        references,
        ideal_ratio_mask(
            references, n_fft=spectrogram.win_length_, hop_length=spectrogram.hop_length_
        ),
        mixture,
    ),
}
print(format_table(rows))

# %%
# Estimated against true spectrograms
# -----------------------------------
# Each row an instrument: its true source (left) and skaesep's estimate
# (right), frequency on a log axis, all six panels in dB below the loudest
# true bin, with each estimate's SDR (:func:`~skaesep.plotting.plot_separation`).
plot_separation(
    np.stack([np.abs(spectrogram.stft(y)) for y in references]),
    np.stack([np.abs(spectrogram.stft(y)) for y in estimates]),
    sr=spectrogram.sr,
    hop_length=spectrogram.hop_length_,
    names=model.classes_,
    sdr=rows["skaesep"].sdr,
)
plt.show()
