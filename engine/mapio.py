"""Lossless storage of probability maps (16-bit greyscale PNG, 0..65535 = 0..1) and fast PNG output.

The PNG encoder here is a plain one (one filter type for all rows + deflate) instead of Pillow's:
Pillow tries five filters per row at zlib level 6 and holds the GIL while it encodes, so a 12 MP
map and overlay took about 4 s and blocked the analysis of the next image. Here the rows are
filtered with one numpy operation and compressed at level 1 by ISA-L (the `isal` wheel: about twice
as fast as libdeflate at level 1, files 4-11 % larger), else libdeflate (the `deflate` wheel), else
zlib. All three release the GIL, so outputs are encoded on writer threads while the network runs.
PNG is lossless whatever the settings: the pixels read back are the same, only the file size changes.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import DeclipError
from .bands import BANDS, in_bands, row_bands
from .quantise import quantise

try:
    from isal import isal_zlib as _isal
except ImportError:  # libdeflate or zlib do the same job, more slowly
    _isal = None
try:
    import deflate as _libdeflate
except ImportError:  # zlib does the same job, about half as fast
    _libdeflate = None

# What each output is encoded with; recorded in results (see png_settings()).
MAP_PNG = {"filter": "sub", "level": 1}
OVERLAY_PNG = {"filter": "up", "level": 1}
_FILTERS = {"none": 0, "sub": 1, "up": 2}


def deflate_library(compressor: str = "auto") -> str:
    """The library that png_bytes(compressor=...) uses, with its version, for the metadata."""
    name = _pick(compressor)
    if name == "isal":
        from isal import __version__ as isal_version

        return f"ISA-L (isal {isal_version})"
    if name == "libdeflate":
        return f"libdeflate (deflate {getattr(_libdeflate, '__version__', '?')})"
    return f"zlib {zlib.ZLIB_VERSION}"


def _pick(compressor: str) -> str:
    """auto: the fastest installed of isal, libdeflate, zlib."""
    if compressor == "auto":
        return "isal" if _isal is not None else "libdeflate" if _libdeflate is not None else "zlib"
    if compressor not in ("isal", "libdeflate", "zlib"):
        raise ValueError(f"unknown compressor {compressor!r}")
    if (compressor == "isal" and _isal is None) or (compressor == "libdeflate" and _libdeflate is None):
        raise ValueError(f"compressor {compressor!r} is not installed")
    return compressor


def _compress(data, level: int, compressor: str) -> bytes:
    name = _pick(compressor)
    if name == "isal":  # ISA-L's levels are 0-3; 1 and 2 are where it is fast and still compresses
        return _isal.compress(data, min(level, 3))
    if name == "libdeflate":
        return _libdeflate.zlib_compress(data, level)
    return zlib.compress(data, level)


def _deflate_part(data, level: int, name: str, last: bool) -> bytes:
    """Raw deflate of one band; a band before the last ends on a full flush (byte-aligned, no
    back-references into it), so the bands' outputs concatenate into one valid stream."""
    if name == "isal":
        c = _isal.compressobj(min(level, 3), _isal.DEFLATED, -15)
        return c.compress(data) + c.flush(_isal.Z_FINISH if last else _isal.Z_FULL_FLUSH)
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH)


def adler32_combine(first: int, second: int, second_len: int) -> int:
    """Adler-32 of A+B from adler32(A), adler32(B) and len(B): the sums of B restart at (1, 0), so
    a = a_A + a_B - 1 and b = b_A + b_B + len(B) * (a_A - 1), modulo 65521."""
    base = 65521
    a1, b1, a2, b2 = first & 0xFFFF, first >> 16, second & 0xFFFF, second >> 16
    a = (a1 + a2 - 1) % base
    b = (b1 + b2 + (second_len % base) * (a1 - 1)) % base
    return (b << 16) | a


def png_settings() -> dict:
    """The encoder settings of the written PNGs, for the metadata."""
    return {"encoder": f"engine.mapio: one PNG filter per image, {deflate_library()}, rows deflated "
                       f"in up to {BANDS} bands at once",
            "probability_map": dict(MAP_PNG), "overlay": dict(OVERLAY_PNG)}


def encode_u16(prob: np.ndarray) -> np.ndarray:
    """Probabilities 0..1 -> uint16 0..65535, rounded in float64 (exact for every float32 input)."""
    return quantise(prob, 65535, np.float64, np.uint16)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def png_bytes(arr: np.ndarray, filter: str = "sub", level: int = 1, compressor: str = "auto") -> bytes:
    """PNG of an HxW uint16 (greyscale) or HxWx3 uint8 (RGB) array. compressor: auto (the fastest
    installed), isal, libdeflate or zlib; every one gives the same pixels."""
    arr = np.asarray(arr)
    if arr.dtype == np.uint16 and arr.ndim == 2:
        colour_type, depth, rows = 0, 16, arr.astype(">u2", copy=False)
    elif arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3:
        colour_type, depth, rows = 2, 8, arr
    else:
        raise ValueError(f"png_bytes: expected HxW uint16 or HxWx3 uint8, found {arr.shape} {arr.dtype}")
    h, w = arr.shape[:2]
    raw = np.ascontiguousarray(rows).view(np.uint8).reshape(h, -1)
    bpp = (depth // 8) * (3 if colour_type == 2 else 1)  # bytes per pixel, the Sub filter's distance
    name = _pick(compressor)
    if name == "libdeflate" or len(row_bands(h)) == 1:  # libdeflate has no streaming API: one piece
        idat = _compress(_filtered(raw, 0, h, filter, bpp).data, level, compressor)
    else:  # the bands are filtered and deflated at once (engine.bands), then joined into one zlib stream
        def band(y0: int, y1: int) -> tuple[bytes, int, int]:
            lines = _filtered(raw, y0, y1, filter, bpp)
            return _deflate_part(lines.data, level, name, last=y1 == h), zlib.adler32(lines.data), lines.size

        parts = in_bands(band, h)
        check = parts[0][1]
        for _, adler, size in parts[1:]:
            check = adler32_combine(check, adler, size)
        idat = b"\x78\x01" + b"".join(p[0] for p in parts) + struct.pack(">I", check)  # zlib header: deflate, 32K window
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _filtered(raw: np.ndarray, y0: int, y1: int, filter: str, bpp: int) -> np.ndarray:
    """PNG scanlines (filter byte + filtered bytes) of rows y0..y1 of the raw byte rows."""
    part = raw[y0:y1]
    lines = np.empty((y1 - y0, raw.shape[1] + 1), np.uint8)
    lines[:, 0] = _FILTERS[filter]
    if filter == "sub":  # PNG filter 1: each byte minus the byte one pixel to the left (mod 256)
        lines[:, 1:1 + bpp] = part[:, :bpp]
        np.subtract(part[:, bpp:], part[:, :-bpp], out=lines[:, 1 + bpp:])
    elif filter == "up":  # PNG filter 2: each byte minus the byte above (the image's first row is unchanged)
        if y0 > 0:
            np.subtract(part, raw[y0 - 1:y1 - 1], out=lines[:, 1:])
        elif len(part):
            lines[0, 1:] = part[0]
            np.subtract(part[1:], part[:-1], out=lines[1:, 1:])
    else:
        lines[:, 1:] = part
    return lines


def map_pixels_sha256(prob: np.ndarray) -> str:
    """SHA-256 of a map's stored 16-bit values, big-endian, row by row: the PNG's decoded samples.
    Unlike the PNG file's SHA-256 it does not depend on the deflate library or its settings, so a
    re-run on another machine can be compared with a stored map. Integer values are hashed as they are;
    a float map as encode_u16 stores it (decode_u16 then encode_u16 gives back the same values)."""
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(_stored(prob), dtype=">u2").tobytes()).hexdigest()


def _stored(prob: np.ndarray) -> np.ndarray:
    """The 16-bit values of a map: integers (as read from a PNG) as they are, floats as stored."""
    arr = np.asarray(prob)
    return arr.astype(np.uint16, copy=False) if np.issubdtype(arr.dtype, np.integer) else encode_u16(arr)


def decode_u16(u16: np.ndarray) -> np.ndarray:
    """Stored 16-bit values -> float32 probabilities, as every reader of a stored map sees them."""
    return (np.asarray(u16).astype(np.float32) / 65535.0).astype(np.float32)


def flagged_pixels(prob: np.ndarray, threshold: float) -> dict:
    """{"threshold", "pixels", "of"}: pixels of the stored map above the threshold, counted on the decoded
    16-bit values as a report counts them (not on the float map, which can differ at the threshold)."""
    u16 = _stored(prob)
    # decode_u16 is monotonic: the pixels above the threshold are those at or above the first stored
    # value that decodes above it (exactly what comparing the decoded map gives, without a float copy)
    above = np.flatnonzero(decode_u16(np.arange(65536, dtype=np.uint16)) > threshold)
    pixels = int(np.count_nonzero(u16 >= above[0])) if above.size else 0
    return {"threshold": float(threshold), "pixels": pixels, "of": int(u16.size)}


def save_probability_png(path: str | Path, prob: np.ndarray) -> str:
    """Write the 16-bit map (a float map, or its stored 16-bit values); returns its map_pixels_sha256."""
    from .atomic import write_bytes_atomic

    u16 = _stored(prob)
    write_bytes_atomic(path, png_bytes(u16, **MAP_PNG))
    return map_pixels_sha256(u16)


def write_map(path: str | Path | None, prob: np.ndarray, threshold: float) -> dict:
    """The map quantised once, for its file (path None: none written), its pixel hash and its flagged pixels:
    {"map_pixels_sha256", "flagged_pixels"}, what results.json records of a map and a report states."""
    u16 = encode_u16(prob)
    digest = save_probability_png(path, u16) if path is not None else map_pixels_sha256(u16)
    return {"map_pixels_sha256": digest, "flagged_pixels": flagged_pixels(u16, threshold)}


def save_rgb_png(path: str | Path, rgb: np.ndarray) -> None:
    from .atomic import write_bytes_atomic

    write_bytes_atomic(path, png_bytes(rgb, **OVERLAY_PNG))


def load_probability_png(path: str | Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            arr = np.asarray(im)
    except (OSError, ValueError) as exc:
        raise DeclipError(f"{path}: cannot read probability map ({exc})") from None
    if arr.dtype != np.uint16 and arr.dtype != np.int32:
        raise DeclipError(f"{path}: expected a 16-bit greyscale probability map, found {arr.dtype}")
    return decode_u16(arr)
