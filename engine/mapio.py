"""Lossless storage of probability maps: 16-bit greyscale PNG, 0..65535 = 0..1."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DeclipError


def encode_u16(prob: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(prob, np.float64) * 65535.0), 0, 65535).astype(np.uint16)


def save_probability_png(path: str | Path, prob: np.ndarray) -> None:
    from .atomic import write_bytes_atomic
    import io

    buf = io.BytesIO()
    Image.fromarray(encode_u16(prob)).save(buf, format="PNG", compress_level=6)
    write_bytes_atomic(path, buf.getvalue())


def load_probability_png(path: str | Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            arr = np.asarray(im)
    except (OSError, ValueError) as exc:
        raise DeclipError(f"{path}: cannot read probability map ({exc})") from None
    if arr.dtype != np.uint16 and arr.dtype != np.int32:
        raise DeclipError(f"{path}: expected a 16-bit greyscale probability map, found {arr.dtype}")
    return (arr.astype(np.float32) / 65535.0).astype(np.float32)
