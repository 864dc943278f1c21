"""Output that is never half-written: write to a temporary file beside the target, then rename.

:func:`check_output` checks an output path before any work is done, so that a path that cannot
be written fails at once, naming the path the user gave. :func:`atomic_write` writes a file that
appears complete or not at all, with the usual permissions (``0666 & ~umask`` for a new file,
the old mode for a file replaced in place). A full disk (``ENOSPC``, ``EDQUOT``, or ``EFBIG``
past a size limit) is reported as an :class:`OSError` naming the target and the bytes written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from xner.runtime.errors import InputError

__all__ = ["SPACE_ERRNOS", "atomic_write", "check_output", "keep_mode", "out_of_space"]

SPACE_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EFBIG: "file too large (no space for it under the file size limit)",
    **({errno.EDQUOT: "disk quota exceeded"} if hasattr(errno, "EDQUOT") else {}),
}
"""The errors of a full disk, with the words used to report them."""

_UMASK_LOCK = threading.Lock()


def check_output(
    path: str | os.PathLike[str], *, companions: Iterable[str | os.PathLike[str]] = ()
) -> None:
    """Check that ``path`` can be written, before any work is done; ``"-"`` (stdout) passes.

    The target must not be a folder, its folder must exist or be creatable (no file on the way)
    and be writable. ``companions`` are files written beside it (an explain file, a progress
    sidecar), checked the same way. Raises :class:`~xner.runtime.errors.InputError` naming the
    path as given. Nothing is created.
    """
    for item in (path, *companions):
        if str(item) != "-":
            _check_one(item)


def _check_one(path: str | os.PathLike[str]) -> None:
    given = os.fspath(path)
    target = Path(given)
    if given.endswith(("/", os.sep)) or target.is_dir():
        raise InputError(given, None, "is a folder; give a file name for the output")
    if target.exists() and not target.is_file():
        raise InputError(given, None, "is not a regular file; give a file name for the output")
    missing = target.parent  # relative when the path is: messages show it as given
    while not missing.exists():
        if missing.is_symlink():  # a dangling link
            raise InputError(given, None, f"cannot create the folder {missing}: dangling link")
        missing = missing.parent
    if not missing.is_dir():
        raise InputError(given, None, f"cannot create its folder: {missing} is not a folder")
    if not os.access(missing, os.W_OK | os.X_OK):
        raise InputError(given, None, f"cannot write in {missing}: permission denied")


def new_file_mode() -> int:
    """The mode of a new file: ``0666 & ~umask`` (what ``open()`` and ``touch`` give)."""
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def keep_mode(target: str | os.PathLike[str], new: str | os.PathLike[str] | int) -> None:
    """Give ``new`` (a path or an open descriptor) the mode a file written at ``target`` should
    have: the mode of ``target`` when it is a file (replaced in place), else a new file's."""
    try:
        info = os.stat(target)
        mode = stat.S_IMODE(info.st_mode) if stat.S_ISREG(info.st_mode) else new_file_mode()
    except OSError:
        mode = new_file_mode()
    with contextlib.suppress(OSError, NotImplementedError):  # Windows: no fchmod; best effort
        if isinstance(new, int):
            os.fchmod(new, mode)
        else:
            os.chmod(new, mode)


def out_of_space(error: OSError, path: str | os.PathLike[str], written: int) -> OSError:
    """``error`` (a full disk, :data:`SPACE_ERRNOS`) as an OSError naming ``path``: its message
    reads ``no space left on device (wrote N bytes)``."""
    words = SPACE_ERRNOS.get(error.errno or 0, error.strerror or "write failed")
    return OSError(error.errno, f"{words} (wrote {written} bytes)", os.fspath(path))


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    mode: str = "w",
    encoding: str = "utf-8",
    *,
    temporary: str | os.PathLike[str] | None = None,
) -> Iterator[IO[Any]]:
    """Open ``path`` for writing so that it appears complete or not at all.

    ``"-"`` writes to standard output. The temporary file lives in the target's folder (so that
    ``os.replace`` is atomic) and is removed if the block raises. The path is checked first
    (:func:`check_output`); errors of the file system name ``path``, not the temporary file.
    ``temporary``: a fixed name for the temporary file (beside ``path``) instead of a random
    one, so that a file left by a killed process can be found and removed by the next run.
    """
    if str(path) == "-":
        stream = sys.stdout.buffer if "b" in mode else sys.stdout
        yield stream
        stream.flush()
        return
    check_output(path)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if temporary is None:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    else:
        tmp = os.fspath(temporary)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0))
    try:
        keep_mode(target, fd)
        handle: IO[Any] = (
            os.fdopen(fd, mode)
            if "b" in mode
            else os.fdopen(fd, mode, encoding=encoding, newline="\n")
        )
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as error:
        written = 0
        with contextlib.suppress(OSError):
            written = os.stat(tmp).st_size
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(error, OSError) and error.filename in (None, tmp):
            if error.errno in SPACE_ERRNOS:
                raise out_of_space(error, path, written) from error
            if error.filename == tmp:  # name the user's path, not a file that is gone
                raise OSError(error.errno, error.strerror, os.fspath(path)) from error
        raise
