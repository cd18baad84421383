"""Upkeep of a case folder's files: a new case's details and folders, the evidence index format,
clearing a killed create, and removing the temp files killed writes left behind. Used by case_folder.Case."""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Iterable

from . import schema
from .atomic import TMP_PREFIX, remove_stale_temps
from .errors import CaseError
from .lock import CaseLock
from .util import check_length, inside, utc_now

CASE_SUFFIX = ".declip"
CASE_JSON = "case.json"
EVIDENCE_JSON = "evidence.json"
FINDINGS_JSON = "findings.json"
SUBDIRS = ("evidence", "analyses", "reports", "thumbs")


def evidence_bytes(doc: dict) -> bytes:
    """The index with one item per line: readable and diffable, yet fast to write for 1,000s of items
    (indent=2 put every quantisation-table number on its own line and made the file 4x larger)."""
    head = json.dumps({k: v for k, v in doc.items() if k != "items"}, ensure_ascii=False)[:-1]
    items = ",\n".join(json.dumps(it, ensure_ascii=False, separators=(",", ":")) for it in doc["items"])
    return (f'{head}, "items": [\n{items}\n]}}\n' if items else f'{head}, "items": []}}\n').encode("utf-8")


_SKELETON_FILES = (EVIDENCE_JSON, FINDINGS_JSON, "audit.jsonl", "case.lock")


def clear_failed_create(p: Path) -> None:
    """Allow creating into an empty folder, or over the skeleton a killed create left behind
    (no case.json, so it never was a case and holds no evidence); refuse anything else."""
    entries = list(os.scandir(p))
    for e in entries:
        if e.name in SUBDIRS and e.is_dir() and not any(os.scandir(e.path)):
            continue
        if e.name in _SKELETON_FILES or e.name.startswith(TMP_PREFIX):
            continue
        raise CaseError(f"{p}: folder exists and is not empty; choose a new case folder")
    if any(e.name == "case.lock" for e in entries):
        lock = CaseLock(p)
        lock.acquire()  # refuses if a live process is creating it right now
        lock.release()  # (a killed creator's lock is stale: taken over, and release() removes it)
    for e in entries:
        if e.is_file(follow_symlinks=False):
            try:
                os.unlink(e.path)
            except FileNotFoundError:
                pass  # the lock, gone with release() above


def remove_leftovers(case_dir: Path, evidence_names: Iterable[str] = ()) -> list[str]:
    """Delete `.tmp-*` files of killed writes (ingest copies, analyses, reports, index files) in the
    case's own folders, never through a link; returns their paths relative to the case.
    evidence_names: the index's evidence copies, never removed whatever their name (an original called
    ".tmp-photo.jpg" was once ingested under that name and deleted at the next open)."""
    folders = [case_dir] + [case_dir / s for s in ("evidence", "thumbs", "reports")]
    try:
        folders += [Path(e.path) for e in os.scandir(case_dir / "analyses") if e.is_dir(follow_symlinks=False)]
    except OSError:
        pass
    keep = set(evidence_names)
    removed: list[str] = []
    for d in folders:
        if not (d.is_dir() and not d.is_symlink() and inside(case_dir, d)):
            continue
        gone = remove_stale_temps(d, names=True, keep=keep if d == case_dir / "evidence" else ())
        removed += [os.path.relpath(d / name, case_dir) for name in gone]
    return removed


def new_case_info(title, number, examiner, organisation="", description="") -> dict:
    """case.json's details for a new case, checked (title and examiner required, lengths bounded)."""
    title, number, examiner = (str(title or "").strip(), str(number or "").strip(), str(examiner or "").strip())
    if not title:
        raise CaseError("a case needs a title")
    if not examiner:
        raise CaseError("a case needs an examiner name")
    organisation, description = str(organisation or "").strip(), str(description or "")
    for key, value in (("title", title), ("number", number), ("examiner", examiner),
                       ("organisation", organisation), ("description", description)):
        check_length(key, value)
    now = utc_now()
    return {"schema_version": schema.SCHEMA_VERSION, "uuid": str(uuid.uuid4()), "title": title, "number": number,
            "examiner": examiner, "organisation": organisation, "description": description,
            "created_utc": now, "modified_utc": now}


def make_case_folder(p: Path) -> Path:
    """Make `<p>.declip/` (suffix added when missing) and its sub-folders; never over an existing case."""
    if p.suffix != CASE_SUFFIX:
        p = p.with_name(p.name + CASE_SUFFIX)
    if (p / CASE_JSON).exists():
        raise CaseError(f"{p}: a case already exists here")
    if p.exists() and not p.is_dir():
        raise CaseError(f"{p}: exists and is not a folder")
    if p.exists():
        clear_failed_create(p)
    try:
        p.mkdir(parents=True, exist_ok=True)
        for sub in SUBDIRS:
            (p / sub).mkdir(exist_ok=True)
    except OSError as exc:
        raise CaseError(f"{p}: cannot create the case folder ({exc.strerror or exc})") from None
    return p
