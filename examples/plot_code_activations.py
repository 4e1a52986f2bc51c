"""
Code-layer activation per instrument (report Fig. 6)
====================================================

The report fed 1000 chunks of each instrument through its autoencoder and
averaged the code layer: "there is no clear separation of sources in the
code layer" (Fig. 6). Here the same picture is drawn for the report's network
trained on the package's synthetic stand-ins for its five instruments
(:mod:`skaesep.datasets`), and put in numbers on held-out note sequences:

* **classifier accuracy**: a logistic regression trained on the codes of the
  training stems' chunks predicts the instrument of held-out chunks (chance
  is 20 %);
* **unit-cluster agreement**: a blind :class:`~skaesep.CodeLayerClusterer`
  (GMM over the units' activation profiles, no labels) groups the units into
  five clusters; the adjusted Rand index compares them with the instrument
  each unit fires for most (0: no agreement, 1: identical).

In each figure the units are grouped by the instrument they respond to most
(white lines between the groups, the group's size on the unit axis); the
outlined blocks are where a group meets its own instrument. A code that kept
the instruments apart would be bright inside the outlines and dark outside.

The same numbers for the frame-level network with discriminative
fine-tuning (``make_preset("separation")``) follow. The settings are small
so that the page builds in seconds (6 s per instrument, fewer epochs and
mixtures than the presets); :doc:`/quality` has the numbers of the full
presets on FluidR3 renderings.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skaesep import CodeLayerClusterer
from skaesep.datasets import make_instrument_dataset
from skaesep.plotting import plot_code_activations
from skaesep.presets import make_preset

warnings.filterwarnings("ignore", category=ConvergenceWarning)
DURATION = 6.0
train = make_instrument_dataset(n_clips_per_instrument=1, duration=DURATION, random_state=0)
test = make_instrument_dataset(n_clips_per_instrument=1, duration=DURATION, random_state=1)
instruments = sorted(set(train.target))


def chunk_codes(spectrogram, autoencoder, data):
    """Code of every chunk of every clip, and the clip's instrument per chunk."""
    codes, labels = [], []
    for audio, name in zip(data.data, data.target):
        chunks = spectrogram.to_chunks(spectrogram.scale(np.abs(spectrogram.stft(audio))))
        chunks = chunks[chunks.max(axis=1) > 0.05]  # skip silent chunks
        codes.append(autoencoder.encode(chunks))
        labels += [name] * len(chunks)
    return np.vstack(codes), np.array(labels)


def code_numbers(spectrogram, autoencoder, title):
    Z_train, y_train = chunk_codes(spectrogram, autoencoder, train)
    Z_test, y_test = chunk_codes(spectrogram, autoencoder, test)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    accuracy = clf.fit(Z_train, y_train).score(Z_test, y_test)
    means = np.stack([Z_test[y_test == n].mean(axis=0) for n in instruments])
    blind = CodeLayerClusterer(n_sources=len(instruments), random_state=0).fit(Z_train)
    ari = adjusted_rand_score(means.argmax(axis=0), blind.responsibilities_.argmax(axis=1))
    print(f"{title}: held-out accuracy {accuracy:.1%}, unit-cluster ARI {ari:.2f}")

    fig = plot_code_activations(means, instruments)
    fig.axes[0].set_title(f"{title}\nheld-out accuracy {accuracy:.0%}, unit-cluster ARI {ari:.2f}")
    return accuracy, ari


# %%
# The report's network
# --------------------
# Trained, as in the report, without labels on the isolated stems (3 RBM
# epochs per layer and 10 fine-tuning epochs; the preset has 5 and 20).
pipe = make_preset("report", random_state=0, pretrain_epochs=3, max_iter=10).pipeline
pipe.set_params(autoencoder__random_state=0)
spectrogram, autoencoder = pipe[0], pipe[1]
autoencoder.fit(spectrogram.fit_transform(train.data))
code_numbers(spectrogram, autoencoder, "report network (15 frames, 4 x 500)")

# %%
# Frame-level network, discriminatively fine-tuned
# ------------------------------------------------
# The best configuration of the benchmark: the units are identified from the
# labelled training stems and the network is fine-tuned so that each
# instrument's units decode that instrument (here 3 epochs of 2000 mixtures;
# the preset has 10 of 20 000).
sep = make_preset("separation", random_state=0, pretrain_epochs=3, max_iter=8)
sep.set_params(discriminative_epochs=3, discriminative_mixtures=2000)
sep.fit(train.data, train.target)
spectrogram, autoencoder, _ = (step for _, step in sep.pipeline_.steps)
code_numbers(spectrogram, autoencoder, "separation preset, identified and fine-tuned")
plt.show()
