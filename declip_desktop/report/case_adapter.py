"""Binds the report to the Case API: a case folder or open Case becomes a ReportCase.

Maps are loaded lazily, one item at a time (a 24 MP map is ~100 MB as float32), straight from
the stored 16-bit PNG so the Case's own cache does not grow over a 100-item report.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from declip_desktop.case.analyses import last_failures
from declip_desktop.case.displayed import pick
from declip_desktop.case.util import readable_utc
from engine.result import AnalysisResult

from .model import AuditSummary, ReportCase, ReportInfo, ReportItem


@contextmanager
def open_case(case: Any) -> Iterator[tuple[Any, ReportCase]]:
    """(the Case or None, its ReportCase). A path is opened here (and closed again)."""
    if isinstance(case, ReportCase):
        yield None, case
        return
    if isinstance(case, (str, os.PathLike)):
        from declip_desktop.case import Case

        from declip_desktop.case.errors import READ_ONLY_STILL_WORKS

        try:
            c = Case.open(Path(case))
        except READ_ONLY_STILL_WORKS:
            # Open elsewhere, or archived write-protected: report from it read-only (not logged in it).
            c = Case.open(Path(case), readonly=True)
        try:
            yield c, to_report_case(c)
        finally:
            c.close()
        return
    if hasattr(case, "evidence") and hasattr(case, "finding"):
        yield case, to_report_case(case)
        return
    raise TypeError(f"cannot report on an object of type {type(case).__name__}: expected a case folder, "
                    "a declip_desktop.case.Case or a report.model.ReportCase")


def to_report_case(case: Any) -> ReportCase:
    audit, hashes_now, untrusted = _audit(case)
    refusals = _refusals(audit.entries)
    items = [_item(case, ev, untrusted, refusals) for ev in case.evidence]
    failures = last_failures(audit.entries)
    for it in items:
        it.failure = failures.get(it.item_id)
    for it in items:
        it.case_problems = audit.item_problems.get(it.item_id, [])
    if hashes_now is not None:
        for it in items:
            it.verified_now = True
            it.sha256_verified_now = hashes_now.get(it.item_id, "missing")
            if it.sha256_verified_now == "missing":
                it.sha256_verified_now = None
    info = getattr(case, "info", {}) or {}
    rc = ReportCase(title=bounded(case.title, 300), number=bounded(case.number, 120), examiner=bounded(case.examiner, 200),
                    organisation=bounded(case.organisation or "", 300),
                    description=bounded(case.description or "", 4000),
                    created_utc=case.created_utc or "", items=items, audit=audit, folder=Path(case.path))
    rc.report_by = bounded(getattr(case, "session_examiner", None) or case.examiner, 200)
    rc.case_uuid = str(getattr(case, "uuid", "") or info.get("uuid", ""))
    return rc


def bounded(text: str, limit: int) -> str:
    """Every case field fits a page: longer text (from a case made before input was bounded, or
    edited by hand) is cut, and says so."""
    text = str(text or "")
    if len(text) <= limit:
        return text
    return text[:limit] + f"… [cut: {len(text)} characters in the case]"


def _item(case: Any, ev: Any, untrusted: set[str], refusals: dict[str, dict[str, str]]) -> ReportItem:
    finding = case.finding(ev.id)
    # Only analyses that passed verification: an unlogged (forged) or altered one is never shown.
    trusted = [a for a in case.analyses(ev.id) if str(a.json_path) not in untrusted]
    sa = pick(finding, trusted)  # the rule the viewer and the list follow (case/displayed.py)
    item = ReportItem(
        item_id=ev.id, file_name=ev.file_name, path=Path(ev.path), sha256_ingest=ev.sha256,
        threshold=finding.threshold, opacity=finding.opacity if finding.opacity is not None else 0.5,
        status=finding.status, note=finding.note or "", ingest_utc=ev.ingested_utc, size_bytes=ev.size,
        finding_by=bounded(finding.examiner or "", 200), finding_utc=finding.modified_utc or "",
        finding_analysis=", ".join(x for x in (finding.model_id, finding.mode) if x),
        metadata=dict(ev.metadata or {}), extra_hashes={"md5": ev.md5} if ev.md5 else {},
    )
    if ev.original_name and ev.original_name != ev.file_name:
        item.metadata.setdefault("notes", [])
        item.metadata["notes"] = list(item.metadata["notes"]) + [f"original file name: {ev.original_name}"]
    item.pinned_layers = _pinned(finding, trusted, {k: without_folder(v, ev.file_name)
                                                    for k, v in refusals.get(ev.id, {}).items()})
    if sa is not None:
        item.load_result = _loader(sa)
        item.case_record, item.recorded_pixels_sha256 = True, _recorded_pixels(sa)
        # the others stay in the case; the report names them so no result is hidden from a reader
        item.other_analyses = [analysis_label(a.model_id, a.mode, a.score, a.stored_utc)
                               for a in trusted if (a.model_id, a.mode) != (sa.model_id, sa.mode)]
    return item


def analysis_label(model_id: str, mode: str, score: float | None, stored_utc: str) -> str:
    """One stored analysis in words. An evidence layer is named as its pinned section names it
    ('ela — Error level analysis') with what its score measures, not by the internal
    'evidence-ela, evidence'; a detector analysis by its model id and mode."""
    from engine import evidence

    when = readable_utc(stored_utc)
    layer = model_id[len("evidence-"):] if mode == "evidence" and model_id.startswith("evidence-") else None
    try:
        info = evidence.info(layer) if layer else None
    except evidence.EvidenceError:   # a layer this version does not know: its stored id is all there is
        info = None
    if info is None:
        return f"{model_id}, {mode}: " + (f"score {score:.4f}, " if score is not None else "") + when
    return (f"{layer} — {info.title}, " + (f"score {score:.4f} ({info.score_meaning}), " if score is not None else "")
            + when)


def _refusals(entries: list[dict]) -> dict[str, dict[str, str]]:
    """{evidence id: {layer: the latest logged reason that the layer does not apply to the item}}."""
    out: dict[str, dict[str, str]] = {}
    for e in entries:
        d = e.get("details") or {}
        if e.get("action") == "evidence_layer_not_applicable" and d.get("evidence_id") and d.get("layer"):
            out.setdefault(d["evidence_id"], {})[d["layer"]] = str(d.get("reason") or "no reason recorded")
    return out


def without_folder(text: str, file_name: str) -> str:
    """`text` with the folders before `file_name` removed: a logged reason names the evidence by its
    absolute local path, which says nothing to a reader and discloses the examiner's file system."""
    if not file_name:
        return text
    folders = r"(?:(?<=^)|(?<=[\s'\"(]))(?:[A-Za-z]:)?[\\/](?:[^\\/\n]*[\\/])*(?=" + re.escape(file_name) + ")"
    return re.sub(folders, "", text)


def _pinned(finding: Any, trusted: list, refused: dict[str, str]) -> list[dict]:
    """The layers pinned to the finding, each from its verified stored analysis (or why it is not shown:
    `refused` holds the logged reason of a layer that does not apply to the item)."""
    out = []
    for name in getattr(finding, "layers", None) or []:
        hits = [a for a in trusted if (a.model_id, a.mode) == (f"evidence-{name}", "evidence")]
        sa = max(hits, key=lambda a: a.stored_utc or "") if hits else None
        if sa is None:
            why = (f"the layer does not apply to this image ({refused[name]})" if name in refused
                   else "no verified stored analysis of this layer in the case")
            out.append({"layer": name, "metadata": {}, "error": why})
        else:
            out.append({"layer": name, "metadata": dict(sa.metadata or {}), "score": sa.score,
                        "stored_utc": sa.stored_utc, "load": _loader(sa),
                        "recorded_pixels_sha256": _recorded_pixels(sa)})
    return out


def _recorded_pixels(sa: Any) -> str | None:
    """The map_pixels_sha256 the case recorded when it stored the map; None for older records."""
    v = (getattr(sa, "record", None) or {}).get("map_pixels_sha256")
    return v if isinstance(v, str) and v else None


def _loader(sa: Any):
    def load() -> AnalysisResult | None:
        from engine.mapio import load_probability_png

        prob = load_probability_png(sa.map_path)
        return AnalysisResult(probability=prob, raw=None, score=float(sa.score if sa.score is not None else prob.mean()),
                              metadata=dict(sa.metadata or {}))
    return load


def _audit(case: Any) -> tuple[AuditSummary, dict[str, str] | None, set[str]]:
    """Verify the case now (re-hashes evidence, walks the audit chain), then read the log.

    Also returns each item's SHA-256 as just computed by the verification ("missing" when the
    file is gone or unreadable), or None when verification did not run (the report hashes itself).
    """
    summary = AuditSummary()
    hashes: dict[str, str] | None = None
    untrusted: set[str] = set()
    try:
        rep = case.verify()
    except Exception as exc:  # verification must not stop the report; the report says it failed
        summary.problems = [f"case verification could not run: {type(exc).__name__}: {exc}"]
        summary.chain_ok = None
    else:
        untrusted = set(getattr(rep, "untrusted_analyses", None) or [])
        hashes = {ev.id: ev.sha256 for ev in case.evidence}
        for p in rep.problems:
            if p.evidence_id and p.kind == "evidence_modified":
                hashes[p.evidence_id] = p.actual
            elif p.evidence_id and p.kind == "evidence_missing":
                hashes[p.evidence_id] = "missing"
            elif p.evidence_id and p.kind != "audit_chain":
                summary.item_problems.setdefault(p.evidence_id, []).append(p.message)
        chain = [p.message for p in rep.problems if p.kind == "audit_chain"]
        summary.chain_ok = not chain
        summary.problems = chain
        summary.other_problems = [p.message for p in rep.problems if p.kind != "audit_chain"]
        summary.warnings = list(rep.warnings)
        summary.verified_utc = rep.verified_utc
    # Shown, not re-hashed: an overlong name from an old case is cut for the page (the log keeps it).
    try:
        entries = case.audit_entries()
    except Exception as exc:  # a log that cannot be read (not a regular file): said, not fatal
        entries = [{"seq": 1, "invalid": f"audit log cannot be read: {exc}"}]
    summary.entries = [dict(e, examiner=bounded(e["examiner"], 200)) if isinstance(e.get("examiner"), str)
                       and len(e["examiner"]) > 200 else e for e in entries]
    if hasattr(case, "audit_head"):
        try:
            summary.head = case.audit_head()
            summary.recorded = not getattr(case, "readonly", False)
        except Exception as exc:  # an unreadable log: the report says verification found it
            summary.problems.append(f"audit log head cannot be read: {exc}")
    return summary, hashes, untrusted


def log_report(case: Any, info: ReportInfo, **details: Any) -> bool:
    """Record the report (its SHA-256) in the case audit log. False when there is no writable case."""
    if case is None or getattr(case, "readonly", False):
        return False
    case.record_report(info.path, {"report_id": info.report_id, "pages": info.pages, "items": details.get("items"),
                                   "threshold": details.get("threshold"), "sidecar": str(info.sidecar),
                                   "format": "pdf"}
                       | ({"removed_leftovers": details["removed_leftovers"]} if details.get("removed_leftovers") else {}))
    return True
