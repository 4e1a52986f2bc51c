"""Where separated sources go: the output name template and atomic track writes.

Every track's sources are written into a temporary folder inside the output
folder and moved into place only once all of them are complete, so an error,
a full disk or Ctrl-C leaves either the whole track or nothing of it.
"""

import contextlib
import os
import shutil
import string
import tempfile
from collections import Counter
from pathlib import Path

from ._atomic import honour_umask
from .audio import AudioWriter

DEFAULT_TEMPLATE = "{track}/{instrument}.{ext}"
TEMPLATE_KEYS = ("track", "instrument", "ext")
#: Temporary track folders start with this (hidden, so never taken for a track).
TEMP_PREFIX = ".skaesep-partial-"


def safe_name(name):
    """``name`` as one path component: no separators, no leading dots, printable.

    Bytes that are not UTF-8 become U+FFFD; a name left empty (``"..."``)
    becomes ``"track"``.

    Examples
    --------
    >>> safe_name(".."), safe_name("a/b"), safe_name(".hidden")
    ('track', 'a_b', 'hidden')
    """
    name = os.fsencode(str(name)).decode("utf-8", "replace")
    for bad in ("/", "\\", "\0"):
        name = name.replace(bad, "_")
    return name.lstrip(".").strip() or "track"


def track_names(files):
    """A unique output name for each input file.

    The file's stem, made safe by :func:`safe_name`; stems that collide (in
    any case, for case-insensitive disks) get their folder's name in front
    (``a/song.wav``, ``b/song.wav`` give ``a-song``, ``b-song``), and any
    still colliding a number behind.

    Parameters
    ----------
    files : list of Path

    Returns
    -------
    names : list of str
    """
    names = [safe_name(Path(f).stem) for f in files]
    counts = Counter(n.casefold() for n in names)
    names = [
        f"{safe_name(Path(f).resolve().parent.name)}-{n}" if counts[n.casefold()] > 1 else n
        for f, n in zip(files, names)
    ]
    seen = Counter()
    unique = []
    for n in names:
        seen[n.casefold()] += 1
        unique.append(n if seen[n.casefold()] == 1 else f"{n}-{seen[n.casefold()]}")
    return unique


class OutputTemplate:
    """A checked ``--filename`` template, e.g. ``"{track}/{instrument}.{ext}"``.

    Parameters
    ----------
    template : str
        Keys ``{track}`` (the input's name), ``{instrument}`` (a source of
        the model) and ``{ext}`` (the format's extension); a relative path.

    Raises
    ------
    ValueError
        If a key is unknown, ``{instrument}`` is missing, or the path is not
        relative to the output folder (absolute, or with a ``..`` part).
    """

    def __init__(self, template=DEFAULT_TEMPLATE):
        try:
            parsed = [(f, spec or conv) for _, f, spec, conv in string.Formatter().parse(template)]
        except ValueError as exc:  # unbalanced braces
            raise ValueError(f"--filename {template!r} is not a valid template: {exc}.") from exc
        fields = [f for f, _ in parsed if f is not None]
        specs = [spec for f, spec in parsed if f is not None]
        keys = ", ".join(f"{{{k}}}" for k in TEMPLATE_KEYS)
        unknown = [f for f in fields if f not in TEMPLATE_KEYS]
        if unknown or any(specs):
            shown = unknown[0] if unknown else next(s for s in specs if s)
            raise ValueError(f"--filename {template!r}: unknown key {{{shown}}}; use {keys}.")
        if "instrument" not in fields:
            raise ValueError(
                f"--filename {template!r} lacks {{instrument}}: every source would go to one file."
            )
        parts = Path(template.format(track="t", instrument="i", ext="e")).parts
        if Path(template).is_absolute() or ".." in parts or not parts:
            raise ValueError(
                f"--filename {template!r} must be a relative path inside the output folder."
            )
        self.template = template
        first = Path(template).parts[0]
        # Whole-folder renames need a folder of the track's own.
        self._own_folder = len(parts) > 1 and "{track}" in first and "{instrument}" not in first

    def paths(self, track, instruments, ext):
        """Relative output paths of one track's sources, one per instrument."""
        return [
            Path(self.template.format(track=track, instrument=safe_name(name), ext=ext))
            for name in instruments
        ]

    def folder(self, track):
        """The track's own folder (relative), or ``None`` if its files share folders."""
        if not self._own_folder:
            return None
        return Path(self.template.format(track=track, instrument="i", ext="e")).parts[0]


def check_unique(paths_by_track, template):
    """Refuse a template that sends two outputs to one path (in any case)."""
    owner = {}
    for track, paths in paths_by_track.items():
        for path in paths:
            key = str(path).casefold()
            if key in owner:
                raise ValueError(
                    f"--filename {template!r} writes {path} for both {owner[key]!r} and "
                    f"{track!r}; include {{track}} and {{instrument}} in it."
                )
            owner[key] = track


class TrackWriter:
    """Write one track's sources so that all or none of them appear in ``out``.

    The sources go into a temporary folder ``out/.skaesep-partial-*``; on a
    clean exit the track's own folder is renamed into place in one step (or,
    when the template gives no folder of its own or it already exists, each
    file is renamed over its destination); on any exception, Ctrl-C
    included, the temporary folder is removed.

    Parameters
    ----------
    out : Path
        Output folder.
    paths : list of Path
        Relative destination of each source (:meth:`OutputTemplate.paths`).
    folder : str or None
        The track's own folder (:meth:`OutputTemplate.folder`).
    sr, n_channels
        Of the sources.
    format, bit_depth
        See :func:`skaesep.audio.output_format`.
    prefix : str, default=TEMP_PREFIX
        Start of the temporary folder's name.

    Attributes
    ----------
    n_clipped : int
        Samples clipped into [-1, 1] (PCM and lossy formats).
    """

    def __init__(
        self, out, paths, folder, sr, n_channels, *, format, bit_depth=None, prefix=TEMP_PREFIX
    ):
        self.out, self.paths, self.folder = Path(out), [Path(p) for p in paths], folder
        self._args = (sr, n_channels, format, bit_depth)
        self._prefix = prefix
        self._writers = []

    def __enter__(self):
        self.out.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=self._prefix, dir=self.out))
        try:
            sr, n_channels, fmt, depth = self._args
            for rel in self.paths:
                (self._tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                self._writers.append(
                    AudioWriter(self._tmp / rel, sr, n_channels, format=fmt, bit_depth=depth)
                )
        except BaseException:
            self._discard()
            raise
        return self

    def write(self, sources):
        """Append a block of samples, ``(n_sources, [n_channels,] n_samples)``."""
        for writer, source in zip(self._writers, sources):
            writer.write(source)

    @property
    def n_clipped(self):
        return sum(w.n_clipped for w in self._writers)

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                for writer in self._writers:
                    writer.close()
                self._commit()
        finally:
            self._discard()

    def _commit(self):
        for rel in self.paths:
            honour_umask(self._tmp / rel)
        if self.folder is not None and not (self.out / self.folder).exists():
            (self._tmp / self.folder).rename(self.out / self.folder)
            return
        for rel in self.paths:
            (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._tmp / rel, self.out / rel)

    def _discard(self):
        for writer in self._writers:
            with contextlib.suppress(Exception):
                writer.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


def remove_partial(out, prefix=TEMP_PREFIX):
    """Remove temporary track folders left in ``out`` (e.g. by killed workers)."""
    for tmp in Path(out).glob(f"{prefix}*"):
        shutil.rmtree(tmp, ignore_errors=True)
