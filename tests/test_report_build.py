"""The PDF built from a report data model: text, hashes, warnings, sidecar, metadata."""
from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pypdf = pytest.importorskip("pypdf")

sys.path.insert(0, str(Path(__file__).parent))
from report_samples import make_photo, make_result  # noqa: E402

from declip_desktop.report import AuditSummary, ReportCase, ReportError, ReportItem, build_report  # noqa: E402

EXAMINER = "Иван Петров 山田太郎"
NOTE = "Ελληνικά σημειώσεις; 窗户附近的区域; заметка эксперта"
LONG_NAME = "a_really_long_file_name_from_a_messenger_export_2024-05-06_at_07.08.09_copy_copy_final(3).jpg"


def _case(tmp_path: Path, n: int = 3) -> ReportCase:
    items = []
    for i in range(n):
        name = LONG_NAME if i == 1 else f"IMG_{i:04d}.jpg"
        p = tmp_path / name
        sha = make_photo(p, 320 + 40 * i, 240, seed=i)
        res = make_result(320 + 40 * i, 240, sha, seed=i, mode="tiled" if i == 1 else "paper")
        items.append(ReportItem(item_id=f"E{i + 1:04d}", file_name=name, path=p, sha256_ingest=sha, result=res,
                                threshold=0.35 if i == 0 else None, status="suspicious", note=NOTE))
    audit = AuditSummary(entries=[{"seq": 1, "time_utc": "2026-11-28T10:00:00Z", "examiner": EXAMINER,
                                   "action": "case_created", "details": {"n": 1}, "sha256": "ef" * 32}], chain_ok=True)
    return ReportCase(title="Storm damage claim", number="CASE-2026/0042", examiner=EXAMINER,
                      organisation="Forensik-Labor München", items=items, audit=audit, default_threshold=0.5)


def _text(pdf: Path) -> tuple[str, list[str], pypdf.PdfReader]:
    r = pypdf.PdfReader(str(pdf))
    pages = [p.extract_text() or "" for p in r.pages]
    return "\n".join(pages), pages, r


def test_pdf_states_hashes_scores_thresholds_and_unicode_names(tmp_path):
    case = _case(tmp_path)
    out = tmp_path / "report.pdf"
    info = build_report(case, out)
    text, pages, reader = _text(out)
    for it in case.items:
        assert it.sha256_ingest in text, it.file_name
        assert f"{it.result.score:.4f}" in text
    assert "0.35" in text and "0.50" in text          # item threshold and case default
    assert "CASE-2026/0042" in text
    for word in ("Иван", "Петров", "山田太郎", "Ελληνικά", "窗户附近的区域"):
        assert word in text, word
    assert "ab" * 32 in text                          # weights SHA-256
    assert info.pages == len(pages) and info.items == 3 and info.analysed == 3
    for i, page in enumerate(pages, 1):               # furniture on every page
        assert f"Page {i} of {len(pages)}" in page
        assert "CASE-2026/0042" in page
    assert info.report_id in text
    meta = reader.metadata
    assert "CASE-2026/0042" in meta.title and EXAMINER in meta.author and info.report_id in meta.subject


def test_sidecar_is_sha256sum_of_the_pdf(tmp_path):
    out = tmp_path / "r.pdf"
    info = build_report(_case(tmp_path, 1), out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert info.sha256 == digest
    assert info.sidecar.read_text(encoding="utf-8") == f"{digest}  r.pdf\n"
    if shutil.which("sha256sum"):
        ok = subprocess.run(["sha256sum", "-c", info.sidecar.name], cwd=tmp_path, capture_output=True, text=True)
        assert ok.returncode == 0, ok.stdout + ok.stderr


def test_threshold_override_applies_to_every_item(tmp_path):
    out = tmp_path / "r.pdf"
    build_report(_case(tmp_path, 2), out, threshold=0.375)
    text, _, _ = _text(out)
    assert "0.375 for every item" in text
    assert "Threshold: 0.35" not in text and text.count("0.375") >= 4


def test_modified_evidence_gets_integrity_warning(tmp_path):
    case = _case(tmp_path, 2)
    with open(case.items[1].path, "ab") as fh:
        fh.write(b"tampered")
    info = build_report(case, tmp_path / "r.pdf")
    text, _, _ = _text(tmp_path / "r.pdf")
    assert "INTEGRITY WARNING" in text and "MISMATCH" in text
    assert info.integrity_failures == [LONG_NAME]
    now = hashlib.sha256(case.items[1].path.read_bytes()).hexdigest()
    assert now in text                                # the report-time hash is stated too


def test_unanalysed_and_missing_items_do_not_fail(tmp_path):
    case = _case(tmp_path, 2)
    case.items[0].result = None
    case.items[1].path = tmp_path / "gone.jpg"
    info = build_report(case, tmp_path / "r.pdf")
    text, _, _ = _text(tmp_path / "r.pdf")
    assert "not analysed" in text and "NOT ANALYSED" in text
    assert "file missing" in text
    assert info.analysed == 1


def test_long_names_and_notes_wrap_inside_the_page(tmp_path):
    case = _case(tmp_path, 2)
    case.items[1].note = ("Sehr lange Notiz ohne Ende " * 60) + "X" * 300
    out = tmp_path / "r.pdf"
    build_report(case, out)
    text, _, _ = _text(out)
    # pypdf yields the wrapped name in pieces; joined without line breaks it is complete.
    assert LONG_NAME in re.sub(r"\s+", "", text)
    assert "X" * 40 in text.replace("\n", "")


def test_long_examiner_names_get_keys_in_the_audit_log(tmp_path):
    long_name = "Dr. Maximiliana Alexandra Konstantinopoulou-Fitzgerald, Senior Digital Forensic Examiner"
    case = _case(tmp_path, 1)
    entry = case.audit.entries[0]
    case.audit.entries = [dict(entry, seq=1, examiner=long_name, os_user="mk", host="lab-07"),
                          dict(entry, seq=2, examiner="J. Smith"),
                          dict(entry, seq=3, examiner=long_name, os_user="mk", host="lab-07")]
    out = tmp_path / "r.pdf"
    build_report(case, out)
    _, pages, _ = _text(out)
    log = next(p for p in pages if "Appendix B" in p)
    # The full identity is printed once, in the key table, whole (never cut mid-word) ...
    assert f"{long_name} (mk@lab-07)" in log.replace("\n", " ")
    assert log.count("Konstantinopoulou") == 1
    # ... and the rows carry the keys, in order of first appearance.
    rows = log[log.index("# · entry"):]
    assert re.search(r"\b1\b.*X1", rows, re.S) and "X2" in rows
    assert "J. Smith" in log


def test_short_examiner_names_stay_in_the_audit_rows(tmp_path):
    case = _case(tmp_path, 1)
    out = tmp_path / "r.pdf"
    build_report(case, out)
    _, pages, _ = _text(out)
    log = next(p for p in pages if "Appendix B" in p)
    assert "Examiners in this log" not in log and "X1" not in log
    assert "Петров" in log


def test_items_selection_and_unknown_item(tmp_path):
    case = _case(tmp_path, 3)
    info = build_report(case, tmp_path / "r.pdf", items=["E0003", LONG_NAME])
    assert info.items == 2
    text, _, _ = _text(tmp_path / "r.pdf")
    assert case.items[2].sha256_ingest in text and case.items[0].sha256_ingest not in text
    with pytest.raises(ReportError, match="E0099"):
        build_report(case, tmp_path / "r2.pdf", items=["E0099"])


def test_bad_arguments_are_clear_errors(tmp_path):
    case = _case(tmp_path, 1)
    with pytest.raises(ReportError, match="outside 0..1"):
        build_report(case, tmp_path / "r.pdf", threshold=1.5)
    with pytest.raises(ReportError, match="must end in .pdf"):
        build_report(case, tmp_path / "r.txt")
    with pytest.raises(ReportError, match="does not exist"):
        build_report(case, tmp_path / "nope" / "r.pdf")
    assert not (tmp_path / "r.pdf").exists()


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) not installed")
def test_pages_render_with_poppler(tmp_path):
    out = tmp_path / "r.pdf"
    info = build_report(_case(tmp_path, 1), out)
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(out), str(tmp_path / "pg")], check=True, capture_output=True)
    pngs = sorted(tmp_path.glob("pg*.png"))
    assert len(pngs) == info.pages
    from PIL import Image
    import numpy as np

    item_page = np.asarray(Image.open(pngs[2]).convert("RGB"), dtype=np.float32)
    assert item_page.std() > 20          # images are drawn, not a blank page


def test_full_exif_appendix_lists_every_tag_across_pages(tmp_path):
    case = _case(tmp_path, 1)
    case.items[0].metadata = {"format": "JPEG", "exif": {f"EXIF Tag{i:03d}": f"value {i} " * 12 for i in range(150)}}
    info = build_report(case, tmp_path / "r.pdf")
    _, pages, _ = _text(tmp_path / "r.pdf")
    appendix = "\n".join(p for p in pages if "Appendix C" in p or "EXIF Tag" in p)
    assert all(f"EXIF Tag{i:03d}" in appendix for i in range(150))
    assert sum("EXIF Tag" in p for p in pages) >= 2 and info.pages == len(pages)


def test_precision_row_names_both_dtypes_where_backbone_and_decoder_differ():
    from declip_desktop.report.item_page import precision_text

    assert precision_text({"precision": "exact", "dtype": "float32", "decoder_dtype": "float32"}) == "exact · dtype float32"
    assert precision_text({"precision": "fast", "dtype": "bfloat16", "decoder_dtype": "float32"}) == (
        "fast · backbone bfloat16, decoder float32")
    assert precision_text({"precision": "fast", "dtype": "float16"}) == "fast · dtype float16"  # older results
    assert precision_text({}) == "?"
