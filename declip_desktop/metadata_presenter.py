"""What the metadata dock shows for an item: a pure function from the evidence record and the
displayed analysis to titled sections (tested without Qt)."""
from __future__ import annotations

from typing import Any

from declip_desktop.analysis_modes import label
from declip_desktop.case.util import readable_utc
from engine.cpu import cpu_text_if_cpu
from engine.provenance import STRIPPING_NOTE, TRUST_CODES, TRUST_TEXT, badge, meaning, stored_record

NOT_VERIFIED = "not verified this session (File > Verify integrity)"
CONTENT_CREDENTIALS = "Content Credentials"


ANALYSIS = "Analysis"  # the learned map's record, when it is the map on screen
LEARNED_HIDDEN = "Learned map (not shown)"  # the same while an evidence layer is drawn instead
SHOWN_LAYER = "Shown map: evidence layer "  # + the layer's name


def score_text(score: Any) -> str | None:
    """Scores to 4 decimals, as in the report (not every digit of a float)."""
    try:
        return None if score is None else f"{float(score):.4f}"
    except (TypeError, ValueError):
        return str(score)


def time_text(stamp: Any) -> str | None:
    """'2026-12-07 14:25:27 UTC', as the rest of the app writes times (no ISO 'T', no microseconds)."""
    return readable_utc(str(stamp)) if stamp else None


def metadata_sections(item: Any, analysis: dict | None, integrity: str | None = None,
                      layer: dict | None = None) -> dict[str, Any]:
    """item: an EvidenceItem (or anything with its fields); analysis: the displayed stored record
    (model_id, mode, score, stored_utc, metadata) or None; integrity: this session's check; layer:
    the stored record of the evidence layer drawn instead of the learned map (None: the learned map
    is on screen). The section on the map on screen comes first, titled with the map's name."""
    md = dict(getattr(item, "metadata", None) or {})
    sections: dict[str, Any] = {
        "Integrity": {"state": integrity if integrity and integrity != "not checked" else NOT_VERIFIED,
                      "sha256": item.sha256, "md5": item.md5, "size (bytes)": item.size},
        "File": {"evidence id": item.id, "file": item.file_name, "original name": item.original_name,
                 "original path": item.original_path, "original modified": time_text(item.original_mtime_utc),
                 "ingested": time_text(item.ingested_utc), "format": item.format,
                 "dimensions": f"{item.width} x {item.height}"},
    }
    # Content Credentials right after Integrity: an examiner sees them before any map detail.
    md.pop("provenance", None)
    sections.update(provenance_sections(item.metadata if hasattr(item, "metadata") else None))
    sections["File"] = sections.pop("File")
    if layer:
        lmd = layer.get("metadata") or {}
        name = str(lmd.get("layer") or layer.get("model_id", "")).removeprefix("evidence-")
        sections[SHOWN_LAYER + name] = layer_section(name, layer)
    if analysis:
        meta = analysis.get("metadata") or {}
        # a CPU's model and vector instructions: they choose the kernels (engine/cpu.py)
        cpu = cpu_text_if_cpu(meta.get("device"), meta.get("cpu"))
        sections[LEARNED_HIDDEN if layer else ANALYSIS] = {
                                "score": score_text(analysis.get("score")), "model": analysis.get("model_id"),
                                "mode": label(analysis.get("mode")), "stored": time_text(analysis.get("stored_utc")),
                                "working resolution": _working(meta), "device": meta.get("device_name"),
                                **({"cpu": cpu} if cpu else {}),
                                "precision": meta.get("precision"), "dtype": meta.get("dtype"),
                                "decoder dtype": meta.get("decoder_dtype"), "weights": meta.get("weights"),
                                "timings": meta.get("timings")}
    exif = md.pop("exif", None)
    sections["Image metadata"] = md
    if exif:
        sections["EXIF"] = exif
    return sections


def layer_section(name: str, record: dict) -> dict[str, Any]:
    """An evidence layer's record as the dock lists it: method, version, parameters, score and what
    the score means (it differs from the learned map's), and when it was computed."""
    md = record.get("metadata") or {}
    try:
        from engine import evidence

        meaning = evidence.info(name).score_meaning
    except Exception:
        meaning = None
    score = score_text(record.get("score"))
    return {"method": md.get("model_name") or name,
            "score": f"{score} ({meaning})" if score is not None and meaning else score,
            "version": md.get("method_version"),
            "threshold": f"{md['default_threshold']} (its default)" if md.get("default_threshold") is not None else None,
            "parameters": dict(md.get("parameters") or {}) or "defaults",
            "computed": time_text(md.get("created_utc") or record.get("stored_utc")),
            "software": md.get("versions")}


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
                    "signing time": time_text(am.get("signing_time_utc")) or "no trusted time stamp",
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
    out["read"] = f"{time_text(rec.get('read_utc'))} with c2pa-python {reader.get('c2pa_python')} (offline: no fetching)"
    return {CONTENT_CREDENTIALS: out}
