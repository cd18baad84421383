"""Stored analyses: analyses/<evidence id>/<model>__<mode>.json (record) naming its 16-bit map
<model>__<mode>.<random>.png.

The map is written first under a fresh name and the JSON last: the record is the commit marker,
so an analysis interrupted between the two leaves the previous one (record and map) intact.
"""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import write_json_atomic
from .errors import CaseError
from .records import EvidenceItem, StoredAnalysis
from .schema import SCHEMA_VERSION
from .util import inside, read_regular, record_digest, sha256_file, utc_now, valid_safe_name

if TYPE_CHECKING:
    from .case_folder import Case


def slug(text: str) -> str:
    """File-name-safe form of a model id or mode (ids are free text in model cards)."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._")
    return s[:80] or "unnamed"


def analysis_stem(model_id: str, mode: str) -> str:
    stem = f"{slug(model_id)}__{slug(mode)}"
    if stem != f"{model_id}__{mode}":  # "a/b" and "a_b" must not share files
        stem += "-" + hashlib.sha256(f"{model_id}\0{mode}".encode("utf-8")).hexdigest()[:8]
    return stem


def store(case: "Case", item: EvidenceItem, result: Any, model_id: str | None, mode: str | None) -> StoredAnalysis:
    import numpy as np  # here, with the map code: `declip --help` and `case status` need neither

    from engine.mapio import load_probability_png, save_probability_png

    meta = dict(getattr(result, "metadata", None) or {})
    model_id = model_id or meta.get("model_id")
    mode = mode or meta.get("mode")
    if not model_id or not mode:
        raise CaseError(f"{item.id}: analysis result names no model_id/mode; pass them to store_analysis")
    prob = np.asarray(result.probability, dtype=np.float32)
    if prob.ndim != 2:
        raise CaseError(f"{item.id}: probability map must be 2-D, got shape {prob.shape}")
    img_sha = (meta.get("image") or {}).get("sha256")
    if img_sha and img_sha != item.sha256:
        # Guards against storing a map under the wrong exhibit, which a report would then present.
        raise CaseError(f"{item.id}: analysis is of a different image (sha256 {img_sha}, evidence has {item.sha256})")
    # The map must cover the analysed image pixel for pixel, or overlays would be misaligned.
    # The engine's own record of the image size wins; the ingest-time size is the fallback.
    img_md = meta.get("image") or {}
    want = (img_md.get("width"), img_md.get("height"))
    if not all(isinstance(v, int) for v in want):
        want = (item.width, item.height)
    if all(want) and (prob.shape[1], prob.shape[0]) != tuple(want):
        raise CaseError(f"{item.id}: probability map is {prob.shape[1]}x{prob.shape[0]}, "
                        f"the analysed image is {want[0]}x{want[1]}")
    folder = case.analyses_dir / item.id
    folder.mkdir(parents=True, exist_ok=True)
    if folder.is_symlink() or not inside(case.path, folder):  # a planted link must not send writes elsewhere
        raise CaseError(f"analyses/{item.id}: is a link or lies outside the case; nothing written")
    stem = analysis_stem(model_id, mode)
    json_path = folder / f"{stem}.json"
    # A new map never overwrites the one the current record points to: a kill before the record
    # is replaced leaves the old record and its map intact (the new map is an unreferenced orphan).
    map_path = folder / f"{stem}.{uuid.uuid4().hex[:12]}.png"
    old = read_record(json_path) if json_path.exists() else None
    pixels_sha = save_probability_png(map_path, prob)  # atomic itself (temp, fsync, rename, fsync dir)
    record = {
        "schema_version": SCHEMA_VERSION,
        "evidence_id": item.id,
        "evidence_sha256": item.sha256,
        "model_id": model_id,
        "mode": mode,
        "stored_utc": utc_now(),
        "examiner": case.session_examiner,
        "map_file": map_path.name,
        "map_format": "png16",
        "map_sha256": sha256_file(map_path),  # the file's, checked by verify; depends on the PNG compressor
        # the 16-bit values' (engine.mapio.map_pixels_sha256, results.json's map_pixels_sha256): what a
        # report cites and a re-run on another machine gives; absent from records stored before it was kept
        "map_pixels_sha256": pixels_sha,
        "result": result.to_json(),
    }
    write_json_atomic(json_path, record)
    _remove_unreferenced_maps(folder, stem, keep=map_path.name, previous=(old or {}).get("map_file"))
    return StoredAnalysis(item.id, model_id, mode, json_path, map_path, record, _loader=load_probability_png)


def _remove_unreferenced_maps(folder: Path, stem: str, keep: str, previous: str | None) -> None:
    """Delete the replaced map and orphans of killed earlier stores (derived data, never evidence)."""
    ours = re.compile(re.escape(stem) + r"\.[0-9a-f]{12}\.png")
    names = {p.name for p in folder.iterdir() if ours.fullmatch(p.name)}
    if previous and "/" not in previous and "\\" not in previous:
        names.add(previous)
    for name in names - {keep}:
        try:
            (folder / name).unlink()
        except OSError:
            pass


def scan_analyses(case: "Case") -> dict[str, list[StoredAnalysis]]:
    """Read every analysis record (JSON only; maps stay on disk until used)."""
    out: dict[str, list[StoredAnalysis]] = {}
    root = case.analyses_dir
    for it in case._items:
        folder = root / it.id
        if not folder.is_dir():
            continue
        found = []
        for jp in sorted(folder.glob("*.json")):
            if jp.name.startswith("."):
                continue
            rec = read_record(jp)
            if rec is None or jp.is_symlink() or not valid_safe_name(rec.get("map_file")):
                continue  # verify names it; nothing outside the folder is ever read
            found.append(StoredAnalysis(it.id, str(rec.get("model_id")), str(rec.get("mode")), jp,
                                        folder / rec["map_file"], rec))
        found.sort(key=lambda a: a.stored_utc or "")
        if found:
            out[it.id] = found
    return out


def read_record(path: Path) -> dict | None:
    try:
        rec = json.loads(read_regular(path, 64 << 20).decode("utf-8"))
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and "model_id" in rec and "mode" in rec else None


def run_started_details(det: Any, model_id: str | None, mode: str, precision: str, ids: list[str],
                        force: bool = False) -> dict:
    """The audit details of an 'analysis_run_started' entry: what a batch will run, on what, with
    which weights and software. The CLI and the GUI log the same, so either can be reproduced."""
    describe = det.describe() if hasattr(det, "describe") else {}
    return {"model_id": model_id, "mode": mode, "device": describe.get("device"),
            "device_name": getattr(det, "device_name", None), "dtype": describe.get("dtype"),
            "decoder_dtype": describe.get("decoder_dtype"), "precision": precision or "auto",
            "weights": describe.get("weights"), "versions": describe.get("versions"), "items": list(ids),
            "force": bool(force)}


def last_failures(audit_entries: list[dict]) -> dict[str, dict]:
    """{evidence id: the details (plus time_utc) of its last 'analysis_failed' entry} for the items
    whose last analysis attempt failed, i.e. no analysis was stored for them after that failure.
    Only the learned map's attempts count: an evidence layer stored or failing later neither clears
    nor replaces the model's failure (the report then named "evidence-resampling" as the item's)."""
    last: dict[str, dict | None] = {}
    for e in audit_entries:
        d = e.get("details") or {}
        if d.get("mode") == "evidence":
            continue
        if e.get("action") == "analysis_failed":
            last[d.get("evidence_id")] = dict(d, time_utc=e.get("time_utc"))
        elif e.get("action") == "analysis_stored":
            last[d.get("evidence_id")] = None
    return {eid: d for eid, d in last.items() if d is not None}


def logged_records(audit_entries: list[dict]) -> dict[tuple[str, str, str], str | None]:
    """{(evidence id, model id, mode): record_sha256 of its last 'analysis_stored' entry}: what the
    log vouches for. An analysis on disk that is not here (or differs) was never logged."""
    out: dict[tuple[str, str, str], str | None] = {}
    for e in audit_entries:
        if e.get("action") == "analysis_stored":
            d = e.get("details") or {}
            out[(d.get("evidence_id"), d.get("model_id"), d.get("mode"))] = d.get("record_sha256")
    return out


def is_logged(sa: StoredAnalysis, logged: dict[tuple[str, str, str], str | None]) -> bool:
    key = (sa.evidence_id, sa.model_id, sa.mode)
    return key in logged and logged[key] in (None, record_digest(sa.record))
