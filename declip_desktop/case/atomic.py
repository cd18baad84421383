"""Case files use the engine's crash-safe writes; this module adds the case's JSON format."""
from __future__ import annotations

import json
import os
from typing import Any

from engine.atomic import TMP_PREFIX, fsync_dir, remove_stale_temps, write_atomic
from engine.atomic import write_bytes_atomic as _write_bytes_atomic

__all__ = ["TMP_PREFIX", "fsync_dir", "remove_stale_temps", "write_atomic", "write_bytes_atomic",
           "dumps_json", "write_json_atomic"]


def dumps_json(obj: Any) -> bytes:
    # ensure_ascii=False keeps non-ASCII names and notes readable in the files themselves.
    return (json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """engine.atomic's write, with the file named in the error: a full disk's OSError from the temp
    file's write names no file, and the examiner must learn which case file was left unchanged."""
    try:
        _write_bytes_atomic(path, data)
    except OSError as exc:
        if exc.filename is None:
            raise type(exc)(exc.errno, exc.strerror or str(exc), os.fspath(path)) from None
        raise


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_bytes_atomic(path, dumps_json(obj))
