"""One-line errors for files the trainer cannot write: a full disk, a read-only or forbidden folder.

Why: an OSError (or torch's "[enforce fail at inline_container.cc]" for a full disk) reached the user as
"internal error" with a traceback's worth of text, and left half-written temp files behind."""
from __future__ import annotations

import contextlib
import errno
from pathlib import Path

from engine.atomic import DISK_FULL, probe_writable
from engine.errors import DeclipError


class WriteError(DeclipError):
    """A file could not be written (disk full, read-only file system, no permission)."""


def write_error(exc: OSError, what) -> WriteError:
    """The one line that says why `what` could not be written."""
    if exc.errno in DISK_FULL:
        return WriteError(f"disk full while writing {what}")
    if exc.errno == errno.EROFS:
        return WriteError(f"cannot write {what}: read-only file system")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return WriteError(f"cannot write {what}: permission denied")
    return WriteError(f"cannot write {what}: {exc.strerror or exc}")


@contextlib.contextmanager
def writing(what):
    """Turn an OSError inside the block into a WriteError naming `what`."""
    try:
        yield
    except OSError as exc:
        raise write_error(exc, what) from None


def check_writable(folder: Path, what) -> None:
    """engine's probe of `folder`, so an unwritable output is refused before a long run, in the trainer's words."""
    with writing(what):
        probe_writable(folder)
