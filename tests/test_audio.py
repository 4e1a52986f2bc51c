import numpy as np
import pytest
import soundfile as sf

from skaesep.audio import read_audio, write_audio


def test_write_is_atomic_and_refuses_to_overwrite(tmp_path):
    path = tmp_path / "a.wav"
    write_audio(path, np.zeros(100), 8000)
    with pytest.raises(FileExistsError, match="force"):
        write_audio(path, np.ones(100), 8000)
    # A failing write leaves neither a half file nor a temporary one behind.
    with pytest.raises(OSError, match="cannot write .*b.wav"):  # libsndfile refuses sr=0
        write_audio(tmp_path / "b.wav", np.zeros(100), 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]
    write_audio(path, np.ones((2, 100)) * 0.5, 8000, force=True)
    y, sr = read_audio(path)
    assert y.shape == (2, 100) and sr == 8000 and np.allclose(y, 0.5)


def test_read_errors(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"junk")
    with pytest.raises(ValueError, match="cannot read audio file .*junk.wav"):
        read_audio(tmp_path / "junk.wav")
    sf.write(tmp_path / "empty.wav", np.zeros(0), 8000)
    with pytest.raises(ValueError, match="holds no samples"):
        read_audio(tmp_path / "empty.wav")
    sf.write(
        tmp_path / "nan.wav", np.array([0.0, np.nan], dtype=np.float32), 8000, subtype="FLOAT"
    )
    with pytest.raises(ValueError, match="NaN"):
        read_audio(tmp_path / "nan.wav")


def test_check_audio_is_the_one_audio_check():
    from skaesep.audio import MAX_AMPLITUDE, check_audio

    assert check_audio(np.zeros(10, dtype=np.float16)).dtype == np.float32
    assert check_audio([0.0, 0.5]).dtype == np.float64
    for bad, match in [
        (np.zeros(10, dtype=np.int16), "floating-point.*buf_to_float"),
        (np.zeros(0), "n_samples > 0"),
        (np.zeros((2, 0)), "n_samples > 0"),
        (np.zeros((1, 2, 10)), r"shape \(n_samples,\) or \(n_channels, n_samples\)"),
        (np.zeros((10, 2)), "time must be the last axis"),
        (np.array([0.0, np.inf]), "NaN or infinite"),
        (np.array([0.0, 2 * MAX_AMPLITUDE]), "expected in"),
    ]:
        with pytest.raises(ValueError, match=match):
            check_audio(bad, name="x")
    with pytest.raises(ValueError, match="^clip 3 holds NaN"):
        check_audio(np.array([np.nan]), name="clip 3")
