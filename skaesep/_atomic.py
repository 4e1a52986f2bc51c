"""Atomic file writes: a file is complete or absent, never half-written."""

import contextlib
import os
import tempfile
from pathlib import Path


def _umask():
    """The process umask, from /proc where it can be read without changing it."""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0)  # elsewhere reading it means setting it: set it straight back
    os.umask(mask)
    return mask


def honour_umask(path, mode=0o666):
    """Give ``path`` the mode a new file gets, ``mode & ~umask``."""
    os.chmod(path, mode & ~_umask())


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    The file gets the mode of a newly created one, ``0o666 & ~umask``, not
    the 0600 of :func:`tempfile.mkstemp`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=suffix, prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        honour_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
