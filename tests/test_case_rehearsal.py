"""Defects found by a hostile rehearsal of case integrity: processes killed mid-command, full disks,
a lock that cannot be written. Each test failed on the code before its fix."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from declip_desktop.case import Case, CaseError
from declip_desktop.case import audit as audit_mod
from declip_desktop.case import case_folder as case_folder_mod
from declip_desktop.case.errors import CaseReadOnlyMediaError
from declip_desktop.cli import main
from tests.case_support import analysis_result, make_jpeg, new_case

ROOT = Path(__file__).resolve().parent.parent
ENOSPC = OSError(errno.ENOSPC, "No space left on device")


def _python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                          timeout=120)


def _case_with_item(tmp_path) -> Path:
    make_jpeg(tmp_path / "src" / "a.jpg", seed=3)
    with new_case(tmp_path) as case:
        case.add_paths([tmp_path / "src" / "a.jpg"])
        return case.path


# -- a killed `case new` ---------------------------------------------------------------------------
def test_a_create_killed_with_its_lock_held_can_be_retried(tmp_path):
    # SIGKILL during `case new` leaves the skeleton and the dead process's case.lock; retrying the
    # same `case new` was an internal error (FileNotFoundError on the lock it had just released).
    r = _python(f"""
        import os
        from declip_desktop.case import case_folder
        case_folder.Case._save_info = lambda self: os._exit(9)   # killed before case.json exists
        case_folder.Case.create({str(tmp_path / 'c')!r}, title="t", number="1", examiner="e")
    """)
    assert r.returncode == 9, r.stderr
    assert (tmp_path / "c.declip" / "case.lock").exists() and not (tmp_path / "c.declip" / "case.json").exists()
    assert main(["case", "new", str(tmp_path / "c"), "--title", "t", "--number", "1", "--examiner", "e"]) == 0
    with Case.open(tmp_path / "c.declip") as case:
        assert [e["action"] for e in case.audit_entries()] == ["case_created"]
        assert case.verify().ok


# -- a full disk -------------------------------------------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE cuts writes short as a full disk does")
def test_an_audit_append_cut_short_by_the_disk_leaves_no_torn_entry(tmp_path):
    # The log was written through a buffered file: the bytes the disk refused stayed in its buffer,
    # the truncate-back flushed them again, and close() wrote part of the entry after it. The case's
    # log then held a torn last line, set aside at the next open and failing verify for ever.
    path = _case_with_item(tmp_path)
    log = path / "audit.jsonl"
    before = log.read_bytes()
    r = _python(f"""
        import resource, signal
        from declip_desktop.case import Case, CaseError
        case = Case.open({str(path)!r})
        case.audit_entries()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)    # a write past the limit fails (EFBIG), as on a full disk
        limit = {len(before)} + 100
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        try:
            case.log("note", {{"text": "x" * 400}})
        except CaseError as exc:
            print("refused:", exc)
    """)
    assert "refused:" in r.stdout and "nothing was recorded" in r.stdout, (r.stdout, r.stderr)
    assert log.read_bytes() == before  # not one byte of the refused entry
    with Case.open(path) as case:
        assert case.verify().ok
    assert not list(path.glob("audit.torn-*"))


def test_a_torn_tail_that_cannot_be_set_aside_leaves_no_empty_file(tmp_path, monkeypatch):
    # On a full disk the torn tail's aside file was created empty and the error escaped; every later
    # command made another empty audit.torn-*.bin, which verify then named as cut-off entries.
    path = _case_with_item(tmp_path)
    with open(path / "audit.jsonl", "ab") as fh:
        fh.write(b'{"seq": 9, "time_utc": "2026-')  # a crash (power cut) mid-append
    real = Path.write_bytes

    def full(self, data):
        real(self, b"")
        raise ENOSPC

    monkeypatch.setattr(Path, "write_bytes", full)
    with Case.open(path) as case:
        with pytest.raises(CaseError, match="incomplete and cannot be set aside.*No space left"):
            case.log("note", {})
    monkeypatch.undo()
    assert not list(path.glob("audit.torn-*")) and not list(path.glob(".tmp-*"))
    with Case.open(path) as case:  # with space again, the torn entry is set aside and recorded as before
        case.log("note", {})
        assert [p.kind for p in case.verify().problems] == ["audit_chain"]
    assert len(list(path.glob("audit.torn-*.bin"))) == 1


def test_a_lock_the_full_disk_cannot_fill_is_removed_and_said(tmp_path, monkeypatch, capsys):
    # The empty case.lock a full disk let be created but not written stayed behind: the command was an
    # internal error, and the next ones were told another process was writing the lock.
    from declip_desktop.case import lock as lock_mod

    path = _case_with_item(tmp_path)
    real_write = os.write

    def full(fd, data):
        if os.fstat(fd).st_ino == os.stat(path / "case.lock").st_ino:
            raise ENOSPC
        return real_write(fd, data)

    monkeypatch.setattr(lock_mod.os, "write", full)
    with pytest.raises(CaseReadOnlyMediaError, match="disk is full"):
        Case.open(path)
    assert not (path / "case.lock").exists()
    assert main(["case", "finding", str(path), "E0001", "--status", "suspicious"]) == 1
    assert main(["case", "verify", str(path)]) == 0  # still checked, read-only
    err = capsys.readouterr().err
    assert "internal error" not in err and "disk is full" in err and "verifying read-only" in err
    assert not (path / "case.lock").exists()


def _fail_writes_of(monkeypatch, name: str) -> None:
    """The atomic replace of the case file `name` fails as on a full disk."""
    import engine.atomic as engine_atomic

    real = engine_atomic.os.replace

    def replace(src, dst, *a, **k):
        if os.path.basename(os.fspath(dst)) == name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst, *a, **k)

    monkeypatch.setattr(engine_atomic.os, "replace", replace)


def _fail_audit_appends(monkeypatch) -> None:
    def refuse(self):
        raise audit_mod.AuditWriteError(f"{self.path}: cannot write the audit log (No space left on device); "
                                        "nothing was recorded")

    monkeypatch.setattr(audit_mod.AuditLog, "_open_for_append", refuse)


def test_an_edit_whose_case_json_cannot_be_written_is_logged_as_undone(tmp_path, monkeypatch, capsys):
    # The change was logged, then case.json failed: verify called the case tampered with ("case.json:
    # title differs from audit entry N"), the CLI said "internal error", and the object kept the new title.
    path = _case_with_item(tmp_path)
    _fail_writes_of(monkeypatch, "case.json")
    assert main(["case", "edit", str(path), "--title", "New title"]) == 1
    err = capsys.readouterr().err
    assert "internal error" not in err and "case.json" in err and "disk is full" in err, err
    monkeypatch.undo()
    with Case.open(path) as case:
        assert case.title == "Test case" and case.verify().ok
        undone = case.audit_entries()[-2]
        assert undone["action"] == "case_info_change_undone"
        assert undone["details"]["title"] == {"old": "New title", "new": "Test case"}


def test_an_edit_the_log_refuses_changes_nothing(tmp_path, monkeypatch):
    path = _case_with_item(tmp_path)
    with Case.open(path) as case:
        _fail_audit_appends(monkeypatch)
        with pytest.raises(CaseError, match="nothing was recorded"):
            case.update_info(title="New title")
        assert case.title == "Test case"
    monkeypatch.undo()
    assert json.loads((path / "case.json").read_text(encoding="utf-8"))["title"] == "Test case"
    with Case.open(path) as case:
        assert case.verify().ok


def test_an_edit_killed_before_case_json_is_completed_by_running_it_again(tmp_path):
    path = _case_with_item(tmp_path)
    r = _python(f"""
        import os
        from declip_desktop.case import Case, case_folder
        case = Case.open({str(path)!r})
        case_folder.Case._save_info = lambda self: os._exit(9)   # killed after the entry, before case.json
        case.update_info(title="New title")
    """)
    assert r.returncode == 9, r.stderr
    with Case.open(path, readonly=True) as case:
        rep = case.verify()
    assert [p.kind for p in rep.problems] == ["case_file"] and "run the same `declip case edit` again" in \
        rep.problems[0].message and rep.summary() == "1 case.json problem"
    assert main(["case", "edit", str(path), "--title", "New title"]) == 0
    with Case.open(path) as case:
        assert case.title == "New title" and case.verify().ok


def test_a_finding_the_log_refuses_is_not_left_in_findings_json(tmp_path, monkeypatch):
    # findings.json kept the new finding when its audit entry could not be written: verify then failed
    # ("finding in findings.json has no audit entry") for a finding the examiner was told was refused.
    path = _case_with_item(tmp_path)
    with Case.open(path) as case:
        case.set_finding("E0001", "no finding", note="first")
        _fail_audit_appends(monkeypatch)
        with pytest.raises(CaseError, match="nothing was recorded"):
            case.set_finding("E0001", "manipulation confirmed", note="second")
        assert case.finding("E0001").note == "first"
    monkeypatch.undo()
    with Case.open(path) as case:
        assert case.finding("E0001").status == "no finding" and case.verify().ok


def test_a_finding_on_a_full_disk_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    path = _case_with_item(tmp_path)
    _fail_writes_of(monkeypatch, "findings.json")
    assert main(["case", "finding", str(path), "E0001", "--status", "suspicious"]) == 1
    err = capsys.readouterr().err.strip()
    assert "internal error" not in err and len(err.splitlines()) == 1, err
    assert "findings.json" in err and ".tmp-" not in err and "disk is full" in err, err


def test_an_evidence_layer_the_disk_cannot_hold_fails_alone(tmp_path, monkeypatch, capsys):
    # A layer's map that could not be stored (a full disk) escaped store_layers: the run ended as an
    # "internal error" before the other items' layers, and the failure was never logged.
    make_jpeg(tmp_path / "src" / "a.jpg", seed=1, size=(96, 80))
    make_jpeg(tmp_path / "src" / "b.jpg", seed=2, size=(96, 80))
    with new_case(tmp_path) as case:
        case.add_paths([tmp_path / "src"])
        path = case.path
    import engine.mapio as mapio

    real = mapio.save_probability_png
    calls = []

    def full_once(p, prob, *a, **k):
        calls.append(p)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(p, prob, *a, **k)

    monkeypatch.setattr(mapio, "save_probability_png", full_once)
    from declip_desktop.case.evidence_layers import store_layers

    with Case.open(path) as case:
        run = store_layers(case, case.evidence, ["ela"])
        assert [f[:2] for f in run.failed] == [("E0001", "ela")] and run.stored == [("E0002", "ela")]
        assert "No space left on device" in run.failed[0][2]
        failed = [e["details"] for e in case.audit_entries() if e["action"] == "analysis_failed"]
        assert failed and failed[-1]["model_id"] == "evidence-ela" and "not stored" in failed[-1]["error"]
        assert case.verify().ok


def test_a_map_the_disk_cannot_hold_says_so_in_words(tmp_path, monkeypatch):
    path = _case_with_item(tmp_path)
    import engine.mapio as mapio

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(mapio, "save_probability_png", full)
    from declip_desktop.case.analysis_run import run_analysis

    class Det:
        card = type("Card", (), {"id": "m1"})()

    with Case.open(path) as case:
        it = case.item("E0001")
        summary = run_analysis(case, Det(), [it], "paper", results=lambda items: [analysis_result(i) for i in items])
        assert summary.failed == ["E0001"]
        error = [e["details"]["error"] for e in case.audit_entries() if e["action"] == "analysis_failed"][-1]
        assert error == "result not stored (cannot write the case folder: No space left on device)"
        assert case.verify().ok


# -- a read-only check while another process writes --------------------------------------------------
@pytest.fixture
def live_writer(tmp_path):
    """A case whose lock a live process holds, as while `declip case analyze` runs in another shell."""
    import socket

    path = _case_with_item(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (path / "case.lock").write_text(json.dumps({"pid": proc.pid, "host": socket.gethostname(), "user": "other"}))
    yield path
    proc.kill()
    proc.wait()


def test_a_read_only_verify_does_not_call_a_writers_work_in_progress_tampering(live_writer, monkeypatch):
    # `declip case verify` while `case analyze` ran elsewhere said INTEGRITY FAILURE ("record differs
    # from audit entry N ... edited", exit 1) whenever it read a record stored a moment before its entry.
    path = live_writer
    lock = (path / "case.lock").read_bytes()
    (path / "case.lock").unlink()
    with Case.open(path) as case:  # the writer's state before one store, then after it
        case.store_analysis("E0001", analysis_result(case.item("E0001"), seed=1))
        before = {n: (path / n).read_bytes() for n in ("audit.jsonl", "case.json")}
        case.store_analysis("E0001", analysis_result(case.item("E0001"), seed=2))
        after = {n: (path / n).read_bytes() for n in ("audit.jsonl", "case.json")}
    (path / "case.lock").write_bytes(lock)
    for name, data in before.items():  # the new record is on disk, its audit entry not yet
        (path / name).write_bytes(data)

    def writer_goes_on(_seconds):
        for name, data in after.items():
            (path / name).write_bytes(data)

    monkeypatch.setattr("time.sleep", writer_goes_on)
    with Case.open(path, readonly=True) as case:
        rep = case.verify()
    assert rep.ok, [p.message for p in rep.problems]


def test_a_read_only_verify_beside_a_writer_still_names_real_tampering(live_writer, monkeypatch, capsys):
    path = live_writer
    (path / "case.lock").rename(path / "lock.keep")
    with Case.open(path) as case:
        sa = case.store_analysis("E0001", analysis_result(case.item("E0001"), seed=1))
    (path / "lock.keep").rename(path / "case.lock")
    data = bytearray(sa.map_path.read_bytes())
    data[-20] ^= 0xFF
    sa.map_path.write_bytes(bytes(data))
    monkeypatch.setattr("time.sleep", lambda _s: None)
    assert main(["case", "verify", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "MODIFIED" in out and sa.map_path.name in out and "INTEGRITY FAILURE" in out
    assert "verifying read-only" in err and "found twice" in err


# -- a kill between a layer's record and its audit entry ----------------------------------------------
def test_a_layer_stored_by_a_killed_run_but_never_logged_is_redone(tmp_path):
    # Killed between an evidence layer's record and its `analysis_stored` entry, the case failed verify
    # ("never recorded in the audit log ... re-run `declip case analyze` to redo it"), but the re-run
    # took the unlogged layer as up to date and the failure stayed for ever.
    from declip_desktop.case.evidence_layers import store_layers

    make_jpeg(tmp_path / "src" / "a.jpg", seed=1, size=(96, 80))
    with new_case(tmp_path) as case:
        case.add_paths([tmp_path / "src"])
        path = case.path
    before = {n: (path / n).read_bytes() for n in ("audit.jsonl", "case.json")}
    with Case.open(path) as case:
        store_layers(case, case.evidence, ["ela"])
    for name, data in before.items():  # as if killed after the record, before its entry
        (path / name).write_bytes(data)
    with Case.open(path) as case:
        assert [p.kind for p in case.verify().problems] == ["analysis_unlogged"]
        run = store_layers(case, case.evidence, ["ela"])
        assert run.stored == [("E0001", "ela")] and not run.up_to_date
        assert case.verify().ok


# -- Ctrl+C ------------------------------------------------------------------------------------------
def test_ctrl_c_during_an_audit_fsync_does_not_fork_the_chain(tmp_path, monkeypatch):
    # Ctrl+C while the log's fsync ran: the entry was in the file but the cached head was not moved on,
    # so the "analysis_run_interrupted" entry logged at once reused its number and broke the chain.
    path = _case_with_item(tmp_path)
    real_fsync = os.fsync
    hits = []

    def interrupted(fd):
        real_fsync(fd)
        if not hits and os.fstat(fd).st_ino == os.stat(path / "audit.jsonl").st_ino:
            hits.append(fd)
            raise KeyboardInterrupt

    with Case.open(path) as case:
        monkeypatch.setattr(audit_mod.os, "fsync", interrupted)
        with pytest.raises(KeyboardInterrupt):
            case.log("analysis_run_started", {})
        case.log("analysis_run_interrupted", {})
        monkeypatch.undo()
        seqs = [e["seq"] for e in case.audit_entries()]
        assert seqs == list(range(1, len(seqs) + 1))
        assert case.verify().ok


# -- tampering -----------------------------------------------------------------------------------
def test_swapped_copies_of_equally_named_evidence_are_named_as_such(tmp_path, capsys):
    make_jpeg(tmp_path / "a" / "x.jpg", seed=1)
    make_jpeg(tmp_path / "b" / "x.jpg", seed=2)
    with new_case(tmp_path) as case:
        case.add_paths([tmp_path / "a", tmp_path / "b"])
        path = case.path
    ev = path / "evidence"
    assert sorted(p.name for p in ev.iterdir()) == ["x (2).jpg", "x.jpg"]
    (ev / "x.jpg").rename(ev / "t")
    (ev / "x (2).jpg").rename(ev / "x.jpg")
    (ev / "t").rename(ev / "x (2).jpg")
    os.utime(ev / "x.jpg", (0, 0))  # the mtime alone is never a finding
    assert main(["case", "verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert "E0001 evidence/x.jpg: MODIFIED" in out and "recorded for E0002 evidence/x (2).jpg" in out
    assert "E0002 evidence/x (2).jpg: MODIFIED" in out and "recorded for E0001 evidence/x.jpg" in out
    assert "swapped" in out and "INTEGRITY FAILURE (2 evidence files modified)" in out


# -- two processes taking over one stale lock ---------------------------------------------------------
def test_a_stale_lock_read_by_two_processes_is_taken_over_by_one(tmp_path, monkeypatch):
    # Two commands started after a crash both read the dead process's lock; the first replaced it with
    # its own, then the second unlinked that by name and made its own: two writers on one case (seen in
    # 1 of 60 rounds of six processes). Here the second reads the stale lock, the first (a live process)
    # has meanwhile taken the case, and the second must now find it locked, the first's lock intact.
    import socket

    from declip_desktop.case import lock as lock_mod
    from declip_desktop.case.errors import CaseLockedError

    path = _case_with_item(tmp_path)
    stale = {"pid": 999_999_999, "host": socket.gethostname(), "user": "crashed"}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        first = json.dumps({"pid": proc.pid, "host": socket.gethostname(), "user": "first"})
        (path / "case.lock").write_text(first)
        real_read = lock_mod.CaseLock._read_owner
        reads = []

        def read_before_the_first_took_over(self):
            reads.append(1)
            return dict(stale) if len(reads) == 1 else real_read(self)

        monkeypatch.setattr(lock_mod.CaseLock, "_read_owner", read_before_the_first_took_over)
        with pytest.raises(CaseLockedError, match=f"PID {proc.pid}"):
            Case.open(path)
        assert (path / "case.lock").read_text() == first
        assert not [p.name for p in path.iterdir() if p.name.startswith(".tmp-")]
    finally:
        proc.kill()
        proc.wait()


def test_a_stale_lock_is_still_taken_over(tmp_path):
    import socket

    path = _case_with_item(tmp_path)
    (path / "case.lock").write_text(json.dumps({"pid": 999_999_999, "host": socket.gethostname(), "user": "x"}))
    with Case.open(path) as case:
        assert case.audit_entries()[-1]["action"] == "stale_lock_removed"
        assert json.loads((path / "case.lock").read_text())["pid"] == os.getpid()
    (path / "case.lock").write_bytes(b"")  # killed between creating and filling its lock, long ago
    os.utime(path / "case.lock", (1, 1))
    with Case.open(path):
        pass
    assert not (path / "case.lock").exists()


# -- a truncated log must stay named --------------------------------------------------------------------
def test_a_truncated_log_stays_named_after_the_case_is_written_again(tmp_path, capsys):
    # The first verify named the cut ("case.json records N entries, the log ends at entry M"), but it and
    # every writable command then re-anchored case.json to the cut log: the next verify said INTACT.
    path = _case_with_item(tmp_path)
    for _ in range(2):
        assert main(["case", "verify", str(path)]) == 0
    log = path / "audit.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-2]))  # the two verify entries removed
    capsys.readouterr()
    assert main(["case", "verify", str(path)]) == 1
    assert "truncated" in capsys.readouterr().out
    assert main(["case", "finding", str(path), "E0001", "--status", "suspicious"]) == 0
    for _ in range(2):
        assert main(["case", "verify", str(path)]) == 1
        out = capsys.readouterr().out
        assert f"case.json recorded {len(lines)} entries" in out and "INTEGRITY FAILURE" in out, out
    with Case.open(path, readonly=True) as case:
        assert case.info["audit_heads_lost"][0]["entries"] == len(lines)
        assert [e["action"] for e in case.audit_entries()].count("audit_head_not_in_log") == 1


def test_a_re_analysis_killed_before_its_entry_is_named_as_such_and_redone(tmp_path):
    path = _case_with_item(tmp_path)
    with Case.open(path) as case:
        case.store_analysis("E0001", analysis_result(case.item("E0001"), seed=1))
        before = {n: (path / n).read_bytes() for n in ("audit.jsonl", "case.json")}
        case.store_analysis("E0001", analysis_result(case.item("E0001"), seed=2))
    for name, data in before.items():  # killed after the new record replaced the old, before its entry
        (path / name).write_bytes(data)
    from declip_desktop.case.analysis_run import plan

    class Det:
        card = type("Card", (), {"id": "m1"})()

    with Case.open(path) as case:
        problems = case.verify().problems
        assert [p.kind for p in problems] == ["analysis_modified"]
        assert "killed before logging it: `declip case analyze` redoes it" in problems[0].message
        todo, current = plan(case, Det(), case.evidence, "paper")
        assert [it.id for it in todo] == ["E0001"] and not current


# -- an original named like a temp file -------------------------------------------------------------------
def test_evidence_named_like_a_temp_file_is_never_swept(tmp_path, capsys):
    # An original called ".tmp-photo.jpg" was copied into evidence/ under that name, and the next writable
    # open removed it as a killed write's leftover: evidence gone ("file is missing").
    make_jpeg(tmp_path / "src" / ".tmp-photo.jpg", seed=4)
    with new_case(tmp_path) as case:
        rep = case.add_paths([tmp_path / "src" / ".tmp-photo.jpg"])
        path = case.path
    it = rep.added[0]
    assert it.original_name == ".tmp-photo.jpg" and not it.file_name.startswith(".tmp-")
    with Case.open(path) as case:
        assert case.verify().ok and (path / "evidence" / it.file_name).is_file()
    # a case that already holds such a copy (made before this fix) keeps it too
    idx = json.loads((path / "evidence.json").read_text(encoding="utf-8"))
    (path / "evidence" / it.file_name).rename(path / "evidence" / ".tmp-photo.jpg")
    idx["items"][0]["file_name"] = ".tmp-photo.jpg"
    (path / "evidence.json").write_text(json.dumps(idx), encoding="utf-8")
    (path / "evidence" / ".tmp-123-leftover.jpg").write_bytes(b"x")  # a real leftover still goes
    with Case.open(path) as case:
        assert (path / "evidence" / ".tmp-photo.jpg").is_file()
        assert not (path / "evidence" / ".tmp-123-leftover.jpg").exists()
        swept = [e["details"]["files"] for e in case.audit_entries() if e["action"] == "stale_temps_removed"]
        assert swept == [["evidence/.tmp-123-leftover.jpg"]]
    assert main(["case", "report", str(path), "--out", str(path / "reports" / ".tmp-r.pdf")]) == 1
    assert "temp files" in capsys.readouterr().err


def test_verify_against_another_cases_report_says_it_may_be_another_case(tmp_path, capsys):
    path = _case_with_item(tmp_path)
    with new_case(tmp_path, name="other") as other:
        for n in range(6):
            other.log("note", {"n": n})
        head = other.audit_head()
    fake = tmp_path / "other-report.pdf"  # what a report of the other case carries
    fake.write_bytes(b"%PDF-1.7\n" + f"% declip-audit-head:{head['entries']}:{head['last_sha256']}:logged\n".encode())
    assert main(["case", "verify", str(path), "--against", str(fake)]) == 1
    out = capsys.readouterr().out
    assert "report of another case" in out and "INTEGRITY FAILURE" in out


def test_a_report_export_killed_before_its_entry_says_how_to_heal_it(tmp_path):
    path = _case_with_item(tmp_path)
    (path / "reports" / "r.pdf").write_bytes(b"%PDF-1.7\n(killed before report_exported was logged)\n")
    with Case.open(path) as case:
        problems = case.verify().problems
    assert [p.kind for p in problems] == ["report_unlogged"]
    assert "killed before it was logged: export it again under this name" in problems[0].message
    assert main(["case", "report", str(path), "--out", str(path / "reports" / "r.pdf")]) == 0
    with Case.open(path) as case:
        assert case.verify().ok


def test_a_case_that_lost_its_case_json_is_named_as_such(tmp_path, capsys):
    path = _case_with_item(tmp_path)
    (path / "case.json").unlink()
    before = sorted(p.name for p in path.rglob("*"))
    assert main(["case", "verify", str(path)]) == 2  # could not verify
    err = capsys.readouterr().err
    assert "case.json was deleted or lost" in err and "audit.jsonl" in err and "internal error" not in err
    assert sorted(p.name for p in path.rglob("*")) == before


def test_a_link_planted_in_evidence_is_never_adopted_as_the_copy(tmp_path):
    # Resume adopts a copy an interrupted ingest left; a link named like the new file, pointing at the
    # original, was adopted too: no copy was made and the case failed verify from its first check.
    src = make_jpeg(tmp_path / "src" / "x.jpg", seed=5)
    with new_case(tmp_path) as case:
        (case.evidence_dir / "x.jpg").symlink_to(src)
        it = case.add_paths([src]).added[0]
        assert not it.path.is_symlink() and it.path.is_file() and it.file_name != "x.jpg"
        assert it.path.read_bytes() == src.read_bytes()
        rep = case.verify()
        assert not rep.problems, [p.message for p in rep.problems]
        src2 = make_jpeg(tmp_path / "src" / "y.jpg", seed=6)
        os.link(src2, case.evidence_dir / "y.jpg")  # a hard link: a later change to the original would reach it
        it2 = case.add_paths([src2]).added[0]
        assert it2.file_name != "y.jpg" and os.stat(it2.path).st_nlink == 1


# -- a hostile case folder and the examiner's terminal ---------------------------------------------------
def test_a_hostile_lock_file_never_reaches_the_terminal_raw(tmp_path, capsys):
    # case.lock comes with the case folder: its user and host went into "case is open in another
    # process by ..." unescaped, so a received case could clear the screen or retitle the terminal.
    path = _case_with_item(tmp_path)
    (path / "case.lock").write_text(json.dumps({"pid": 1, "host": "evil\x1b]0;pwned\x07", "user": "x\x1b[2Jy"}))
    assert main(["case", "finding", str(path), "E0001", "--status", "suspicious"]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\\x1b[2J" in err and "case is open in another process" in err
    assert main(["case", "new", str(tmp_path / "n\x1b[31m"), "--title", "t", "--number", "1", "--examiner", "e"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[31m" in out


def test_an_image_whose_layers_crash_outright_fails_alone(tmp_path, monkeypatch):
    # evidence.run_many raising anything but a DeclipError (a decoder's own error, MemoryError while
    # loading) ended `case analyze --layers` for every later item as an internal error.
    make_jpeg(tmp_path / "src" / "a.jpg", seed=1, size=(96, 80))
    make_jpeg(tmp_path / "src" / "b.jpg", seed=2, size=(96, 80))
    from engine import evidence

    from declip_desktop.case.evidence_layers import store_layers

    real = evidence.run_many

    def crash_on_first(names, image, *a, **k):
        if str(image).endswith("a.jpg"):
            raise MemoryError("decoder ran out of memory")
        return real(names, image, *a, **k)

    monkeypatch.setattr(evidence, "run_many", crash_on_first)
    with new_case(tmp_path) as case:
        case.add_paths([tmp_path / "src"])
        run = store_layers(case, case.evidence, ["ela"])
        assert [f[:2] for f in run.failed] == [("E0001", "ela")] and "MemoryError" in run.failed[0][2]
        assert run.stored == [("E0002", "ela")] and case.verify().ok


def test_an_ingest_stopped_by_ctrl_c_is_not_logged_as_complete(tmp_path, monkeypatch):
    # Ctrl+C during `case add` kept what was copied (good) but its 'ingest' entry said cancelled: false
    # and nothing else, as if every input had been read.
    from declip_desktop.case import ingest as ingest_mod

    for n in range(3):
        make_jpeg(tmp_path / "src" / f"{n}.jpg", seed=n)
    real = ingest_mod._ingest_one

    def ctrl_c_on_the_second(case, path, *a, **k):
        if path.name == "1.jpg":
            raise KeyboardInterrupt
        return real(case, path, *a, **k)

    monkeypatch.setattr(ingest_mod, "_ingest_one", ctrl_c_on_the_second)
    with new_case(tmp_path) as case:
        with pytest.raises(KeyboardInterrupt):
            case.add_paths([tmp_path / "src"])
        entry = case.audit_entries()[-1]
        assert entry["action"] == "ingest" and entry["details"]["added"] == ["E0001"]
        assert entry["details"]["interrupted"] is True and entry["details"]["not_reached"][0].endswith("2.jpg")
        assert case.verify().ok
