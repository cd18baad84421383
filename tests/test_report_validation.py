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
    rec = _record("FAIL", "2026-12-06T07:00:00Z", items=[
        {"name": "a.jpg", "ok": True}, {"name": "b.png", "ok": False, "problem": "map differs from the recorded reference"},
        {"name": "layer ela", "ok": True},
        {"name": "layer clones", "ok": False, "problem": "references are of version 1.7, this installation has 1.8"}])
    (home / "validation" / "validation-20261206T070000Z.json").write_text(json.dumps(rec))
    # newer, but of another model id with the same weights: never cited
    other = dict(_record("PASS", "2026-12-07T07:00:00Z"), model={"id": "other", "files": rec["model"]["files"]})
    (home / "validation" / "validation-20261207T070000Z.json").write_text(json.dumps(other))
    out = tmp_path / "r.pdf"
    build_report(_case(tmp_path, VALIDATION), out)
    text = _text(out)
    assert "Measured false-alarm rate" in text and "38 % of authentic photos (5 of 13)" in text
    assert "Appendix D" in text
    # the independent set is stated first, in words
    assert text.index("edits made by another generator") < text.index("its own training generator")
    assert "finds about 30 % of the edited area" in text
    assert "latest validation FAIL on 2026-12-06T07:00:00Z" in text
    assert "1 of 2 golden items and 1 of 2 evidence layers" in text
    # the failing rows are named, not just counted
    assert "b.png: map differs from the recorded reference" in text
    assert "layer clones: references are of version 1.7, this installation has 1.8" in text
    assert "It covers the device and precision the items were analysed with" in text
    assert "2026-12-07T07:00:00Z" not in text
    # and the cover says it in one line
    cover = pypdf.PdfReader(str(out)).pages[0].extract_text().replace("\n", " ")
    assert "Installation validation FAIL for model tiny-test" in cover and "layer clones" in cover


def test_without_figures_or_record_the_report_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("DECLIP_HOME", str(tmp_path / "home"))
    out = tmp_path / "r.pdf"
    build_report(_case(tmp_path, None), out)
    text = _text(out)
    assert "No measured false-alarm rate" in text
    assert "no validation record of this model with these weights on this machine" in text


def test_a_pass_of_other_weights_or_another_device_is_not_claimed(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DECLIP_HOME", str(home))
    (home / "validation").mkdir(parents=True)
    other = _record("PASS", "2026-12-07T07:00:00Z")
    other["model"]["files"][0]["expected"] = "00" * 32          # same id, other decoder
    (home / "validation" / "validation-20261207T070000Z.json").write_text(json.dumps(other))
    gpu = dict(_record("PASS", "2026-12-05T07:00:00Z"), device={"device": "cuda", "name": "H100", "precision": "fast"})
    (home / "validation" / "validation-20261205T070000Z.json").write_text(json.dumps(gpu))
    out = tmp_path / "r.pdf"
    build_report(_case(tmp_path, None), out)
    text = _text(out)
    assert "2026-12-07T07:00:00Z" not in text                 # the other weights' PASS
    assert "latest validation PASS on 2026-12-05T07:00:00Z" in text and "H100 (cuda), precision fast" in text
    assert "It does not cover cpu · exact" in text
    cover = pypdf.PdfReader(str(out)).pages[0].extract_text().replace("\n", " ")
    assert "not on the device/precision the items used" in cover


def _record(result: str, when: str, items: list | None = None) -> dict:
    """A validation record of the sample model (make_result: tiny-test, decoder ab.., clip-vit cd..) on CPU/exact."""
    return {"result": result, "created_utc": when, "device": {"device": "cpu", "name": "CPU", "precision": "exact"},
            "model": {"id": "tiny-test", "files": [
                {"role": "decoder", "name": "decoder.safetensors", "expected": "ab" * 32, "ok": True},
                {"role": "clip-vit", "name": "backbone.safetensors", "expected": "cd" * 32, "ok": True}]},
            "versions": {"app": "0.1.0"}, "items": items or [{"name": "a.jpg", "ok": True}]}
