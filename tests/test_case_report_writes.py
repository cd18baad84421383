"""Report writes, leftovers of killed writes, bounded input and what the terminal shows (issue 34)."""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct

import pytest
from PIL import Image

from declip_desktop.case import Case, CaseError
from declip_desktop.case import util as case_util
from declip_desktop.cli import main
from declip_desktop.report import build_report
from declip_desktop.report import builder as builder_mod
from tests.case_support import make_jpeg, new_case


@pytest.fixture
def case_path(tmp_path):
    make_jpeg(tmp_path / "src" / "a.jpg", seed=1)
    with new_case(tmp_path) as c:
        c.add_paths([tmp_path / "src"])
        return c.path


# -- 5. atomic, safe report writes -----------------------------------------------------------------
def test_planted_links_are_never_written_through(case_path, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "r.pdf"
    out.symlink_to(victim)  # the report path itself
    (tmp_path / f".r.pdf.{os.getpid()}.tmp").symlink_to(victim)  # the temp name older versions used
    (tmp_path / "r.pdf.sha256").symlink_to(victim)
    info = build_report(case_path, out)
    assert victim.read_text() == "precious"
    assert not out.is_symlink() and out.read_bytes().startswith(b"%PDF")
    sidecar = tmp_path / "r.pdf.sha256"
    assert not sidecar.is_symlink() and sidecar.read_text().split()[:2] == [info.sha256, "r.pdf"]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


@pytest.mark.parametrize("kill_at", [1, 2])
def test_a_killed_report_never_leaves_a_pdf_beside_a_sidecar_for_other_bytes(case_path, tmp_path, monkeypatch, kill_at):
    out = tmp_path / "r.pdf"
    build_report(case_path, out)
    calls = {"n": 0}
    real = os.replace

    def replace(a, b):
        if str(b) in (str(out), str(out) + ".sha256"):
            calls["n"] += 1
            if calls["n"] == kill_at:  # 1: before the PDF is renamed, 2: after it, before the sidecar
                raise KeyboardInterrupt("killed")
        return real(a, b)

    monkeypatch.setattr(builder_mod.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        build_report(case_path, out)
    monkeypatch.undo()
    assert calls["n"] == kill_at
    sidecar = tmp_path / "r.pdf.sha256"
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert not sidecar.exists() or sidecar.read_text().split()[0] == digest
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


def test_verify_names_a_report_in_the_case_without_its_audit_entry(case_path, monkeypatch):
    from declip_desktop.report import case_adapter

    out = case_path / "reports" / "r.pdf"
    build_report(case_path, out)
    with Case.open(case_path) as c:
        assert c.verify().ok
    monkeypatch.setattr(case_adapter, "log_report", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):  # killed after the rename, before the audit entry
        build_report(case_path, out)
    with Case.open(case_path) as c:
        rep = c.verify()
    assert [p.kind for p in rep.problems] == ["report_unlogged"] and "reports/r.pdf" in rep.problems[0].message


def test_leftover_temp_files_are_cleaned_and_the_clean_up_logged(case_path):
    (case_path / "analyses" / "E0001").mkdir(parents=True)
    (case_path / "analyses" / "E0001" / ".tmp-m__paper.abc.png").write_bytes(b"half")
    (case_path / "reports" / ".tmp-r.pdf.xyz.pdf").write_bytes(b"%PDF half")
    with Case.open(case_path) as c:
        last = c.audit_entries()[-1]
        assert last["action"] == "stale_temps_removed"
        assert sorted(last["details"]["files"]) == ["analyses/E0001/.tmp-m__paper.abc.png", "reports/.tmp-r.pdf.xyz.pdf"]
        assert c.verify().ok
    assert not (case_path / "reports" / ".tmp-r.pdf.xyz.pdf").exists()


# -- 9. bounded input, and reports of cases made before it ------------------------------------------
def test_lengths_are_bounded_at_input_and_case_edit_is_logged(case_path, tmp_path, capsys):
    with pytest.raises(CaseError, match="at most 120"):
        new_case(tmp_path, name="long", examiner="W" * 5000)
    assert main(["case", "new", str(tmp_path / "c2"), "--title", "T" * 201, "--number", "1", "--examiner", "A"]) == 1
    assert "the title is 201 characters long" in capsys.readouterr().err
    assert main(["case", "edit", str(case_path), "--case-examiner", "B. Other", "--title", "New title",
                 "--examiner", "C. Clerk"]) == 0
    assert "changed title, examiner" in capsys.readouterr().out
    assert main(["case", "edit", str(case_path), "--case-examiner", "W" * 5000]) == 1
    with Case.open(case_path) as c:
        assert (c.examiner, c.title) == ("B. Other", "New title")
        e = c.audit_entries()[-1]
        assert e["action"] == "case_info_changed" and e["examiner"] == "C. Clerk"
        assert e["details"]["examiner"] == {"old": "A. Examiner", "new": "B. Other"}
        assert c.verify().ok


def test_a_case_with_overlong_fields_from_an_older_version_still_reports(tmp_path, monkeypatch):
    make_jpeg(tmp_path / "src" / "a.jpg", seed=1)
    monkeypatch.setattr(case_util, "MAX_LENGTHS", {k: 10**6 for k in case_util.MAX_LENGTHS})
    with new_case(tmp_path, examiner="W" * 5000, title="T" * 3000, organisation="O" * 3000) as c:
        c.add_paths([tmp_path / "src"])
        c.set_finding("E0001", "suspicious", note="n")
        info = build_report(c, tmp_path / "r.pdf")  # was: LayoutError
    assert info.pages >= 3


# -- 10. what the terminal shows ------------------------------------------------------------------
def test_control_characters_in_file_names_are_escaped(tmp_path, capsys):
    src = tmp_path / "src"
    make_jpeg(src / "evil\x1b[2J\x1b[31mred\nline.jpg", seed=3)
    path = tmp_path / "case"
    assert main(["case", "new", str(path), "--title", "t", "--number", "1", "--examiner", "A"]) == 0
    assert main(["case", "add", str(path), str(src)]) == 0
    (tmp_path / "case.declip" / "evidence" / "stray\x1b[31m.txt").write_text("x")
    assert main(["case", "verify", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and "\\x1b[31mred\\nline.jpg" in out
    assert all("line.jpg" not in ln or "evil" in ln for ln in out.splitlines())  # no line broken by the name


def _jpeg_declaring(path, width, height):
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (120, 120, 120)).save(buf, "JPEG", quality=50)
    data = bytearray(buf.getvalue())
    i = data.index(b"\xff\xc0")
    data[i + 5:i + 9] = struct.pack(">HH", height, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return path


def test_a_tiny_file_declaring_a_huge_image_is_warned_about(tmp_path, capsys):
    bomb = _jpeg_declaring(tmp_path / "src" / "bomb.jpg", 14000, 14000)
    assert bomb.stat().st_size < 2000
    path = tmp_path / "case"
    assert main(["case", "new", str(path), "--title", "t", "--number", "1", "--examiner", "A"]) == 0
    assert main(["case", "add", str(path), str(bomb)]) == 0
    err = capsys.readouterr().err
    assert "declares 14000x14000 (196 MP)" in err and "bytes" in err and "DECLIP_MAX_PIXELS" in err


def test_temps_of_a_killed_export_beside_the_report_are_cleaned_and_logged(case_path, tmp_path):
    out = tmp_path / "r.pdf"
    left = [tmp_path / ".tmp-r.pdf.k1ll3d.pdf", tmp_path / ".tmp-r.pdf.sha256.abc123.pdf"]
    for p in left:
        p.write_bytes(b"%PDF half")
    unrelated = tmp_path / ".tmp-other.pdf.x.pdf"
    unrelated.write_bytes(b"not ours")
    build_report(case_path, out)
    assert not any(p.exists() for p in left) and unrelated.exists()
    with Case.open(case_path, readonly=True) as c:
        e = c.audit_entries()[-1]
    assert e["action"] == "report_exported" and sorted(e["details"]["removed_leftovers"]) == sorted(map(str, left))
