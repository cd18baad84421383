"""Integrity check of a case: evidence hashes, analysis maps, the audit chain, and the indexes
cross-checked against the log (so editing evidence.json to match a tampered file is caught too).
"""
from __future__ import annotations

import json
import os
import stat
from typing import TYPE_CHECKING

from .analyses import read_record
from .atomic import TMP_PREFIX
from .records import VerifyProblem, VerifyReport
from .util import hash_file, record_digest, sha256_file, utc_now

if TYPE_CHECKING:
    from .case_folder import Case, Progress


def verify(case: "Case", progress: "Progress | None" = None) -> VerifyReport:
    """Both phases in one go (for callers that hold no other thread's writes)."""
    return verify_records(case, verify_evidence(case, progress))


def verify_evidence(case: "Case", progress: "Progress | None" = None) -> tuple[list[VerifyProblem], list[str], int]:
    """Re-hash every evidence copy: the slow part. Needs no lock, as evidence never changes."""
    problems: list[VerifyProblem] = []
    warnings: list[str] = []
    items = case.evidence
    total = len(items)
    checked = 0
    for n, it in enumerate(items):
        if progress is not None:
            progress(n, total, it.file_name)
        if not it.path.is_file():
            problems.append(VerifyProblem("evidence_missing", f"{it.id} evidence/{it.file_name}: file is missing "
                                          f"(expected sha256 {it.sha256})", it.id, str(it.path), it.sha256, None))
            continue
        try:
            sha, md5, size = hash_file(it.path)
        except OSError as exc:
            problems.append(VerifyProblem("evidence_missing", f"{it.id} evidence/{it.file_name}: cannot be read "
                                          f"({exc.strerror or exc})", it.id, str(it.path), it.sha256, None))
            continue
        checked += 1
        if sha != it.sha256:
            problems.append(VerifyProblem("evidence_modified", f"{it.id} evidence/{it.file_name}: MODIFIED, expected sha256 "
                                          f"{it.sha256}, actual {sha}", it.id, str(it.path), it.sha256, sha))
        elif md5 != it.md5:  # cannot happen unless the index was edited; still say so precisely
            problems.append(VerifyProblem("index_mismatch", f"{it.id} evidence/{it.file_name}: md5 in the index "
                                          f"{it.md5} does not match the file ({md5})", it.id, str(it.path), it.md5, md5))
        try:
            if os.stat(it.path).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
                warnings.append(f"{it.id} evidence/{it.file_name}: copy has write permission (should be read-only)")
        except OSError:
            pass
    if progress is not None:
        progress(total, total, "audit log")
    return problems, warnings, checked


def verify_records(case: "Case", evidence_part: tuple[list[VerifyProblem], list[str], int]) -> VerifyReport:
    """Analysis maps, the audit chain and the cross-checks. Run with the case's write lock held,
    so the indexes and the log are read at one consistent moment."""
    problems, warnings, checked = (list(evidence_part[0]), list(evidence_part[1]), evidence_part[2])
    _unregistered(case, warnings)
    _analyses(case, problems)
    chain, n_entries = case._audit.check_chain(case._info.get("audit_head"))
    for cp in chain:
        problems.append(VerifyProblem("audit_chain", cp.message, audit_entry=cp.entry, file=str(case._audit.path)))
    _cross_check(case, problems, warnings)
    return VerifyReport(ok=not problems, checked_files=checked, audit_entries=n_entries, verified_utc=utc_now(),
                        problems=problems, warnings=warnings)


def _unregistered(case: "Case", warnings: list[str]) -> None:
    known = {it.file_name for it in case._items}
    try:
        names = sorted(e.name for e in os.scandir(case.evidence_dir))
    except OSError:
        return
    for name in names:
        if name not in known and not name.startswith(TMP_PREFIX):
            warnings.append(f"evidence/{name}: file is not registered in the case (not evidence; left untouched)")


def _analyses(case: "Case", problems: list[VerifyProblem]) -> None:
    for it in case._items:
        folder = case.analyses_dir / it.id
        if not folder.is_dir():
            continue
        for jp in sorted(folder.glob("*.json")):
            rec = read_record(jp)
            rel = f"analyses/{it.id}/{jp.name}"
            if rec is None:
                problems.append(VerifyProblem("analysis_modified", f"{rel}: analysis record unreadable", it.id, str(jp)))
                continue
            if rec.get("evidence_sha256") != it.sha256:
                problems.append(VerifyProblem("analysis_modified", f"{rel}: made for sha256 {rec.get('evidence_sha256')}, "
                                              f"evidence {it.id} has {it.sha256}", it.id, str(jp),
                                              it.sha256, rec.get("evidence_sha256")))
            mp = folder / str(rec.get("map_file", ""))
            if not mp.is_file():
                problems.append(VerifyProblem("analysis_modified", f"analyses/{it.id}/{mp.name}: probability map is missing",
                                              it.id, str(mp), rec.get("map_sha256"), None))
                continue
            sha = sha256_file(mp)
            if sha != rec.get("map_sha256"):
                problems.append(VerifyProblem("analysis_modified", f"analyses/{it.id}/{mp.name}: MODIFIED, expected sha256 "
                                              f"{rec.get('map_sha256')}, actual {sha}", it.id, str(mp),
                                              rec.get("map_sha256"), sha))


_CASE_DETAILS = ("uuid", "title", "number", "examiner", "organisation", "description")


def _check_details(case: "Case", logged: dict[str, tuple[int, object]], problems: list[VerifyProblem]) -> None:
    """case.json as it is on disk now must carry the details the log recorded."""
    path = case.path / "case.json"
    try:
        on_disk = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(VerifyProblem("case_file", f"case.json: cannot be read ({exc})", file=str(path)))
        return
    for key in _CASE_DETAILS:
        if key in logged and on_disk.get(key) != logged[key][1]:
            seq = logged[key][0]
            problems.append(VerifyProblem("case_file", f"case.json: {key} {on_disk.get(key)!r} differs from audit entry "
                                          f"{seq} ({logged[key][1]!r})", file=str(path), expected=str(logged[key][1]),
                                          actual=str(on_disk.get(key)), audit_entry=seq))


def _cross_check(case: "Case", problems: list[VerifyProblem], warnings: list[str]) -> None:
    """Replay the log: evidence, analyses and findings on disk must equal what was logged."""
    added: dict[str, tuple[int, dict]] = {}
    finding: dict[str, tuple[int, dict]] = {}
    stored: dict[tuple[str, str, str], tuple[int, dict]] = {}
    details: dict[str, tuple[int, object]] = {}
    for e in case._audit.entries():
        if "invalid" in e:
            continue
        d = e.get("details") or {}
        act = e.get("action")
        if act == "case_created":
            details.update({k: (e.get("seq"), d.get(k)) for k in _CASE_DETAILS})
        elif act == "case_info_changed":
            details.update({k: (e.get("seq"), ch.get("new")) for k, ch in d.items() if isinstance(ch, dict)})
        elif act == "evidence_added":
            added[d.get("evidence_id")] = (e.get("seq"), d)
        elif act == "finding_set":
            finding[d.get("evidence_id")] = (e.get("seq"), d)
        elif act == "analysis_stored":
            stored[(d.get("evidence_id"), d.get("model_id"), d.get("mode"))] = (e.get("seq"), d)
    _check_details(case, details, problems)
    for it in case._items:
        rec = added.get(it.id)
        if rec is None:
            problems.append(VerifyProblem("index_mismatch", f"{it.id} evidence/{it.file_name}: no 'evidence_added' entry "
                                          "in the audit log (its entry was removed, or the index was edited outside DeCLIP)", it.id, it.file_name))
            continue
        seq, d = rec
        # Every field the entry logged, then (cases made since it was logged) the whole record.
        for key in [k for k in d if k not in ("evidence_id", "record_sha256") and hasattr(it, k)]:
            if d.get(key) != getattr(it, key):
                problems.append(VerifyProblem("index_mismatch", f"{it.id}: {key} in evidence.json ({getattr(it, key)}) differs "
                                              f"from audit entry {seq} ({d.get(key)})", it.id, it.file_name,
                                              str(d.get(key)), str(getattr(it, key)), seq))
        if "record_sha256" in d and d["record_sha256"] != record_digest(it.to_dict()):
            problems.append(VerifyProblem("index_mismatch", f"{it.id}: its record in evidence.json was edited after "
                                          f"intake (dimensions, original name, times or metadata differ from what audit "
                                          f"entry {seq} pinned)", it.id, it.file_name, d["record_sha256"],
                                          record_digest(it.to_dict()), seq))
    for eid in added:
        if eid not in case._by_id:
            seq = added[eid][0]
            problems.append(VerifyProblem("index_mismatch", f"{eid}: logged as added (audit entry {seq}) but missing from "
                                          "evidence.json (removed, or an interrupted ingest: add the file again to resume)", eid, audit_entry=seq))
    for eid, f in case._findings.items():
        rec = finding.get(eid)
        if rec is None:
            problems.append(VerifyProblem("finding_mismatch", f"{eid}: finding in findings.json has no audit entry", eid))
            continue
        seq, d = rec
        for key in ("status", "note", "threshold", "opacity"):
            if d.get(key) != getattr(f, key):
                problems.append(VerifyProblem("finding_mismatch", f"{eid}: finding {key} {getattr(f, key)!r} differs from "
                                              f"audit entry {seq} ({d.get(key)!r})", eid, expected=str(d.get(key)),
                                              actual=str(getattr(f, key)), audit_entry=seq))
    for eid in finding:
        if eid not in case._findings and eid in case._by_id:
            problems.append(VerifyProblem("finding_mismatch", f"{eid}: finding logged (audit entry {finding[eid][0]}) "
                                          "but missing from findings.json", eid, audit_entry=finding[eid][0]))
    for a in case.analyses():
        rec = stored.get((a.evidence_id, a.model_id, a.mode))
        if rec is None:
            warnings.append(f"analyses/{a.evidence_id}/{a.json_path.name}: no 'analysis_stored' audit entry")
            continue
        seq, d = rec
        if d.get("map_sha256") != a.record.get("map_sha256") or d.get("score") != a.score:
            problems.append(VerifyProblem("analysis_modified", f"analyses/{a.evidence_id}/{a.json_path.name}: record differs "
                                          f"from audit entry {seq} (score or map hash changed)", a.evidence_id,
                                          str(a.json_path), audit_entry=seq))
        elif "record_sha256" in d and d["record_sha256"] != record_digest(a.record):
            problems.append(VerifyProblem("analysis_modified", f"analyses/{a.evidence_id}/{a.json_path.name}: record differs "
                                          f"from audit entry {seq} (its model, weights, settings, versions or times were "
                                          f"edited)", a.evidence_id, str(a.json_path), audit_entry=seq))
