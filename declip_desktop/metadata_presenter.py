"""What the metadata dock shows for an item: a pure function from the evidence record and the
displayed analysis to titled sections (tested without Qt)."""
from __future__ import annotations

from typing import Any

from declip_desktop.analysis_modes import label
from engine.provenance import STRIPPING_NOTE, TRUST_CODES, TRUST_TEXT, badge, meaning, stored_record

NOT_VERIFIED = "not verified this session (File > Verify integrity)"
CONTENT_CREDENTIALS = "Content Credentials"


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
    # Content Credentials right after Integrity: an examiner sees them before any map detail.
    md.pop("provenance", None)
    sections.update(provenance_sections(item.metadata if hasattr(item, "metadata") else None))
    sections["File"] = sections.pop("File")
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


def verdict_of(metadata: dict | None) -> str | None:
    rec = stored_record(metadata)
    return rec.get("verdict") if rec else None


def provenance_sections(metadata: dict | None) -> dict[str, Any]:
    """{"Content Credentials": {...}} for MetadataView.show_sections, plain keys first."""
    rec = stored_record(metadata)
    if rec is None:
        return {CONTENT_CREDENTIALS: {"status": "not read at ingest"}}
    out: dict[str, Any] = {"verdict": badge(rec), "meaning": meaning(rec)}
    am = rec.get("active_manifest") or {}
    v = rec.get("validation") or {}
    if am:
        signer = am.get("signer") or {}
        out.update({"claim generator": am.get("claim_generator"),
                    "signer": signer.get("subject") or signer.get("common_name"),
                    "certificate issuer": signer.get("issuer"),
                    "signing time": am.get("signing_time_utc") or "no trusted time stamp",
                    "signature": v.get("signature"), "hash binding": v.get("binding"),
                    "signer trust": TRUST_TEXT.get(v.get("trust"), v.get("trust")),
                    "status codes (failed)": [f"{f['code']}: {f.get('explanation') or ''}"
                                              for f in v.get("failures") or [] if f.get("code") not in TRUST_CODES]
                    or "none (trust aside)",
                    "digital source type": [t.rsplit("/", 1)[-1] for t in rec.get("digital_source_types") or []],
                    "actions": [a["action"] + (f" ({a['software_agent']})" if a.get("software_agent") else "")
                                for a in rec.get("actions") or []],
                    "ingredients": [f"{i.get('title')} ({i.get('relationship')})"
                                    for i in rec.get("ingredients") or []],
                    "manifest chain": [f"{'  ' * c.get('depth', 0)}{c.get('relationship')}: {c.get('title')} — "
                                       f"{c.get('claim_generator')}" for c in rec.get("chain") or []]})
        out = {k: val for k, val in out.items() if val != []}  # nothing to list: leave the row out
    if rec.get("remote_manifest"):
        out["remote manifest"] = f"{rec['remote_manifest'].get('url')} (not fetched)"
    if rec.get("verdict") in ("none", "remote not fetched", "unreadable"):
        out["note"] = STRIPPING_NOTE
    anchors = rec.get("trust_anchors")
    out["trust anchors"] = ([f"{c.get('subject')} sha256 {c.get('sha256')}" for c in anchors.get("certificates") or []]
                            if anchors else rec.get("trust_note") or "none installed")
    reader = rec.get("reader") or {}
    out["read"] = f"{rec.get('read_utc')} with c2pa-python {reader.get('c2pa_python')} (offline: no fetching)"
    return {CONTENT_CREDENTIALS: out}
