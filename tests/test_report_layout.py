"""The report's layout and wording review: item pages say which item a continuation page belongs
to, headings stay with what follows, the signature stays on the cover, the audit log's details are
readable and whole, and the method table speaks in units and words, not internal keys."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pypdf = pytest.importorskip("pypdf")

sys.path.insert(0, str(Path(__file__).parent))
from report_samples import make_photo, make_result  # noqa: E402

from declip_desktop.report import AuditSummary, ReportCase, ReportItem, build_report  # noqa: E402


def _pages(pdf: Path) -> list[str]:
    return [" ".join((p.extract_text() or "").split()) for p in pypdf.PdfReader(str(pdf)).pages]


# ---- 5: how it was analysed, in words ---------------------------------------------------------
def test_timings_are_in_seconds_with_units_not_key_suffixes():
    from declip_desktop.report.item_page import timings_text

    text = timings_text({"preprocess_s": 0.002267, "backbone_s": 0.07662, "decoder_s": 0.3124, "resize_ms": 12.0,
                         "batch_size": 1})
    assert text == "preprocess < 0.01 s, backbone 0.08 s, decoder 0.31 s, resize 0.01 s; batch size 1"
    assert "_s" not in text


def test_the_device_is_named_once():
    from declip_desktop.report.item_page import device_text

    assert device_text({"device": "cpu", "device_name": "CPU (2 threads)"}) == "CPU (2 threads)"
    assert device_text({"device": "cuda", "device_name": "NVIDIA H100 80GB HBM3"}) == "NVIDIA H100 80GB HBM3 (cuda)"
    assert device_text({"device": "cpu"}) == "cpu"


def test_jpeg_quantisation_is_worded_without_a_contradiction():
    from declip_desktop.report.exif import jpeg_text, key_rows

    exact = jpeg_text({"estimated_quality": 70, "quality_exact_ijg_match": True, "subsampling": "4:2:0"})
    assert exact == "the standard IJG tables at quality 70; chroma subsampling 4:2:0"
    approx = jpeg_text({"estimated_quality": 92, "quality_exact_ijg_match": False})
    assert approx.startswith("not the standard IJG tables; nearest IJG quality 92")
    rows = dict(key_rows({"exif": {}, "jpeg": {"estimated_quality": 70, "quality_exact_ijg_match": True}}))
    assert rows["JPEG quantisation"] == "the standard IJG tables at quality 70" and "JPEG quality" not in rows


def test_the_method_table_on_the_page_uses_units_and_names_the_device_once(tmp_path):
    p = tmp_path / "a.jpg"
    sha = make_photo(p, 320, 240, seed=1)
    res = make_result(320, 240, sha, seed=1)
    res.metadata.update(device="cpu", device_name="CPU (2 threads)",
                        timings={"preprocess_s": 0.0026, "backbone_s": 0.0766, "decoder_s": 0.1124, "batch_size": 1})
    case = ReportCase(title="T", number="N-1", examiner="E", audit=AuditSummary(chain_ok=True),
                      items=[ReportItem(item_id="E0001", file_name="a.jpg", path=p, sha256_ingest=sha, result=res)])
    out = tmp_path / "r.pdf"
    build_report(case, out)
    text = " ".join(_pages(out))
    assert "Timings preprocess < 0.01 s, backbone 0.08 s, decoder 0.11 s; batch size 1" in text
    assert "backbone_s" not in text and "(cpu)" not in text
    assert "Device / precision CPU (2 threads) · exact" in text
