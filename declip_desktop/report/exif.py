"""The evidence's own metadata as the report shows it: key fields per item, full EXIF in the appendix.

The case records metadata at ingest (declip_desktop.case.metadata.extract_metadata); when an
item carries none, it is read from the file now, in the same way.
"""
from __future__ import annotations

from typing import Any

from .model import ReportItem

_KEY_FIELDS = [
    ("camera_make", "Camera make"),
    ("camera_model", "Camera model"),
    ("lens_model", "Lens"),
    ("body_serial", "Body serial"),
    ("software", "Software"),
    ("artist", "Artist"),
    ("datetime_original", "Date taken (EXIF)"),
    ("offset_time_original", "Time zone (EXIF)"),
    ("datetime_digitized", "Date digitised (EXIF)"),
    ("datetime_modified", "Date modified (EXIF)"),
]


def ensure_metadata(item: ReportItem) -> dict[str, Any]:
    if item.metadata:
        return item.metadata
    if item.path is None or not item.path.is_file():
        return {}
    try:
        from declip_desktop.case.metadata import extract_metadata

        item.metadata = extract_metadata(item.path.read_bytes())
    except Exception as exc:  # unreadable metadata never stops the report
        item.metadata = {"notes": [f"metadata could not be read at report time ({type(exc).__name__}: {exc})"]}
    return item.metadata


def key_rows(md: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    fmt = md.get("format")
    w, h = md.get("width"), md.get("height")
    if fmt or w:
        desc = f"{fmt or '?'}, {w}×{h} px" if w else str(fmt)
        if md.get("mode"):
            desc += f", {md['mode']}"
        if md.get("exif_orientation") not in (None, 1):
            desc += f", EXIF orientation {md['exif_orientation']} (shown upright)"
        rows.append(("Format", desc))
    for key, label in _KEY_FIELDS:
        if md.get(key):
            rows.append((label, str(md[key])))
    gps = md.get("gps")
    if isinstance(gps, dict) and gps:
        parts = []
        if "latitude" in gps and "longitude" in gps:
            parts.append(f"{gps['latitude']:.6f}, {gps['longitude']:.6f}")
        if "altitude_m" in gps:
            parts.append(f"altitude {gps['altitude_m']} m")
        if gps.get("date") or gps.get("time"):
            parts.append(f"GPS time {gps.get('date', '')} {gps.get('time', '')}".strip())
        rows.append(("GPS", "; ".join(parts)))
    jpeg = md.get("jpeg")
    if isinstance(jpeg, dict) and jpeg.get("estimated_quality"):
        rows.append(("JPEG quantisation", jpeg_text(jpeg)))
    icc = md.get("icc_profile")
    if isinstance(icc, dict):
        rows.append(("ICC profile", f"{icc.get('description') or 'embedded'} ({icc.get('bytes', '?')} bytes)"))
    if md.get("xmp_present"):
        rows.append(("XMP", "present"))
    if not md.get("exif"):
        rows.append(("EXIF", "none in the file"))
    for note in md.get("notes") or []:
        rows.append(("Note", str(note)))
    return rows


def jpeg_text(jpeg: dict) -> str:
    """The file's quantisation tables in words. '≈ 70 (exact IJG tables)' read as a contradiction:
    an exact match means the tables are the standard IJG ones at that quality, not an estimate."""
    q = jpeg["estimated_quality"]
    text = (f"the standard IJG tables at quality {q}" if jpeg.get("quality_exact_ijg_match")
            else f"not the standard IJG tables; nearest IJG quality {q} (a rough guide to the compression strength)")
    if jpeg.get("subsampling"):
        text += f"; chroma subsampling {jpeg['subsampling']}"
    return text + ("; progressive" if jpeg.get("progressive") else "")


def full_exif(md: dict[str, Any]) -> list[tuple[str, str]]:
    exif = md.get("exif") or {}
    return sorted(((str(k), str(v)) for k, v in exif.items()), key=lambda kv: kv[0].lower())
