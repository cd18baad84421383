"""SHA-256 of bytes and files: the hashes a finding is pinned to (evidence, weights, cards, reports).

Depends only on engine.errors, so every layer (backbones included) can use it.
"""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from .errors import CheckpointError

CHUNK = 1 << 20  # read files in 1 MiB blocks: a 1 GB CLIP file never sits in memory whole


def bytes_sha256(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in binary, read-only, block by block. Raises OSError."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


# Weights hashes, keyed by everything a rewrite changes (inode, size, mtime and ctime: ctime cannot
# be set back by a user), so a 1 GB CLIP file is hashed once per process, not per Detector.
# Evidence never goes through this memo: it is hashed afresh every time.
_MEMO: dict[tuple, str] = {}
_MEMO_LOCK = threading.Lock()


def weights_sha256(path: str | os.PathLike) -> str:
    """file_sha256 of a weights file, remembered while the file is unchanged. Raises CheckpointError."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read weights file ({exc.strerror})") from None
    key = (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with _MEMO_LOCK:
        if key in _MEMO:
            return _MEMO[key]
    try:
        digest = file_sha256(path)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read weights file ({exc.strerror})") from None
    with _MEMO_LOCK:
        if len(_MEMO) > 64:
            _MEMO.clear()
        _MEMO[key] = digest
    return digest
