"""The Case class: one `<name>.declip/` folder, opened by one writer at a time.

Layout:
    case.json        case details + schema_version + audit head (validated on open)
    evidence/        read-only copies of the evidence (no write bits, original mtime)
    evidence.json    index of evidence items (hashes, metadata, provenance)
    findings.json    analyst findings per evidence item
    analyses/<id>/   <model>__<mode>.json (result record) + the 16-bit map PNG it names
    reports/         exported reports
    thumbs/          cached thumbnails (derived; safe to delete)
    audit.jsonl      append-only hash-chained audit log
    case.lock        present while a process has the case open for writing

Every JSON file is replaced atomically (audit.jsonl is appended and fsynced), so a kill at
any moment leaves a readable case. Opening reads only the small index files: no hashing,
no image decoding, so large cases open quickly.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from engine.versions import software_versions

from . import schema
from .atomic import TMP_PREFIX, write_bytes_atomic, write_json_atomic
from .audit import AuditLog, AuditWriteError
from .errors import CaseError, CaseSchemaError
from .folder_upkeep import evidence_bytes as _evidence_bytes
from .folder_upkeep import (CASE_JSON, CASE_SUFFIX, EVIDENCE_JSON, FINDINGS_JSON, SUBDIRS, make_case_folder,
                            new_case_info, remove_leftovers)
from .finding_rules import checked_finding_change, revised_finding
from .lock import CaseLock
from .records import (DEFAULT_STATUS, EvidenceItem, Finding, IngestReport, StoredAnalysis,
                      VerifyReport)
from .util import check_length, inside, record_digest, utc_now


Progress = Callable[[int, int, str], None]
Cancel = Callable[[], bool]


def case_dir_for(path: str | os.PathLike) -> Path:
    """The folder a user means: DIR itself if it is a case, else DIR.declip if that exists."""
    p = Path(path)
    if (p / CASE_JSON).exists() or p.suffix == CASE_SUFFIX:
        return p
    alt = p.with_name(p.name + CASE_SUFFIX)
    return alt if (alt / CASE_JSON).exists() else p


class Case:
    """An open case. Use Case.create() or Case.open(); close() (or a with-block) releases the lock.

    Thread-safe for one process: writes are serialised by an internal lock, so a GUI worker
    thread may store analyses while the UI thread records findings.
    """

    # -- opening and creating -------------------------------------------------------------------
    def __init__(self, path: Path, info: dict, *, readonly: bool, examiner: str | None, lock: CaseLock | None):
        self.path = path
        self._info = info
        self.readonly = readonly
        if examiner:
            check_length("examiner", str(examiner).strip())
        self.session_examiner = str(examiner).strip() if examiner else info["examiner"]
        self._lock = lock
        self._mutex = threading.RLock()
        self._audit = AuditLog(path, readonly=readonly)
        self._items: list[EvidenceItem] = []
        self._by_id: dict[str, EvidenceItem] = {}
        self._by_sha: dict[str, EvidenceItem] = {}
        self._names_casefolded: set[str] = set()
        self._next_number = 1
        self._findings: dict[str, Finding] = {}
        self._analyses: dict[str, list[StoredAnalysis]] | None = None  # scanned lazily
        self._closed = False

    @classmethod
    def create(cls, path: str | os.PathLike, *, title: str, number: str, examiner: str, organisation: str = "",
               description: str = "") -> "Case":
        """Create `<path>.declip/` (suffix added when missing) and return it open for writing."""
        info = new_case_info(title, number, examiner, organisation, description)  # checked before any folder
        p = make_case_folder(Path(path))
        examiner = info["examiner"]
        lock = CaseLock(p)
        lock.acquire()
        case = cls(p, info, readonly=False, examiner=examiner, lock=lock)
        try:
            write_bytes_atomic(p / EVIDENCE_JSON, _evidence_bytes(case._evidence_doc()))
            write_json_atomic(p / FINDINGS_JSON, case._findings_doc())
            case._audit.append("case_created", {k: info[k] for k in ("uuid", "title", "number", "examiner",
                                                                       "organisation", "description")}
                               | {"software": software_versions()}, examiner)
            # case.json last: until it exists the folder is not a case, so a crash here leaves nothing half-made.
            case._save_info()
        except BaseException:
            lock.release()
            raise
        return case

    @classmethod
    def open(cls, path: str | os.PathLike, *, examiner: str | None = None, readonly: bool = False) -> "Case":
        """Open an existing case. examiner: who works in this session (default: the case examiner);
        readonly: take no lock and refuse every write (for viewing, status, reports of a case open elsewhere).

        Raises CaseSchemaError for an invalid case.json/index (nothing is written), CaseLockedError
        when another live process has it open.
        """
        p = case_dir_for(path)
        if not p.is_dir():
            raise CaseError(f"{p}: no such case folder")
        if not (p / CASE_JSON).exists():
            kept = [n for n in (EVIDENCE_JSON, "audit.jsonl", FINDINGS_JSON) if (p / n).is_file()]
            if kept:  # a case that lost its case.json (deleted, a disk error): say so, never "make a new one"
                raise CaseSchemaError(f"{p}: not a DeCLIP case (no {CASE_JSON}), although it holds a case's "
                                      f"{', '.join(kept)}: {CASE_JSON} was deleted or lost; restore it from a "
                                      "backup (nothing in the folder was changed)")
            raise CaseError(f"{p}: not a DeCLIP case (no {CASE_JSON})")
        # Validate before locking so a broken case is left exactly as it was.
        info = schema.validate_case_json(p / CASE_JSON, schema.read_json(p / CASE_JSON, "case.json"))
        for sub in SUBDIRS:  # a planted link would send reads and writes outside the case
            if (p / sub).is_symlink() or ((p / sub).exists() and not (p / sub).is_dir()):
                raise CaseSchemaError(f"{p / sub}: is a link or not a folder; a case keeps its {sub}/ inside itself")
        lock = None
        if not readonly:
            lock = CaseLock(p)
            lock.acquire()
        case = cls(p, info, readonly=readonly, examiner=examiner, lock=lock)
        try:
            # Re-read under the lock: a writer may have finished between validation and locking.
            if lock is not None:
                case._info = schema.validate_case_json(p / CASE_JSON, schema.read_json(p / CASE_JSON, "case.json"))
            case._load_indexes()
            if lock is not None:
                case._keep_lost_head()
                case._clean_stale_temps()
                if lock.stale_taken_over:
                    o = lock.stale_taken_over
                    case.log("stale_lock_removed", {"pid": o.get("pid"), "host": o.get("host"), "user": o.get("user"),
                                                    "since_utc": o.get("since_utc")})
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return case

    @staticmethod
    def is_case(path: str | os.PathLike) -> bool:
        return (case_dir_for(path) / CASE_JSON).is_file()

    def close(self) -> None:
        """Release the lock. Safe to call twice. The object must not be used afterwards."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> "Case":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):  # a forgotten close() must not leave a live-looking lock behind
        try:
            self.close()
        except Exception:
            pass

    # -- case details ---------------------------------------------------------------------------
    @property
    def uuid(self) -> str:
        return self._info["uuid"]

    @property
    def title(self) -> str:
        return self._info["title"]

    @property
    def number(self) -> str:
        return self._info["number"]

    @property
    def examiner(self) -> str:
        """The case's examiner (case.json). The person working now is `session_examiner`."""
        return self._info["examiner"]

    @property
    def organisation(self) -> str:
        return self._info["organisation"]

    @property
    def description(self) -> str:
        return self._info["description"]

    @property
    def created_utc(self) -> str:
        return self._info["created_utc"]

    @property
    def modified_utc(self) -> str:
        return self._info["modified_utc"]

    @property
    def schema_version(self) -> int:
        return self._info["schema_version"]

    @property
    def info(self) -> dict[str, Any]:
        """A copy of case.json's fields."""
        return dict(self._info)

    def update_info(self, **fields: str) -> None:
        """Change title, number, examiner, organisation or description (logged with old and new values)."""
        allowed = {"title", "number", "examiner", "organisation", "description"}
        bad = set(fields) - allowed
        if bad:
            raise CaseError(f"cannot change case field(s) {', '.join(sorted(bad))}; allowed: {', '.join(sorted(allowed))}")
        with self._mutex:
            self._check_writable()
            changes = {k: {"old": self._info[k], "new": str(v)} for k, v in fields.items() if self._info[k] != str(v)}
            if not changes:
                return
            for k in ("title", "examiner"):
                if k in changes and not changes[k]["new"].strip():
                    raise CaseError(f"the case {k} cannot be empty")
            for k, ch in changes.items():
                check_length(k, ch["new"])
            old_info = dict(self._info)
            # The log first: an edit killed before case.json is written is redone by running it again
            # (case.json still holds the old values, so the change is logged and saved once more).
            self._audit.append("case_info_changed", changes, self.session_examiner)
            for k, ch in changes.items():
                self._info[k] = ch["new"]
            try:
                self._save_info()
            except OSError:
                # case.json refused (a full disk): the log says the change was undone, so it never vouches
                # for details case.json does not hold (verify called that tampering)
                self._info = old_info
                try:
                    self._audit.append("case_info_change_undone", {
                        k: {"old": ch["new"], "new": ch["old"]} for k, ch in changes.items()} | {
                        "reason": "case.json could not be written"}, self.session_examiner)
                except CaseError:
                    pass  # the log keeps the change; running the edit again completes it
                raise

    @property
    def evidence_dir(self) -> Path:
        return self.path / "evidence"

    @property
    def analyses_dir(self) -> Path:
        return self.path / "analyses"

    @property
    def reports_dir(self) -> Path:
        return self.path / "reports"

    @property
    def thumbs_dir(self) -> Path:
        return self.path / "thumbs"

    # -- evidence -------------------------------------------------------------------------------
    @property
    def evidence(self) -> list[EvidenceItem]:
        """Evidence items in ingest order (a copy of the list; items themselves are shared)."""
        return list(self._items)

    def item(self, evidence_id: str) -> EvidenceItem:
        """The item with this id; CaseError if unknown."""
        try:
            return self._by_id[evidence_id]
        except KeyError:
            raise CaseError(f"{self.path}: no evidence item '{evidence_id}'") from None

    def resolve(self, ref: str) -> EvidenceItem:
        """Find an item by id (E0003), evidence file name, original name or a unique sha256 prefix (>= 8 chars)."""
        ref = str(ref).strip()
        if ref in self._by_id:
            return self._by_id[ref]
        if ref.upper() in self._by_id:
            return self._by_id[ref.upper()]
        # A name may be one item's case file name and another's original name (IMG.jpg and the
        # "IMG (2).jpg" it was renamed to): that is ambiguous too, never silently the first.
        hits = [it for it in self._items if ref in (it.file_name, it.original_name)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise CaseError(f"'{ref}' matches {len(hits)} evidence items ({', '.join(h.id for h in hits)}); use the id")
        if len(ref) >= 8 and re.fullmatch(r"[0-9a-fA-F]+", ref):
            hits = [it for it in self._items if it.sha256.startswith(ref.lower())]
            if len(hits) == 1:
                return hits[0]
        raise CaseError(f"{self.path}: no evidence item matches '{ref}' (use an id such as E0001, a file name or a sha256)")

    def find_by_sha256(self, sha256: str) -> EvidenceItem | None:
        return self._by_sha.get(sha256.lower())

    def add_paths(self, paths: Iterable[str | os.PathLike], progress: Progress | None = None,
                  cancel: Cancel | None = None, trust_anchors=None) -> IngestReport:
        """Ingest files and folders (recursively). Never raises for a single bad file: each one
        not added appears in the report (skipped non-image / duplicate / error) with its reason.

        progress(done, total, message) is called per file; when cancel() returns True the ingest
        stops after the current file, keeps everything already added, and returns with
        report.cancelled = True. Re-running the same add after an interruption resumes it.
        trust_anchors: C2PA trust anchors (TrustAnchors or a PEM file/folder path); None = the settings file's.
        """
        from .ingest import ingest

        with self._mutex:
            self._check_writable()
            return ingest(self, list(paths), progress, cancel, trust_anchors)

    def resume_ingest(self, trust_anchors=None) -> IngestReport:
        """Index, from the case's own copies, the items an interrupted ingest logged but never indexed
        (the originals need not be at hand): report.added lists them, report.errors those whose copy is
        missing or differs from the logged SHA-256."""
        from .ingest import resume_from_copies

        with self._mutex:
            self._check_writable()
            return resume_from_copies(self, trust_anchors)

    def thumbnail(self, evidence_id: str, size: int = 256) -> Path:
        """Path of a cached JPEG thumbnail (longest side <= size, EXIF orientation applied),
        made on first request. Raises CaseError if the evidence copy cannot be decoded."""
        from .thumbs import thumbnail

        return thumbnail(self, self.item(evidence_id), int(size))

    # -- analyses -------------------------------------------------------------------------------
    def analyses(self, evidence_id: str | None = None) -> list[StoredAnalysis]:
        """Stored analyses, of one item or of all, oldest first."""
        from .analyses import scan_analyses

        with self._mutex:
            if self._analyses is None:
                self._analyses = scan_analyses(self)
            if evidence_id is not None:
                self.item(evidence_id)
                return list(self._analyses.get(evidence_id, []))
            return [a for lst in self._analyses.values() for a in lst]

    def analysis_for(self, evidence_id: str, model_id: str | None = None, mode: str | None = None) -> StoredAnalysis | None:
        """The most recently stored analysis of the item matching model_id/mode (None = any), or None."""
        hits = [a for a in self.analyses(evidence_id)
                if (model_id is None or a.model_id == model_id) and (mode is None or a.mode == mode)]
        return max(hits, key=lambda a: a.stored_utc or "") if hits else None

    def store_analysis(self, evidence_id: str, result: Any, *, model_id: str | None = None,
                       mode: str | None = None) -> StoredAnalysis:
        """Store an engine AnalysisResult for the item (replacing one for the same model and mode).

        model_id/mode default to result.metadata['model_id'/'mode']. The map is written as a
        16-bit PNG, then the JSON record (which makes it visible); both atomically. Logged.
        """
        from .analyses import store

        with self._mutex:
            self._check_writable()
            sa = store(self, self.item(evidence_id), result, model_id, mode)
            if self._analyses is not None:
                lst = [a for a in self._analyses.get(evidence_id, []) if (a.model_id, a.mode) != (sa.model_id, sa.mode)]
                self._analyses[evidence_id] = lst + [sa]
            self._audit.append("analysis_stored", {
                "evidence_id": evidence_id, "evidence_sha256": sa.record["evidence_sha256"],
                "model_id": sa.model_id, "mode": sa.mode, "score": sa.score,
                "weights": sa.metadata.get("weights"), "map_sha256": sa.record["map_sha256"],
                "map_pixels_sha256": sa.record.get("map_pixels_sha256"),
                "record_sha256": record_digest(sa.record),
                # an evidence layer replaced by one with other parameters: the log says which
                **({"requested_parameters": sa.metadata["requested_parameters"]}
                   if sa.metadata.get("requested_parameters") else {})}, self.session_examiner)
            self._save_info()
            return sa

    # -- findings -------------------------------------------------------------------------------
    def finding(self, evidence_id: str) -> Finding:
        """The item's finding; status 'not reviewed' with no timestamps if none was recorded."""
        self.item(evidence_id)
        f = self._findings.get(evidence_id)
        return Finding.from_dict(f.to_dict()) if f else Finding(evidence_id=evidence_id)

    def findings(self) -> dict[str, Finding]:
        return {it.id: self.finding(it.id) for it in self._items}

    def set_finding(self, evidence_id: str, status: str, note: str | None = None, threshold: float | None = None,
                    opacity: float | None = None, *, model_id: str | None = None, mode: str | None = None,
                    layers: list[str] | None = None) -> Finding:
        """Record a finding. status must be one of FINDING_STATUSES. None for note/threshold/opacity/
        model_id/mode/layers keeps the previous value. threshold and opacity must be within [0, 1].
        layers: the evidence layers pinned to the finding (names from engine.evidence). Logged."""
        change = checked_finding_change(status, note, threshold, opacity, model_id, mode, layers)
        with self._mutex:
            self._check_writable()
            self.item(evidence_id)
            old = self._findings.get(evidence_id)
            f = revised_finding(old, evidence_id, change, self.session_examiner, utc_now())
            new_all = dict(self._findings)
            new_all[evidence_id] = f
            write_json_atomic(self.path / FINDINGS_JSON, self._findings_doc(new_all))
            try:
                self._audit.append("finding_set", f.to_dict() | {"previous_status": old.status if old else DEFAULT_STATUS},
                                   self.session_examiner)
            except AuditWriteError:
                # not logged (a full disk): the old findings go back, so findings.json never holds an unlogged finding
                try:
                    write_json_atomic(self.path / FINDINGS_JSON, self._findings_doc())
                except OSError:
                    pass  # the first error is the one to show
                raise
            self._findings = new_all  # only after the file is safely replaced and logged
            self._save_info()
            return Finding.from_dict(f.to_dict())

    # -- reports --------------------------------------------------------------------------------
    def record_report(self, path: str | os.PathLike, details: dict[str, Any] | None = None) -> dict:
        """Log an exported report (its sha256 and size) in the audit log. Returns the audit entry."""
        from .util import hash_file

        p = Path(path).resolve()  # absolute: the log is read later, from another working folder
        sha, _md5, size = hash_file(p)
        return self.log("report_exported", {"file": str(p), "sha256": sha, "size": size} | (details or {}))

    # -- integrity and audit --------------------------------------------------------------------
    def verify(self, progress: Progress | None = None, against: dict | None = None) -> VerifyReport:
        """Re-hash every evidence copy and analysis map, walk the audit chain and cross-check the
        indexes against the log, both ways. against: an audit head a report printed (see
        case.anchor), which the log must still hold. The verification itself is logged (unless
        opened read-only)."""
        from .verify import verify_evidence, verify_records

        if self.readonly and self._writer_active():
            report = self._verify_while_written(progress, against)
            report.logged = False
            report.notes.append("opened read-only: this verification is not recorded in the case")
            return report
        evidence_part = verify_evidence(self, progress)  # outside the lock: other threads may keep writing
        with self._mutex:
            report = verify_records(self, evidence_part, against)
            report.logged = False
            if self.readonly:
                report.notes.append("opened read-only: this verification is not recorded in the case")
                return report
            try:
                self._audit.append("verify", {
                    "ok": report.ok, "checked_files": report.checked_files, "audit_entries": report.audit_entries,
                    "problems": [p.message for p in report.problems][:100], "warnings": report.warnings[:100],
                    "software": software_versions()},
                    self.session_examiner)
                report.logged = True
                self._save_info()
            except (AuditWriteError, OSError) as exc:
                # A full disk must not turn a finished check into a crash: the result stands, unrecorded.
                what = str(exc) if isinstance(exc, AuditWriteError) else f"case.json: {exc.strerror or exc}"
                report.notes.append(f"this verification could not be fully recorded in the case: {what}")
            return report

    def _writer_active(self) -> bool:
        """Whether another live process holds this case's lock (it may write while we read)."""
        lock = CaseLock(self.path)
        owner = lock._read_owner()
        return owner is not None and not owner.get("not_a_file") and not lock._is_stale(owner)

    def _verify_while_written(self, progress: Progress | None, against: dict | None,
                              tries: int = 6, settle_s: float = 0.25) -> VerifyReport:
        """A read-only check of a case another process is writing. Its files change under us: a record
        is stored a moment before its audit entry, findings.json before its entry, and the indexes this
        object read at open grow. Checked alone, that work in progress read as tampering ("record
        differs from audit entry"), exit 1. So each pass re-reads the case files, and a problem counts
        only when a second pass a moment later, with the log unchanged in between, finds it again."""
        import time

        from .verify import verify_evidence, verify_records

        evidence_part, hashed = None, None
        previous = None
        report = None
        for _ in range(tries):
            with self._mutex:
                mark = self._log_mark()
                self._reload_for_reading()
                items = [(it.id, it.sha256, it.file_name) for it in self._items]
            if items != hashed:  # evidence never changes; only new items need hashing
                evidence_part, hashed = verify_evidence(self, progress), items
            with self._mutex:
                report = verify_records(self, evidence_part, against)
                settled = self._log_mark() == mark
            if report.ok:
                return report
            found = [p.message for p in report.problems]
            if settled and found == previous:
                report.notes.append("another process was writing the case during this check; the problems "
                                    "were found twice, with the audit log unchanged in between")
                return report
            previous = found if settled else None
            time.sleep(settle_s)
        report.notes.append("another process kept writing the case during this check; problems may be its work "
                            "in progress: check again when it has finished")
        return report

    def _log_mark(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._audit.path)
            return st.st_size, st.st_mtime_ns
        except OSError:
            return None

    def _reload_for_reading(self) -> None:
        """Read case.json, the indexes and the log's head again (read-only objects only)."""
        self._info = schema.validate_case_json(self.path / CASE_JSON, schema.read_json(self.path / CASE_JSON, "case.json"))
        self._load_indexes()
        self._analyses = None
        self._audit = AuditLog(self.path, readonly=True)

    def audit_head(self) -> dict[str, Any]:
        """{"entries": n, "last_sha256": h} of the audit log as it is now: what a report prints, so a
        later rewrite of the log up to that point is caught by `declip case verify --against`."""
        with self._mutex:
            n, last = self._audit.head()
            return {"entries": n, "last_sha256": last}

    def evidence_path(self, evidence_id: str) -> Path:
        """The evidence copy of an item, refused when it is a link or leads outside the case."""
        it = self.item(evidence_id)
        if it.path.is_symlink() or not inside(self.evidence_dir, it.path):
            raise CaseError(f"{it.id} evidence/{it.file_name}: is a link or lies outside the case; not used")
        return it.path

    def audit_entries(self) -> list[dict]:
        """All audit entries, oldest first (dicts: seq, time_utc, examiner, os_user, host, action,
        details, prev_sha256, sha256). A damaged line is returned as {"seq": n, "invalid": reason}."""
        return self._audit.entries()

    def log(self, action: str, details: dict[str, Any] | None = None) -> dict:
        """Append an audit entry (e.g. the GUI's 'viewed', 'exported overlay'). Returns the entry."""
        if not isinstance(action, str) or not action.strip():
            raise CaseError("an audit action needs a name")
        with self._mutex:
            self._check_writable()
            entry = self._audit.append(action.strip(), details or {}, self.session_examiner)
            self._save_info()
            return entry

    # -- internals ------------------------------------------------------------------------------
    def _keep_lost_head(self) -> None:
        """An audit head case.json recorded that the log no longer holds (entries cut from the log, or
        the log rewritten) is kept in case.json ('audit_heads_lost') and logged before any write moves
        the head on. Every writable open used to re-anchor case.json to the cut log at its first entry,
        so the truncation the first verify named was gone from the second."""
        rec = self._info.get("audit_head") or {}
        n, h = rec.get("entries"), rec.get("last_sha256")
        if not n:
            return
        try:
            seq, last = self._audit.head()
            if (seq, last) == (n, h):
                return  # the usual case: nothing but the log's last line was read
            if seq > n and any(e.get("seq") == n and e.get("sha256") == h for e in self._audit.entries()):
                return  # the log ran ahead of case.json (a save that was interrupted): nothing lost
        except CaseError:
            return  # an unreadable log: verify names it
        lost = {"entries": n, "last_sha256": h, "log_entries": seq, "noticed_utc": utc_now()}
        self._info["audit_heads_lost"] = list(self._info.get("audit_heads_lost") or []) + [lost]
        self._audit.append("audit_head_not_in_log", lost, self.session_examiner)
        self._save_info()

    def _clean_stale_temps(self) -> None:
        """Temp files of killed writes: removed, and the removal logged (no silent deletion)."""
        keep = {it.file_name for it in self._items}
        try:
            stray = any(e.name.startswith(TMP_PREFIX) and e.name not in keep for e in os.scandir(self.evidence_dir))
        except OSError:
            stray = False
        if stray:  # a copy named like a temp file that an interrupted ingest logged stays for `add --resume`
            # (cases made before copies of such originals were renamed '_.tmp-...'); the log is read
            # only then, not at every open
            try:
                keep |= {d["file_name"] for e in self._audit.entries()
                         if e.get("action") == "evidence_added" and isinstance(d := e.get("details"), dict)
                         and isinstance(d.get("file_name"), str)}
            except CaseError:
                return  # an unreadable log: nothing in the case is deleted before verify has named it
        removed = remove_leftovers(self.path, keep)
        if removed:
            self._audit.append("stale_temps_removed", {"files": removed[:200], "count": len(removed)},
                               self.session_examiner)
            self._save_info()

    def _check_writable(self) -> None:
        if self._closed:
            raise CaseError(f"{self.path}: case is closed")
        if self.readonly:
            raise CaseError(f"{self.path}: case is open read-only")

    def _save_info(self) -> None:
        """Write case.json with a new modified time and the audit head (entries, last hash)."""
        n, last = self._audit.head()
        info = dict(self._info)
        info["modified_utc"] = utc_now()
        info["audit_head"] = {"entries": n, "last_sha256": last}
        write_json_atomic(self.path / CASE_JSON, info)
        self._info = info

    def _evidence_doc(self, items: list[EvidenceItem] | None = None, next_number: int | None = None) -> dict:
        items = self._items if items is None else items
        return {"schema_version": schema.SCHEMA_VERSION,
                "next_number": self._next_number if next_number is None else next_number,
                "items": [it.to_dict() for it in items]}

    def _findings_doc(self, findings: dict[str, Finding] | None = None) -> dict:
        findings = self._findings if findings is None else findings
        return {"schema_version": schema.SCHEMA_VERSION, "findings": {k: f.to_dict() for k, f in findings.items()}}

    def _load_indexes(self) -> None:
        ev_path = self.path / EVIDENCE_JSON
        ev = schema.validate_evidence_index(ev_path, schema.read_json(ev_path, "evidence index"))
        try:
            items = [EvidenceItem.from_dict(d, self.evidence_dir) for d in ev["items"]]
        except (KeyError, TypeError) as exc:
            raise CaseSchemaError(f"{ev_path}: an evidence item is malformed (field {exc})") from None
        fi_path = self.path / FINDINGS_JSON
        fi = schema.validate_findings(fi_path, schema.read_json(fi_path, "findings file"))
        self._set_items(items, int(ev.get("next_number", len(items) + 1)))
        self._findings = {k: Finding.from_dict(v) for k, v in fi["findings"].items() if isinstance(v, dict)}

    def _set_items(self, items: list[EvidenceItem], next_number: int) -> None:
        self._items = items
        self._by_id = {it.id: it for it in items}
        self._by_sha = {it.sha256: it for it in items}
        self._names_casefolded = {it.file_name.casefold() for it in items}
        self._next_number = max(next_number, len(items) + 1)

    def _commit_items(self, new_items: list[EvidenceItem], next_number: int) -> None:
        """Log one entry per new item, then write the evidence index (ingest calls this).

        Log first: if the index write is interrupted, re-running the ingest adopts the copies under
        the same ids and logs them again, which verify accepts; an index entry without a log entry
        could never be healed.
        """
        items = self._items + new_items
        self._audit.append_many([("evidence_added", {
            "evidence_id": it.id, "file_name": it.file_name, "original_path": it.original_path,
            "sha256": it.sha256, "md5": it.md5, "size": it.size,
            "original_mtime_utc": it.original_mtime_utc, "record_sha256": record_digest(it.to_dict())})
            for it in new_items], self.session_examiner)
        write_bytes_atomic(self.path / EVIDENCE_JSON, _evidence_bytes(self._evidence_doc(items, next_number)))
        self._set_items(items, next_number)
        self._save_info()
