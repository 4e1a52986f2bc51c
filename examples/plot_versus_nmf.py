"""
skaesep against supervised NMF
==============================

Non-negative matrix factorisation is the classic way to separate known
instruments: learn a dictionary of spectra per instrument from its isolated
recordings, explain the mixture's magnitude spectrogram with all the
dictionaries at once, and give each instrument the part its atoms explain.
This page trains skaesep and supervised KL-NMF on the same isolated
recordings of three synthetic instruments (:mod:`skaesep.datasets`), tells
both which instruments are in each test mixture, and compares their BSS Eval
SDR on the same mixtures.

The NMF is the baseline of the benchmark behind :doc:`/quality`
(``NMFBaselines`` in ``benchmarks/_suite.py``): 30 components per
instrument (scikit-learn :class:`~sklearn.decomposition.NMF`,
``beta_loss="kullback-leibler"``, multiplicative updates) on the same STFT as
skaesep's (1064-sample Hamming window, 266-sample hop at 44.1 kHz), the
activations fitted on the mixture with the dictionaries fixed, and ratio
masks on the mixture's STFT, as skaesep's. Both methods here are small
(3 training clips of 6 s per instrument, few epochs and NMF iterations); on
FluidR3 renderings at full size :doc:`/quality` measures 9.64 dB for skaesep
and 8.53 dB for supervised KL-NMF.
"""

# %%
# Training data and test mixtures
# -------------------------------
# Isolated clips with their instruments for training; for testing, mixtures
# of two or three of the instruments with other notes (other seeds).
import sys
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from _audio import Players
from sklearn.exceptions import ConvergenceWarning

from skaesep.datasets import make_instrument_dataset, make_mixtures
from skaesep.metrics import bss_eval
from skaesep.presets import make_preset

sys.path.insert(0, str(Path.cwd().parent / "benchmarks"))  # sphinx-gallery runs in examples/
from _suite import NMFBaselines  # noqa: E402

warnings.filterwarnings("ignore", category=ConvergenceWarning)
INSTRUMENTS = ("drums", "flute", "piano")
train = make_instrument_dataset(
    instruments=INSTRUMENTS, n_clips_per_instrument=3, duration=6.0, random_state=0
)
test = make_mixtures(
    4, n_instruments=(2, 3), instruments=INSTRUMENTS, duration=3.0, random_state=7
)
for present in test.present:
    print(" + ".join(np.array(INSTRUMENTS)[present]))

# %%
# Fit both
# --------
# skaesep: the ``"separation"`` preset with fewer epochs (as in the quick
# start). NMF: one dictionary per instrument.
model = make_preset("separation", random_state=0, pretrain_epochs=3, max_iter=10)
model.set_params(discriminative_epochs=5, discriminative_mixtures=4000)
model.fit(train.data, train.target)
nmf = NMFBaselines(train, max_iter=50)
print({name: D.shape for name, D in nmf.dictionaries.items()})

# %%
# Separate and score
# ------------------
# Each method is told the instruments of each mixture. BSS Eval v3 SDR in dB
# (:func:`~skaesep.metrics.bss_eval`), the mean over each mixture's sources,
# beside the unprocessed mixture as every source's estimate.
methods = {
    "skaesep": lambda mix, names: model.separate(mix, sources=names),
    "supervised KL-NMF": nmf.supervised,
    "mixture": lambda mix, names: np.stack([mix] * len(names)),
}
sdr = {method: [] for method in methods}
estimates = {method: [] for method in methods}
for mix, sources, present in zip(test.mixtures, test.sources, test.present):
    names = list(np.array(INSTRUMENTS)[present])
    for method, separate in methods.items():
        estimates[method].append(separate(mix, names))
        sdr[method].append(bss_eval(sources[present], estimates[method][-1]).sdr)

header = f"{'mixture':<22}" + "".join(f"{m:>20}" for m in methods)
print(header + "\n" + "-" * len(header))
for i, present in enumerate(test.present):
    label = " + ".join(np.array(INSTRUMENTS)[present])
    print(f"{label:<22}" + "".join(f"{sdr[m][i].mean():>17.2f} dB" for m in methods))
sdr = {method: np.concatenate(values) for method, values in sdr.items()}
print("-" * len(header))
print(f"{'mean over sources':<22}" + "".join(f"{sdr[m].mean():>17.2f} dB" for m in methods))

# %%
# SDR of each source
# ------------------
# One dot per source and mixture, skaesep's SDR against NMF's: above the
# diagonal skaesep separated that source better.
played = np.concatenate([np.array(INSTRUMENTS)[p] for p in test.present])
fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
for name in INSTRUMENTS:
    ax.plot(
        sdr["supervised KL-NMF"][played == name], sdr["skaesep"][played == name], "o", label=name
    )
lims = [min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1])]
ax.plot(lims, lims, "k--", lw=1)
ax.set_xlim(lims)
ax.set_ylim(lims)
ax.set_xlabel("supervised KL-NMF: SDR (dB)")
ax.set_ylabel("skaesep: SDR (dB)")
ax.set_title("Per-source SDR on the same mixtures")
ax.legend()
plt.show()

# %%
# Listen
# ------
# The first mixture and both methods' estimates (players at 16 kHz, one gain).
names = list(np.array(INSTRUMENTS)[test.present[0]])
Players(
    {"mixture": test.mixtures[0]}
    | {
        f"{name}, {method}": y
        for method in ("skaesep", "supervised KL-NMF")
        for name, y in zip(names, estimates[method][0])
    }
    | {f"{name}, true": y for name, y in zip(names, test.sources[0][test.present[0]])},
    test.sr,
)
