"""Small shared helpers of the case layer: record digests, readable times, evidence hashes.
UTC timestamps and the OS user come from engine.stamps, file hashes from engine.hashing (one of each)."""
from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

from engine.hashing import file_sha256 as sha256_file  # noqa: F401 (the case modules' name for it)
from engine.stamps import os_user, utc_now  # noqa: F401
# Case text (names, notes) came from people and files: printable() shows control characters as escapes,
# so a file name cannot move the cursor, recolour or clear the examiner's terminal (one rule with the engine's).
from engine.text import printable  # noqa: F401


def record_digest(record: Any) -> str:
    """SHA-256 of a JSON record in canonical form (round-tripped, sorted keys, compact).

    The audit log pins whole records with it, so verify notices any later edit of a field it does
    not check one by one (an original name, an ingest time, a model name in an analysis).
    """
    canon = json.dumps(json.loads(json.dumps(record, ensure_ascii=False)), sort_keys=True, ensure_ascii=False,
                       separators=(",", ":"))
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def readable_utc(stamp: str | None) -> str:
    """'2026-11-30T05:41:07.123456Z' -> '2026-11-30 05:41:07 UTC' for people; '' for nothing."""
    if not stamp:
        return ""
    s = str(stamp).replace("T", " ").split(".")[0].removesuffix("Z").removesuffix("+00:00")
    return f"{s} UTC"


def hash_file(path: str | os.PathLike, chunk: int = 1 << 20) -> tuple[str, str, int]:
    """(sha256, md5, size) of a file, read in binary read-only mode."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            sha.update(block)
            md5.update(block)
            size += len(block)
    return sha.hexdigest(), md5.hexdigest(), size


# -- what a case may contain ------------------------------------------------------------------------
# Ids and names read from a case folder are joined to paths: a hand-edited "../../x" must never
# reach the file system, so each one is checked against a strict pattern when the case is read.
EVIDENCE_ID_RE = re.compile(r"E[0-9]{4,9}")
# Names DeCLIP itself writes under analyses/ (slugged model ids, a random suffix).
SAFE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")

# Longest accepted case details, so every field fits a report page (a 5,000-character examiner
# name once made a case unreportable).
MAX_LENGTHS = {"title": 200, "number": 100, "examiner": 120, "organisation": 200, "description": 4000,
               "note": 100_000}


def valid_evidence_id(value: Any) -> bool:
    return isinstance(value, str) and EVIDENCE_ID_RE.fullmatch(value) is not None


def valid_evidence_name(value: Any) -> bool:
    """An evidence copy's name: one path component inside evidence/ (no separators, no '..')."""
    if not isinstance(value, str) or value in ("", ".", "..") or len(value.encode("utf-8", "replace")) > 255:
        return False
    return not any(ch in value for ch in ("/", "\\", "\0"))


def valid_safe_name(value: Any) -> bool:
    return isinstance(value, str) and SAFE_NAME_RE.fullmatch(value) is not None and ".." not in value


def check_length(field: str, value: str) -> str:
    """value, or CaseError naming the field and its limit."""
    from .errors import CaseError

    limit = MAX_LENGTHS[field]
    if len(value) > limit:
        raise CaseError(f"the {field} is {len(value)} characters long; at most {limit} are accepted")
    return value


def inside(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether `path`, with every link resolved, lies inside `root` (also resolved)."""
    base = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)




def open_regular(path: str | os.PathLike, limit: int | None = None):
    """Open a case file for reading as a binary file object, refusing what could hang or never end:
    a link (O_NOFOLLOW), a FIFO or device (O_NONBLOCK, then a regular-file check), or more than
    `limit` bytes. OSError (with a one-line reason) otherwise; FileNotFoundError when absent."""
    import errno
    import stat

    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    if not hasattr(os, "O_NOFOLLOW") and os.path.islink(path):  # Windows: no O_NOFOLLOW to refuse it
        raise OSError(errno.ELOOP, "is a symbolic link, not a file of the case")
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(errno.ELOOP, "is a symbolic link, not a file of the case") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "is not a regular file (a folder, FIFO or device)")
        if limit is not None and st.st_size > limit:
            raise OSError(errno.EFBIG, f"is {st.st_size} bytes, more than the {limit} accepted")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike, limit: int) -> bytes:
    with open_regular(path, limit) as fh:
        return fh.read(limit + 1)
