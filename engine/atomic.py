"""Crash-safe file writes, shared by the engine, trainer and case: a kill at any moment leaves
either the old or the new file, never half.

Pattern: write a temp file in the same folder (same filesystem, so the rename is atomic),
fsync it, os.replace() it over the target, then fsync the folder so the rename itself is durable.
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Callable, Collection

TMP_PREFIX = ".tmp-"
# The errnos of a write that found no room (disk full, quota used up): the one set the engine, trainer and
# case test, so each says "the disk is full" for the same errors.
DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def _read_umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


# mkstemp makes 0600 files; case files should get the same permissions as any file the user creates.
_FILE_MODE = 0o666 & ~_read_umask()


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename/creation in `path` durable. Not possible on Windows; harmless to skip there."""
    if os.name == "nt":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike, writer: Callable[[Path], None], suffix: str = "") -> None:
    """Call writer(temp_path) to produce the content, then move it over `path` atomically.

    `suffix` keeps the extension on the temp name for writers that pick a format from it (PNG).
    An OSError of the write (a full disk) names `path`, not the hidden temp file or nothing: the
    user must learn which file was left unchanged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = TMP_PREFIX + path.name + "."
    try:
        _write_temp_and_replace(path, writer, prefix, suffix)
    except OSError as exc:
        if not _names_a_temp(exc.filename, path.parent, prefix):
            raise  # about another file (a source the writer reads): its name is the right one
        try:
            named = type(exc)(exc.errno, exc.strerror or str(exc), os.fspath(path))
        except TypeError:  # an OSError subclass with another signature
            raise exc from None
        raise named.with_traceback(exc.__traceback__) from None
    fsync_dir(path.parent)


def _write_temp_and_replace(path: Path, writer: Callable[[Path], None], prefix: str, suffix: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, _FILE_MODE)
        writer(tmp_path)
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        try:
            tmp_path.unlink()
        except OSError:
            pass
        raise


def _names_a_temp(filename, folder: Path, prefix: str) -> bool:
    """Whether an error's file is none or a temp file of this write (mkstemp's failed try included)."""
    if filename is None:
        return True
    if not isinstance(filename, (str, bytes, os.PathLike)):
        return False
    name = os.fsdecode(filename)
    return (os.path.basename(name).startswith(prefix)
            and os.path.abspath(os.path.dirname(name)) == os.path.abspath(folder))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    write_atomic(path, lambda p: p.write_bytes(data))


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def probe_writable(folder: str | os.PathLike) -> None:
    """Create and drop a nameless temp file in `folder`: the OSError of a read-only, forbidden or full
    folder, raised before hours of work instead of after (analyze and validate --out, the trainer's outputs)."""
    with tempfile.TemporaryFile(dir=folder):  # O_TMPFILE where it works: a kill leaves no file behind
        pass


def remove_stale_temps(folder: str | os.PathLike, names: bool = False, keep: Collection[str] = ()):
    """Delete temp files a killed writer left behind in `folder` (not recursive). Returns how many
    (or, with names=True, the list of names removed, so a caller can log them).
    keep: names in `folder` never removed (a case's evidence copy that merely looks like a temp file)."""
    gone: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return gone if names else 0
    for entry in entries:
        if entry.name.startswith(TMP_PREFIX) and entry.name not in keep and entry.is_file(follow_symlinks=False):
            try:
                os.chmod(entry.path, 0o600)  # a case's ingest temp copies are read-only already
                os.unlink(entry.path)
                gone.append(entry.name)
            except OSError:
                pass
    return gone if names else len(gone)
