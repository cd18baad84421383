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
from .audit import TORN_ACTION
from .errors import CaseError
from .records import Finding, VerifyProblem, VerifyReport
from .util import hash_file, record_digest, sha256_file, utc_now, valid_safe_name

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
        if it.path.is_symlink():
            problems.append(VerifyProblem("evidence_modified", f"{it.id} evidence/{it.file_name}: is a link, not the "
                                          f"copy made at intake (expected sha256 {it.sha256}); not read", it.id,
                                          str(it.path), it.sha256, None))
            continue
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
    _name_swaps(items, problems)
    if progress is not None:
        progress(total, total, "audit log")
    return problems, warnings, checked


def _name_swaps(items, problems: list[VerifyProblem]) -> None:
    """A modified copy that holds another item's recorded bytes says whose: two copies swapped (same
    original names, "x.jpg" and "x (2).jpg") or one copied over another, not merely "modified"."""
    by_sha = {it.sha256: it for it in items}
    for p in problems:
        other = by_sha.get(p.actual) if p.kind == "evidence_modified" and p.actual else None
        if other is not None and other.id != p.evidence_id:
            p.message += (f" = the bytes recorded for {other.id} evidence/{other.file_name} "
                          f"(the copies were swapped, or one was copied over the other)")


def verify_records(case: "Case", evidence_part: tuple[list[VerifyProblem], list[str], int],
                   against: dict | None = None) -> VerifyReport:
    """Analysis maps, the audit chain and the cross-checks. Run with the case's write lock held,
    so the indexes and the log are read at one consistent moment."""
    problems, warnings, checked = (list(evidence_part[0]), list(evidence_part[1]), evidence_part[2])
    _unregistered(case, warnings)
    on_disk = _analyses(case, problems)
    try:
        chain, n_entries = case._audit.check_chain(case._info.get("audit_head"))
        entries = case._audit.entries()
    except CaseError as exc:  # the log is a FIFO, a device, a link...: named, never read
        chain, n_entries, entries = [], 0, []
        problems.append(VerifyProblem("audit_chain", str(exc), file=str(case._audit.path)))
    for cp in chain:
        problems.append(VerifyProblem("audit_chain", cp.message, audit_entry=cp.entry, file=str(case._audit.path)))
    _lost_heads(case, entries, problems)
    _cross_check(case, entries, on_disk, problems, warnings)
    _torn(case, entries, problems)
    _reports(case, entries, problems)
    if against is not None:
        from .anchor import check_against

        problems += check_against(entries, against, case.uuid)
    head = entries[-1] if entries else None
    rep = VerifyReport(ok=not problems, checked_files=checked, audit_entries=n_entries, verified_utc=utc_now(),
                       problems=problems, warnings=warnings,
                       audit_head={"entries": n_entries, "last_sha256": (head or {}).get("sha256")})
    rep.untrusted_analyses = sorted({p.file for p in problems if p.file and p.kind.startswith("analysis_")})
    return rep


def _lost_heads(case: "Case", entries: list[dict], problems: list[VerifyProblem]) -> None:
    """Heads case.json recorded that the log no longer held when the case was next opened for writing
    (Case._keep_lost_head): named at every verify, from case.json and from the log's own entries."""
    lost = {}
    for d in list(case._info.get("audit_heads_lost") or []) + [
            e.get("details") or {} for e in entries if e.get("action") == "audit_head_not_in_log"]:
        if isinstance(d, dict):
            lost.setdefault((d.get("entries"), d.get("last_sha256")), d)
    for (n, h), d in lost.items():
        problems.append(VerifyProblem("audit_chain", f"audit log truncated or rewritten: case.json recorded {n} entries "
                                      f"ending with sha256 {h}, which the log no longer held when the case was next "
                                      f"opened ({d.get('log_entries')} entries, {d.get('noticed_utc')})",
                                      file=str(case._audit.path), expected=str(h), audit_entry=n))


_LISTED = 10  # unregistered files named one by one; more are counted in one warning


def _unregistered(case: "Case", warnings: list[str]) -> None:
    known = {it.file_name for it in case._items}
    try:
        names = sorted(e.name for e in os.scandir(case.evidence_dir))
    except OSError:
        return
    stray = [name for name in names if name not in known and not name.startswith(TMP_PREFIX)]
    why = ("not evidence; left untouched. An interrupted ingest leaves its copies so: adding the originals "
           "again indexes them")
    if len(stray) <= _LISTED:
        warnings.extend(f"evidence/{name}: file is not registered in the case ({why})" for name in stray)
    else:  # one line, not hundreds (a large ingest killed before it logged its copies)
        warnings.append(f"evidence/ holds {len(stray)} files not registered in the case ({why}): "
                        f"{', '.join(stray[:_LISTED])} and {len(stray) - _LISTED} more")


def _analyses(case: "Case", problems: list[VerifyProblem]) -> dict[str, tuple[str, dict]]:
    """Every analysis record on disk, known evidence or not: {relative json path: (evidence id, record)}.
    Maps are re-hashed against their records here; the records against the log in _cross_check."""
    found: dict[str, tuple[str, dict]] = {}
    try:
        folders = sorted(os.scandir(case.analyses_dir), key=lambda e: e.name)
    except OSError:
        return found
    for entry in folders:
        rel_dir = f"analyses/{entry.name}"
        if entry.name.startswith(TMP_PREFIX):
            continue
        if not entry.is_dir(follow_symlinks=False):
            problems.append(VerifyProblem("analysis_unlogged", f"{rel_dir}: unexpected "
                                          f"{'link' if entry.is_symlink() else 'file'} in analyses/ (not written by DeCLIP)",
                                          file=entry.path))
            continue
        eid = entry.name
        if eid not in case._by_id:
            problems.append(VerifyProblem("analysis_unlogged", f"{rel_dir}: analyses of an evidence item the case does "
                                          "not hold (never logged; not shown in reports)", file=entry.path))
            continue
        it = case._by_id[eid]
        folder = case.analyses_dir / eid
        for jp in sorted(folder.glob("*.json")):
            rel = f"{rel_dir}/{jp.name}"
            if jp.name.startswith(".") or jp.is_symlink():
                if jp.is_symlink():
                    problems.append(VerifyProblem("analysis_unlogged", f"{rel}: is a link (not written by DeCLIP)",
                                                  eid, str(jp)))
                continue
            rec = read_record(jp)
            if rec is None:
                problems.append(VerifyProblem("analysis_modified", f"{rel}: analysis record unreadable", eid, str(jp)))
                continue
            found[str(jp)] = (eid, rec)
            if rec.get("evidence_id", eid) != eid or rec.get("evidence_sha256") != it.sha256:
                problems.append(VerifyProblem("analysis_modified", f"{rel}: made for {rec.get('evidence_id')} sha256 "
                                              f"{rec.get('evidence_sha256')}, evidence {eid} has {it.sha256}", eid,
                                              str(jp), it.sha256, rec.get("evidence_sha256")))
            name = rec.get("map_file")
            if not valid_safe_name(name):
                problems.append(VerifyProblem("analysis_modified", f"{rel}: names an invalid map file "
                                              f"{str(name)[:80]!r} (must be a file in its own folder)", eid, str(jp)))
                continue
            mp = folder / name
            if mp.is_symlink() or not mp.is_file():
                problems.append(VerifyProblem("analysis_modified", f"{rel_dir}/{name}: probability map is missing",
                                              eid, str(jp), rec.get("map_sha256"), None))
                continue
            sha = sha256_file(mp)
            if sha != rec.get("map_sha256"):
                problems.append(VerifyProblem("analysis_modified", f"{rel_dir}/{name}: MODIFIED, expected sha256 "
                                              f"{rec.get('map_sha256')}, actual {sha}", eid, str(jp),
                                              rec.get("map_sha256"), sha))
    return found


_CASE_DETAILS = ("uuid", "title", "number", "examiner", "organisation", "description")


def _check_details(case: "Case", logged: dict[str, tuple[int, object]], problems: list[VerifyProblem]) -> None:
    """case.json as it is on disk now must carry the details the log recorded."""
    path = case.path / "case.json"
    try:
        on_disk = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(VerifyProblem("case_file", f"case.json: cannot be read ({exc})", file=str(path)))
        return
    saved_at = ((on_disk.get("audit_head") or {}) if isinstance(on_disk, dict) else {}).get("entries")
    for key in _CASE_DETAILS:
        if key in logged and on_disk.get(key) != logged[key][1]:
            seq = logged[key][0]
            # case.json last saved before that entry: an edit killed between its entry and case.json
            hint = (" (an edit logged but not saved: run the same `declip case edit` again)"
                    if isinstance(saved_at, int) and isinstance(seq, int) and saved_at < seq else "")
            problems.append(VerifyProblem("case_file", f"case.json: {key} {on_disk.get(key)!r} differs from audit entry "
                                          f"{seq} ({logged[key][1]!r}){hint}", file=str(path), expected=str(logged[key][1]),
                                          actual=str(on_disk.get(key)), audit_entry=seq))


def _cross_check(case: "Case", entries: list[dict], on_disk: dict[str, tuple[str, dict]],
                 problems: list[VerifyProblem], warnings: list[str]) -> None:
    """Replay the log: evidence, analyses and findings on disk must equal what was logged, both ways."""
    added: dict[str, tuple[int, dict]] = {}
    finding: dict[str, tuple[int, dict]] = {}
    stored: dict[tuple[str, str, str], tuple[int, dict]] = {}
    details: dict[str, tuple[int, object]] = {}
    for e in entries:
        if "invalid" in e:
            continue
        d = e.get("details") or {}
        act = e.get("action")
        if act == "case_created":
            details.update({k: (e.get("seq"), d.get(k)) for k in _CASE_DETAILS})
        elif act in ("case_info_changed", "case_info_change_undone"):
            details.update({k: (e.get("seq"), ch.get("new")) for k, ch in d.items() if isinstance(ch, dict)})
        elif act == "evidence_added":
            eid = d.get("evidence_id")
            first = added.get(eid)
            # An id is re-logged only when an interrupted ingest is resumed, with the same bytes.
            if first is not None and first[1].get("sha256") != d.get("sha256"):
                problems.append(VerifyProblem("index_mismatch", f"{eid}: audit entry {e.get('seq')} adds it again with "
                                              f"sha256 {d.get('sha256')}, but entry {first[0]} added it with "
                                              f"{first[1].get('sha256')} (evidence swapped under an existing id)",
                                              eid, expected=first[1].get("sha256"), actual=d.get("sha256"),
                                              audit_entry=e.get("seq")))
                continue  # the first record stays the reference
            added[eid] = (e.get("seq"), d)
        elif act == "finding_set":
            finding[d.get("evidence_id")] = (e.get("seq"), d)
        elif act == "analysis_stored":
            stored[(d.get("evidence_id"), d.get("model_id"), d.get("mode"))] = (e.get("seq"), d)
    _check_details(case, details, problems)
    _check_evidence(case, added, problems)
    _check_findings(case, finding, problems)
    _check_analyses(case, stored, on_disk, problems)


def _check_evidence(case: "Case", added: dict[str, tuple[int, dict]], problems: list[VerifyProblem]) -> None:
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
                                          "evidence.json (removed, or an interrupted ingest: `declip case add CASE --resume` indexes it from "
                                          "its copy in the case if that copy is intact, or add the original again)", eid, audit_entry=seq))


_FINDING_FIELDS = [k for k in Finding.__dataclass_fields__ if k != "evidence_id"]


def _check_findings(case: "Case", finding: dict[str, tuple[int, dict]], problems: list[VerifyProblem]) -> None:
    for eid, f in case._findings.items():
        rec = finding.get(eid)
        if rec is None:
            problems.append(VerifyProblem("finding_mismatch", f"{eid}: finding in findings.json has no audit entry", eid))
            continue
        seq, d = rec
        # Every field: who, on which analysis, when, as well as what.
        for key in _FINDING_FIELDS:
            if key in d and d.get(key) != getattr(f, key):
                problems.append(VerifyProblem("finding_mismatch", f"{eid}: finding {key} {getattr(f, key)!r} differs from "
                                              f"audit entry {seq} ({d.get(key)!r})", eid, expected=str(d.get(key)),
                                              actual=str(getattr(f, key)), audit_entry=seq))
    for eid in finding:
        if eid not in case._findings and eid in case._by_id:
            problems.append(VerifyProblem("finding_mismatch", f"{eid}: finding logged (audit entry {finding[eid][0]}) "
                                          "but missing from findings.json", eid, audit_entry=finding[eid][0]))


def _check_analyses(case: "Case", stored: dict[tuple[str, str, str], tuple[int, dict]],
                    on_disk: dict[str, tuple[str, dict]], problems: list[VerifyProblem]) -> None:
    """Both ways: every analysis on disk was logged with this very record, and every analysis the
    log holds is still on disk."""
    seen: set[tuple[str, str, str]] = set()
    for path, (eid, rec) in on_disk.items():
        rel = f"analyses/{eid}/{os.path.basename(path)}"
        key = (eid, rec.get("model_id"), rec.get("mode"))
        logged = stored.get(key)
        if logged is None:
            problems.append(VerifyProblem("analysis_unlogged", f"{rel}: analysis ({rec.get('model_id')}, {rec.get('mode')}) "
                                          "was never recorded in the audit log (forged, or written by a run killed "
                                          "before logging it: re-run `declip case analyze` to redo it); not shown in "
                                          "reports", eid, path))
            continue
        seen.add(key)
        seq, d = logged
        a_score = (rec.get("result") or {}).get("score")
        if d.get("map_sha256") != rec.get("map_sha256") or d.get("score") != a_score:
            problems.append(VerifyProblem("analysis_modified", f"{rel}: record differs from audit entry {seq} (score or "
                                          "map hash changed, or a re-analysis was killed before logging it: "
                                          "`declip case analyze` redoes it)", eid, path, audit_entry=seq))
        elif "record_sha256" in d and d["record_sha256"] != record_digest(rec):
            problems.append(VerifyProblem("analysis_modified", f"{rel}: record differs from audit entry {seq} (its model, "
                                          "weights, settings, versions or times were edited, or a re-analysis was "
                                          "killed before logging it: `declip case analyze` redoes it)", eid, path,
                                          audit_entry=seq))
    for key, (seq, d) in stored.items():
        if key not in seen and key[0] in case._by_id and not any(
                (e, r.get("model_id"), r.get("mode")) == key for e, r in on_disk.values()):
            problems.append(VerifyProblem("analysis_missing", f"{key[0]}: analysis ({key[1]}, {key[2]}) recorded in audit "
                                          f"entry {seq} is missing from analyses/{key[0]}/ (deleted)", key[0],
                                          audit_entry=seq))


def _torn(case: "Case", entries: list[dict], problems: list[VerifyProblem]) -> None:
    """A torn last entry cut off the log is a lost entry: said every time, never silently."""
    named = set()
    for e in entries:
        if e.get("action") != TORN_ACTION:
            continue
        d = e.get("details") or {}
        name = str(d.get("file"))
        named.add(name)
        aside = case.path / name
        state = "kept in " + name
        if not valid_safe_name(name) or aside.is_symlink() or not aside.is_file():
            state = f"its bytes were to be kept in {name}, which is missing"
        elif sha256_file(aside) != d.get("sha256"):
            state = f"{name} no longer holds its bytes (changed)"
        problems.append(VerifyProblem("audit_chain", f"audit entry {e.get('seq')}: an incomplete entry was cut from the end "
                                      f"of the log ({d.get('size')} bytes, {state}); the log lost that entry (a crash "
                                      "while writing, or a deliberate cut)", file=str(aside), audit_entry=e.get("seq")))
    try:
        loose = sorted(n for n in os.listdir(case.path) if n.startswith("audit.torn-") and n not in named)
    except OSError:
        loose = []
    for name in loose:
        problems.append(VerifyProblem("audit_chain", f"{name}: part of an audit entry cut from the end of the log, not "
                                      "yet recorded in the log (it will be at the next write)", file=str(case.path / name)))


def _reports(case: "Case", entries: list[dict], problems: list[VerifyProblem]) -> None:
    """A report in the case's reports/ folder must have its 'report_exported' entry (same SHA-256)."""
    logged = {(e.get("details") or {}).get("sha256") for e in entries if e.get("action") == "report_exported"}
    try:
        names = sorted(n for n in os.listdir(case.reports_dir) if n.lower().endswith(".pdf") and not n.startswith("."))
    except OSError:
        return
    for name in names:
        p = case.reports_dir / name
        if p.is_symlink() or not p.is_file():
            continue
        try:
            sha = sha256_file(p)
        except OSError:
            continue
        if sha not in logged:
            problems.append(VerifyProblem("report_unlogged", f"reports/{name}: no 'report_exported' audit entry has its "
                                          f"sha256 {sha} (the PDF was replaced, or its export was killed before it was logged: "
                                          "export it again under this name)",
                                          file=str(p), actual=sha))
