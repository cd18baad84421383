"""Case files use the engine's crash-safe writes; this module adds the case's JSON format."""
from __future__ import annotations

import json
import os
from typing import Any

from engine.atomic import TMP_PREFIX, fsync_dir, remove_stale_temps, write_atomic, write_bytes_atomic

__all__ = ["TMP_PREFIX", "fsync_dir", "remove_stale_temps", "write_atomic", "write_bytes_atomic",
           "dumps_json", "write_json_atomic"]


def dumps_json(obj: Any) -> bytes:
    # ensure_ascii=False keeps non-ASCII names and notes readable in the files themselves.
    return (json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False) + "\n").encode("utf-8")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_bytes_atomic(path, dumps_json(obj))
