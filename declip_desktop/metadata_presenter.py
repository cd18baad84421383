"""What the metadata dock shows for an item: a pure function from the evidence record and the
displayed analysis to titled sections (tested without Qt)."""
from __future__ import annotations

from typing import Any

from declip_desktop.analysis_modes import label

NOT_VERIFIED = "not verified this session (File > Verify integrity)"


def metadata_sections(item: Any, analysis: dict | None, integrity: str | None = None) -> dict[str, Any]:
    """item: an EvidenceItem (or anything with its fields); analysis: the displayed stored record
    (model_id, mode, score, stored_utc, metadata) or None; integrity: this session's check."""
    md = dict(getattr(item, "metadata", None) or {})
    sections: dict[str, Any] = {
        "Integrity": {"state": integrity if integrity and integrity != "not checked" else NOT_VERIFIED,
                      "sha256": item.sha256, "md5": item.md5, "size (bytes)": item.size},
        "File": {"evidence id": item.id, "file": item.file_name, "original name": item.original_name,
                 "original path": item.original_path, "original modified (UTC)": item.original_mtime_utc,
                 "ingested (UTC)": item.ingested_utc, "format": item.format,
                 "dimensions": f"{item.width} x {item.height}"},
    }
    if analysis:
        meta = analysis.get("metadata") or {}
        sections["Analysis"] = {"score": analysis.get("score"), "model": analysis.get("model_id"),
                                "mode": label(analysis.get("mode")), "stored (UTC)": analysis.get("stored_utc"),
                                "working resolution": _working(meta), "device": meta.get("device_name"),
                                "precision": meta.get("precision"), "dtype": meta.get("dtype"),
                                "decoder dtype": meta.get("decoder_dtype"), "weights": meta.get("weights"),
                                "timings": meta.get("timings")}
    exif = md.pop("exif", None)
    sections["Image metadata"] = md
    if exif:
        sections["EXIF"] = exif
    return sections


def _working(meta: dict) -> str | None:
    tiling = meta.get("tiling")
    if isinstance(tiling, dict) and tiling.get("scaled_size"):
        w, h = tiling["scaled_size"]
        return f"{w} x {h} (scale {tiling.get('scale')}, {tiling.get('tiles')} windows)"
    if meta.get("input_size"):
        return f"{meta['input_size']} x {meta['input_size']} (whole image resized)"
    return None
