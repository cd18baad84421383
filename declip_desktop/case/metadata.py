"""Evidence metadata: what a file says about its origin (camera, software, dates, GPS, ICC,
JPEG quantisation and an estimated JPEG quality). Read from bytes already in memory: the
original file is opened once, read-only, by the ingester.
"""
from __future__ import annotations

import io
import logging
import warnings
from fractions import Fraction
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from engine import images as _engine_images  # MAX_PIXELS read at call time: one limit for both
from engine.images import JPEG_FORMATS, oriented_size, read_orientation

# IJG (libjpeg) base tables in natural (row-major) order: the reference for quality estimates.
_STD_LUMA = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]
_STD_CHROMA = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
] + [99] * 32

_MAX_TAG_CHARS = 512
# Tags that are large binary blobs with no value for a reader.
_SKIP_TAG_PREFIXES = ("JPEGThumbnail", "TIFFThumbnail", "Thumbnail JPEGInterchangeFormat", "EXIF MakerNote", "MakerNote")


class NotAnImage(Exception):
    """The bytes are not an image Pillow can identify; str() is the reason shown to the user."""


def probe_image(data: bytes | BinaryIO) -> Image.Image:
    """Identify the image from bytes or an open binary file (header only, no full decode).
    Raises NotAnImage with a reason."""
    if isinstance(data, (bytes, bytearray)):
        if not data:
            raise NotAnImage("empty file (0 bytes)")
        data = io.BytesIO(data)
    # Pillow's default bomb limit (~89 MP) is below the engine's; make it follow the engine's so
    # that the images the engine can analyse can also be ingested.
    limit = _engine_images.sync_pillow_limit()
    with warnings.catch_warnings():
        # Pillow warns past the limit: the size check below refuses those with the exact size.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(data)
        except UnidentifiedImageError:
            try:
                data.seek(0)
                what = _engine_images.unsupported_format(data.read(32))
            except (OSError, ValueError):  # a stream that cannot go back: the plain message
                what = None
            if what:
                raise NotAnImage(f"{what}; {_engine_images.UNSUPPORTED_ADVICE}") from None
            raise NotAnImage("not an image (format not recognised)") from None
        except Image.DecompressionBombError as exc:  # past twice the limit: Pillow refuses itself
            raise NotAnImage(_engine_images.bomb_message("", exc)) from None
        except Exception as exc:
            raise NotAnImage(f"corrupt image header ({_short(exc)})") from None
    w, h = img.size
    if w <= 0 or h <= 0:
        raise NotAnImage(f"image has no pixels ({w}x{h})")
    if w * h > limit:
        raise NotAnImage(f"image is {w}x{h}, above the {limit / 1e6:.0f} MP limit")
    return img


def _short(exc: BaseException) -> str:
    s = str(exc).strip()
    return (s.splitlines()[0] if s else type(exc).__name__)[:160]


def extract_metadata(data: bytes, img: Image.Image | None = None) -> dict[str, Any]:
    """Metadata dict (JSON-serialisable). `img` may be the already-probed Pillow image."""
    if img is None:
        img = probe_image(data)
    md: dict[str, Any] = {"notes": []}
    _pillow_part(img, md)
    _exif_part(data, md)
    _integrity_note(data, md)
    if not md["notes"]:
        del md["notes"]
    return md


def _pillow_part(img: Image.Image, md: dict) -> None:
    md["format"] = img.format
    md["mode"] = img.mode
    md["width"], md["height"] = img.size
    md["frames"] = int(getattr(img, "n_frames", 1) or 1)
    md["exif_orientation"] = read_orientation(img)[0]
    # Displayed size: the engine analyses with EXIF orientation applied, so maps have this size.
    md["display_width"], md["display_height"] = oriented_size(img)
    dpi = img.info.get("dpi")
    if dpi:
        try:
            md["dpi"] = [round(float(d), 2) for d in dpi]
        except (TypeError, ValueError):
            pass
    icc = img.info.get("icc_profile")
    if icc:
        md["icc_profile"] = {"bytes": len(icc), "description": _icc_description(icc)}
    if img.format in JPEG_FORMATS:
        md["jpeg"] = _jpeg_part(img)
    if img.info.get("xmp") or img.info.get("XML:com.adobe.xmp"):
        md["xmp_present"] = True
    for key in ("Software", "software", "Comment", "comment", "Description", "Author"):
        val = img.info.get(key)
        if isinstance(val, (str, bytes)) and val:
            text = val.decode("utf-8", "replace") if isinstance(val, bytes) else val
            md.setdefault("text_chunks", {})[key] = text[:_MAX_TAG_CHARS]


def _icc_description(icc: bytes) -> str | None:
    try:
        prof = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return (ImageCms.getProfileDescription(prof) or "").strip() or None
    except Exception:
        return None


def _jpeg_part(img: Image.Image) -> dict:
    out: dict[str, Any] = {"progressive": bool(img.info.get("progressive") or img.info.get("progression"))}
    try:
        from PIL import JpegImagePlugin

        out["subsampling"] = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(JpegImagePlugin.get_sampling(img), "other")
    except Exception:
        pass
    q = getattr(img, "quantization", None) or {}
    tables = {str(k): [int(v) for v in t] for k, t in sorted(q.items())}
    if tables:
        out["quantization_tables"] = tables
        out.update(estimate_jpeg_quality(tables))
    return out


def _ijg_table(base: list[int], quality: int) -> list[int]:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (b * scale + 50) // 100)) for b in base]


# All 100 IJG tables, built once: the estimate is then one vectorised comparison per image.
_IJG_LUMA = np.array([_ijg_table(_STD_LUMA, q) for q in range(1, 101)], dtype=np.int32)
_IJG_CHROMA = np.array([_ijg_table(_STD_CHROMA, q) for q in range(1, 101)], dtype=np.int32)


def estimate_jpeg_quality(tables: dict[str, list[int]]) -> dict[str, Any]:
    """Nearest IJG quality (1-100) for the quantisation tables, and whether they match exactly.

    Non-IJG tables (most cameras, Photoshop) still get the closest quality, marked approximate:
    the figure is a rough guide to compression strength, not the encoder's own setting.
    """
    luma = tables.get("0")
    chroma = tables.get("1")
    if not luma or len(luma) != 64:
        return {}
    err = np.abs(_IJG_LUMA - np.asarray(luma, dtype=np.int32)).sum(axis=1)
    if chroma and len(chroma) == 64:
        err = err + np.abs(_IJG_CHROMA - np.asarray(chroma, dtype=np.int32)).sum(axis=1)
    best = int(np.argmin(err))  # first minimum = lowest quality among ties, as before
    return {"estimated_quality": best + 1, "quality_exact_ijg_match": bool(err[best] == 0)}


# -- EXIF via exifread ------------------------------------------------------------------------
_SUMMARY_TAGS = {
    "camera_make": "Image Make",
    "camera_model": "Image Model",
    "lens_model": "EXIF LensModel",
    "body_serial": "EXIF BodySerialNumber",
    "software": "Image Software",
    "artist": "Image Artist",
    "datetime_original": "EXIF DateTimeOriginal",
    "datetime_digitized": "EXIF DateTimeDigitized",
    "datetime_modified": "Image DateTime",
    "offset_time_original": "EXIF OffsetTimeOriginal",
}


def _exif_part(data: bytes, md: dict) -> None:
    try:
        import exifread
    except ImportError:
        md["notes"].append("exifread not installed: EXIF not extracted")
        return
    log = logging.getLogger("exifread")
    old = log.level
    log.setLevel(logging.CRITICAL)  # exifread logs every odd tag as a warning
    try:
        tags = exifread.process_file(io.BytesIO(data), details=False)
    except Exception as exc:
        md["notes"].append(f"EXIF block unreadable ({_short(exc)})")
        return
    finally:
        log.setLevel(old)
    if not tags:
        return
    exif: dict[str, str] = {}
    for key, val in tags.items():
        if key.startswith(_SKIP_TAG_PREFIXES):
            continue
        text = _printable(val)
        if text is not None:
            exif[key] = text
    md["exif"] = exif
    for name, key in _SUMMARY_TAGS.items():
        if key in exif and exif[key].strip():
            md[name] = exif[key].strip()
    gps = _gps(tags)
    if gps:
        md["gps"] = gps


def _printable(val: Any) -> str | None:
    try:
        text = str(getattr(val, "printable", val))
    except Exception:
        return None
    text = text.replace("\x00", "").strip()
    return text[:_MAX_TAG_CHARS] + ("..." if len(text) > _MAX_TAG_CHARS else "")


def _ratio(x: Any) -> float:
    if hasattr(x, "num") and hasattr(x, "den"):
        return float(Fraction(x.num, x.den)) if x.den else 0.0
    return float(x)


def _dms(tag: Any) -> float | None:
    try:
        vals = list(tag.values)
        d, m, s = (_ratio(v) for v in (vals + [0, 0, 0])[:3])
        return d + m / 60.0 + s / 3600.0
    except Exception:
        return None


def _gps(tags: dict) -> dict | None:
    lat, lon = tags.get("GPS GPSLatitude"), tags.get("GPS GPSLongitude")
    out: dict[str, Any] = {}
    if lat is not None and lon is not None:
        la, lo = _dms(lat), _dms(lon)
        if la is not None and lo is not None:
            if str(tags.get("GPS GPSLatitudeRef", "N")).strip().upper().startswith("S"):
                la = -la
            if str(tags.get("GPS GPSLongitudeRef", "E")).strip().upper().startswith("W"):
                lo = -lo
            out["latitude"], out["longitude"] = round(la, 7), round(lo, 7)
    alt = tags.get("GPS GPSAltitude")
    if alt is not None:
        try:
            a = _ratio(alt.values[0])
            if str(getattr(tags.get("GPS GPSAltitudeRef"), "values", [0])[0]) == "1":
                a = -a
            out["altitude_m"] = round(a, 2)
        except Exception:
            pass
    for key, name in (("GPS GPSDate", "date"), ("GPS GPSTimeStamp", "time")):
        if key in tags:
            out[name] = _printable(tags[key])
    return out or None


def _integrity_note(data: bytes, md: dict) -> None:
    # A cheap structural check. A damaged file is still evidence and is kept; the note says so.
    if md.get("format") in JPEG_FORMATS and b"\xff\xd9" not in data[-4096:]:
        md["notes"].append("JPEG end-of-image marker missing: the file may be truncated or damaged")
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Image.open(io.BytesIO(data)).verify()
    except Exception as exc:
        md["notes"].append(f"image structure check failed ({_short(exc)}); the file may be damaged")
