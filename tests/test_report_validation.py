"""The report states the model's measured false-alarm rate beside each map and, in its appendix, the
card's validation figures in words and this installation's latest validation record."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pypdf = pytest.importorskip("pypdf")

sys.path.insert(0, str(Path(__file__).parent))
from report_samples import make_photo, make_result  # noqa: E402

from declip_desktop.report import AuditSummary, ReportCase, ReportItem, build_report  # noqa: E402

VALIDATION = [
    {"set": {"id": "synth", "name": "own test split", "same_generator": True, "images": 100, "authentic": 20},
     "date": "2026-12-01", "threshold": 0.5, "figures": {"iou": 61.0, "image_ap": 97.0, "image_ap_chance": 80.0}},
    {"set": {"id": "ext", "name": "bench X", "same_generator": False, "images": 91, "authentic": 13},
     "date": "2026-12-06", "threshold": 0.5,
     "figures": {"iou": 29.5, "image_ap": 89.8, "image_ap_chance": 85.7, "authentic_flagged": 38.46,
                 "authentic_flagged_count": 5}},
]


def _text(pdf: Path) -> str:
    return " ".join((p.extract_text() or "") for p in pypdf.PdfReader(str(pdf)).pages).replace("\n", " ")


def _case(tmp_path, validation):
    p = tmp_path / "IMG_0001.jpg"
    sha = make_photo(p, 320, 240)
    res = make_result(320, 240, sha)
    if validation is not None:
        res.metadata["model"]["validation"] = validation
    item = ReportItem(item_id="E0001", file_name=p.name, path=p, sha256_ingest=sha, result=res)
    return ReportCase(title="T", number="N-1", examiner="E", items=[item], audit=AuditSummary(chain_ok=True))


def test_false_alarm_rate_beside_the_map_and_validation_in_the_appendix(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DECLIP_HOME", str(home))
    (home / "validation").mkdir(parents=True)
    rec = {"result": "FAIL", "created_utc": "2026-12-06T07:00:00Z", "model": {"id": "tiny-test"},
           "device": {"name": "CPU", "precision": "exact"}, "versions": {"app": "0.1.0"},
           "items": [{"name": "a.jpg", "ok": True}, {"name": "b.png", "ok": False},
                     {"name": "layer ela", "ok": True}, {"name": "layer clones", "ok": False}]}
    (home / "validation" / "validation-20261206T070000Z.json").write_text(json.dumps(rec))
    out = tmp_path / "r.pdf"
    build_report(_case(tmp_path, VALIDATION), out)
    text = _text(out)
    assert "Measured false-alarm rate" in text and "38 % of authentic photos (5 of 13)" in text
    assert "Appendix D" in text
    # the independent set is stated first, in words
    assert text.index("edits made by another generator") < text.index("its own training generator")
    assert "finds about 30 % of the edited area" in text
    assert "Latest validation: FAIL" in text and "1 of 2 golden items and 1 of 2 evidence layers" in text


def test_without_figures_or_record_the_report_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("DECLIP_HOME", str(tmp_path / "home"))
    out = tmp_path / "r.pdf"
    build_report(_case(tmp_path, None), out)
    text = _text(out)
    assert "No measured false-alarm rate" in text and "No validation record on this machine" in text
