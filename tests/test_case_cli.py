"""`declip case ...` end to end: exit codes, messages, originals untouched, read-only copies."""
from __future__ import annotations

import json
import os
import stat
import sys
import types

import pytest

from declip_desktop.case import Case
from declip_desktop.cli import main
from tests.case_support import make_jpeg, make_png, snapshot


def _new(tmp_path, capsys, name="c"):
    d = str(tmp_path / name)
    assert main(["case", "new", d, "--title", "Tïtle", "--number", "N-1", "--examiner", "Ann", "--org", "Org"]) == 0
    assert "created case" in capsys.readouterr().out
    return d


def test_new_add_duplicate_verify_tamper(tmp_path, capsys):
    src = tmp_path / "src"
    make_jpeg(src / "a.jpg", seed=1)
    make_png(src / "b.png", seed=2)
    before = snapshot(src)
    d = _new(tmp_path, capsys)
    assert main(["case", "add", d, str(src)]) == 0
    out = capsys.readouterr().out
    assert "added E0001 a.jpg" in out and "2 added" in out
    # The same file again: refused, named, exit 1, nothing added.
    assert main(["case", "add", d, str(src / "a.jpg")]) == 1
    out, err = capsys.readouterr()
    assert "duplicate of E0001" in err and "0 added, 1 duplicate" in out
    assert snapshot(src) == before
    for f in (tmp_path / "c.declip" / "evidence").iterdir():
        assert f.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0
    assert main(["case", "verify", d]) == 0
    assert "INTACT" in capsys.readouterr().out
    ev = tmp_path / "c.declip" / "evidence" / "b.png"
    os.chmod(ev, 0o644)
    ev.write_bytes(ev.read_bytes()[:-1] + b"\x00")
    assert main(["case", "verify", d]) == 1
    out = capsys.readouterr().out
    assert "FAIL: E0002 evidence/b.png: MODIFIED, expected sha256" in out
    assert "INTEGRITY FAILURE (1 evidence file modified)" in out
    assert main(["case", "verify", d, "--json"]) == 1
    rep = json.loads(capsys.readouterr().out)
    assert rep["ok"] is False and rep["problems"][0]["evidence_id"] == "E0002" and rep["logged"] is True


def test_verify_that_could_not_run_exits_2_and_says_why_in_json(tmp_path, capsys):
    # It exited 1, as for tampering, and printed no JSON: a script could not tell "not checked"
    # from "checked: failed".
    d = _new(tmp_path, capsys)
    assert main(["case", "verify", d, "--json"]) == 0
    ok = json.loads(capsys.readouterr().out)
    assert ok["ok"] is True and ok["verified"] is True and ok["error"] is None and ok["exit_code"] == 0
    case_json = tmp_path / "c.declip" / "case.json"
    good = case_json.read_bytes()
    not_a_case = tmp_path / "plain"
    not_a_case.mkdir()
    cases = {"missing": (str(tmp_path / "nowhere"), None), "not a case": (str(not_a_case), None),
             "broken case.json": (d, b"{not json"), "no case.json": (d, "unlink")}
    for what, (where, damage) in cases.items():
        case_json.write_bytes(good)
        if damage == "unlink":
            case_json.unlink()
        elif damage is not None:
            case_json.write_bytes(damage)
        assert main(["case", "verify", where]) == 2, what
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("declip: error: ") and "internal error" not in err, what
        assert main(["case", "verify", where, "--json"]) == 2, what
        out, err = capsys.readouterr()
        rep = json.loads(out)
        assert rep["verified"] is False and rep["ok"] is False and rep["exit_code"] == 2, what
        assert rep["error"] and rep["error"] in err and rep["case"] == where, what
    # an unreadable --head is "could not verify" too, never an integrity failure
    case_json.write_bytes(good)
    assert main(["case", "verify", d, "--head", "nonsense", "--json"]) == 2
    assert "expected COUNT:SHA256" in json.loads(capsys.readouterr().out)["error"]


def test_verify_names_the_edited_audit_entry(tmp_path, capsys):
    make_jpeg(tmp_path / "a.jpg")
    d = _new(tmp_path, capsys)
    main(["case", "add", d, str(tmp_path / "a.jpg")])
    log = tmp_path / "c.declip" / "audit.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace('"A', '"B', 1) if '"A' in lines[1] else lines[1].replace("a.jpg", "x.jpg")
    log.write_text("".join(lines), encoding="utf-8")
    capsys.readouterr()
    assert main(["case", "verify", d]) == 1
    assert "audit entry 2 was edited" in capsys.readouterr().out


def test_add_reports_non_images_and_missing_paths(tmp_path, capsys):
    src = tmp_path / "src"
    make_jpeg(src / "a.jpg")
    (src / "readme.txt").write_text("x")
    d = _new(tmp_path, capsys)
    assert main(["case", "add", d, str(src)]) == 0  # a note inside a folder is expected, not a failure
    err = capsys.readouterr().err
    assert "skipped" in err and "readme.txt" in err
    assert main(["case", "add", d, str(src / "readme.txt")]) == 1  # named explicitly: it failed
    assert main(["case", "add", d, str(tmp_path / "missing.jpg")]) == 1
    assert "not found" in capsys.readouterr().err


def test_finding_status_and_errors(tmp_path, capsys):
    make_jpeg(tmp_path / "Straße.jpg")
    d = _new(tmp_path, capsys)
    main(["case", "add", d, str(tmp_path / "Straße.jpg")])
    capsys.readouterr()
    assert main(["case", "finding", d, "Straße.jpg", "--status", "suspicious", "--note", "Schatten ≠ Licht",
                 "--threshold", "0.4"]) == 0
    assert main(["case", "status", d]) == 0
    out = capsys.readouterr().out
    assert "E0001  Straße.jpg" in out and "finding: suspicious  note: Schatten ≠ Licht" in out
    assert main(["case", "status", d, "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["case"]["title"] == "Tïtle" and st["evidence"][0]["finding"]["threshold"] == 0.4
    assert main(["case", "finding", d, "E0001", "--status", "bogus"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("declip: error: unknown finding status") and err.count("\n") == 1
    assert main(["case", "finding", d, "E0042", "--status", "suspicious"]) == 1
    assert "no evidence item matches 'E0042'" in capsys.readouterr().err


def test_locked_case_and_bad_case_json_give_one_line(tmp_path, capsys):
    d = _new(tmp_path, capsys)
    with Case.open(d):
        assert main(["case", "add", d, str(tmp_path)]) == 1
        assert "already open" in capsys.readouterr().err
        assert main(["case", "verify", d]) == 0  # falls back to a read-only check
        assert "not logged" in capsys.readouterr().err
    cj = tmp_path / "c.declip" / "case.json"
    cj.write_text(cj.read_text(encoding="utf-8").replace('"schema_version": 1', '"schema_version": 7'), encoding="utf-8")
    before = cj.read_bytes()
    assert main(["case", "status", d]) == 1
    err = capsys.readouterr().err
    assert "unknown schema_version 7" in err and err.count("\n") == 1
    assert cj.read_bytes() == before


def test_new_refuses_existing_case(tmp_path, capsys):
    d = _new(tmp_path, capsys)
    assert main(["case", "new", d, "--title", "T", "--number", "1", "--examiner", "E"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_report_is_delegated_and_missing_module_is_clear(tmp_path, capsys, monkeypatch):
    d = _new(tmp_path, capsys)
    calls = []
    fake = types.ModuleType("declip_desktop.report")

    def build_report(case, out, threshold=None, items=None):
        calls.append((case.title, out, threshold))
        return types.SimpleNamespace(path=out, sha256="ff" * 32)

    fake.build_report = build_report
    monkeypatch.setitem(sys.modules, "declip_desktop.report", fake)
    out_pdf = str(tmp_path / "r.pdf")
    assert main(["case", "report", d, "--out", out_pdf]) == 0
    assert calls == [("Tïtle", out_pdf, None)] and "ff" * 32 in capsys.readouterr().out
    monkeypatch.setitem(sys.modules, "declip_desktop.report", None)  # import now fails
    assert main(["case", "report", d, "--out", out_pdf]) == 1
    assert "PDF reports are not available" in capsys.readouterr().err


def test_a_report_is_never_written_over_evidence_or_case_data(tmp_path, capsys, monkeypatch):
    src = tmp_path / "src"
    make_jpeg(src / "photo.pdf", seed=3)  # an image whose name ends in .pdf, as a careless export might pick
    d = _new(tmp_path, capsys)
    assert main(["case", "add", d, str(src / "photo.pdf")]) == 0
    before = snapshot(src)
    copy = tmp_path / "c.declip" / "evidence" / "photo.pdf"
    copy_bytes = copy.read_bytes()
    os.link(src / "photo.pdf", tmp_path / "hardlink.pdf")
    built = []
    fake = types.ModuleType("declip_desktop.report")
    fake.build_report = lambda case, out, **kw: built.append(out) or types.SimpleNamespace(path=out, sha256="0" * 64)
    monkeypatch.setitem(sys.modules, "declip_desktop.report", fake)
    capsys.readouterr()
    for out, said in ((copy, "inside the case folder"), (tmp_path / "c.declip" / "evidence" / "new.pdf", "inside the case folder"),
                      (tmp_path / "c.declip" / "case.json.pdf", "inside the case folder"),
                      (src / "photo.pdf", "is evidence E0001"), (tmp_path / "hardlink.pdf", "is evidence E0001")):
        assert main(["case", "report", d, "--out", str(out)]) == 1, out
        assert said in capsys.readouterr().err
    assert built == [] and snapshot(src) == before and copy.read_bytes() == copy_bytes
    # the case's reports folder and any other new file are fine
    for out in (tmp_path / "c.declip" / "reports" / "r.pdf", tmp_path / "elsewhere.pdf"):
        assert main(["case", "report", d, "--out", str(out)]) == 0
    assert built == [str(tmp_path / "c.declip" / "reports" / "r.pdf"), str(tmp_path / "elsewhere.pdf")]

    def unwritable(case, out, **kw):
        raise FileNotFoundError(2, "No such file or directory", "/proc/.tmp-x.pdf")

    fake.build_report = unwritable  # e.g. --out /proc/x.pdf: one line, not an internal error
    assert main(["case", "report", d, "--out", "/proc/x.pdf"]) == 1
    assert capsys.readouterr().err.strip().endswith("/proc/x.pdf: cannot write the report (No such file or directory)")
    # the GUI's export job checks the same before building (its file dialog accepts any path)
    import pytest

    from declip_desktop.case.errors import CaseError
    from declip_desktop.report_export import report_job

    with Case.open(d, readonly=True) as case, pytest.raises(CaseError, match="is evidence E0001"):
        report_job(None, case, str(src / "photo.pdf"))
    assert len(built) == 2 and snapshot(src) == before


def test_log_prints_the_chain(tmp_path, capsys):
    d = _new(tmp_path, capsys)
    assert main(["case", "log", d, "--json"]) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert entries[0]["action"] == "case_created" and entries[0]["details"]["title"] == "Tïtle"


def test_report_end_to_end_when_the_report_module_is_present(tmp_path, capsys):
    import pytest

    pytest.importorskip("declip_desktop.report")
    make_jpeg(tmp_path / "a.jpg")
    d = _new(tmp_path, capsys)
    main(["case", "add", d, str(tmp_path / "a.jpg")])
    out_pdf = tmp_path / "r.pdf"
    assert main(["case", "report", d, "--out", str(out_pdf)]) == 0
    assert out_pdf.read_bytes().startswith(b"%PDF")
    with Case.open(d, readonly=True) as case:
        logged = [e for e in case.audit_entries() if e["action"] == "report_exported"]
        assert len(logged) == 1
        import hashlib

        assert logged[0]["details"]["sha256"] == hashlib.sha256(out_pdf.read_bytes()).hexdigest()


def test_analyze_precision_takes_the_engine_choices_only(tmp_path, capsys):
    d = _new(tmp_path, capsys)
    # The engine knows auto/exact/fast; a dtype name is a usage error (exit 2), not a failed analysis.
    try:
        rc = main(["case", "analyze", d, "--precision", "fp16"])
    except SystemExit as exc:
        rc = exc.code
    assert rc == 2
    assert "invalid choice: 'fp16'" in capsys.readouterr().err


def test_a_write_protected_case_is_verified_and_reported_read_only(tmp_path, capsys, monkeypatch):
    """Root ignores file modes, so the lock's PermissionError is what a protected folder gives."""
    from declip_desktop.case import lock

    d = _new(tmp_path, capsys)
    make_jpeg(tmp_path / "a.jpg", seed=1)
    assert main(["case", "add", d, str(tmp_path / "a.jpg")]) == 0
    before = snapshot(tmp_path / "c")

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(tmp_path / "c" / "case.lock"))

    monkeypatch.setattr(lock.CaseLock, "acquire", refuse)
    capsys.readouterr()
    assert main(["case", "verify", d]) == 0
    out, err = capsys.readouterr()
    assert "INTACT" in out and "verifying read-only" in err
    out_pdf = tmp_path / "r.pdf"
    assert main(["case", "report", d, "--out", str(out_pdf)]) == 0
    assert out_pdf.read_bytes()[:5] == b"%PDF-" and "reporting read-only" in capsys.readouterr().err
    assert snapshot(tmp_path / "c") == before  # nothing in the case was written


def test_a_name_shared_by_a_file_name_and_an_original_name_is_ambiguous(tmp_path, capsys):
    d = _new(tmp_path, capsys)
    make_jpeg(tmp_path / "a" / "IMG.jpg", seed=1)
    make_jpeg(tmp_path / "b" / "IMG.jpg", seed=2)  # another photo of the same name: stored as "IMG (2).jpg"
    assert main(["case", "add", d, str(tmp_path / "a" / "IMG.jpg"), str(tmp_path / "b" / "IMG.jpg")]) == 0
    capsys.readouterr()
    assert main(["case", "finding", d, "IMG.jpg", "--status", "suspicious"]) == 1
    assert "matches 2 evidence items (E0001, E0002); use the id" in capsys.readouterr().err
    assert main(["case", "finding", d, "IMG (2).jpg", "--status", "suspicious"]) == 0
    assert capsys.readouterr().out.startswith("E0002 ")


def test_status_shows_control_characters_in_notes_as_escapes(tmp_path, capsys):
    d = _new(tmp_path, capsys)
    make_jpeg(tmp_path / "a.jpg", seed=1)
    assert main(["case", "add", d, str(tmp_path / "a.jpg")]) == 0
    assert main(["case", "finding", d, "E0001", "--status", "suspicious", "--note", "ok\x1b[2J\x1b]0;pwned\x07 Straße"]) == 0
    capsys.readouterr()
    assert main(["case", "status", d]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "ok\\x1b[2J\\x1b]0;pwned\\x07 Straße" in out  # visible, and non-ASCII letters stay as they are


def test_case_analyze_says_what_reading_each_file_found(tmp_path, capsys):
    """The notes `declip analyze` prints (EXIF orientation applied, first frame of many, a damaged JPEG's
    grey fill) are said by `case analyze` too, under the item's line; before, they were only stored."""
    import resources

    data = bytearray(resources.path("samples", "astronaut.jpg").read_bytes())
    mid = len(data) // 2
    data[mid:mid + 2000] = bytes((b * 7 + 13) & 0xFF for b in data[mid:mid + 2000])
    (tmp_path / "damaged.jpg").write_bytes(bytes(data))
    d = _new(tmp_path, capsys)
    assert main(["case", "add", d, str(tmp_path / "damaged.jpg")]) == 0
    capsys.readouterr()
    assert main(["case", "analyze", d]) == 0
    lines = capsys.readouterr().err.splitlines()
    at = next(i for i, line in enumerate(lines) if "E0001 damaged.jpg: score" in line)
    assert lines[at + 1].startswith("  E0001: note: the bottom ") and "probably damaged" in lines[at + 1]


def test_add_resume_indexes_an_interrupted_ingest_from_the_case_copies(tmp_path, capsys, monkeypatch):
    """Old code: `case add` had no --resume; with the original gone, verify failed for good."""
    from tests.case_support import killed_ingest

    src = tmp_path / "a.jpg"
    make_jpeg(src, seed=4)
    case_dir = tmp_path / "c.declip"
    assert main(["case", "new", str(case_dir), "--title", "T", "--number", "1", "--examiner", "E"]) == 0
    with Case.open(case_dir) as case:
        killed_ingest(case, [src], monkeypatch)
    src.unlink()
    capsys.readouterr()
    assert main(["case", "verify", str(case_dir)]) == 1
    assert "--resume" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:  # neither paths nor --resume: a usage error
        main(["case", "add", str(case_dir)])
    assert exc.value.code == 2 and "--resume" in capsys.readouterr().err
    assert main(["case", "add", str(case_dir), "--resume"]) == 0
    assert "added E0001 a.jpg" in capsys.readouterr().out
    assert main(["case", "verify", str(case_dir)]) == 0
    assert main(["case", "add", str(case_dir), "--resume"]) == 0
    assert "nothing to resume" in capsys.readouterr().out
