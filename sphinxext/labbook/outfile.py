"""Writing a file someone named: atomically where that is safe, directly where it is not.

A regular file (or a path that does not exist yet) is written to a temporary file beside
it and renamed into place, so a reader never sees half of it and a failure leaves the old
file as it was. A device (``/dev/null``, ``/dev/stdout``), a FIFO or a socket is opened
and written as it is: renaming a file over it would replace the machine's device with a
regular file. ``-`` is standard output.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator


def _umasked(mode: int) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return mode & ~umask


def is_special(path: str) -> bool:
    """Does ``path`` name something that is not a regular file (a device, FIFO, socket)?"""
    try:
        st = os.stat(path)  # follows symbolic links: /dev/stdout -> /proc/self/fd/1
    except OSError:
        return False
    return not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode)


@contextlib.contextmanager
def replacing(path: str, mode: int | None = None) -> Iterator[str]:
    """Yield a temporary path beside ``path``; when the block ends without an error it is
    renamed over ``path``, else removed. ``mode`` defaults to the existing file's, or to
    0666 less the umask for a new one. A symbolic link is followed: its target is replaced."""
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except OSError:
            mode = _umasked(0o666)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".labbook-", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, mode)  # mkstemp makes 0600
        yield tmp
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_output(path: str, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path``: ``-`` is standard output; a device, FIFO or socket is
    written in place; a regular file or a new path is replaced atomically."""
    if path == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    if is_special(path):
        # no O_CREAT: if the device went away meanwhile, fail rather than make a file
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return
    with replacing(path, mode) as tmp, open(tmp, "wb") as f:
        f.write(data)


def write_named(path: str, data: bytes) -> None:
    """:func:`write_output` for a path given on the command line or in the configuration:
    a failure is one line (``cannot write FILE: reason``), exit code 2."""
    from .errors import UsageError

    try:
        write_output(path, data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
