"""Small shared helpers: UTC timestamps, the OS user, hashing."""
from __future__ import annotations

import getpass
import hashlib
import os
from datetime import datetime, timezone


def utc_now() -> str:
    """ISO-8601 UTC with microseconds and a Z, so times sort as strings and are unambiguous."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers) and no USER variable
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def hash_file(path: str | os.PathLike, chunk: int = 1 << 20) -> tuple[str, str, int]:
    """(sha256, md5, size) of a file, read in binary read-only mode."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            sha.update(block)
            md5.update(block)
            size += len(block)
    return sha.hexdigest(), md5.hexdigest(), size


def sha256_file(path: str | os.PathLike) -> str:
    return hash_file(path)[0]
