"""Crash safety, the lock, schema validation, torn audit writes."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from declip_desktop.case import Case, CaseError, CaseLockedError, CaseSchemaError
from tests.case_support import fail_index_writes, killed_ingest, make_jpeg, new_case


def _files(path):
    return {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- crash safety ------------------------------------------------------------------------------
def test_kill_during_finding_save_leaves_old_state(tmp_path, monkeypatch):
    f = make_jpeg(tmp_path / "src" / "a.jpg")
    case = new_case(tmp_path)
    case.add_paths([f])
    case.set_finding("E0001", "suspicious", note="first")
    before = _files(case.path)

    def killed(*a, **k):
        raise KeyboardInterrupt("killed mid-save")  # as if the process died before the rename

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        case.set_finding("E0001", "manipulation confirmed", note="second")
    monkeypatch.undo()
    assert _files(case.path) == before  # no temp files left, nothing half-written
    assert case.finding("E0001").note == "first"  # in-memory state not advanced either
    path = case.path
    case.close()
    with Case.open(path) as case:
        assert case.finding("E0001").status == "suspicious"
        assert case.verify().ok


def test_kill_during_ingest_index_write_then_resume(tmp_path, monkeypatch):
    src = tmp_path / "src"
    make_jpeg(src / "a.jpg", seed=1)
    make_jpeg(src / "b.jpg", seed=2)
    case = new_case(tmp_path)
    index_before = (case.path / "evidence.json").read_bytes()
    fail_index_writes(monkeypatch)
    with pytest.raises(OSError):
        case.add_paths([src])
    monkeypatch.undo()
    assert (case.path / "evidence.json").read_bytes() == index_before
    path = case.path
    case.close()
    with Case.open(path) as case:
        assert case.evidence == []  # copies on disk are not evidence until indexed
        rep = case.verify()  # the log claims two items the index lacks: reported until resumed
        assert [p.evidence_id for p in rep.problems] == ["E0001", "E0002"] and "interrupted ingest" in rep.problems[0].message
        rep = case.add_paths([src])  # resuming adopts the identical copies under the same ids
        assert [(it.id, it.file_name) for it in rep.added] == [("E0001", "a.jpg"), ("E0002", "b.jpg")]
        assert sorted(os.listdir(case.evidence_dir)) == ["a.jpg", "b.jpg"]
        assert case.verify().ok


def test_interrupted_ingest_is_resumed_from_the_case_copies_when_the_originals_are_gone(tmp_path, monkeypatch):
    """Old code: with the originals gone, the items the log had added stayed 'missing from evidence.json'
    at every verify, for good (only re-adding the original healed it)."""
    src = tmp_path / "src"
    make_jpeg(src / "a.jpg", seed=1)
    make_jpeg(src / "b.jpg", seed=2)
    make_jpeg(tmp_path / "later.jpg", seed=3)
    case = new_case(tmp_path)
    killed_ingest(case, [src], monkeypatch)
    logged = {e["details"]["evidence_id"]: e for e in case._audit.entries() if e["action"] == "evidence_added"}
    path = case.path
    case.close()
    for f in src.iterdir():  # the originals are gone (a card reformatted, a share unmounted)
        f.unlink()
    # one copy was altered on disk since it was logged: it must not be indexed as that evidence
    bad = path / "evidence" / "b.jpg"
    os.chmod(bad, 0o644)
    bad.write_bytes(bad.read_bytes() + b"x")
    with Case.open(path) as case:
        rep = case.resume_ingest()
        assert [it.id for it in rep.added] == ["E0001"] and [i.path for i in rep.errors] == ["E0002 evidence/b.jpg"]
        assert "not the logged SHA-256" in rep.errors[0].reason
        it = case.item("E0001")
        d = logged["E0001"]["details"]
        assert (it.file_name, it.sha256, it.original_path, it.original_mtime_utc) == (
            "a.jpg", d["sha256"], d["original_path"], d["original_mtime_utc"])
        assert it.original_name == "a.jpg" and it.ingested_utc == logged["E0001"]["time_utc"]
        assert it.width > 0 and "interrupted before writing the index" in it.metadata["notes"][-1]
        problems = case.verify().problems
        assert [p.evidence_id for p in problems] == ["E0002"]  # the altered copy stays reported
        # new evidence never takes an id the log gave out, indexed or not
        rep = case.add_paths([tmp_path / "later.jpg"])
        assert [it.id for it in rep.added] == ["E0003"]
        summary = [e for e in case._audit.entries() if e["action"] == "ingest"][-2]["details"]
        assert summary["resumed_from_case_copies"] == ["E0001"] and summary["errors"][0]["path"] == "E0002 evidence/b.jpg"
    with Case.open(path) as case:  # what was indexed stays indexed and verifies
        assert [it.id for it in case.evidence] == ["E0001", "E0003"]
        assert [p.evidence_id for p in case.verify().problems] == ["E0002"]
        assert case.resume_ingest().added == []  # nothing more it can take


def test_resume_takes_no_file_outside_evidence_whatever_the_log_says(tmp_path):
    """A log entry naming a case file (or a link, or a malformed hash) is never indexed as evidence."""
    import hashlib

    case = new_case(tmp_path)
    try:
        target = case.path / "reports" / "p.jpg"  # an image in the case folder, not evidence
        make_jpeg(target, seed=5)
        sha = hashlib.sha256(target.read_bytes()).hexdigest()
        os.symlink(target, case.evidence_dir / "link.jpg")
        for eid, name, digest in (("E0001", "../reports/p.jpg", sha), ("E0002", "link.jpg", sha), ("E0003", "x.jpg", "zz")):
            case._audit.append("evidence_added", {"evidence_id": eid, "file_name": name, "sha256": digest},
                               case.session_examiner)
        rep = case.resume_ingest()
        assert rep.added == [] and [i.path.split()[0] for i in rep.errors] == ["E0001", "E0002", "E0003"]
        assert case.evidence == []
    finally:
        case.close()


def test_resume_takes_a_later_entrys_copy_and_never_indexes_one_copy_twice(tmp_path, monkeypatch):
    """Found in review: only an id's first entry was tried (its copy altered, a re-run's intact copy under
    another name was not taken); two ids naming one copy were both indexed; a non-string name raised."""
    src = tmp_path / "src"
    make_jpeg(src / "a.jpg", seed=1)
    case = new_case(tmp_path)
    try:
        killed_ingest(case, [src], monkeypatch)
        first = case.evidence_dir / "a.jpg"
        os.chmod(first, 0o644)
        first.write_bytes(first.read_bytes() + b"x")  # the first copy altered since
        killed_ingest(case, [src], monkeypatch)  # the re-run copies again, as "a (2).jpg", and dies again
        sha = case._audit.entries()[-1]["details"]["sha256"]
        # a hostile or damaged log: a second id for the same copy, and an id whose name is not a string
        case._audit.append("evidence_added", {"evidence_id": "E0007", "file_name": "a (2).jpg", "sha256": sha},
                           case.session_examiner)
        (case.evidence_dir / "123").write_bytes(b"x")
        case._audit.append("evidence_added", {"evidence_id": "E0008", "file_name": 123, "sha256": sha},
                           case.session_examiner)
        rep = case.resume_ingest()
        assert [(it.id, it.file_name) for it in rep.added] == [("E0001", "a (2).jpg")]
        assert [i.path.split()[0] for i in rep.errors] == ["E0007", "E0008"]
        assert "already another item's" in rep.errors[0].reason
        assert [(it.id, it.file_name) for it in case.evidence] == [("E0001", "a (2).jpg")]
    finally:
        case.close()


def test_resume_says_why_a_hard_linked_copy_is_not_taken(tmp_path, monkeypatch):
    src = tmp_path / "src"
    make_jpeg(src / "a.jpg", seed=2)
    case = new_case(tmp_path)
    try:
        killed_ingest(case, [src], monkeypatch)
        os.link(case.evidence_dir / "a.jpg", tmp_path / "outside.jpg")
        [issue] = case.resume_ingest().errors
        assert "hard link" in issue.reason and case.evidence == []
    finally:
        case.close()


def test_a_logged_copy_named_like_a_temp_file_is_kept_at_open_for_resume(tmp_path):
    """Found in review: a copy an interrupted ingest logged under a '.tmp-' name (cases from before such
    originals were renamed) was swept away as a temp file at the next open, before it could be resumed."""
    case = new_case(tmp_path)
    path = case.path
    copy = case.evidence_dir / ".tmp-photo.jpg"
    make_jpeg(copy, seed=3)
    import hashlib
    sha = hashlib.sha256(copy.read_bytes()).hexdigest()
    case._audit.append("evidence_added", {"evidence_id": "E0001", "file_name": copy.name, "sha256": sha},
                       case.session_examiner)
    (case.evidence_dir / ".tmp-other.jpg.abcd1234").write_bytes(b"half a copy")  # a real leftover
    case.close()
    with Case.open(path) as case:
        assert sorted(os.listdir(case.evidence_dir)) == [".tmp-photo.jpg"]
        assert [it.id for it in case.resume_ingest().added] == ["E0001"]


def test_kill_during_case_json_write(tmp_path, monkeypatch):
    case = new_case(tmp_path)
    before = (case.path / "case.json").read_bytes()
    monkeypatch.setattr(os, "replace", lambda *a, **k: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        case.update_info(title="New title")
    monkeypatch.undo()
    assert (case.path / "case.json").read_bytes() == before
    path = case.path
    case.close()
    with Case.open(path) as case:
        assert case.title == "Test case"


def test_torn_audit_append_is_kept_aside_not_lost(tmp_path):
    case = new_case(tmp_path)
    path = case.path
    case.close()
    with open(path / "audit.jsonl", "ab") as fh:
        fh.write(b'{"seq": 2, "time_utc": "2026-')  # process killed mid-write
    with Case.open(path) as case:
        case.log("note", {"text": "after crash"})
        torn = list(path.glob("audit.torn-*.bin"))
        assert len(torn) == 1 and torn[0].read_bytes().startswith(b'{"seq": 2')
        # The cut is recorded in the log itself, and verify names it every time (a lost entry is
        # never INTACT: tearing the last line once hid a report export).
        entries = case.audit_entries()
        assert entries[1]["action"] == "audit_torn_entry_set_aside" and entries[1]["details"]["file"] == torn[0].name
        assert entries[2]["action"] == "note"
        for _ in range(2):
            rep = case.verify()
            assert not rep.ok and [p.kind for p in rep.problems] == ["audit_chain"]
            assert torn[0].name in rep.problems[0].message and "cut" in rep.problems[0].message
        torn[0].unlink()  # removing the kept bytes is named too
        assert "missing" in case.verify().problems[0].message


# -- lock --------------------------------------------------------------------------------------
def test_second_writer_is_refused_with_a_clear_message(tmp_path):
    case = new_case(tmp_path)
    lock = json.loads((case.path / "case.lock").read_text())
    assert lock["pid"] == os.getpid() and lock["host"] == socket.gethostname()
    with pytest.raises(CaseLockedError, match="already open"):
        Case.open(case.path)
    # Another live process on this host:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        case.close()
        (case.path / "case.lock").write_text(json.dumps({"pid": proc.pid, "host": socket.gethostname(),
                                                          "user": "bob", "since_utc": "2026-01-01T00:00:00Z"}))
        with pytest.raises(CaseLockedError, match=f"bob@.*PID {proc.pid}"):
            Case.open(case.path)
        with Case.open(case.path, readonly=True) as ro:  # viewing is still possible
            assert ro.title == "Test case"
            with pytest.raises(CaseError, match="read-only"):
                ro.log("x")
    finally:
        proc.kill()
        proc.wait()


def test_lock_released_on_close(tmp_path):
    case = new_case(tmp_path)
    path = case.path
    case.close()
    assert not (path / "case.lock").exists()
    with Case.open(path):
        pass


def test_stale_lock_of_dead_process_is_taken_over_and_logged(tmp_path):
    case = new_case(tmp_path)
    path = case.path
    case.close()
    pid = _dead_pid()
    (path / "case.lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname(), "user": "crashed"}))
    with Case.open(path) as case:
        entry = case.audit_entries()[-1]
        assert entry["action"] == "stale_lock_removed" and entry["details"]["pid"] == pid
        assert json.loads((path / "case.lock").read_text())["pid"] == os.getpid()


def test_lock_from_another_host_is_not_guessed_stale(tmp_path):
    case = new_case(tmp_path)
    path = case.path
    case.close()
    (path / "case.lock").write_text(json.dumps({"pid": 1, "host": "other-machine", "user": "carol"}))
    with pytest.raises(CaseLockedError, match="other-machine.*delete"):
        Case.open(path)


# -- schema ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mutate, message", [
    (lambda raw: raw[:-20], "not valid JSON"),
    (lambda raw: json.dumps({k: v for k, v in json.loads(raw).items() if k != "examiner"}), "missing the field 'examiner'"),
    (lambda raw: json.dumps(json.loads(raw) | {"schema_version": 99}), "unknown schema_version 99"),
    (lambda raw: json.dumps(json.loads(raw) | {"title": 5}), "'title' must be a str"),
    (lambda raw: "[]", "must be a JSON object"),
])
def test_bad_case_json_clear_error_nothing_written(tmp_path, mutate, message):
    case = new_case(tmp_path)
    path = case.path
    case.close()
    (path / "case.json").write_text(mutate((path / "case.json").read_text(encoding="utf-8")), encoding="utf-8")
    before = _files(path)
    with pytest.raises(CaseSchemaError, match=message) as exc:
        Case.open(path)
    assert "\n" not in str(exc.value) and "case.json" in str(exc.value)
    assert _files(path) == before and not (path / "case.lock").exists()


def test_bad_evidence_index_is_reported(tmp_path):
    case = new_case(tmp_path)
    path = case.path
    case.close()
    (path / "evidence.json").write_text('{"schema_version": 1}', encoding="utf-8")
    with pytest.raises(CaseSchemaError, match="evidence index has no 'items' list"):
        Case.open(path)
    assert not (path / "case.lock").exists()


def test_not_a_case_and_existing_case(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(CaseError, match="not a DeCLIP case"):
        Case.open(tmp_path / "plain")
    with pytest.raises(CaseError, match="no such case folder"):
        Case.open(tmp_path / "nowhere")
    with new_case(tmp_path, "x") as case:
        assert case.path.name == "x.declip"
    with pytest.raises(CaseError, match="already exists"):
        new_case(tmp_path, "x")
    with Case.open(tmp_path / "x") as case:  # suffix may be left out
        assert case.path.name == "x.declip"
    with pytest.raises(CaseError, match="examiner"):
        new_case(tmp_path, "y", examiner="  ")


def test_finding_validation(tmp_path):
    f = make_jpeg(tmp_path / "src" / "a.jpg")
    with new_case(tmp_path) as case:
        case.add_paths([f])
        assert case.finding("E0001").status == "not reviewed" and case.finding("E0001").created_utc is None
        with pytest.raises(CaseError, match="unknown finding status"):
            case.set_finding("E0001", "dodgy")
        with pytest.raises(CaseError, match="threshold must be"):
            case.set_finding("E0001", "suspicious", threshold=1.5)
        with pytest.raises(CaseError, match="no evidence item 'E0009'"):
            case.set_finding("E0009", "suspicious")
        a = case.set_finding("E0001", "suspicious", note="n", threshold=0.3, opacity=0.5)
        b = case.set_finding("E0001", "manipulation_confirmed")
        assert b.status == "manipulation confirmed" and b.note == "n" and b.threshold == 0.3
        assert b.created_utc == a.created_utc and b.modified_utc >= a.modified_utc
        entry = case.audit_entries()[-1]
        assert entry["details"]["previous_status"] == "suspicious"


def test_lock_with_reused_pid_or_from_before_a_reboot_is_stale(tmp_path):
    from declip_desktop.case.lock import boot_id, process_start

    if boot_id() is None or process_start(os.getpid()) is None:
        pytest.skip("needs Linux /proc")
    case = new_case(tmp_path)
    path = case.path
    case.close()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        base = {"pid": proc.pid, "host": socket.gethostname(), "user": "u"}
        (path / "case.lock").write_text(json.dumps(base | {"process_start": "1"}))  # live PID, other process
        Case.open(path).close()
        (path / "case.lock").write_text(json.dumps(base | {"boot_id": "not-this-boot"}))
        Case.open(path).close()
        (path / "case.lock").write_text(json.dumps(base | {"boot_id": boot_id(), "process_start": process_start(proc.pid)}))
        with pytest.raises(CaseLockedError):
            Case.open(path)
    finally:
        proc.kill()
        proc.wait()


def test_malformed_evidence_item_is_a_schema_error(tmp_path):
    case = new_case(tmp_path)
    path = case.path
    case.close()
    (path / "evidence.json").write_text('{"schema_version": 1, "items": [{"id": "E0001", "file_name": "a", '
                                        '"sha256": "x", "md5": "y", "size": 1}]}', encoding="utf-8")
    with pytest.raises(CaseSchemaError, match="evidence item is malformed"):
        Case.open(path)


def test_create_can_be_retried_after_a_killed_create(tmp_path, monkeypatch):
    from declip_desktop.case import case_folder

    def killed(self):
        raise KeyboardInterrupt("killed before case.json")

    monkeypatch.setattr(case_folder.Case, "_save_info", killed)
    with pytest.raises(KeyboardInterrupt):
        new_case(tmp_path)
    monkeypatch.undo()
    assert (tmp_path / "case.declip" / "audit.jsonl").exists() and not (tmp_path / "case.declip" / "case.json").exists()
    with new_case(tmp_path) as case:
        assert [e["seq"] for e in case.audit_entries()] == [1]  # a fresh chain, not the aborted one
        assert case.verify().ok
    (tmp_path / "other.declip").mkdir()
    (tmp_path / "other.declip" / "photo.jpg").write_bytes(b"x")
    with pytest.raises(CaseError, match="not empty"):
        Case.create(tmp_path / "other", title="t", number="1", examiner="e")
    assert (tmp_path / "other.declip" / "photo.jpg").read_bytes() == b"x"


def test_concurrent_writers_in_one_process_keep_the_chain_intact(tmp_path):
    import threading

    src = tmp_path / "src"
    for i in range(3):
        make_jpeg(src / f"{i}.jpg", seed=i)
    case = new_case(tmp_path)
    case.add_paths([src])
    errors = []

    def findings():
        try:
            for n in range(15):
                case.set_finding(f"E000{n % 3 + 1}", "suspicious", note=f"n{n}")
        except Exception as exc:  # surfaced below
            errors.append(exc)

    def logs():
        try:
            for n in range(15):
                case.log("viewed", {"n": n})
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=f) for f in (findings, logs, findings)]
    for t in threads:
        t.start()
    reports = [case.verify() for _ in range(3)]
    for t in threads:
        t.join()
    assert errors == []
    assert all(r.ok for r in reports), [p.message for r in reports for p in r.problems]
    seqs = [e["seq"] for e in case.audit_entries()]
    assert seqs == list(range(1, len(seqs) + 1))
    case.close()


def test_verify_counts_many_unregistered_copies_in_one_warning(tmp_path):
    """Old code: one warning line per file, hundreds after a large ingest killed before it logged its copies."""
    case = new_case(tmp_path)
    try:
        for i in range(12):
            (case.evidence_dir / f"p{i:02d}.jpg").write_bytes(b"x")
        [warning] = case.verify().warnings
        assert warning.startswith("evidence/ holds 12 files not registered in the case")
        assert "p00.jpg" in warning and warning.endswith("and 2 more") and "adding the originals again" in warning
        for i in range(2, 12):
            (case.evidence_dir / f"p{i:02d}.jpg").unlink()
        assert [w.split(":")[0] for w in case.verify().warnings] == ["evidence/p00.jpg", "evidence/p01.jpg"]
    finally:
        case.close()
