"""Ingest: copy evidence into the case read-only, with hashes, metadata and provenance.

Each original is opened once, read-only, and read into memory; the hashes, the image check,
the metadata and the copy all come from those same bytes, so the copy is exactly what was hashed.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from engine.images import MAX_FILE_BYTES
from engine.text import utf8_text
from engine.versions import software_versions

from .atomic import TMP_PREFIX, fsync_dir
from .metadata import NotAnImage, extract_metadata, probe_image
from .provenance import anchors_for, provenance_of
from .records import EvidenceItem, IngestIssue, IngestReport
from .util import hash_file, utc_now, valid_evidence_id, valid_evidence_name

if TYPE_CHECKING:
    from .case_folder import Cancel, Case, Progress

# The index is rewritten in batches (not per file) so a 1,000-file ingest stays near-linear;
# copies made since the last flush are adopted again if the run is killed and repeated.
_FLUSH_EVERY_N = 200
_FLUSH_EVERY_S = 2.0
_SHA256 = re.compile(r"[0-9a-f]{64}")
READ_ONLY_MODE = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH  # 0o444: no write bits for anyone


def collect(paths: list, case_dir: Path) -> tuple[list[tuple[Path, bool]], list[IngestIssue]]:
    """Expand folders recursively (sorted, symlinked folders not followed) into (file, explicit) pairs."""
    files: list[tuple[Path, bool]] = []
    issues: list[IngestIssue] = []
    case_real = os.path.realpath(case_dir)
    for raw in paths:
        p = Path(raw)
        if not os.path.lexists(p):
            issues.append(IngestIssue(shown(p), "error", "not found"))
            continue
        real = os.path.realpath(p)
        if real == case_real or real.startswith(case_real + os.sep):
            issues.append(IngestIssue(shown(p), "skipped", "is inside the case folder itself"))
            continue
        if p.is_dir():
            def onerror(exc: OSError) -> None:
                issues.append(IngestIssue(shown(exc.filename or p), "error", f"cannot read folder ({exc.strerror or exc})", explicit=False))

            for root, dirs, names in os.walk(p, onerror=onerror):
                # Do not descend into the case itself when a parent folder is added.
                dirs[:] = sorted(d for d in dirs if os.path.realpath(os.path.join(root, d)) != case_real)
                for d in dirs:  # os.walk lists a linked folder but does not enter it: say so, never drop it silently
                    if os.path.islink(os.path.join(root, d)):
                        issues.append(IngestIssue(shown(Path(root) / d), "skipped", "is a link to a folder, not "
                                                  "followed (add the folder it points to, to include its files)",
                                                  explicit=False))
                for name in sorted(names):
                    files.append((Path(root) / name, False))
        elif p.is_file():
            files.append((p, True))
        else:
            issues.append(IngestIssue(shown(p), "skipped", "not a regular file"))
    return files, issues


def shown(p) -> str:
    """A path as valid UTF-8 text. POSIX names may hold bytes that are not UTF-8 (old cameras,
    Windows-1252 archives); they become \\xNN escapes so JSON files and the log can hold them."""
    return utf8_text(p)


_MAX_NAME_BYTES = 200  # below the common 255-byte limit, leaving room for " (NN)" and temp prefixes


def _safe_file_name(name: str) -> str:
    """The evidence copy's name: the original where possible, else a readable UTF-8 stand-in."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        name = os.fsencode(name).decode("utf-8", "replace").replace("\ufffd", "_")
    if name.startswith(TMP_PREFIX):  # the case's temp-file names are swept at open: never an evidence copy's
        name = "_" + name
    if len(name.encode("utf-8")) > _MAX_NAME_BYTES:
        stem, ext = os.path.splitext(name)
        ext = ext if len(ext.encode("utf-8")) <= 16 else ""
        stem = stem.encode("utf-8")[:_MAX_NAME_BYTES - len(ext.encode("utf-8"))].decode("utf-8", "ignore")
        name = stem + ext
    return name


def _clash_free_name(case: "Case", name: str, reserved: set[str]) -> str:
    """Original name, or 'stem (2).ext', 'stem (3).ext'... Compared case-insensitively because
    macOS and Windows file systems are, and a case folder may be copied there."""
    stem, ext = os.path.splitext(name)
    taken = case._names_casefolded
    n = 1
    cand = name
    while cand.casefold() in taken or cand.casefold() in reserved or os.path.lexists(case.evidence_dir / cand):
        n += 1
        cand = f"{stem} ({n}){ext}"
    return cand


def _utc_from_ns(ns: int) -> str:
    sec, rest = divmod(ns, 1_000_000_000)  # integer maths: float seconds would round the microseconds
    return datetime.fromtimestamp(sec, timezone.utc).replace(microsecond=rest // 1000).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _write_copy(dest: Path, data: bytes, st: os.stat_result) -> None:
    """Write the evidence copy: temp file, fsync, original mtime, no write bits, rename, fsync dir."""
    tmp = dest.with_name(f"{TMP_PREFIX}{os.getpid()}-{dest.name}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.chmod(tmp, READ_ONLY_MODE)
        if os.path.lexists(dest):  # chosen free under the case lock; never overwrite evidence
            raise FileExistsError(f"{dest} appeared during ingest")
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.chmod(tmp, 0o600)
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(dest.parent)


def _adoptable(case: "Case", name: str, sha: str) -> bool:
    """A copy left by an interrupted ingest (on disk, not yet in the index) with the same bytes."""
    return _copy_problem(case, name, sha) is None


def _copy_problem(case: "Case", name: str, sha: str) -> str | None:
    """Why evidence/<name> cannot be taken as the copy with this SHA-256, or None when it can."""
    dest = case.evidence_dir / name
    # a link is never adopted: a planted evidence/x.jpg -> the original once became the "copy"
    if dest.is_symlink():
        return f"evidence/{name} is a link"
    if not dest.is_file():
        return f"evidence/{name} is missing or not a regular file"
    if name.casefold() in case._names_casefolded:
        return f"another indexed item is named {name}"
    try:
        if os.lstat(dest).st_nlink > 1:  # a hard link shares its bytes with a file outside the case
            return (f"evidence/{name} has another hard link, so a file outside the case shares its bytes "
                    "(copy it to a new file, replace it with the copy, then resume)")
        if hash_file(dest)[0] != sha:
            return f"evidence/{name} is not the logged SHA-256 {sha} (changed since it was copied)"
    except OSError as exc:
        return f"evidence/{name} cannot be read ({exc.strerror or exc})"
    return None


def ingest(case: "Case", paths: list, progress: "Progress | None", cancel: "Cancel | None",
           trust_anchors=None) -> IngestReport:
    report = IngestReport()
    anchors, trust_note = anchors_for(trust_anchors)  # C2PA trust anchors: given, else the settings file's
    files, issues = collect(paths, case.path)
    for iss in issues:
        (report.errors if iss.kind == "error" else report.skipped).append(iss)
    total = len(files)
    pending: list[EvidenceItem] = []
    reserved: set[str] = set()
    batch_sha: dict[str, str] = {}
    # Ids the log already gave out that the index lacks (an ingest killed between its log entries and
    # the index): the same bytes get their id back; other files never reuse it (verify would rightly
    # call that evidence swapped under an existing id).
    orphans = _logged_not_indexed(case)
    next_number = _free_number(case._next_number, orphans)
    last_flush = time.monotonic()
    processed = 0
    interrupted = False

    def flush() -> None:
        nonlocal pending, last_flush
        if pending:
            case._commit_items(pending, next_number)
            report.added.extend(pending)
            pending = []
            reserved.clear()
        last_flush = time.monotonic()

    try:
        for done, (path, explicit) in enumerate(files):
            if cancel is not None and cancel():
                report.cancelled = True
                break
            if progress is not None:
                progress(done, total, f"{path.name}")
            processed += 1
            try:
                item_or_issue = _ingest_one(case, path, explicit, next_number, reserved, batch_sha, orphans,
                                            (anchors, trust_note))
            except Exception as exc:  # a hostile file must not stop the batch, whatever it triggers
                item_or_issue = IngestIssue(shown(path), "error", f"unexpected error ({type(exc).__name__}: "
                                                                  f"{str(exc)[:160]})", explicit=explicit)
            if isinstance(item_or_issue, IngestIssue):
                {"skipped": report.skipped, "duplicate": report.duplicates}.get(item_or_issue.kind, report.errors).append(item_or_issue)
            else:
                pending.append(item_or_issue)
                reserved.add(item_or_issue.file_name.casefold())
                batch_sha[item_or_issue.sha256] = item_or_issue.id
                if item_or_issue.id == f"E{next_number:04d}":
                    next_number = _free_number(next_number + 1, orphans)
            if len(pending) >= _FLUSH_EVERY_N or time.monotonic() - last_flush > _FLUSH_EVERY_S:
                flush()
    except BaseException:
        interrupted = True  # Ctrl+C or a failed index write: the log must not call this ingest complete
        raise
    finally:
        flush()  # also on an exception or KeyboardInterrupt: what was copied is recorded
        if progress is not None:
            progress(processed, total, "cancelled" if report.cancelled else "done")
        summary = {
            "inputs": [shown(p) for p in paths][:200],
            "added": [it.id for it in report.added],
            "duplicates": [{"path": i.path, "existing_id": i.existing_id} for i in report.duplicates][:200],
            "skipped": [{"path": i.path, "reason": i.reason} for i in report.skipped][:200],
            "errors": [{"path": i.path, "reason": i.reason} for i in report.errors][:200],
            "cancelled": report.cancelled,
            **({"interrupted": True, "not_reached": [shown(p) for p, _e in files[processed:]][:200]}
               if interrupted else {}),
            "software": software_versions(),
            "c2pa_trust_anchors": anchors.describe() if anchors else None,
        }
        case._audit.append("ingest", summary, case.session_examiner)
        case._save_info()
    return report


def resume_from_copies(case: "Case", trust_anchors=None) -> IngestReport:
    """Index the copies an interrupted ingest made and logged but never indexed, from the copies
    themselves: the original may be gone by now, and the copy is the evidence. A copy is taken only
    when it is a plain file in the case's evidence folder whose SHA-256 is the one its id was first
    logged with; its record keeps the original's logged path and time, and is logged again (verify reads
    the latest entry of an id), so the log says both that it was added and that it was re-indexed."""
    report = IngestReport()
    trust = anchors_for(trust_anchors)
    items: list[EvidenceItem] = []
    taken: set[str] = set()  # SHA-256 and file names this run indexed: never two ids for one copy
    for eid, (first, entries) in _unindexed_entries(case).items():
        item, why = None, "its audit entry names no file in evidence/ with a SHA-256"
        for entry in reversed(entries):  # newest first: a re-run's copy when the first one was lost
            name, sha = entry["details"]["file_name"], entry["details"]["sha256"]
            if case.find_by_sha256(sha) is not None or sha in taken:
                why = f"its SHA-256 {sha} is already another item's in this case"
                break
            why = (f"another item resumed now is named {name}" if name.casefold() in taken
                   else _copy_problem(case, name, sha))
            if why is None:
                item = _item_from_copy(case, eid, entry, trust)
                why = "its copy is not an image that can be read" if item is None else None
            if item is not None:
                taken.update((sha, name.casefold()))
                items.append(item)
                break
        if item is None:
            d = first.get("details") or {}
            name = d.get("file_name") if isinstance(d.get("file_name"), str) else "?"
            report.errors.append(IngestIssue(
                f"{eid} evidence/{name}", "error",
                f"logged as added (audit entry {first.get('seq')}) but not re-indexed from the case: {why}; "
                f"add the original again if you have it"))
    if items:
        # the resumed ids were given out already: new evidence must never get one of them again
        top = max(int(it.id[1:]) for it in items if it.id[1:].isdigit())
        case._commit_items(items, max(case._next_number, top + 1))
        report.added.extend(items)
    if items or report.errors:
        case._audit.append("ingest", {
            "resumed_from_case_copies": [it.id for it in items],
            "errors": [{"path": i.path, "reason": i.reason} for i in report.errors][:200],
            "software": software_versions(),
            "c2pa_trust_anchors": trust[0].describe() if trust[0] else None,
        }, case.session_examiner)
        case._save_info()
    return report


def _unindexed_entries(case: "Case") -> dict[str, tuple[dict, list[dict]]]:
    """{evidence id: (its first 'evidence_added' entry, the entries that name a copy with that entry's
    SHA-256, oldest first)} for the ids the index lacks. The log's words are checked as an index's are:
    one file name inside evidence/, a SHA-256 (a hostile log must not point outside evidence/)."""
    out: dict[str, tuple[dict, list[dict]]] = {}
    for e in case._audit.entries():
        d = e.get("details") if isinstance(e.get("details"), dict) else {}
        eid = d.get("evidence_id")
        if e.get("action") != "evidence_added" or not valid_evidence_id(eid) or eid in case._by_id:
            continue
        first, entries = out.setdefault(eid, (e, []))
        sha = d.get("sha256")
        if (valid_evidence_name(d.get("file_name")) and isinstance(sha, str) and _SHA256.fullmatch(sha)
                and sha == (first.get("details") or {}).get("sha256")):
            entries.append(e)
    return out


def _item_from_copy(case: "Case", eid: str, entry: dict, trust) -> EvidenceItem | None:
    d = entry["details"]
    dest = case.evidence_dir / d["file_name"]
    try:
        with open(dest, "rb") as fh:
            data = fh.read()
        img = probe_image(data)
    except (OSError, NotAnImage):
        return None
    if hashlib.sha256(data).hexdigest() != d["sha256"]:  # changed since _copy_problem hashed it
        return None
    md = _metadata(data, img, trust)
    md.setdefault("notes", []).append(
        f"indexed on {utc_now()} from the case's own copy: the ingest that copied it (audit entry "
        f"{entry.get('seq')}) was interrupted before writing the index")
    original = d.get("original_path") if isinstance(d.get("original_path"), str) else ""
    return _new_item(eid, dest, data, d["sha256"], md,
                     original_name=original.replace("\\", "/").rsplit("/", 1)[-1] or d["file_name"],
                     original_path=original,
                     original_mtime_utc=d.get("original_mtime_utc") if isinstance(d.get("original_mtime_utc"), str) else "",
                     ingested_utc=str(entry.get("time_utc") or utc_now()))  # when the copy was made and logged


def _logged_not_indexed(case: "Case") -> dict[str, str]:
    """{sha256: evidence id} of the ids the log added and the index lacks (each id's first SHA-256)."""
    out: dict[str, str] = {}
    for eid, (first, _entries) in _unindexed_entries(case).items():
        out.setdefault(str((first.get("details") or {}).get("sha256")), eid)
    return out


def _free_number(n: int, orphans: dict[str, str]) -> int:
    taken = set(orphans.values())
    while f"E{n:04d}" in taken:
        n += 1
    return n


def _ingest_one(case: "Case", path: Path, explicit: bool, number: int, reserved: set[str],
                batch_sha: dict[str, str], orphans: dict[str, str] | None = None,
                trust=(None, None)) -> EvidenceItem | IngestIssue:
    spath = shown(path)
    try:
        st = os.stat(path)
        if st.st_size > MAX_FILE_BYTES:
            return IngestIssue(spath, "skipped", f"file is {st.st_size / 1e9:.1f} GB, above the "
                                                  f"{MAX_FILE_BYTES / 1e9:.0f} GB limit", explicit=explicit)
        if st.st_size == 0:
            return IngestIssue(spath, "skipped", "empty file (0 bytes)", explicit=explicit)
        with open(path, "rb") as fh:  # originals are only ever opened like this: binary, read-only
            try:
                # Header first, so a folder of videos or archives is not read in full just to skip it.
                probe_image(fh)  # (no close(): Pillow would close our file with it)
            except NotAnImage as exc:
                return IngestIssue(spath, "skipped", str(exc), explicit=explicit)
            fh.seek(0)
            data = fh.read()
    except OSError as exc:
        return IngestIssue(spath, "error", f"cannot read file ({exc.strerror or exc})", explicit=explicit)
    sha = hashlib.sha256(data).hexdigest()
    dup = case.find_by_sha256(sha)
    if dup is not None:
        return IngestIssue(spath, "duplicate", f"duplicate of {dup.id} ({dup.file_name}), same SHA-256 {sha}; not added",
                           existing_id=dup.id, explicit=explicit)
    if sha in batch_sha:
        return IngestIssue(spath, "duplicate", f"duplicate of {batch_sha[sha]} added in this run, same SHA-256 {sha}; not added",
                           existing_id=batch_sha[sha], explicit=explicit)
    try:
        img = probe_image(data)
    except NotAnImage as exc:
        return IngestIssue(spath, "skipped", str(exc), explicit=explicit)
    md = _metadata(data, img, trust)
    name = _safe_file_name(path.name)
    # Resume: an interrupted run may have left this exact copy under its own name.
    adopt = name.casefold() not in reserved and _adoptable(case, name, sha)
    final = name if adopt else _clash_free_name(case, name, reserved)
    dest = case.evidence_dir / final
    if not adopt:
        try:
            _write_copy(dest, data, st)
        except OSError as exc:
            return IngestIssue(spath, "error", f"cannot copy into the case ({exc.strerror or exc})", explicit=explicit)
    try:
        original = shown(path.resolve())
    except OSError:
        original = shown(os.path.abspath(path))
    return _new_item((orphans or {}).get(sha) or f"E{number:04d}", dest, data, sha, md,
                     original_name=shown(path.name), original_path=original,
                     original_mtime_utc=_utc_from_ns(st.st_mtime_ns), ingested_utc=utc_now())


def _metadata(data: bytes, img, trust) -> dict:
    """What an evidence record says of its bytes: extract_metadata's findings and the Content Credentials
    (C2PA) record, read offline from the same bytes (a bad manifest is a note, not a failure)."""
    try:
        md = extract_metadata(data, img)
    except Exception as exc:  # metadata is a bonus: a hostile header must not lose the evidence
        md = {"notes": [f"metadata extraction failed ({type(exc).__name__}: {str(exc)[:120]})"]}
        md.update({"format": img.format, "width": img.size[0], "height": img.size[1],
                   "display_width": img.size[0], "display_height": img.size[1]})
    md["provenance"] = provenance_of(data, img.format, *trust)
    return md


def _new_item(eid: str, dest: Path, data: bytes, sha: str, md: dict, **origin: str) -> EvidenceItem:
    """The record of the copy at `dest` holding `data` (origin: original_name, original_path,
    original_mtime_utc, ingested_utc)."""
    return EvidenceItem(
        id=eid, file_name=dest.name, path=dest, sha256=sha, md5=hashlib.md5(data).hexdigest(), size=len(data),
        width=int(md.get("display_width") or md.get("width") or 0),
        height=int(md.get("display_height") or md.get("height") or 0),
        format=md.get("format"), metadata=md, **origin)
