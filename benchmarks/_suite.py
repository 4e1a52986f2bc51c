"""The generalisation suite of issue 9: training data, test splits, baselines, scoring.

Not a benchmark: the shared module that ``bench_generalisation.py`` (and any
other benchmark scoring on the same splits) imports. Everything is rendered
with ``scripts/render_fluidr3.py`` / ``scripts/render_ensemble.py`` on first
use into ``$SKAESEP_DATA/suite`` (default ``~/.cache/skaesep/suite``) and
read from there afterwards, so every caller sees the same audio.

Training (the same for every split): isolated single-note stems of the
eight instruments of :data:`TRAIN_INSTRUMENTS` rendered with FluidR3 (note
seed 0, clips of 20 s), cut into segments of 10 s as ``skaesep train
--segment 10`` does. The budgets of :data:`BUDGETS`: ``"small"`` is 4 clips
(80 s) per instrument, seed ``s`` taking clips ``4s .. 4s + 3`` (seeds 0-6
see disjoint audio); ``"large"`` is all 30 clips (10 min) per instrument,
the audio of the built-in model ``skaesep/models/default.skaesep``
(``scripts/train_default_model.py``).

Test splits (mixtures of :data:`TEST_SECONDS` s at equal peak gain, never
seen in training; the functions of :data:`SPLITS`):

* :func:`in_domain`: FluidR3 single notes (note seed 1) of the report's five
  instruments, every pair and every triple (10 + 10);
* :func:`timbre_shift`: the same MIDI rendered with two other General MIDI
  soundfonts, ``sf_GMbank`` (Debian ``csound-soundfont``) and
  ``OPL-3_FM_128M`` (``opl3-soundfont``), 5 pairs and 5 triples each;
* :func:`ensemble`: 20 pieces of ``scripts/render_ensemble.py`` (one tempo and
  key, chords on piano and guitar, flute and violin melodies, a drum groove;
  2 to 5 instruments), each stem rendered apart with FluidR3;
* :func:`similar_instruments`: every triple of flute, violin, cello, trumpet
  and clarinet (similar registers and timbres), with note seeds 1 and 2
  (10 + 10).

Each split function returns a :class:`~sklearn.utils.Bunch` with ``name``,
``train`` (:func:`training_data`) and ``mixtures``: a list of Bunches with
``name``, ``instruments`` (tuple of str), ``references`` (array of shape
``(n_instruments, n_samples)``, float32) and ``mix`` (their sum). Score an
estimate with :func:`score`; :class:`NMFBaselines` holds the supervised and
blind NMF baselines.
"""

import importlib.util
import itertools
import os
import platform
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
from sklearn.cluster import KMeans
from sklearn.decomposition import NMF, non_negative_factorization
from sklearn.utils import Bunch

from skaesep import SpectrogramTransformer
from skaesep.metrics import bss_eval

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("SKAESEP_DATA", Path.home() / ".cache" / "skaesep")) / "suite"
SR = 44100


def cpu_name():
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` says."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _script(name):
    path = REPO / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render_fluidr3 = _script("render_fluidr3")
render_ensemble = _script("render_ensemble")

#: Instruments every model of the suite is trained on (the built-in model's eight).
TRAIN_INSTRUMENTS = render_fluidr3.ALL_INSTRUMENTS
#: The report's five instruments (in-domain, timbre-shift and ensemble splits).
REPORT_INSTRUMENTS = render_fluidr3.INSTRUMENTS
#: Instruments of similar register and timbre (similar-instruments split).
SIMILAR_INSTRUMENTS = ("flute", "violin", "cello", "trumpet", "clarinet")
#: Training clips (of :data:`TRAIN_CLIP_SECONDS` s) per instrument of each budget.
BUDGETS = {"small": 4, "large": 30}
TRAIN_CLIP_SECONDS = 20.0
#: Seconds per training segment (``skaesep train --segment``'s default).
TRAIN_SEGMENT_SECONDS = 10.0
#: Seconds per test mixture.
TEST_SECONDS = 10.0
#: Other soundfonts of the timbre-shift split and their Debian packages.
SHIFT_SOUNDFONTS = render_fluidr3.OTHER_SOUNDFONTS


def _rendered(name, render):
    """``DATA/name``, rendered by ``render(folder)`` unless it exists (atomically)."""
    root = DATA / name
    if not root.is_dir():
        tmp = DATA / f".{name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        render(tmp)
        tmp.rename(root)
    return root


def _read(path):
    audio, sr = sf.read(str(path), dtype="float32")
    if sr != SR:
        raise RuntimeError(f"{path} is at {sr} Hz, expected {SR} Hz")
    return audio


def _single_notes(seed, n_clips, duration, instruments, soundfont=None):
    """Folder of single-note stems ``<instrument>/<instrument>_<k>.wav``."""
    soundfont = soundfont or render_fluidr3.DEFAULT_SOUNDFONT
    tag = Path(soundfont).stem
    return _rendered(
        f"{tag}_seed{seed}_n{n_clips}_{duration:g}s_{'-'.join(instruments)}",
        lambda out: render_fluidr3.render(
            out,
            n_clips=n_clips,
            duration=duration,
            sr=SR,
            seed=seed,
            soundfont=soundfont,
            instruments=instruments,
        ),
    )


def training_root():
    """Folder of the training clips ``<instrument>/<instrument>_<k>.wav`` (k < 30)."""
    return _single_notes(0, BUDGETS["large"], TRAIN_CLIP_SECONDS, TRAIN_INSTRUMENTS)


@lru_cache(maxsize=4)
def training_data(budget="small", seed=0):
    """Labelled training segments of the eight instruments.

    Parameters
    ----------
    budget : {"small", "large"}
        ``"small"``: 4 clips of 20 s per instrument; ``"large"``: 30.
    seed : int, default=0
        Small budget: which 4 clips (``4 * seed`` to ``4 * seed + 3`` of the
        note-seed-0 render; 0 to 6). Large budget: ignored (all 30 clips; a
        seed only changes the model's own randomness).

    Returns
    -------
    train : Bunch
        ``data`` (float32 array of shape (n_segments, 441000)), ``target``
        (instrument of each segment), ``clips`` (the clip numbers used).
    """
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {sorted(BUDGETS)}, got {budget!r}")
    n_all = BUDGETS["large"]
    n = BUDGETS[budget]
    if budget == "large":
        clips = range(n_all)
    elif not 0 <= seed < n_all // n:
        raise ValueError(f"small-budget seed must be in 0..{n_all // n - 1}, got {seed}")
    else:
        clips = range(n * seed, n * seed + n)
    root = training_root()
    seg = int(round(TRAIN_SEGMENT_SECONDS * SR))
    data, target = [], []
    for name in TRAIN_INSTRUMENTS:
        for k in clips:
            audio = _read(root / name / f"{name}_{k}.wav")
            cut = audio[: len(audio) // seg * seg].reshape(-1, seg)
            data.append(cut)
            target += [name] * len(cut)
    return Bunch(data=np.concatenate(data), target=np.array(target), clips=list(clips))


def _mixture(name, stems):
    instruments = tuple(stems)
    references = np.stack([stems[n] for n in instruments])
    return Bunch(
        name=name, instruments=instruments, references=references, mix=references.sum(axis=0)
    )


def _split(name, budget, seed, mixtures):
    return Bunch(name=name, train=training_data(budget, seed), mixtures=mixtures)


def _stems(root, instruments, clip=0):
    return {n: _read(Path(root) / n / f"{n}_{clip}.wav") for n in instruments}


def in_domain(budget="small", seed=0):
    """FluidR3 single notes of the report's five instruments: 10 pairs and 10 triples.

    Parameters
    ----------
    budget, seed
        Of the training data, see :func:`training_data`.

    Returns
    -------
    split : Bunch
        ``name``, ``train`` and ``mixtures`` (see the module docstring).
    """
    stems = _stems(_single_notes(1, 1, TEST_SECONDS, REPORT_INSTRUMENTS), REPORT_INSTRUMENTS)
    combos = [c for m in (2, 3) for c in itertools.combinations(REPORT_INSTRUMENTS, m)]
    mixtures = [_mixture("+".join(c), {n: stems[n] for n in c}) for c in combos]
    return _split("in-domain", budget, seed, mixtures)


def _shift_combos():
    """5 pairs and 5 triples of the report's instruments, the same for each soundfont."""
    rng = np.random.default_rng(9)
    out = []
    for m in (2, 3):
        pool = list(itertools.combinations(REPORT_INSTRUMENTS, m))
        out += [pool[i] for i in sorted(rng.choice(len(pool), size=5, replace=False))]
    return out


def timbre_shift(budget="small", seed=0):
    """The in-domain MIDI rendered with two other soundfonts: 10 mixtures each.

    Training stays FluidR3. Mixtures are named ``<soundfont>:<instruments>``.

    Parameters
    ----------
    budget, seed
        Of the training data, see :func:`training_data`.

    Returns
    -------
    split : Bunch
        ``name``, ``train`` and ``mixtures`` (see the module docstring).
    """
    mixtures = []
    for tag, (path, _) in SHIFT_SOUNDFONTS.items():
        root = _single_notes(1, 1, TEST_SECONDS, REPORT_INSTRUMENTS, soundfont=path)
        stems = _stems(root, REPORT_INSTRUMENTS)
        for c in _shift_combos():
            mixtures.append(_mixture(f"{tag}:{'+'.join(c)}", {n: stems[n] for n in c}))
    return _split("timbre shift", budget, seed, mixtures)


#: Pieces of the ensemble split and their note seed.
ENSEMBLE_PIECES, ENSEMBLE_SEED = 20, 0


def ensemble(budget="small", seed=0):
    """Ensemble pieces of ``scripts/render_ensemble.py`` (2-5 instruments, FluidR3).

    Parameters
    ----------
    budget, seed
        Of the training data, see :func:`training_data`.

    Returns
    -------
    split : Bunch
        ``name``, ``train`` and ``mixtures`` (see the module docstring); each
        mixture also has ``piece`` (tempo, key, mode, progression).
    """
    root = _rendered(
        f"ensemble_seed{ENSEMBLE_SEED}_n{ENSEMBLE_PIECES}_{TEST_SECONDS:g}s",
        lambda out: render_ensemble.render_pieces(
            out, n_pieces=ENSEMBLE_PIECES, duration=TEST_SECONDS, sr=SR, seed=ENSEMBLE_SEED
        ),
    )
    mixtures = []
    for k in range(ENSEMBLE_PIECES):
        piece = render_ensemble.make_piece(ENSEMBLE_SEED, k, TEST_SECONDS)
        stems = {n: _read(root / f"piece_{k}" / f"{n}.wav") for n in piece["instruments"]}
        mix = _mixture(f"piece_{k}:{'+'.join(stems)}", stems)
        mix.piece = {key: piece[key] for key in ("bpm", "key", "mode", "progression")}
        mixtures.append(mix)
    return _split("ensemble", budget, seed, mixtures)


def similar_instruments(budget="small", seed=0):
    """Every triple of flute, violin, cello, trumpet, clarinet, with two note seeds.

    Parameters
    ----------
    budget, seed
        Of the training data, see :func:`training_data`.

    Returns
    -------
    split : Bunch
        ``name``, ``train`` and ``mixtures`` (see the module docstring).
    """
    mixtures = []
    for note_seed in (1, 2):
        root = _single_notes(note_seed, 1, TEST_SECONDS, SIMILAR_INSTRUMENTS)
        stems = _stems(root, SIMILAR_INSTRUMENTS)
        for c in itertools.combinations(SIMILAR_INSTRUMENTS, 3):
            mixtures.append(_mixture(f"seed{note_seed}:{'+'.join(c)}", {n: stems[n] for n in c}))
    return _split("similar instruments", budget, seed, mixtures)


#: The suite's splits, in table order.
SPLITS = {
    "in-domain": in_domain,
    "timbre shift": timbre_shift,
    "ensemble": ensemble,
    "similar instruments": similar_instruments,
}


# ---------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------


def score(references, estimates, *, permutation=False):
    """BSS Eval v3 SDR/SIR/SAR of each source (:func:`skaesep.metrics.bss_eval`).

    Parameters
    ----------
    references : array-like of shape (n_sources, n_samples)
        True sources.
    estimates : array-like of shape (n_sources, n_samples)
        Estimates, in the order of ``references`` (or any order with
        ``permutation=True``: matched by best mean SIR, for blind methods).
    permutation : bool, default=False
        Match estimates to references.

    Returns
    -------
    scores : dict
        ``sdr``, ``sir``, ``sar``: lists of float (dB), one per reference.
    """
    r = bss_eval(
        np.asarray(references, dtype=np.float64),
        np.asarray(estimates, dtype=np.float64),
        compute_permutation=permutation,
    )
    return {"sdr": r.sdr.tolist(), "sir": r.sir.tolist(), "sar": r.sar.tolist()}


def score_named(references, instruments, estimates, names):
    """Score estimates named by a method that chose its own sources.

    A reference whose instrument is not among ``names`` (missed) gets no
    score; estimates of instruments not in the mixture (false alarms) are
    dropped.

    Parameters
    ----------
    references : array-like of shape (n_sources, n_samples)
        True sources of ``instruments``.
    instruments : sequence of str
        Instrument of each reference.
    estimates : array-like of shape (n_estimates, n_samples)
        Estimates of ``names``.
    names : sequence of str
        Instrument of each estimate.

    Returns
    -------
    scores : dict
        ``sdr``, ``sir``, ``sar``: lists with ``None`` for missed sources.
    """
    names = [str(n) for n in names]
    hit = [j for j, n in enumerate(instruments) if n in names]
    out = {key: [None] * len(instruments) for key in ("sdr", "sir", "sar")}
    if hit:
        est = np.asarray(estimates)[[names.index(instruments[j]) for j in hit]]
        found = score(np.asarray(references)[hit], est)
        for key in out:
            for j, v in zip(hit, found[key]):
                out[key][j] = v
    return out


def detection(instruments, detected, vocabulary=TRAIN_INSTRUMENTS):
    """Presence-detection outcome of one mixture.

    Returns
    -------
    outcome : dict
        ``exact`` (bool) and, for each instrument of ``vocabulary``, ``tp``,
        ``fp`` or ``fn`` (or ``tn``).
    """
    truth, found = set(instruments), {str(n) for n in detected}
    per = {}
    for n in vocabulary:
        per[n] = {(1, 1): "tp", (0, 1): "fp", (1, 0): "fn", (0, 0): "tn"}[(n in truth, n in found)]
    return {"exact": truth == found, "per_instrument": per}


# ---------------------------------------------------------------------------
# NMF baselines
# ---------------------------------------------------------------------------

NMF_COMPONENTS = 30
NMF_ITER = 200


class NMFBaselines:
    """Supervised KL-NMF and blind NMF + k-means on the report's STFT.

    ``NMF_COMPONENTS`` components per instrument are learnt on its training
    stems (scikit-learn NMF, ``beta_loss="kullback-leibler"``,
    ``solver="mu"``); :meth:`supervised` fits the activations on a mixture
    with the given instruments' dictionaries fixed and shares it by ratio
    masks. :meth:`auto` chooses the instruments itself (see there).

    Parameters
    ----------
    train : Bunch or None
        ``data`` (clips at :data:`SR`) and ``target`` (instrument of each
        clip); ``None`` for :meth:`blind` only.
    n_components, max_iter : int
        Per-instrument dictionary size and iterations.
    max_frames : int or None, default=None
        Learn each dictionary on at most this many STFT frames (every
        ``k``-th frame of the stems: all clips stay represented, consecutive
        frames overlap by 3/4); ``None`` uses every frame.
    """

    #: Candidate thresholds of the ``auto`` rule (share of the fitted magnitude).
    AUTO_THRESHOLDS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)

    def __init__(self, train, n_components=NMF_COMPONENTS, max_iter=NMF_ITER, max_frames=None):
        # Only its STFT is used: the fitted magnitude scale does not matter.
        self.spec = SpectrogramTransformer().fit(np.ones((1, SR), dtype=np.float32))
        self.n_components, self.max_iter = n_components, max_iter
        self.dictionaries = {}
        for name in sorted(set(train.target)) if train is not None else ():
            V = self._magnitude(train.data[train.target == name])
            step = -(-V.shape[1] // max_frames) if max_frames else 1
            nmf = self._nmf().fit(V[:, ::step].T)
            self.dictionaries[name] = nmf.components_  # (n_components, n_bins)
        self.auto_threshold = None

    def _nmf(self):
        return NMF(
            self.n_components,
            beta_loss="kullback-leibler",
            solver="mu",
            max_iter=self.max_iter,
            init="nndsvda",
            random_state=0,
        )

    def _magnitude(self, audio):
        S = np.abs(self.spec.stft(np.atleast_2d(audio))).astype(np.float64)
        return np.concatenate(list(S), axis=1) + 1e-10  # (n_bins, frames)

    def _masks(self, mix, estimates):
        S = self.spec.stft(mix)
        E = np.asarray(estimates)
        total = E.sum(axis=0)
        M = np.divide(E, total, out=np.full_like(E, 1.0 / len(E)), where=total > 0)
        return self.spec.istft(M * S, length=mix.shape[-1])

    def _parts(self, mix, names):
        """Each instrument's part of the KL-NMF fit of ``mix`` with fixed dictionaries."""
        V = self._magnitude(mix)
        D = np.vstack([self.dictionaries[n] for n in names])
        A, _, _ = non_negative_factorization(
            V.T,
            H=D,
            update_H=False,
            n_components=D.shape[0],
            beta_loss="kullback-leibler",
            solver="mu",
            max_iter=self.max_iter,
        )
        parts, start = [], 0
        for n in names:
            k = self.dictionaries[n].shape[0]
            parts.append((A[:, start : start + k] @ D[start : start + k]).T)
            start += k
        return parts

    def supervised(self, mix, names):
        """Sources of ``names`` (told which instruments are in ``mix``)."""
        return self._masks(mix, self._parts(mix, names))

    def shares(self, mix):
        """Share of the fitted magnitude of each instrument, all dictionaries at once."""
        names = sorted(self.dictionaries)
        totals = np.array([p.sum() for p in self._parts(mix, names)])
        return dict(zip(names, totals / totals.sum()))

    def calibrate_auto(self, train, n_mixtures=60, seconds=3.0, max_sources=3, random_state=0):
        """Choose the ``auto`` threshold on random mixtures of the training clips.

        The mixtures are drawn as the skaesep presence detector's are (1 to
        ``max_sources`` instruments, random gains 0.5-2, random excerpts of
        ``seconds``); the threshold of :data:`AUTO_THRESHOLDS` recovering
        the most exact instrument sets is kept (the smallest on ties).

        Returns
        -------
        self
        """
        rng = np.random.RandomState(random_state)
        names = sorted(self.dictionaries)
        length = int(round(seconds * self.spec.sr))
        trials = []
        for _ in range(n_mixtures):
            chosen = rng.choice(len(names), size=rng.randint(1, max_sources + 1), replace=False)
            mix = np.zeros(length, dtype=np.float64)
            for k in chosen:
                pool = np.flatnonzero(train.target == names[k])
                clip = train.data[pool[rng.randint(pool.size)]]
                start = rng.randint(clip.shape[0] - length + 1)
                mix += rng.uniform(0.5, 2.0) * clip[start : start + length]
            trials.append(({names[k] for k in chosen}, self.shares(mix)))
        hits = [
            sum(self._detect(s, t) == truth for truth, s in trials) for t in self.AUTO_THRESHOLDS
        ]
        self.auto_threshold = self.AUTO_THRESHOLDS[int(np.argmax(hits))]
        self.auto_calibration = dict(zip(self.AUTO_THRESHOLDS, hits))
        return self

    @staticmethod
    def _detect(shares, threshold):
        found = {n for n, s in shares.items() if s >= threshold}
        return found or {max(shares, key=shares.get)}

    def auto(self, mix):
        """Sources the NMF finds itself: the rule of supervised NMF without hints.

        All dictionaries are fitted to the mixture at once; an instrument is
        present when its part holds at least ``auto_threshold`` of the fitted
        magnitude (the largest always is); the mixture is then separated as
        :meth:`supervised` with those instruments. Needs
        :meth:`calibrate_auto` first.

        Returns
        -------
        sources : ndarray of shape (n_found, n_samples)
        names : list of str
        """
        if self.auto_threshold is None:
            raise ValueError("call calibrate_auto before auto")
        found = sorted(self._detect(self.shares(mix), self.auto_threshold))
        return self.supervised(mix, found), found

    def blind(self, mix, n_sources, features=None):
        """Blind NMF of ``mix``, components grouped by k-means of their basis spectra.

        ``features(W)`` maps the basis spectra ``W`` (bins, k) to one row per
        component; ``None`` means their log-normalised spectra.
        """
        V = self._magnitude(mix)
        nmf = self._nmf()
        H = nmf.fit_transform(V.T).T  # (k, frames)
        W = nmf.components_.T  # (bins, k)
        X = np.log(W / W.sum(axis=0) + 1e-6).T if features is None else features(W)
        labels = KMeans(n_sources, n_init=10, random_state=0).fit_predict(X)
        parts = [W[:, labels == j] @ H[labels == j] for j in range(n_sources)]
        return self._masks(mix, parts)
