"""Model files: fitted separators stored as arrays and plain parameters.

A model file (extension ``.skaesep``) is a NumPy ``.npz`` archive: every
array of the fitted estimators is one ``.npy`` entry, and one JSON entry
(``metadata.npy``, a string) holds the format name and version, the skaesep version,
a summary (sample rate, STFT settings, instruments, layer sizes) and the
tree of estimators, each with its ``get_params()`` and fitted attributes in
plain JSON types. Loading reads it with ``allow_pickle=False`` and builds
only skaesep's own estimators and the few scikit-learn ones they hold
(``Pipeline``, ``FrozenEstimator``, ``GaussianMixture``), so a model file is
data, never code.

``joblib.dump`` / ``pickle`` of an estimator still work, as for any
scikit-learn estimator, but unpickling runs code: load pickles only from
yourself, never from others.
"""

import json
import re
import zipfile
import zlib
from importlib import resources
from pathlib import Path

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from . import __version__
from ._atomic import atomic_path
from .autoencoder import StackedRBMAutoencoder
from .clustering import CodeLayerClusterer
from .resynthesis import MaskResynthesizer
from .spectrogram import WINDOW, SpectrogramTransformer

FORMAT = "skaesep-model"
#: Version of the file layout; a file of another version is refused by name.
FORMAT_VERSION = 1
#: Extension of model files.
EXTENSION = ".skaesep"

_METADATA = "metadata"  # the entry metadata.npy: one JSON string
#: The only classes a model file can create.
_CLASSES = {
    cls.__name__: cls
    for cls in (
        MaskResynthesizer,
        SpectrogramTransformer,
        StackedRBMAutoencoder,
        CodeLayerClusterer,
        Pipeline,
        FrozenEstimator,
        GaussianMixture,
    )
}
_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PICKLE_PROTOCOLS = (b"\x80", b"(", b"]", b"}")
#: What a damaged or crafted file makes the decoder raise.
_READ_ERRORS = (
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    AttributeError,
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    EOFError,
)


def _builtin_dir():
    return Path(str(resources.files("skaesep") / "models"))


def list_models():
    """Names of the built-in models shipped with skaesep.

    A name can be given wherever a model file is expected:
    ``load_model("default")``, ``skaesep separate --model default``.

    Returns
    -------
    names : list of str
        Sorted names (files ``skaesep/models/<name>.skaesep``).

    Examples
    --------
    >>> from skaesep import list_models
    >>> "default" in list_models()
    True
    """
    folder = _builtin_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob(f"*{EXTENSION}"))


def model_path(model):
    """The file a model name or path refers to.

    Parameters
    ----------
    model : str or Path
        A model file, or the name of a built-in model (see
        :func:`list_models`). An existing file of that name wins.

    Returns
    -------
    path : Path

    Raises
    ------
    ValueError
        If it is neither an existing file nor a built-in model.
    """
    path = Path(model)
    if path.is_file():
        return path
    if str(model) in list_models():
        return _builtin_dir() / f"{model}{EXTENSION}"
    if path.exists():
        raise ValueError(f"model file {path} is a directory, not a file.")
    builtin = ", ".join(list_models()) or "none installed"
    raise ValueError(f"model file {path} does not exist (built-in models: {builtin}).")


# ----------------------------------------------------------------------------- save
def save_model(model, path, *, description=None):
    """Save a fitted :class:`MaskResynthesizer` to a model file, atomically.

    The file holds arrays and plain parameters only (see the module
    docstring); it is written to a temporary file and renamed, so a failed
    save leaves no half-written model. Use the extension ``.skaesep``.

    Parameters
    ----------
    model : MaskResynthesizer
        A fitted separator.
    path : str or Path
        Destination file.
    description : str, default=None
        A line saying what the model is, shown by ``skaesep info``.

    Raises
    ------
    TypeError
        If ``model`` is not a MaskResynthesizer, or holds a value that has no
        plain representation (the message names its attribute).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from skaesep import MaskResynthesizer, make_separation_pipeline
    >>> from skaesep import load_model, save_model
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(0, 0.1, (2, 8000)) * [[1.0], [0.2]]
    >>> pipe = make_separation_pipeline(sr=8000, bandwidth=30, n_frames=1,
    ...                                 layer_sizes=(16, 4), max_iter=2)
    >>> model = MaskResynthesizer(pipe, random_state=0).fit(X, ["loud", "soft"])
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.skaesep"
    >>> save_model(model, path)
    >>> bool((load_model(path).separate(X[0]) == model.separate(X[0])).all())
    True
    """
    if not isinstance(model, MaskResynthesizer):
        raise TypeError(f"save_model expects a MaskResynthesizer, got {type(model).__name__}.")
    check_is_fitted(model)
    arrays = {}
    tree = _Encoder(arrays).encode(model, "model")
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skaesep_version": __version__,
        **_summary(model),
        "description": description,
        "model": tree,
    }
    arrays[_METADATA] = np.array(json.dumps(metadata))
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        np.savez_compressed(file, **arrays)


def _summary(model):
    spectrogram, autoencoder, _ = (step for _, step in model.pipeline_.steps)
    classes = model.classes_
    blind = bool(model.blind_)
    return {
        "sample_rate": int(spectrogram.sr),
        "instruments": [str(c) for c in classes],
        "mode": "blind" if blind else "identified",
        "stft": {
            "window": WINDOW,
            "bandwidth": float(spectrogram.bandwidth),
            "win_length": int(spectrogram.win_length_),
            "hop_length": int(spectrogram.hop_length_),
            "n_bins": int(spectrogram.n_bins_),
            "n_frames": int(spectrogram.n_frames),
            "compression": spectrogram.compression,
            "dynamic_range": float(spectrogram.dynamic_range),
        },
        "layer_sizes": [int(autoencoder.input_size_)]
        + [int(W.shape[1]) for W in autoencoder.encoder_weights_],
    }


class _Encoder:
    """Plain-JSON tree of a value; its arrays go to ``arrays`` by key.

    Tags: ``{"array": key}``, ``{"tuple": [...]}``, ``{"dict": {...}}``,
    ``{"random_state": [...]}`` (a ``RandomState``'s state),
    ``{"estimator": name, "id": n, "params": ..., "attributes": ...}`` and
    ``{"ref": n}`` for an estimator met before (``FrozenEstimator`` shares its
    pipeline with ``pipeline_``).
    """

    def __init__(self, arrays):
        self.arrays = arrays
        self.ids = {}

    def encode(self, value, where):
        if value is None or type(value) in (bool, int, float, str):
            return value
        if isinstance(value, (np.ndarray, np.generic)):
            return {"array": self._array(value, where)}
        if type(value) is list:
            return [self.encode(v, f"{where}[{k}]") for k, v in enumerate(value)]
        if type(value) is tuple:
            return {"tuple": [self.encode(v, f"{where}[{k}]") for k, v in enumerate(value)]}
        if type(value) is dict and all(type(k) is str for k in value):
            return {"dict": {k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}}
        if type(value) is np.random.RandomState:
            return {"random_state": self.encode(value.get_state(), where)}
        if type(value).__name__ in _CLASSES and type(value) is _CLASSES[type(value).__name__]:
            return self._estimator(value, where)
        raise TypeError(
            f"save_model cannot store {where} of type {type(value).__name__}: model files "
            "hold arrays and plain parameters only."
        )

    def _array(self, value, where):
        value = np.asarray(value)
        if value.dtype.hasobject:
            if not all(isinstance(v, str) for v in value.flat):
                raise TypeError(f"save_model cannot store {where}: an object array.")
            value = value.astype(str)
        key = f"a{len(self.arrays)}"
        self.arrays[key] = value
        return key

    def _estimator(self, est, where):
        if id(est) in self.ids:
            return {"ref": self.ids[id(est)]}
        self.ids[id(est)] = len(self.ids)
        params = est.get_params(deep=False)
        attributes = {k: v for k, v in vars(est).items() if k not in params}
        name = type(est).__name__
        return {
            "estimator": name,
            "id": self.ids[id(est)],
            "params": {k: self.encode(v, f"{where}.{k}") for k, v in params.items()},
            "attributes": {k: self.encode(v, f"{where}.{k}") for k, v in attributes.items()},
        }


# ----------------------------------------------------------------------------- load
def load_model(model):
    """Load a separator from a model file or a built-in model's name.

    Nothing in the file is ever unpickled or executed: it is read with
    ``numpy.load(..., allow_pickle=False)`` and only skaesep's estimators are
    built from it. (Files from ``joblib.dump`` are pickles, which can run
    code when loaded: this function refuses them.)

    Parameters
    ----------
    model : str or Path
        A file written by :func:`save_model`, or the name of a built-in
        model (see :func:`list_models`), e.g. ``"default"``.

    Returns
    -------
    model : MaskResynthesizer
        The fitted separator.

    Raises
    ------
    ValueError
        If the file is missing, corrupt or truncated, not a skaesep model
        file (a pickle, another archive), or of another format version (the
        message names both versions).

    Examples
    --------
    >>> from skaesep import load_model
    >>> model = load_model("default")
    >>> model.classes_.tolist()
    ['cello', 'clarinet', 'drums', 'flute', 'guitar', 'piano', 'trumpet', 'violin']
    """
    path = model_path(model)
    metadata, archive = _open(path)
    with archive:
        try:
            loaded = _Decoder(archive, path).decode(metadata["model"])
        except _READ_ERRORS as exc:
            raise ValueError(
                f"model file {path} (written by skaesep {metadata.get('skaesep_version')}, "
                f"this is skaesep {__version__}) cannot be read: {exc}"
            ) from exc
    if not isinstance(loaded, MaskResynthesizer):
        raise ValueError(f"{path} holds a {type(loaded).__name__}, not a MaskResynthesizer.")
    check_is_fitted(loaded)
    return loaded


def model_info(model):
    """Summary of a model file, read without loading its arrays.

    Parameters
    ----------
    model : str or Path
        A model file or a built-in model's name.

    Returns
    -------
    info : dict
        ``path``, ``file_size`` (bytes), ``skaesep_version``,
        ``format_version``, ``sample_rate``, ``instruments``, ``mode``
        (``"identified"`` or ``"blind"``), ``stft`` (window, bandwidth,
        win_length, hop_length, n_bins, n_frames, compression,
        dynamic_range), ``layer_sizes`` (input, hidden..., code) and
        ``description``.

    Examples
    --------
    >>> from skaesep import model_info
    >>> info = model_info("default")
    >>> info["sample_rate"], info["mode"]
    (44100, 'identified')
    """
    path = model_path(model)
    metadata, archive = _open(path)
    archive.close()
    info = {k: v for k, v in metadata.items() if k not in ("model", "format")}
    return {"path": str(path), "file_size": path.stat().st_size, **info}


def _open(path):
    """Metadata and open archive of a model file, or a ValueError saying what it is."""
    with open(path, "rb") as file:
        head = file.read(4)
    if head[:1] in _PICKLE_PROTOCOLS:
        raise ValueError(
            f"{path} is not a skaesep model file: it looks like a pickle (e.g. from "
            "joblib.dump), which can run code when loaded, so it is never loaded. "
            "Save models with `skaesep train` or skaesep.save_model."
        )
    if head != b"PK\x03\x04":
        raise ValueError(
            f"{path} is not a skaesep model file (model files are .npz archives written "
            "by `skaesep train` or skaesep.save_model)."
        )
    try:
        archive = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"model file {path} is corrupt or truncated: {exc}") from exc
    try:
        if _METADATA not in archive.files:
            raise ValueError(
                f"{path} is not a skaesep model file: an .npz archive without {_METADATA!r}."
            )
        metadata = _metadata(archive[_METADATA], path)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        archive.close()
        raise ValueError(f"model file {path} is corrupt or truncated: {exc}") from exc
    except ValueError:
        archive.close()
        raise
    return metadata, archive


def _metadata(entry, path):
    try:
        metadata = json.loads(str(entry[()]))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"model file {path} is corrupt: unreadable metadata ({exc}).") from exc
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ValueError(f"{path} is not a skaesep model file (no '{FORMAT}' format name).")
    version = metadata.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"model file {path} has model format version {version} (written by skaesep "
            f"{metadata.get('skaesep_version')}); this skaesep {__version__} reads format "
            f"version {FORMAT_VERSION}. Retrain the model, or use the skaesep version that "
            "wrote it."
        )
    return metadata


class _Decoder:
    """Inverse of :class:`_Encoder`, creating only the classes of ``_CLASSES``."""

    def __init__(self, archive, path):
        self.archive = archive
        self.path = path
        self.objects = {}

    def decode(self, node):
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return [self.decode(v) for v in node]
        if type(node) is not dict:
            raise ValueError(f"unexpected entry {node!r}")
        if "array" in node:
            value = self.archive[node["array"]]
            return value[()] if value.ndim == 0 else value
        if "tuple" in node:
            return tuple(self.decode(v) for v in node["tuple"])
        if "dict" in node:
            return {str(k): self.decode(v) for k, v in node["dict"].items()}
        if "random_state" in node:
            rng = np.random.RandomState()
            rng.set_state(self.decode(node["random_state"]))
            return rng
        if "ref" in node:
            return self.objects[node["ref"]]
        if "estimator" in node:
            return self._estimator(node)
        raise ValueError(f"unexpected entry {sorted(node)}")

    def _estimator(self, node):
        name = node["estimator"]
        if name not in _CLASSES:
            raise ValueError(f"unknown estimator {name!r}")
        params = {k: self.decode(v) for k, v in node["params"].items()}
        est = _CLASSES[name](**params)
        for key, value in node["attributes"].items():
            if not _ATTRIBUTE.match(key) or key.startswith("__"):
                raise ValueError(f"invalid attribute name {key!r}")
            setattr(est, key, self.decode(value))
        self.objects[node["id"]] = est
        return est
