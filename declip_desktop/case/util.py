"""Small shared helpers: UTC timestamps, the OS user, hashing."""
from __future__ import annotations

import getpass
import hashlib
import json
import os
from datetime import datetime, timezone
from typing import Any


def utc_now() -> str:
    """ISO-8601 UTC with microseconds and a Z, so times sort as strings and are unambiguous."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
