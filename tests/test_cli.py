"""Each subcommand of the ``skaesep`` console script, on short audio."""

import shlex

import joblib
import librosa
import numpy as np
import pytest
import soundfile as sf

from skaesep.cli import main
from skaesep.datasets import make_instrument_stem
from skaesep.persistence import load_model, save_model

SR = 8000
FAST = ["--sr", str(SR), "--quiet", "--preset", "demo"]


@pytest.fixture(scope="module")
def stems_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("stems")
    for k, name in enumerate(["flute", "drums"]):
        (root / name).mkdir()
        y = make_instrument_stem(name, duration=4.0, sr=SR, random_state=k)
        sf.write(root / name / f"{name}.wav", y, SR)
    return root


@pytest.fixture(scope="module")
def model_path(stems_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.skaesep"
    assert main(["train", str(stems_dir), "-o", str(path), "--segment", "2", *FAST]) == 0
    return path


def test_train_with_the_default_preset(stems_dir, tmp_path):
    """The one test of the default ('separation') preset: it trains the slowest."""
    path = tmp_path / "default.skaesep"
    args = ["train", str(stems_dir), "-o", str(path), "--segment", "2", "--sr", str(SR), "-q"]
    assert main(args) == 0
    model = load_model(path)
    assert list(model.classes_) == ["drums", "flute"]
    assert model.discriminative_loss == "mask" and len(model.discriminative_loss_curve_) == 10


def test_demo_writes_audio_figures_model_and_prints_table(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(
        [
            "demo",
            "--out",
            str(out),
            "--duration",
            "2",
            "--instruments",
            "flute",
            "drums",
            "--sr",
            str(SR),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for method in ("skaesep (identified)", "mixture", "oracle ratio mask"):
        assert method in printed
    names = {p.name for p in out.iterdir()}
    assert {
        "mixture.wav",
        "drums.wav",
        "flute.wav",
        "model.skaesep",
        "references",
        "fig4_spectrogram.png",
        "fig5_reconstruction.png",
        "fig6_code_activations.png",
    } <= names
    mixture, sr = sf.read(out / "mixture.wav")
    sources = [sf.read(out / f"{n}.wav")[0] for n in ("drums", "flute")]
    assert sr == SR and mixture.size == 2 * SR
    np.testing.assert_allclose(sum(sources), mixture, atol=1e-4)
    references = [sf.read(out / "references" / f"{n}.wav")[0] for n in ("drums", "flute")]
    np.testing.assert_allclose(sum(references), mixture, atol=1e-4)
    assert list(load_model(out / "model.skaesep").classes_) == ["drums", "flute"]
    # The follow-up commands it prints run as printed.
    follow_ups = [
        shlex.split(line)[1:] for line in printed.splitlines() if line.startswith("  skaesep ")
    ]
    assert [cmd[0] for cmd in follow_ups] == ["separate", "evaluate"]
    assert main(follow_ups[0] + ["--quiet"]) == 0
    assert main(follow_ups[1]) == 0
    row = [s for s in capsys.readouterr().out.splitlines() if s.startswith("mean")][0]
    assert float(row.split()[-1]) > 3  # the SDR improvement of the saved model's estimates
    # A second run does not overwrite without --force.
    assert main(["demo", "--out", str(out), "--duration", "2", *FAST]) == 2
    assert "--force" in capsys.readouterr().err


def test_train_writes_a_loadable_model(model_path):
    model = load_model(model_path)
    assert list(model.classes_) == ["drums", "flute"]


def test_separate_keeps_rate_channels_and_length(tmp_path, model_path, capsys):
    rng = np.random.default_rng(0)
    stereo = rng.normal(0, 0.1, (3 * 11025, 2)).astype(np.float32)
    sf.write(tmp_path / "stereo.wav", stereo, 11025)
    mono = make_instrument_stem("flute", duration=3.0, sr=SR, random_state=5)
    sf.write(tmp_path / "mono.flac", mono, SR)
    (tmp_path / "broken.wav").write_bytes(b"not audio at all")
    out = tmp_path / "out"
    files = [tmp_path / "stereo.wav", tmp_path / "broken.wav", tmp_path / "mono.flac"]
    code = main(
        ["separate", *map(str, files), "--model", str(model_path), "--out", str(out), "--quiet"]
    )
    assert code == 1  # the broken file is reported, the others are still separated
    assert "broken.wav" in capsys.readouterr().err
    assert not (out / "broken").exists()
    drums, sr = sf.read(out / "stereo" / "drums.wav")
    assert sr == 11025 and drums.shape == stereo.shape
    flute, sr = sf.read(out / "mono" / "flute.wav")
    drums, _ = sf.read(out / "mono" / "drums.wav")
    assert sr == SR and flute.shape == mono.shape
    np.testing.assert_allclose(flute + drums, mono, atol=1e-4)
    # Nothing is overwritten without --force; with it, it is.
    before = (out / "mono" / "flute.wav").stat().st_mtime_ns
    assert (
        main(["separate", str(files[2]), "--model", str(model_path), "--out", str(out), "--quiet"])
        == 1
    )
    assert (out / "mono" / "flute.wav").stat().st_mtime_ns == before
    assert (
        main(
            [
                "separate",
                str(files[2]),
                "--model",
                str(model_path),
                "--out",
                str(out),
                "--quiet",
                "--force",
            ]
        )
        == 0
    )


def test_evaluate_prints_table_and_rejects_mismatched_rates(tmp_path, capsys):
    refs = [
        make_instrument_stem(n, duration=2.0, sr=SR, random_state=1) for n in ("flute", "drums")
    ]
    for k, y in enumerate(refs):
        sf.write(tmp_path / f"ref{k}.wav", y, SR)
        sf.write(tmp_path / f"est{k}.wav", y + 0.01 * refs[1 - k], SR)
    sf.write(tmp_path / "mix.wav", refs[0] + refs[1], SR)
    args = [
        "evaluate",
        "--references",
        str(tmp_path / "ref0.wav"),
        str(tmp_path / "ref1.wav"),
        "--estimates",
        str(tmp_path / "est1.wav"),
        str(tmp_path / "est0.wav"),
        "--mixture",
        str(tmp_path / "mix.wav"),
        "--permutation",
    ]
    assert main(args) == 0
    rows = capsys.readouterr().out.splitlines()[2:]  # after the header and the rule
    assert len(rows) == 3  # one row per source, then the mean
    for k in range(2):  # each reference matched to its own estimate
        assert rows[k].startswith(f"{tmp_path / f'ref{k}.wav'} ~ {tmp_path / f'est{k}.wav'}")
    assert rows[2].startswith("mean")
    sdr = [float(row.split()[-4]) for row in rows]  # columns SDR SIR SAR SDRi
    assert min(sdr) > 20  # near-perfect estimates (1 % leakage), once permuted
    assert sdr[2] == pytest.approx((sdr[0] + sdr[1]) / 2, abs=0.01)
    sf.write(tmp_path / "est0.wav", refs[0][::2], SR // 2)
    assert main(args) == 2
    assert "mismatched sample rates" in capsys.readouterr().err


def test_model_file_errors_name_the_problem(tmp_path, model_path):
    corrupt = tmp_path / "corrupt.skaesep"
    corrupt.write_bytes(model_path.read_bytes()[:100])
    with pytest.raises(ValueError, match="corrupt"):
        load_model(corrupt)
    foreign = tmp_path / "foreign.joblib"
    joblib.dump({"weights": [1, 2]}, foreign)
    with pytest.raises(ValueError, match="not a skaesep model"):
        load_model(foreign)
    with pytest.raises(ValueError, match="does not exist"):
        load_model(tmp_path / "missing")
    with pytest.raises(TypeError, match="MaskResynthesizer"):
        save_model(object(), tmp_path / "x")


def test_train_errors_on_missing_folder(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope"), "--out", str(tmp_path / "m"), *FAST]) == 2
    assert "nope" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_models_lists_the_builtin_default(capsys):
    assert main(["models"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("default: ") and "44100 Hz" in line and "identified" in line
    for name in load_model("default").classes_:
        assert name in line


def test_info_describes_a_model_file(model_path, capsys):
    assert main(["info", str(model_path)]) == 0
    rows = dict(
        line.split(None, 1)
        for line in capsys.readouterr().out.splitlines()
        if not line.startswith(("file size", "sample rate", "layer sizes", "written by"))
    )
    assert rows["instruments"] == "drums, flute"
    assert rows["mode"] == "identified"
    assert main(["info", str(model_path.parent / "missing.skaesep")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_separate_writes_the_instruments_told_or_found(tmp_path, model_path, capsys):
    flute = make_instrument_stem("flute", duration=3.0, sr=SR, random_state=5)
    sf.write(tmp_path / "solo.wav", flute, SR)
    args = ["separate", str(tmp_path / "solo.wav"), "--model", str(model_path)]
    # Told: one stem, the instrument named, holding the whole mixture.
    assert main([*args, "--out", str(tmp_path / "told"), "--instruments", "flute"]) == 0
    assert [p.name for p in (tmp_path / "told" / "solo").iterdir()] == ["flute.wav"]
    np.testing.assert_allclose(sf.read(tmp_path / "told" / "solo" / "flute.wav")[0], flute,
                               atol=1e-4)  # fmt: skip
    # Not told: the stems the detector found, and the listing says which and why.
    assert main([*args, "--out", str(tmp_path / "auto")]) == 0
    listing = capsys.readouterr().out
    found = listing.split("; found ")[1].split(";")[0].split(" (not found")[0].split(", ")
    written = sorted(p.stem for p in (tmp_path / "auto" / "solo").iterdir())
    assert "flute" in found and written == sorted(found)
    assert "presence probabilities: drums " in listing
    # A name the model does not know is refused with the model's sources.
    assert main([*args, "--out", str(tmp_path / "bad"), "--instruments", "cello"]) == 2
    assert "--instruments cello: not in the model, whose sources are drums, flute" in (
        capsys.readouterr().err
    )


def test_separate_without_model_uses_the_builtin_default(tmp_path):
    mono = make_instrument_stem("flute", duration=1.0, sr=SR, random_state=5)
    sf.write(tmp_path / "tune.wav", mono, SR)
    out = tmp_path / "out"
    assert main(["separate", str(tmp_path / "tune.wav"), "--out", str(out), "--quiet"]) == 0
    written = sorted(p.stem for p in (out / "tune").iterdir())
    assert written and set(written) <= set(load_model("default").classes_)  # those it found
    total = sum(sf.read(out / "tune" / f"{name}.wav")[0] for name in written)
    # Resampled to the model's 44.1 kHz and back: the sources sum to that round trip.
    round_trip = librosa.resample(librosa.resample(mono, orig_sr=SR, target_sr=44100),
                                  orig_sr=44100, target_sr=SR)  # fmt: skip
    np.testing.assert_allclose(total, round_trip, atol=1e-4)


def test_blind_training_on_unlabelled_files_and_n_sources(tmp_path, capsys):
    from skaesep.persistence import model_info

    data = tmp_path / "music"
    (data / "nested").mkdir(parents=True)
    for k, name in enumerate(["flute", "drums", "flute", "drums"]):
        folder = data / "nested" if k % 2 else data
        clip = make_instrument_stem(name, duration=2.0, sr=8000, random_state=k)
        sf.write(folder / f"take{k}.wav", clip, 8000)  # any names, no labels
    model = tmp_path / "blind.skaesep"
    args = ["train", str(data), "-o", str(model), "--blind", "--n-sources", "2"]
    assert main([*args, "--preset", "demo", "--sr", "8000", "--segment", "1"]) == 0
    assert "blind model, sources: source_1, source_2" in capsys.readouterr().out
    assert model_info(model)["mode"] == "blind"
    mix = make_instrument_stem("flute", duration=1.5, sr=8000, random_state=9)
    mix = mix + make_instrument_stem("drums", duration=1.5, sr=8000, random_state=10)
    sf.write(tmp_path / "mix.wav", mix, 8000)
    out = tmp_path / "out"
    assert main(["separate", str(tmp_path / "mix.wav"), "-n", str(model), "-o", str(out),
                 "--n-sources", "2", "-q"]) == 0  # fmt: skip
    stems = sorted(p.name for p in (out / "mix").iterdir())
    assert stems == ["source_1.wav", "source_2.wav"]
    total = sum(sf.read(out / "mix" / name)[0] for name in stems)
    np.testing.assert_allclose(total, mix, atol=1e-4)


def test_n_sources_without_blind_is_refused(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for k, name in enumerate("ab"):
        sf.write(tmp_path / name / "x.wav", make_instrument_stem("flute", duration=1.0,
                 sr=8000, random_state=k), 8000)  # fmt: skip
    args = ["train", str(tmp_path), "-o", str(tmp_path / "m.skaesep"), "--n-sources", "2"]
    assert main([*args, "--preset", "demo", "--sr", "8000", "--segment", "1"]) == 2
    assert "--n-sources is for --blind training" in capsys.readouterr().err
