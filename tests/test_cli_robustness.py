"""Nothing lost, nothing corrupted: bad input, full disks and interrupts on the command line.

Every test here is a row of ``docs/bad_input.rst``. The model is the ``demo``
preset at 8 kHz, trained once for the module in a few seconds.
"""

import errno
import io
import os
import stat

import numpy as np
import pytest
import soundfile as sf

from skaesep import MaskResynthesizer, SpectrogramTransformer, make_separation_pipeline
from skaesep._output import OutputTemplate, track_names
from skaesep._progress import fit_with_progress, n_epochs
from skaesep.audio import check_audio, read_audio, write_audio
from skaesep.cli import main
from skaesep.datasets import make_instrument_stem
from skaesep.persistence import save_model
from skaesep.presets import make_preset
from skaesep.separation import separate

SR = 8000


def _stem(name="flute", seconds=1.0, seed=0):
    return make_instrument_stem(name, duration=seconds, sr=SR, random_state=seed)


@pytest.fixture(scope="module")
def model():
    X = np.stack([_stem("flute", 2.0, 0), _stem("drums", 2.0, 1)])
    return make_preset("demo", sr=SR, random_state=0).fit(X, ["flute", "drums"])


@pytest.fixture(scope="module")
def model_path(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "demo.skaesep"
    save_model(model, path)
    return path


def _separate(model_path, out, *inputs, extra=()):
    """``skaesep separate`` writing every source (these tests are of output, not presence)."""
    args = ["separate", *map(str, inputs), "-n", str(model_path), "-o", str(out), "-q"]
    args.append("--all-sources")
    return main([*args, *extra])


def _left_in(out):
    """Every file and folder below ``out``, relative, as strings."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*"))


# ------------------------------------------------------------- 1. full disk
@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOSPC, "No space left on device"), sf.LibsndfileError(2, "Error: ")],
    ids=["ENOSPC", "LibsndfileError"],
)
def test_full_disk_is_reported_per_file_and_the_batch_goes_on(
    tmp_path, model_path, monkeypatch, capsys, error
):
    for name in ("first", "second"):
        sf.write(tmp_path / f"{name}.wav", _stem(seed=3), SR)
    real_write, calls = sf.SoundFile.write, []

    def write(self, data):
        calls.append(self.name)
        if len(calls) == 2:  # the first track's second stem: the disk is full
            raise error
        return real_write(self, data)

    monkeypatch.setattr(sf.SoundFile, "write", write)
    out = tmp_path / "out"
    code = _separate(model_path, out, tmp_path / "first.wav", tmp_path / "second.wav")
    assert code == 1
    err = capsys.readouterr().err
    assert "first.wav: cannot write" in err and "Traceback" not in err
    # Nothing half-written of the first track, the second one complete.
    assert _left_in(out) == ["second", "second/drums.wav", "second/flute.wav"]


# -------------------------------------------------------- 2. interrupt/crash
@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError])
def test_interrupt_or_crash_mid_track_leaves_no_partial_track(
    tmp_path, model_path, monkeypatch, capsys, failure
):
    sf.write(tmp_path / "song.wav", _stem(seed=4), SR)
    real_write, calls = sf.SoundFile.write, []

    def write(self, data):
        calls.append(self.name)
        if len(calls) == 2:  # between the two stems of the track
            raise failure("boom")
        return real_write(self, data)

    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        patch.setattr(sf.SoundFile, "write", write)
        if failure is KeyboardInterrupt:
            assert _separate(model_path, out, tmp_path / "song.wav") == 130
            assert "interrupted" in capsys.readouterr().err
        else:
            with pytest.raises(RuntimeError, match="boom"):  # a bug still shows itself
                _separate(model_path, out, tmp_path / "song.wav")
    assert _left_in(out) == []  # no track, no temporary folder
    # A rerun without --force is not refused as "already separated".
    assert _separate(model_path, out, tmp_path / "song.wav") == 0
    assert _left_in(out) == ["song", "song/drums.wav", "song/flute.wav"]


def test_existing_outputs_are_kept_without_force(tmp_path, model_path, capsys):
    sf.write(tmp_path / "song.wav", _stem(seed=4), SR)
    out = tmp_path / "out"
    assert _separate(model_path, out, tmp_path / "song.wav") == 0
    before = (out / "song" / "flute.wav").stat().st_mtime_ns
    assert _separate(model_path, out, tmp_path / "song.wav") == 1
    assert "--force" in capsys.readouterr().err
    assert (out / "song" / "flute.wav").stat().st_mtime_ns == before
    assert _separate(model_path, out, tmp_path / "song.wav", extra=["--force"]) == 0
    assert (out / "song" / "flute.wav").stat().st_mtime_ns != before


# --------------------------------------------------- 3. unique, inside --out
def test_same_file_names_from_different_folders_get_their_own_tracks(tmp_path, model_path):
    for folder, seed in (("a", 5), ("b", 6)):
        (tmp_path / "in" / folder).mkdir(parents=True)
        sf.write(tmp_path / "in" / folder / "song.wav", _stem(seed=seed), SR)
    out = tmp_path / "out"
    assert _separate(model_path, out, tmp_path / "in") == 0  # a folder, recursively
    assert sorted(p.name for p in out.iterdir()) == ["a-song", "b-song"]
    a, _ = sf.read(out / "a-song" / "flute.wav")
    b, _ = sf.read(out / "b-song" / "flute.wav")
    assert not np.allclose(a, b)  # neither overwrote the other
    # A folder inside the input folder is not separated again as input.
    out_inside = tmp_path / "in" / "stems"
    assert _separate(model_path, out_inside, tmp_path / "in") == 0
    assert sorted(p.name for p in out_inside.iterdir()) == ["a-song", "b-song"]


def test_track_names_are_unique_single_components():
    files = ["x/a/song.wav", "x/b/song.wav", "y/Song.flac", "...wav", "../..wav", "a\\b.wav"]
    names = track_names(files)
    assert len({n.casefold() for n in names}) == len(files)
    assert all("/" not in n and "\\" not in n and not n.startswith(".") for n in names)
    assert names[:2] == ["a-song", "b-song"]


def test_dot_names_never_write_outside_out(tmp_path, model_path):
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "...wav", _stem(seed=7), SR, format="WAV")
    out = tmp_path / "in" / "out"
    assert _separate(model_path, out, tmp_path / "in" / "...wav") == 0
    assert _left_in(out) == ["track", "track/drums.wav", "track/flute.wav"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["...wav", "out"]


@pytest.mark.parametrize(
    "template, message",
    [
        ("{track}/{stem}.{ext}", r"unknown key \{stem\}"),
        ("{track}/{instrument!r}.{ext}", "unknown key"),
        ("{track}.{ext}", r"lacks \{instrument\}"),
        ("../{track}/{instrument}.{ext}", "relative path inside"),
        ("/tmp/{track}/{instrument}.{ext}", "relative path inside"),
        ("{track/{instrument}", "not a valid template"),
    ],
)
def test_bad_filename_templates_are_refused(tmp_path, model_path, capsys, template, message):
    with pytest.raises(ValueError, match=message):
        OutputTemplate(template)
    sf.write(tmp_path / "song.wav", _stem(seed=8), SR)
    out = tmp_path / "out"
    assert _separate(model_path, out, tmp_path / "song.wav", extra=["--filename", template]) == 2
    assert "--filename" in capsys.readouterr().err
    assert not out.exists()


def test_filename_template_that_merges_tracks_is_refused(tmp_path, model_path, capsys):
    for name in ("a", "b"):
        sf.write(tmp_path / f"{name}.wav", _stem(seed=9), SR)
    extra = ["--filename", "{instrument}.{ext}"]
    assert _separate(model_path, tmp_path / "out", tmp_path / "a.wav", tmp_path / "b.wav",
                     extra=extra) == 2  # fmt: skip
    assert "for both 'a' and 'b'" in capsys.readouterr().err


def test_flat_filename_template_and_formats(tmp_path, model_path):
    mono = _stem(seed=10)
    sf.write(tmp_path / "song.wav", mono, SR)
    out = tmp_path / "out"
    extra = ["--filename", "{instrument}/{track}.{ext}", "--format", "flac", "--bit-depth", "16"]
    assert _separate(model_path, out, tmp_path / "song.wav", extra=extra) == 0
    assert _left_in(out) == ["drums", "drums/song.flac", "flute", "flute/song.flac"]
    assert sf.info(out / "flute" / "song.flac").subtype == "PCM_16"
    flute, _ = sf.read(out / "flute" / "song.flac")
    drums, _ = sf.read(out / "drums" / "song.flac")
    np.testing.assert_allclose(flute + drums, mono, atol=2 / 2**15)


@pytest.mark.parametrize(
    "fmt, depth, subtype",
    [("wav", None, "FLOAT"), ("wav", "16", "PCM_16"), ("wav", "24", "PCM_24"),
     ("flac", None, "PCM_24"), ("ogg", None, "VORBIS"), ("mp3", None, "MPEG_LAYER_III")],
)  # fmt: skip
def test_output_formats_and_bit_depths(tmp_path, model_path, fmt, depth, subtype):
    sf.write(tmp_path / "song.wav", _stem(seed=11), SR)
    extra = ["--format", fmt, *(["--bit-depth", depth] if depth else [])]
    assert _separate(model_path, tmp_path / "out", tmp_path / "song.wav", extra=extra) == 0
    info = sf.info(tmp_path / "out" / "song" / f"flute.{fmt}")
    assert info.subtype == subtype and info.samplerate == SR


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--format", "mp3", "--bit-depth", "16"], "lossy format and takes no bit depth"),
        (["--format", "flac", "--bit-depth", "32"], "flac takes a bit depth of 16 or 24"),
    ],
)
def test_impossible_format_options_fail_before_any_work(
    tmp_path, model_path, capsys, extra, message
):
    sf.write(tmp_path / "song.wav", _stem(seed=12), SR)
    assert _separate(model_path, tmp_path / "out", tmp_path / "song.wav", extra=extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_format_libsndfile_cannot_write_is_named(tmp_path, model_path, capsys, monkeypatch):
    formats = {k: v for k, v in sf.available_formats().items() if k != "MP3"}
    monkeypatch.setattr(sf, "available_formats", lambda: formats)
    sf.write(tmp_path / "song.wav", _stem(seed=12), SR)
    extra = ["--format", "mp3"]
    assert _separate(model_path, tmp_path / "out", tmp_path / "song.wav", extra=extra) == 2
    assert "cannot write mp3" in capsys.readouterr().err


def test_parallel_jobs_give_the_same_outputs(tmp_path, model_path):
    for k in range(2):
        sf.write(tmp_path / f"s{k}.wav", _stem(seed=20 + k), SR)
    files = [tmp_path / f"s{k}.wav" for k in range(2)]
    assert _separate(model_path, tmp_path / "one", *files) == 0
    assert _separate(model_path, tmp_path / "two", *files, extra=["-j", "2"]) == 0
    for k in range(2):
        a, _ = sf.read(tmp_path / "one" / f"s{k}" / "drums.wav")
        b, _ = sf.read(tmp_path / "two" / f"s{k}" / "drums.wav")
        np.testing.assert_allclose(a, b, atol=1e-6)


# ----------------------------------------------------------------- 4. umask
@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_outputs_and_models_honour_the_umask(tmp_path, model, model_path, umask):
    sf.write(tmp_path / "song.wav", _stem(seed=13), SR)
    old = os.umask(umask)
    try:
        write_audio(tmp_path / "a.wav", _stem(seed=13), SR)
        save_model(model, tmp_path / "m.skaesep")
        assert _separate(model_path, tmp_path / "out", tmp_path / "song.wav") == 0
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    for path in (tmp_path / "a.wav", tmp_path / "m.skaesep", tmp_path / "out/song/flute.wav"):
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
    assert stat.S_IMODE((tmp_path / "out" / "song").stat().st_mode) == 0o777 & ~umask


# ----------------------------------------------- 5. huge samples, truncation
def test_huge_finite_samples_fail_with_a_clear_error(tmp_path, model, model_path, capsys):
    audio = _stem(seed=14)
    audio[100] = 3e38  # finite in float32, overflows the STFT
    sf.write(tmp_path / "huge.wav", audio, SR, subtype="FLOAT")
    assert _separate(model_path, tmp_path / "out", tmp_path / "huge.wav") == 1
    assert "holds samples up to 3e+38 in magnitude" in capsys.readouterr().err
    assert not (tmp_path / "out" / "huge").exists()
    with pytest.raises(ValueError, match="expected in"):
        separate(audio, model)
    with pytest.raises(ValueError, match="expected in"):
        model.separate(audio)


def test_truncated_wav_is_reported_in_the_listing(tmp_path, model_path, capsys):
    sf.write(tmp_path / "full.wav", _stem(seed=15), SR)
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    args = ["separate", str(tmp_path / "cut.wav"), "-n", str(model_path), "-o", str(tmp_path)]
    assert main(args) == 0
    assert "cut.wav is truncated: its header claims" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="truncated"):
        audio, _ = read_audio(tmp_path / "cut.wav")
    assert 0 < audio.size < SR


# --------------------------------------------------------- 6. time-first
def test_time_first_arrays_are_refused_with_the_layout(model):
    stereo_time_first = np.zeros((SR, 2), dtype=np.float32)  # what soundfile.read gives
    for call in (check_audio, lambda a: separate(a, model), model.separate):
        with pytest.raises(ValueError, match=r"time must be the last axis, \(n_channels"):
            call(stereo_time_first)
    with pytest.raises(ValueError, match="time must be the last axis"):
        check_audio(np.zeros((20, 4000)))  # more than MAX_CHANNELS rows: clips, not channels
    assert separate(stereo_time_first.T, model, sources=None).sources.shape == (2, 2, SR)


# ----------------------------------------------- 7. hop, segment, one source
def test_hop_length_of_a_window_or_more_is_refused():
    X = np.stack([_stem(seed=16)])
    window = SpectrogramTransformer(SR).fit(X).win_length_
    for hop in (window, window + 1):
        with pytest.raises(ValueError, match="not below the window length"):
            SpectrogramTransformer(SR, hop_length=hop).fit(X)
    SpectrogramTransformer(SR, hop_length=window - 1).fit(X)


@pytest.fixture
def stems_dir(tmp_path):
    for k, name in enumerate(["flute", "drums"]):
        (tmp_path / "stems" / name).mkdir(parents=True)
        sf.write(tmp_path / "stems" / name / f"{name}.wav", _stem(name, 1.0, k), SR)
    return tmp_path / "stems"


@pytest.mark.parametrize("segment", ["0", "-1", "nan"])
def test_train_segment_must_be_positive(stems_dir, tmp_path, capsys, segment):
    with pytest.raises(SystemExit) as exit_:
        main(["train", str(stems_dir), "-o", str(tmp_path / "m"), "--segment", segment])
    assert exit_.value.code == 2
    assert "--segment: must be above 0" in capsys.readouterr().err


def test_train_on_one_instrument_is_refused(stems_dir, tmp_path, capsys):
    import shutil

    shutil.rmtree(stems_dir / "drums")
    args = ["train", str(stems_dir), "-o", str(tmp_path / "m"), "--sr", str(SR), "-q"]
    assert main(args) == 2
    assert "holds one instrument (flute)" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


# ------------------------------------------------ 8. our words, not theirs
def test_ragged_training_clips_are_named():
    with pytest.raises(ValueError, match="ragged sequence.*fix_length"):
        make_preset("demo", sr=SR).fit([np.zeros(800), np.zeros(900)], ["a", "b"])


def test_empty_layer_sizes_are_refused():
    with pytest.raises(ValueError, match="layer_sizes must hold at least one"):
        make_separation_pipeline(layer_sizes=())


def test_zero_sample_rate_is_refused(model, tmp_path, capsys):
    with pytest.raises(ValueError, match="sr must be a positive integer"):
        separate(_stem(), model, sr=0)
    with pytest.raises(ValueError, match="'sr' parameter of SpectrogramTransformer"):
        MaskResynthesizer(make_separation_pipeline(sr=0)).fit(np.zeros((2, 800)) + 0.1)
    with pytest.raises(SystemExit):
        main(["train", str(tmp_path), "-o", str(tmp_path / "m"), "--sr", "0"])
    assert "--sr: must be above 0" in capsys.readouterr().err


def test_nan_in_a_training_stem_names_the_file(stems_dir, tmp_path, capsys):
    audio = _stem("drums", 1.0, 1)
    audio[10] = np.nan
    sf.write(stems_dir / "drums" / "bad.wav", audio, SR, subtype="FLOAT")
    args = ["train", str(stems_dir), "-o", str(tmp_path / "m"), "--sr", str(SR), "-q"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "drums/bad.wav holds NaN or infinite samples" in err and "Traceback" not in err


def test_missing_files_and_folders_given_as_files(tmp_path, model_path, capsys):
    sf.write(tmp_path / "ok.wav", _stem(seed=17), SR)
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    code = _separate(model_path, out, tmp_path / "missing.wav", tmp_path / "empty",
                     tmp_path / "ok.wav")  # fmt: skip
    assert code == 1  # the bad ones reported, the good one separated
    err = capsys.readouterr().err
    assert "missing.wav does not exist" in err and "System error" not in err
    assert "no audio files in folder" in err
    assert (out / "ok" / "flute.wav").exists()
    with pytest.raises(ValueError, match="is a folder, not an audio file"):
        read_audio(tmp_path / "empty")
    args = ["evaluate", "--references", str(tmp_path / "empty"), "--estimates", str(out)]
    assert main(args) == 2
    assert "is a folder, not an audio file" in capsys.readouterr().err


def test_folder_and_file_swapped_for_out(stems_dir, tmp_path, model_path, capsys):
    (tmp_path / "models").mkdir()
    args = ["train", str(stems_dir), "-o", str(tmp_path / "models"), "--sr", str(SR), "-q"]
    assert main([*args, "--force"]) == 2  # refused before any training
    assert "is a folder; give the model file to write" in capsys.readouterr().err
    sf.write(tmp_path / "song.wav", _stem(seed=19), SR)
    assert _separate(model_path, tmp_path / "song.wav", tmp_path / "song.wav") == 2
    assert "is a file; give the output folder" in capsys.readouterr().err


def test_file_names_that_are_not_utf8(tmp_path, model_path, capsys):
    name = os.fsdecode(b"caf\xe9.wav")  # Latin-1 bytes, as an old disk may hold
    audio = _stem(seed=18)
    with open(tmp_path / name, "wb") as f:
        sf.write(f, audio, SR, format="WAV")
    out = tmp_path / "out"
    args = ["separate", str(tmp_path / name), "-n", str(model_path), "-o", str(out)]
    assert main(args) == 0
    assert "caf\ufffd.wav: 1 source(s)" in capsys.readouterr().out  # a flute: found alone
    assert sorted(p.name for p in out.iterdir()) == ["caf\ufffd"]
    np.testing.assert_allclose(read_audio(tmp_path / name)[0], audio, atol=1e-4)


# ---------------------------------------------------------------- progress
def test_training_progress_counts_every_epoch(monkeypatch):
    import skaesep._progress as progress

    bars = []

    def bar(**kwargs):
        bars.append(progress.tqdm(total=kwargs["total"], file=io.StringIO(), disable=False))
        return bars[-1]

    monkeypatch.setattr(progress, "bar", bar)
    model = make_preset("demo", sr=SR, random_state=0)
    model.set_params(pipeline__autoencoder__max_iter=3, discriminative_epochs=2,
                     discriminative_mixtures=50)  # fmt: skip
    X = np.stack([_stem("flute", 1.0, 0), _stem("drums", 1.0, 1)])
    fit_with_progress(model, X, ["flute", "drums"])
    # 2 layers x 3 RBM epochs + 3 fine-tuning + 2 discriminative epochs
    assert n_epochs(model, supervised=True) == 11
    assert bars[0].total == 11 and bars[0].n == len(model.pipeline_[1].loss_curve_) + 6 + 2
    assert model.pipeline_[1].verbose == 0  # the model keeps its own verbosity
