"""
Blind separation: no instrument labels
======================================

Train a separator on unlabelled clips of two synthetic instruments
(:mod:`skaesep.datasets`, the labels thrown away), separate a held-out
mixture of them into two sources, and score the estimates with BSS Eval
matched to the true sources by the best permutation (a blind model does not
know which of its sources is which instrument).

``fit(X)`` without ``y`` groups 2-second segments of the clips by timbre
(MFCC statistics, k-means) and trains the network on those groups; the
sources are named ``source_1``, ``source_2`` ... by energy (see the blind
paragraph of :doc:`/user_guide` and the blind table of :doc:`/quality`). The same from the
command line: ``skaesep train music -o blind.skaesep --blind``, then
``skaesep separate song.wav -n blind.skaesep --n-sources 2 -o separated``.
Small settings, so that the page builds in seconds.
"""

# %%
# Unlabelled training clips
# -------------------------
# Three 6-second clips each of drums and flute; only the waveforms are
# passed to ``fit``.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from _audio import Players
from sklearn.exceptions import ConvergenceWarning

from skaesep.datasets import make_instrument_dataset, make_mixtures
from skaesep.metrics import evaluate_separation, format_table
from skaesep.plotting import plot_separation
from skaesep.presets import make_preset

warnings.filterwarnings("ignore", category=ConvergenceWarning)
INSTRUMENTS = ("drums", "flute")
train = make_instrument_dataset(
    instruments=INSTRUMENTS, n_clips_per_instrument=3, duration=6.0, random_state=0
)
X = train.data  # (6, n_samples); train.target is not used
model = make_preset("separation", random_state=0, pretrain_epochs=3, max_iter=10)
model.fit(X)
print(model.classes_)

# %%
# Separate a held-out mixture
# ---------------------------
# ``n_sources=2`` asks for two sources; they come back named by energy and
# sum to the mixture.
test = make_mixtures(1, n_instruments=2, instruments=INSTRUMENTS, duration=6.0, random_state=1)
mixture, references = test.mixtures[0], test.sources[0]
estimates, names = model.separate(mixture, n_sources=2, return_names=True)
print(names, estimates.shape)
print("max |sum of sources - mixture|:", np.abs(estimates.sum(axis=0) - mixture).max())

# %%
# Scores
# ------
# BSS Eval v3 SDR, SIR and SAR in dB with the estimates matched to the
# references by the best permutation, beside the unprocessed mixture as
# every source's estimate.
blind = evaluate_separation(references, estimates, mixture, compute_permutation=True)
rows = {
    "skaesep, blind": blind,
    "mixture": evaluate_separation(references, np.stack([mixture] * 2), mixture),
}
print(format_table(rows))
matched = estimates[blind.perm]
for instrument, name, sdr, sdri in zip(test.instruments, names[blind.perm], blind.sdr, blind.sdri):
    print(f"{instrument:>6} <- {name}: SDR {sdr:5.2f} dB, {sdri:+.2f} dB over the mixture")

# %%
# Listen
# ------
# The mixture, then each blind source beside the true stem it was matched to
# (players at 16 kHz, all at one gain).
Players(
    {"mixture": mixture}
    | {
        f"{name} ({instrument}?)": est
        for name, instrument, est in zip(names[blind.perm], test.instruments, matched)
    }
    | {f"{instrument}, true": ref for instrument, ref in zip(test.instruments, references)},
    test.sr,
)

# %%
# Estimated against true spectrograms
# -----------------------------------
# Each true stem (left) beside the blind source matched to it (right).
spectrogram = model.pipeline_[0]
plot_separation(
    np.stack([np.abs(spectrogram.stft(y)) for y in references]),
    np.stack([np.abs(spectrogram.stft(y)) for y in matched]),
    sr=spectrogram.sr,
    hop_length=spectrogram.hop_length_,
    names=list(test.instruments),
    sdr=blind.sdr,
)
plt.show()
