"""
Choose the layer sizes by grid search, split by recording
=========================================================

:class:`~skaesep.MaskResynthesizer` is a scikit-learn estimator with a
:meth:`~skaesep.MaskResynthesizer.score` (the mean SDR of two-instrument
mixtures of held-out clips), so
:class:`~sklearn.model_selection.GridSearchCV` ranks network shapes without
a ``scoring`` argument. Training clips are chunks of longer recordings, and
chunks of one recording sound alike: the folds must keep every recording on
one side of the split (:class:`~sklearn.model_selection.GroupKFold`), or the
held-out score rewards memorising. :doc:`/parallel` runs the same search on a
dask cluster.

Synthetic instruments (:mod:`skaesep.datasets`) at 16 kHz and the
``"separation"`` preset with far fewer epochs and mixtures, so the search
takes well under a minute; the ranking of these tiny networks trained on 6
seconds of audio per instrument says nothing about real-sized ones
(:doc:`/quality`).
"""

# %%
# Recordings cut into chunks
# --------------------------
# Three instruments, two 6-second recordings each (other notes per
# recording), cut into 1-second chunks. ``groups`` holds each chunk's
# recording.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, GroupKFold

from skaesep.datasets import make_instrument_stem
from skaesep.presets import make_preset

warnings.filterwarnings("ignore", category=ConvergenceWarning)
SR = 16000
INSTRUMENTS = ("drums", "flute", "piano")
X, y, groups = [], [], []
for recording, (instrument, take) in enumerate(
    (name, take) for name in INSTRUMENTS for take in range(2)
):
    wave = make_instrument_stem(instrument, duration=6.0, sr=SR, random_state=10 * take + 1)
    for start in range(0, len(wave) - SR + 1, SR):
        X.append(wave[start : start + SR])
        y.append(instrument)
        groups.append(recording)
X, y, groups = np.stack(X), np.array(y), np.array(groups)
print(X.shape, "chunks of", np.unique(groups).size, "recordings")

# %%
# Folds by recording
# ------------------
# Two folds: each trains on one recording of every instrument and tests on
# the other. Each test fold must hold at least two instruments the training
# side also has, or ``score`` raises a ``ValueError``.
cv = GroupKFold(n_splits=2)
for k, (train, test) in enumerate(cv.split(X, y, groups)):
    print(
        f"fold {k}: train recordings {np.unique(groups[train]).tolist()} "
        f"({', '.join(sorted(set(y[train])))}), "
        f"test recordings {np.unique(groups[test]).tolist()} ({', '.join(sorted(set(y[test])))})"
    )

# %%
# The search
# ----------
# Three shapes of the encoder (the decoder mirrors it), each fitted on the
# training side of both folds and scored on the other side, then the best
# refitted on all chunks (``search.best_estimator_``). ``n_units=None`` lets
# the clusterer take each candidate's code size.
# ``error_score="raise"`` shows a failing fit instead of hiding it behind a
# NaN score.
model = make_preset("separation", sr=SR, random_state=0, pretrain_epochs=2, max_iter=8)
model.set_params(
    pipeline__clusterer__n_units=None, discriminative_epochs=3, discriminative_mixtures=2000
)
grid = {"pipeline__autoencoder__layer_sizes": [(32,), (128, 32), (256, 128)]}
search = GridSearchCV(model, grid, cv=cv, error_score="raise")
search.fit(X, y, groups=groups)
results = search.cv_results_
print("layer sizes  mean SDR (dB)  per fold (dB)    fit time (s)")
for k, params in enumerate(results["params"]):
    folds = [results[f"split{i}_test_score"][k] for i in range(cv.n_splits)]
    print(
        f"{str(params['pipeline__autoencoder__layer_sizes']):<12} "
        f"{results['mean_test_score'][k]:13.2f}  {np.array2string(np.round(folds, 2)):<16} "
        f"{results['mean_fit_time'][k]:12.1f}"
    )
print("best:", search.best_params_, f"{search.best_score_:.2f} dB")

# %%
# The held-out score of each shape, one dot per fold.
labels = [str(p["pipeline__autoencoder__layer_sizes"]) for p in results["params"]]
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.bar(labels, results["mean_test_score"], color="tab:blue", alpha=0.6, label="mean")
for i in range(cv.n_splits):
    ax.plot(
        labels, results[f"split{i}_test_score"], "o", color="k", label="folds" if i == 0 else None
    )
ax.set_xlabel("encoder layer sizes")
ax.set_ylabel("held-out mean SDR (dB)")
ax.set_title("GridSearchCV over layer sizes, GroupKFold by recording")
ax.legend()
plt.show()
