"""Small shared helpers of the case layer: record digests, readable times, evidence hashes.
UTC timestamps and the OS user come from engine.stamps, file hashes from engine.hashing (one of each)."""
from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from engine.hashing import file_sha256 as sha256_file  # noqa: F401 (the case modules' name for it)
from engine.stamps import os_user, utc_now  # noqa: F401


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

