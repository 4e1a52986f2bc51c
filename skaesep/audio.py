"""Audio in and out: one check of audio arrays, soundfile reading and writing."""

import contextlib
import os
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from ._atomic import atomic_path

#: More channels than this are taken for a time-first array, not channels.
MAX_CHANNELS = 16
#: Largest sample magnitude accepted. Audio is expected in [-1, 1]; integer
#: PCM values cast to float (up to 32768 or so) still work, but beyond this the
#: STFT and the energies of the metrics lose range in float32.
MAX_AMPLITUDE = 1e6

#: File name extensions taken for audio when a folder is searched.
AUDIO_EXTENSIONS = frozenset(
    {
        ".wav",
        ".wave",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp3",
        ".aif",
        ".aiff",
        ".aifc",
        ".au",
        ".snd",
        ".caf",
        ".w64",
        ".rf64",
        ".sph",
        ".nist",
        ".voc",
        ".sd2",
        ".xi",
        ".wve",
        ".htk",
    }
)

#: Output formats: libsndfile format, subtype per bit depth, default depth.
OUTPUT_FORMATS = {
    "wav": ("WAV", {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}, 32),
    "flac": ("FLAC", {16: "PCM_16", 24: "PCM_24"}, 24),
    "mp3": ("MP3", {}, None),
    "ogg": ("OGG", {}, None),
}


def check_audio(audio, *, name="audio"):
    """Check a waveform and return it as a float ndarray, time last.

    The one check every entry point applies to audio: shape ``(n_samples,)``
    or ``(n_channels, n_samples)``, floating point, non-empty, finite and of a
    sane amplitude.

    Parameters
    ----------
    audio : array-like of shape (n_samples,) or (n_channels, n_samples)
        Waveform with time on the last axis, float samples (nominally in
        [-1, 1]).
    name : str, default="audio"
        What to call ``audio`` in error messages (e.g. a file name).

    Returns
    -------
    audio : ndarray of shape (n_samples,) or (n_channels, n_samples)
        float32 or float64 (float16 becomes float32).

    Raises
    ------
    ValueError
        If the shape, dtype or values are not those of audio; a 2-D array
        with more channels than samples (or more than ``MAX_CHANNELS``) is
        taken for time-first ``(n_samples, n_channels)`` and refused.

    Examples
    --------
    >>> import numpy as np
    >>> from skaesep.audio import check_audio
    >>> check_audio(np.zeros((2, 8000), dtype=np.float32)).shape
    (2, 8000)
    >>> check_audio(np.zeros((8000, 2)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: audio has shape (8000, 2): time must be the last axis, (n_channels, n_samples)...
    """
    audio = np.asarray(audio)
    if audio.dtype.kind != "f":
        raise ValueError(
            f"{name} must hold floating-point samples, got dtype {audio.dtype}; scale "
            "integer PCM into [-1, 1] first (e.g. librosa.util.buf_to_float)."
        )
    if audio.dtype == np.float16:
        audio = audio.astype(np.float32)
    if audio.ndim not in (1, 2) or audio.shape[-1] == 0:
        raise ValueError(
            f"{name} must have shape (n_samples,) or (n_channels, n_samples) with "
            f"n_samples > 0, got {audio.shape}."
        )
    if audio.ndim == 2 and (audio.shape[0] > MAX_CHANNELS or audio.shape[0] > audio.shape[1]):
        raise ValueError(
            f"{name} has shape {audio.shape}: time must be the last axis, (n_channels, "
            "n_samples); pass audio.T for a time-first (n_samples, n_channels) array."
        )
    # max and min propagate NaN and need no copy of the audio.
    hi, lo = float(audio.max()), float(audio.min())
    if not (np.isfinite(hi) and np.isfinite(lo)):
        raise ValueError(f"{name} holds NaN or infinite samples.")
    peak = max(hi, -lo)
    if peak > MAX_AMPLITUDE:
        raise ValueError(
            f"{name} holds samples up to {peak:.3g} in magnitude; audio is expected in "
            f"[-1, 1] and at most {MAX_AMPLITUDE:g} is accepted: rescale it."
        )
    return audio


def display_name(path):
    """A path as text that prints whatever its bytes (undecodable bytes as U+FFFD).

    Examples
    --------
    >>> import os
    >>> display_name(os.fsdecode(b"caf\\xe9.wav"))
    'caf\ufffd.wav'
    """
    return os.fsencode(path).decode("utf-8", "replace")


def _check_readable(path):
    """Our words for a path that is no readable file (before libsndfile's)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{display_name(path)} does not exist.")
    if path.is_dir():
        raise ValueError(f"{display_name(path)} is a folder, not an audio file.")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{display_name(path)} cannot be read: permission denied.")


_SHORT_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


#: Frames decoded at a time into a memory-mapped file (``read_audio(mmap_dir=...)``).
READ_BLOCK = 1 << 20


def read_audio(path, *, mmap_dir=None):
    """Read an audio file as float32 with time on the last axis.

    Parameters
    ----------
    path : str or Path
        Any format soundfile reads (WAV, FLAC, OGG, MP3, ...). The name may
        hold any bytes, UTF-8 or not.
    mmap_dir : str or Path, default=None
        Decode the file block by block into a memory-mapped float32 file in
        this folder instead of memory, so a long recording costs disk, not
        RAM. The file is unlinked as soon as it is mapped: nothing is left
        behind, whatever happens next.

    Returns
    -------
    audio : ndarray of shape (n_samples,) or (n_channels, n_samples)
        Mono files give 1-D arrays.
    sr : int
        The file's sample rate.

    Raises
    ------
    ValueError
        If the file is missing, a folder, unreadable, empty, or fails
        :func:`check_audio` (NaN, infinite or huge samples, ...).

    Warns
    -----
    UserWarning
        If the header claims more audio than the file holds (a truncated
        file): the samples present are returned.
    """
    _check_readable(path)
    name = display_name(path)
    try:
        # Bytes: libsndfile gets the name as it is on disk, whatever its encoding.
        with sf.SoundFile(os.fsencode(path)) as f:
            if mmap_dir is None:
                data = f.read(dtype="float32", always_2d=True).T
            else:
                data = _decode_to_memmap(f, mmap_dir)
            sr, info = f.samplerate, f.extra_info
    except OSError as exc:
        if mmap_dir is not None and exc.errno is not None:  # writing the decoded copy
            raise OSError(exc.errno, f"cannot decode {name} into {mmap_dir}: {exc}") from exc
        raise ValueError(f"cannot read audio file {name}: {exc}") from exc
    except Exception as exc:  # soundfile raises several types for unreadable files
        raise ValueError(f"cannot read audio file {name}: {exc}") from exc
    if data.shape[1] == 0:
        raise ValueError(f"audio file {name} holds no samples.")
    short = _SHORT_DATA.search(info)
    if short:
        warnings.warn(
            f"{name} is truncated: its header claims {short[1]} bytes of audio but the file "
            f"holds {short[2]}; using the {data.shape[1]} frames present.",
            UserWarning,
            stacklevel=2,
        )
    audio = check_audio(data, name=f"audio file {name}")
    if audio.shape[0] == 1:
        return audio[0], int(sr)
    return (audio if mmap_dir is not None else np.ascontiguousarray(audio)), int(sr)


def _decode_to_memmap(f, folder):
    """Decode an open SoundFile into an unlinked memory-mapped (n_channels, n_frames) array.

    The file's space is reserved first (``posix_fallocate``), so a full disk
    is an ``OSError`` here rather than a crash while writing the mapping.
    """
    shape = (f.channels, max(f.frames, 1))
    fd, tmp = tempfile.mkstemp(prefix=".skaesep-decoded-", suffix=".f32", dir=folder)
    try:
        os.unlink(tmp)  # the open descriptor and then the mapping keep the data
        os.posix_fallocate(fd, 0, 4 * shape[0] * shape[1])
        data = np.memmap(os.fdopen(fd, "r+b", closefd=False), np.float32, "r+", shape=shape)
    finally:
        os.close(fd)
    n = 0
    for block in f.blocks(READ_BLOCK, dtype="float32", always_2d=True):
        if n + len(block) > shape[1]:
            raise ValueError("the file holds more frames than its header says")
        data[:, n : n + len(block)] = block.T
        n += len(block)
    return data[:, :n]  # a truncated file holds fewer frames than its header claims


def audio_files(folder):
    """Audio files below ``folder``, recursively, sorted; hidden entries skipped.

    Parameters
    ----------
    folder : str or Path

    Returns
    -------
    files : list of Path
        Files whose extension is in ``AUDIO_EXTENSIONS``.
    """
    folder = Path(folder)
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in AUDIO_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def output_format(format="wav", bit_depth=None):
    """The libsndfile format and subtype of an output format, checked.

    Parameters
    ----------
    format : {"wav", "flac", "mp3", "ogg"}, default="wav"
    bit_depth : int, default=None
        16, 24 or 32 (float) for WAV, 16 or 24 for FLAC; ``None`` uses 32
        for WAV and 24 for FLAC. MP3 and OGG (Vorbis) take none.

    Returns
    -------
    format, subtype : str
        Names for :class:`soundfile.SoundFile`.

    Raises
    ------
    ValueError
        If the format or depth is unknown, or the installed libsndfile
        cannot write it.
    """
    if format not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {format!r}; choose from {list(OUTPUT_FORMATS)}.")
    major, depths, default = OUTPUT_FORMATS[format]
    if bit_depth is None:
        subtype = depths.get(default) or sf.default_subtype(major)
    elif bit_depth in depths:
        subtype = depths[bit_depth]
    elif depths:
        raise ValueError(
            f"{format} takes a bit depth of {' or '.join(map(str, depths))}, got {bit_depth}."
        )
    else:
        raise ValueError(f"{format} is a lossy format and takes no bit depth, got {bit_depth}.")
    if major not in sf.available_formats() or subtype not in sf.available_subtypes(major):
        raise ValueError(
            f"the installed libsndfile ({sf.__libsndfile_version__}) cannot write {format}; "
            "choose another --format, or install a libsndfile built with it (>= 1.1 for mp3)."
        )
    return major, subtype


class AudioWriter:
    """An audio file written block by block, time last.

    Float WAV keeps every sample as it is; the PCM and lossy formats clip
    samples into [-1, 1] (counted in ``n_clipped``) instead of letting them
    wrap around.

    Parameters
    ----------
    path : str or Path
        Destination; any name, UTF-8 or not.
    sr : int
        Sample rate in Hz.
    n_channels : int
    format, bit_depth
        See :func:`output_format`.

    Attributes
    ----------
    n_clipped : int
        Samples clipped into [-1, 1] so far.

    Raises
    ------
    OSError
        If the file cannot be opened or written (e.g. a full disk); the
        message names the file.
    """

    def __init__(self, path, sr, n_channels, *, format="wav", bit_depth=None):
        self.path = path
        major, subtype = output_format(format, bit_depth)
        self._clip = subtype != "FLOAT"
        self.n_clipped = 0
        try:
            self._file = sf.SoundFile(
                os.fsencode(path), "w", int(sr), int(n_channels), subtype, format=major
            )
        except (sf.SoundFileError, OSError) as exc:
            raise self._error(exc) from exc

    def _error(self, exc):
        reason = os.strerror(exc.errno) if getattr(exc, "errno", None) else str(exc)
        return OSError(f"cannot write {display_name(self.path)}: {reason} (is the disk full?)")

    def write(self, block):
        """Append samples: ``(n_samples,)`` or ``(n_channels, n_samples)``."""
        block = np.asarray(block, dtype=np.float32)
        if self._clip:
            over = np.abs(block) > 1
            if over.any():
                self.n_clipped += int(over.sum())
                block = np.clip(block, -1, 1)
        try:
            self._file.write(block.T)
        except (sf.SoundFileError, OSError) as exc:
            raise self._error(exc) from exc

    def close(self):
        """Finish the file (flushes it; a full disk can fail here too)."""
        try:
            self._file.close()
        except (sf.SoundFileError, OSError) as exc:
            raise self._error(exc) from exc

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:  # the first error is the one to report
            with contextlib.suppress(Exception):
                self._file.close()


def write_audio(path, audio, sr, *, force=False, format="wav", bit_depth=None):
    """Write an audio file atomically: the file is complete or absent.

    The audio goes to a temporary file beside ``path`` that is renamed over
    it once written, so an interrupted write never leaves half a file.

    Parameters
    ----------
    path : str or Path
        Destination.
    audio : ndarray of shape (n_samples,) or (n_channels, n_samples)
        Audio, time last.
    sr : int
        Sample rate in Hz.
    force : bool, default=False
        Replace an existing file; otherwise an existing file raises.
    format, bit_depth
        See :func:`output_format`; the default is float32 WAV.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``force`` is False.
    OSError
        If the file cannot be written.
    """
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(
            f"{display_name(path)} exists; pass force=True (--force) to overwrite it."
        )
    audio = np.asarray(audio)
    with atomic_path(path) as tmp:
        n_channels = 1 if audio.ndim == 1 else audio.shape[0]
        with AudioWriter(tmp, sr, n_channels, format=format, bit_depth=bit_depth) as out:
            out.write(audio)
