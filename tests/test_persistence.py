"""Model files: arrays and plain parameters, never code."""

import json
import pickle
import re
import zipfile

import joblib
import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted

from skaesep import (
    MaskResynthesizer,
    __version__,
    list_models,
    load_model,
    make_separation_pipeline,
    model_info,
    save_model,
)
from skaesep.datasets import make_instrument_dataset
from skaesep.persistence import FORMAT_VERSION

SR = 8000


@pytest.fixture(scope="module")
def data():
    return make_instrument_dataset(
        instruments=("drums", "flute"),
        n_clips_per_instrument=1,
        duration=1.0,
        sr=SR,
        random_state=0,
    )


@pytest.fixture(scope="module")
def model(data):
    pipe = make_separation_pipeline(sr=SR, n_frames=1, layer_sizes=(32, 8), max_iter=2)
    sep = MaskResynthesizer(
        pipe, chunk_hop=1, discriminative_epochs=1, discriminative_mixtures=50, random_state=0
    )
    return sep.fit(data.data, data.target)


@pytest.fixture(scope="module")
def model_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.skaesep"
    save_model(model, path, description="a tiny test model")
    return path


def _metadata(path):
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(str(archive["metadata"][()])), dict(archive)


def _rewrite(path, metadata, arrays):
    arrays = {**arrays, "metadata": np.array(json.dumps(metadata))}
    with open(path, "wb") as file:
        np.savez(file, **arrays)


def test_round_trip_separates_bit_identically(model, model_file, data):
    loaded = load_model(model_file)
    check_is_fitted(loaded)
    for step in loaded.pipeline_:
        check_is_fitted(step)
    mixture = data.data.sum(axis=0)
    np.testing.assert_array_equal(loaded.separate(mixture), model.separate(mixture))
    assert loaded.get_params(deep=False).keys() == model.get_params(deep=False).keys()
    for (name, step), (_, step_loaded) in zip(model.pipeline_.steps, loaded.pipeline_.steps):
        assert step_loaded.get_params() == step.get_params(), name
    auto, auto_loaded = model.pipeline_[1], loaded.pipeline_[1]
    for a, b in zip(
        auto.encoder_weights_ + auto.decoder_biases_,
        auto_loaded.encoder_weights_ + auto_loaded.decoder_biases_,
    ):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert loaded.pipeline_[1].layer_sizes == (32, 8)  # tuples stay tuples
    assert list(loaded.classes_) == ["drums", "flute"]
    assert loaded.discriminative_loss_curve_ == model.discriminative_loss_curve_


def test_frozen_pipeline_round_trips(model, tmp_path, data):
    frozen = MaskResynthesizer(FrozenEstimator(model.pipeline_), chunk_hop=1).fit(data.data)
    path = tmp_path / "frozen.skaesep"
    save_model(frozen, path)
    loaded = load_model(path)
    assert loaded.pipeline.estimator is loaded.pipeline_  # shared, not stored twice
    mixture = data.data.sum(axis=0)
    np.testing.assert_array_equal(loaded.separate(mixture), frozen.separate(mixture))


def test_model_info_summarises_without_loading(model_file):
    info = model_info(model_file)
    assert info["instruments"] == ["drums", "flute"]
    assert info["sample_rate"] == SR and info["mode"] == "identified"
    assert info["stft"]["win_length"] == 193 and info["stft"]["n_frames"] == 1
    assert info["layer_sizes"] == [97, 32, 8]
    assert info["file_size"] == model_file.stat().st_size
    assert info["description"] == "a tiny test model"
    assert info["format_version"] == FORMAT_VERSION


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("dump", [pickle.dump, joblib.dump], ids=["pickle", "joblib"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, dump):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.skaesep"
    if dump is pickle.dump:
        with open(evil, "wb") as file:
            pickle.dump(_Payload(marker), file)
    else:
        joblib.dump(_Payload(marker), evil)
    # The payload works: unpickling it would create the marker.
    assert not marker.exists()
    with pytest.raises(ValueError, match="not a skaesep model file.*pickle"):
        load_model(evil)
    with pytest.raises(ValueError, match="not a skaesep model file"):
        model_info(evil)
    assert not marker.exists()
    with open(evil, "rb") as file:
        pickle.load(file).close()
    assert marker.exists()


def test_object_array_in_an_archive_is_not_unpickled(model_file, tmp_path):
    marker = tmp_path / "pwned"
    metadata, arrays = _metadata(model_file)
    key = metadata["model"]["attributes"]["classes_"]["array"]
    arrays[key] = np.array([_Payload(marker)], dtype=object)
    crafted = tmp_path / "crafted.skaesep"
    _rewrite(crafted, metadata, arrays)
    with pytest.raises(ValueError, match="cannot be read.*allow_pickle"):
        load_model(crafted)
    assert not marker.exists()


def test_unknown_classes_are_refused(model_file, tmp_path):
    metadata, arrays = _metadata(model_file)
    metadata["model"]["estimator"] = "os.system"
    crafted = tmp_path / "crafted.skaesep"
    _rewrite(crafted, metadata, arrays)
    with pytest.raises(ValueError, match="unknown estimator 'os.system'"):
        load_model(crafted)


def test_other_format_version_names_both_versions(model_file, tmp_path):
    metadata, arrays = _metadata(model_file)
    metadata.update(format_version=FORMAT_VERSION + 1, skaesep_version="9.9.0")
    future = tmp_path / "future.skaesep"
    _rewrite(future, metadata, arrays)
    expected = (
        rf"format version {FORMAT_VERSION + 1} \(written by skaesep 9\.9\.0\).*"
        rf"this skaesep {re.escape(__version__)} reads format version {FORMAT_VERSION}"
    )
    with pytest.raises(ValueError, match=expected):
        load_model(future)


def test_other_skaesep_version_loads_or_names_both(model_file, tmp_path, data):
    metadata, arrays = _metadata(model_file)
    metadata["skaesep_version"] = "0.0.1"
    older = tmp_path / "older.skaesep"
    _rewrite(older, metadata, arrays)
    assert load_model(older).separate(data.data[0]).shape == (2, SR)
    # A parameter this version does not know: the error names both versions.
    metadata["model"]["params"]["warp_factor"] = 9
    _rewrite(older, metadata, arrays)
    expected = rf"skaesep 0\.0\.1, this is skaesep {re.escape(__version__)}\).*warp_factor"
    with pytest.raises(ValueError, match=expected):
        load_model(older)


def test_corrupt_truncated_and_foreign_files(model_file, tmp_path):
    raw = model_file.read_bytes()
    truncated = tmp_path / "truncated.skaesep"
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_model(truncated)
    flipped = bytearray(raw)
    with zipfile.ZipFile(model_file) as archive:
        info = archive.getinfo("metadata.npy")
    flipped[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0xFF
    damaged = tmp_path / "damaged.skaesep"
    damaged.write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="corrupt"):
        load_model(damaged)
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.ones(3))
    with pytest.raises(ValueError, match="not a skaesep model file.*without 'metadata'"):
        load_model(other)
    text = tmp_path / "text.skaesep"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a skaesep model file"):
        load_model(text)
    with pytest.raises(ValueError, match="is a directory"):
        load_model(tmp_path)
    with pytest.raises(ValueError, match="does not exist.*built-in models: default"):
        load_model(tmp_path / "missing.skaesep")


def test_save_is_atomic_and_refuses_what_it_cannot_store(model, tmp_path):
    path = tmp_path / "m.skaesep"
    save_model(model, path)
    before = path.read_bytes()
    unfitted = MaskResynthesizer()
    with pytest.raises(Exception, match="not fitted"):
        save_model(unfitted, path)
    with pytest.raises(TypeError, match="MaskResynthesizer"):
        save_model(object(), path)
    odd = MaskResynthesizer(model.pipeline, chunk_hop=1)
    odd.__dict__.update({k: v for k, v in vars(model).items() if k.endswith("_")})
    odd.extra_ = object()
    with pytest.raises(TypeError, match=r"model\.extra_ of type object"):
        save_model(odd, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.skaesep"]


def test_joblib_still_pickles_estimators(model, tmp_path, data):
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    mixture = data.data.sum(axis=0)
    np.testing.assert_array_equal(joblib.load(path).separate(mixture), model.separate(mixture))


def test_builtin_default_model_loads_by_name():
    assert "default" in list_models()
    info = model_info("default")
    assert info["sample_rate"] == 44100 and info["mode"] == "identified"
    assert len(info["instruments"]) >= 5
    assert info["file_size"] <= 20 * 2**20
    model = load_model("default")
    assert list(model.classes_) == info["instruments"]
    rng = np.random.default_rng(0)
    mixture = rng.normal(0, 0.1, 4410).astype(np.float32)
    sources = model.separate(mixture)
    assert sources.shape == (len(info["instruments"]), 4410)
    np.testing.assert_allclose(sources.sum(axis=0), mixture, atol=1e-5)
