"""Lazy thumbnails, cached in thumbs/ (derived data: never verified by `verify`, safe to delete).

A cached thumbnail is shown only when it provably belongs to the evidence's bytes: it is named by the
evidence's recorded SHA-256 (an id reused for other bytes never meets an old picture), and made only
from bytes that hash to it. Beside it, <name>.json records what it was made from (that SHA-256, the
evidence file's size, mtime, ctime, inode and device, the thumbnail's own SHA-256), sealed with an
HMAC whose key is this user's ($DECLIP_HOME/thumbnail.key, never in a case). A thumbnail planted in
the case folder or in the read-only fallback folder, one edited afterwards, or one made before the
evidence file changed fails the check and is made again. The check costs a stat and reading the
small thumbnail, never the evidence; the stat stands in for re-hashing it (ctime cannot be set back
by a user), and `verify` remains the proof of the evidence itself.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import stat
import tempfile
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

from engine.images import as_rgb

from .atomic import write_bytes_atomic
from .errors import CaseError
from .records import EvidenceItem
from .util import read_regular

if TYPE_CHECKING:
    from .case_folder import Case

KEY_NAME = "thumbnail.key"
RECORD_VERSION = 1
_MAX_THUMB_BYTES = 32 << 20  # a 4096-px JPEG is far smaller; anything bigger was not made here
_MAX_RECORD_BYTES = 4096
_keys: dict[str, bytes] = {}
_keys_lock = threading.Lock()


def thumbnail(case: "Case", item: EvidenceItem, size: int) -> Path:
    if size < 16 or size > 4096:
        raise CaseError(f"thumbnail size must be 16..4096 pixels, got {size}")
    name = f"{item.sha256}_{size}"
    fallback = Path(tempfile.gettempdir()) / "declip-thumbs" / case.uuid
    current = _fingerprint(_evidence_stat(item))
    for folder in (case.thumbs_dir, fallback):
        if _trusted(folder / f"{name}.jpg", item, size, current):
            return folder / f"{name}.jpg"
    jpeg, made_from = _make(item, size)
    record = {"version": RECORD_VERSION, "evidence_sha256": item.sha256, "size": size, "evidence_stat": made_from,
              "jpeg_sha256": hashlib.sha256(jpeg).hexdigest()}
    record["mac"] = _mac(record)
    sidecar = (json.dumps(record, sort_keys=True) + "\n").encode()
    try:
        case.thumbs_dir.mkdir(exist_ok=True)
        out = _store(case.thumbs_dir, name, jpeg, sidecar)
    except OSError:
        # Case on read-only media (e.g. an archived disc): cache outside it instead.
        fallback.mkdir(parents=True, exist_ok=True)
        out = _store(fallback, name, jpeg, sidecar)
    return out


def _store(folder: Path, name: str, jpeg: bytes, sidecar: bytes) -> Path:
    out = folder / f"{name}.jpg"
    write_bytes_atomic(out, jpeg)
    write_bytes_atomic(folder / f"{name}.json", sidecar)  # after the picture: a torn pair fails the check
    return out


def _evidence_stat(item: EvidenceItem) -> os.stat_result:
    try:
        st = os.lstat(item.path)
    except OSError as exc:
        raise CaseError(f"{item.id} ({item.file_name}): cannot make a thumbnail ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):  # a link or a FIFO in evidence/ is never the intake copy: never read
        raise CaseError(f"{item.id} ({item.file_name}): cannot make a thumbnail (the evidence copy is not a "
                        f"regular file; run Verify)")
    return st


def _fingerprint(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _read_small(path: Path, limit: int) -> bytes | None:
    """A regular file's bytes, or None: a link, FIFO or device planted in the cache is refused
    without blocking or following it (read_regular), and so is a file over `limit`."""
    try:
        data = read_regular(path, limit)
    except OSError:
        return None
    return data if len(data) <= limit else None  # grew after read_regular's size check


def _trusted(jpg: Path, item: EvidenceItem, size: int, current: list[int]) -> bool:
    raw = _read_small(jpg.with_suffix(".json"), _MAX_RECORD_BYTES)
    if raw is None:
        return False
    try:
        record = json.loads(raw)
    except ValueError:
        return False
    if not isinstance(record, dict) or not isinstance(record.get("mac"), str):
        return False
    # bytes, not str: compare_digest raises TypeError on a str with non-ASCII characters (a planted record)
    if not hmac.compare_digest(record["mac"].encode(), _mac(record).encode()):
        return False  # not made by this user's DeCLIP: planted, edited, or from another machine
    if (record.get("version") != RECORD_VERSION or record.get("evidence_sha256") != item.sha256
            or record.get("size") != size or record.get("evidence_stat") != current):
        return False  # another evidence's picture, or the evidence file changed since
    data = _read_small(jpg, _MAX_THUMB_BYTES)
    return data is not None and hmac.compare_digest(hashlib.sha256(data).hexdigest().encode(),
                                                    str(record.get("jpeg_sha256")).encode())


def _make(item: EvidenceItem, size: int) -> tuple[bytes, list[int]]:
    """The thumbnail of the evidence file, and the fingerprint of the file it was made from; only
    from bytes that hash to the SHA-256 recorded at intake."""
    def fail(why: str) -> CaseError:
        return CaseError(f"{item.id} ({item.file_name}): cannot make a thumbnail ({why})")

    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(item.path, flags)
    except OSError as exc:
        raise fail(exc.strerror or str(exc)) from None
    with os.fdopen(fd, "rb") as fh:  # read-only, as every original is opened
        before = os.fstat(fd)
        if not stat.S_ISREG(before.st_mode):
            raise fail("the evidence copy is not a regular file; run Verify")
        sha = hashlib.sha256()
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
        if sha.hexdigest() != item.sha256:
            raise fail("the evidence copy does not match the SHA-256 recorded at intake; run Verify")
        fh.seek(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(fh) as img:
                    img.draft("RGB", (size, size))  # JPEG: decode at reduced scale, far faster
                    img = as_rgb(ImageOps.exif_transpose(img))  # 16-bit, CMYK, alpha: as the analysis sees it
                    img.thumbnail((size, size))
                    buf = io.BytesIO()
                    img.save(buf, "JPEG", quality=85)
        except Exception as exc:
            raise fail(str(exc)[:160] or type(exc).__name__) from None
        after = os.fstat(fd)
    made_from = _fingerprint(before)
    if _fingerprint(after) != made_from:
        raise fail("the evidence copy changed while it was read; run Verify")
    return buf.getvalue(), made_from


def _mac(record: dict) -> str:
    body = json.dumps({k: v for k, v in record.items() if k != "mac"}, sort_keys=True).encode()
    return hmac.new(_key(), body, hashlib.sha256).hexdigest()


def _key() -> bytes:
    """This user's thumbnail key, made on first use. Where it cannot be kept, a key for this process
    only: thumbnails are then made again in each session, never trusted blindly."""
    from engine.store import declip_home

    path = declip_home() / KEY_NAME
    with _keys_lock:
        key = _keys.get(str(path))
        if key is None:
            key = _read_small(path, 64)
            if key is None or len(key) != 32:
                key = os.urandom(32)
                _keep_key(path, key)
            _keys[str(path)] = key
    return key


def _keep_key(path: Path, key: bytes) -> None:
    # A key written at the same time by another process merely makes one of them redo its thumbnails.
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-" + KEY_NAME + ".", dir=path.parent)  # mode 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
