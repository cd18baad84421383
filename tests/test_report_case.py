"""The report bound to a real case folder: Case API in, PDF + sidecar + audit entry out."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

pypdf = pytest.importorskip("pypdf")

sys.path.insert(0, str(Path(__file__).parent))
from report_samples import make_photo, make_result  # noqa: E402

from declip_desktop.case import Case  # noqa: E402
from declip_desktop.report import build_report  # noqa: E402

EXAMINER = "Мария Иванова 김철수"


def _make_case(tmp_path: Path, analysed: int = 2, total: int = 3) -> Path:
    src = tmp_path / "incoming"
    src.mkdir()
    paths = []
    for i in range(total):
        p = src / f"photo_{i}.jpg"
        make_photo(p, 360, 270, seed=10 + i)
        paths.append(p)
    case = Case.create(tmp_path / "claim", title="Claim 77 — 東京", number="INS-77/Ж", examiner=EXAMINER,
                       organisation="Versicherung AG")
    try:
        case.add_paths(paths)
        for ev in case.evidence[:analysed]:
            case.store_analysis(ev.id, make_result(ev.width, ev.height, ev.sha256, seed=int(ev.id[1:])))
        ev = case.evidence[0]
        case.set_finding(ev.id, "suspicious", note="Отредактированная область у крыши", threshold=0.3, opacity=0.6)
        return case.path
    finally:
        case.close()


def _log_failure(case, eid: str, error: str, model_id: str = "m1", mode: str = "paper") -> None:
    case.log("analysis_failed", {"evidence_id": eid, "model_id": model_id, "mode": mode, "error": error})


def _text(pdf: Path) -> str:
    return "\n".join(p.extract_text() or "" for p in pypdf.PdfReader(str(pdf)).pages)


def test_report_from_case_folder_logs_its_sha256(tmp_path):
    folder = _make_case(tmp_path)
    out = tmp_path / "report.pdf"
    info = build_report(folder, out)
    text = _text(out)
    with Case.open(folder, readonly=True) as case:
        for ev in case.evidence:
            assert ev.sha256 in text
        assert "INS-77/Ж" in text and "Мария Иванова" in text and "김철수" in text
        assert "Отредактированная область у крыши" in text
        assert "0.30" in text                             # the analyst's threshold for E0001
        assert "not analysed" in text                     # E0003 has no analysis
        assert "INTACT" in text                           # audit chain verified
        entries = case.audit_entries()
    last = entries[-1]
    assert last["action"] == "report_exported"
    assert last["details"]["sha256"] == info.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert last["details"]["report_id"] == info.report_id
    assert info.audit_logged and info.analysed == 2 and info.items == 3
    side = (tmp_path / "report.pdf.sha256").read_text().splitlines()
    assert side[0].split() == [info.sha256, "report.pdf"]
    # the audit head the cover prints is in the sidecar too (a '#' line that sha256sum -c ignores)
    n = len(entries) - 1  # the head before the report's own entry
    assert f"# declip-audit-head:{n}:{entries[n - 1]['sha256']}:logged" in side


def test_open_case_object_and_threshold_override(tmp_path):
    folder = _make_case(tmp_path, analysed=1, total=1)
    with Case.open(folder) as case:
        info = build_report(case, tmp_path / "r.pdf", threshold=0.42)
        assert case.audit_entries()[-1]["details"]["threshold"] == 0.42
    assert "0.42 for every item" in _text(tmp_path / "r.pdf")
    assert info.pages >= 5


def test_tampered_audit_log_is_reported(tmp_path):
    folder = _make_case(tmp_path, analysed=1, total=1)
    log = folder / "audit.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines()
    e = json.loads(lines[0])
    e["examiner"] = "someone else"
    lines[0] = json.dumps(e, ensure_ascii=False, separators=(",", ":"))
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")
    build_report(folder, tmp_path / "r.pdf")
    text = _text(tmp_path / "r.pdf")
    assert "FAILED" in text and "was edited" in text


def test_report_of_a_real_engine_analysis(tmp_path):
    """End to end with the engine's tiny test model: the metadata the report states is the engine's."""
    testing = pytest.importorskip("engine.testing")
    from engine import Detector

    model_dir = testing.make_tiny_model_dir(tmp_path / "model")
    folder = _make_case(tmp_path, analysed=0, total=1)
    det = Detector.from_model(str(model_dir))
    with Case.open(folder) as case:
        ev = case.evidence[0]
        res = det.analyze(ev.path, mode="paper")
        case.store_analysis(ev.id, res)
        info = build_report(case, tmp_path / "r.pdf", threshold=0.5)
    text = _text(tmp_path / "r.pdf")
    assert f"{res.score:.4f}" in text
    for w in res.metadata["weights"]:
        assert w["sha256"] in text
    assert "none (random weights)" in text            # training data from the model card
    assert res.metadata["versions"]["torch"] in text
    assert info.analysed == 1


def test_modified_evidence_and_map_in_a_case_are_flagged(tmp_path):
    folder = _make_case(tmp_path, analysed=2, total=2)
    with Case.open(folder, readonly=True) as case:
        ev_path = case.evidence[0].path
        map_path = case.analysis_for(case.evidence[1].id).map_path
    for p in (ev_path, map_path):
        p.chmod(0o644)
        with open(p, "ab") as fh:
            fh.write(b"\0tampered")
    info = build_report(folder, tmp_path / "r.pdf")
    text = _text(tmp_path / "r.pdf")
    assert "INTEGRITY WARNING" in text and "MISMATCH" in text
    assert "CASE VERIFICATION PROBLEM" in text
    assert info.integrity_failures == ["photo_0.jpg"]


def test_report_names_who_recorded_a_finding_and_keeps_words_whole(tmp_path):
    folder = _make_case(tmp_path, analysed=1, total=2)
    with Case.open(folder) as case:
        case.set_finding(case.evidence[1].id, "manipulation confirmed", note="second look")
        when = case.finding(case.evidence[1].id).modified_utc
    out = tmp_path / "r.pdf"
    build_report(folder, out)
    text = _text(out)
    assert f"Recorded by {EXAMINER} · {when.replace('T', ' ').split('.')[0]} UTC" in " ".join(text.split())
    words = set(text.split())
    assert "manipulation" in words and "manipulati" not in words     # the summary's status column
    assert "case_created" in words and "case_create" not in words    # the audit table's action column


def test_a_note_longer_than_a_page_flows_over_pages(tmp_path):
    folder = _make_case(tmp_path, analysed=1, total=1)
    lines = [f"line {i}: the edge of the roof does not match the shadow" for i in range(160)]
    note = "\n".join(lines) + "\n" + "x" * 7000  # and one unbroken token far longer than a line
    with Case.open(folder) as case:
        case.set_finding(case.evidence[0].id, "suspicious", note=note)
    out = tmp_path / "r.pdf"
    info = build_report(folder, out)
    text = " ".join(_text(out).split())
    assert "line 0: the edge" in text and "line 159: the edge" in text
    assert info.pages >= 7


def test_a_failed_analysis_and_the_findings_own_threshold_are_reported(tmp_path):
    folder = _make_case(tmp_path, analysed=1, total=2)
    with Case.open(folder) as case:
        e1, e2 = case.evidence[0].id, case.evidence[1].id
        _log_failure(case, e2, "image file is truncated")
        long_note = "n" * 900
        case.set_finding(e1, "suspicious", note=long_note, threshold=0.3, opacity=0.6, model_id="m1", mode="paper")
    out = tmp_path / "r.pdf"
    build_report(folder, out, threshold=0.9)  # the report's override must not hide the finding's own 0.30
    text = " ".join(_text(out).split())
    assert "ANALYSIS FAILED" in text and "image file is truncated" in text and "analysis failed" in text
    assert "NOT ANALYSED" not in text
    assert "Finding recorded at threshold 0.30 · opacity 60% · on the m1, paper analysis" in text
    assert "(900 characters; in full on the item page)" in text          # the audit appendix shortens the note
    assert 'threshold 0.3' in text                                         # ... and keeps the short facts


def test_other_analyses_of_an_item_are_named_on_its_page(tmp_path):
    folder = _make_case(tmp_path, analysed=1, total=1)
    with Case.open(folder) as case:
        ev = case.evidence[0]
        tiled = case.store_analysis(ev.id, make_result(ev.width, ev.height, ev.sha256, seed=5, mode="tiled"), mode="tiled")
        case.set_finding(ev.id, "suspicious", model_id=tiled.model_id, mode="tiled")  # the finding is on the tiled one
        paper = [a for a in case.analyses(ev.id) if a.mode == "paper"][0]
    out = tmp_path / "r.pdf"
    build_report(folder, out)
    text = " ".join(_text(out).split())
    assert f"Other analyses in the case {paper.model_id}, paper: score {paper.score:.4f}" in text


def test_the_audit_appendix_is_a_table_with_the_logs_sha256_and_models_are_described_once(tmp_path):
    folder = _make_case(tmp_path, analysed=3, total=3)
    out = tmp_path / "r.pdf"
    build_report(folder, out)
    # the log as it was when the report was generated: all but the report's own entry, logged after
    lines = (folder / "audit.jsonl").read_bytes().splitlines(keepends=True)
    assert json.loads(lines[-1])["action"] == "report_exported"
    digest = hashlib.sha256(b"".join(lines[:-1])).hexdigest()
    entries = [json.loads(x) for x in lines[:-1]]
    pages = [p.extract_text() or "" for p in pypdf.PdfReader(str(out)).pages]
    text = " ".join(" ".join(pages).split())
    log = " ".join(" ".join(p for p in pages if "Appendix B" in p or "# · entry" in p).split())
    # a table of facts in words, not raw JSON; the full log is named and its SHA-256 given
    assert "Details" in log and '{"' not in log and digest in log.replace(" ", "")
    for e in entries:
        assert e["sha256"][:12] in log and e["sha256"] not in log
    # the model's licence and training data are printed once (Appendix A), item pages refer there
    first_card_line = "Licence"
    assert text.count(first_card_line) == 1 and "in Appendix A, Models" in text
    assert text.count("in Appendix A, Models") == 3
    # each analysed item states its map's range
    assert text.count("Map range: 0 to") == 3


def test_a_truncated_file_is_described_by_how_much_of_it_is_missing(tmp_path):
    from engine.errors import ImageError
    from engine.images import load_image

    src = tmp_path / "whole.jpg"
    make_photo(src, 360, 270, seed=3)
    data = src.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError) as err:
        load_image(cut)
    msg = str(err.value)
    assert "image file is truncated: only the top" in msg and "of 270 rows" in msg and "bytes not processed" not in msg
    rows = int(msg.split("only the top ")[1].split(" ")[0])
    assert 0 < rows < 270 * 0.6  # two thirds of the file missing: most of the picture is


def test_an_evidence_layer_stored_later_is_not_the_items_analysis(tmp_path):
    """Evidence layers are stored as analyses (mode 'evidence'); the viewer, list and report keep
    showing the detector's map, whichever was stored last."""
    from declip_desktop.case.displayed import displayed_analysis

    folder = _make_case(tmp_path, analysed=1, total=1)
    with Case.open(folder) as case:
        ev = case.evidence[0]
        detector = case.analysis_for(ev.id)
        layer = make_result(ev.width, ev.height, ev.sha256, seed=9)
        layer.metadata.update(model_id="evidence-ela", mode="evidence")
        case.store_analysis(ev.id, layer, model_id="evidence-ela", mode="evidence")
        assert case.analysis_for(ev.id).mode == "evidence"  # the latest stored
        shown = displayed_analysis(case, ev.id)
        assert (shown.model_id, shown.mode) == (detector.model_id, detector.mode)
    out = tmp_path / "r.pdf"
    build_report(folder, out)
    text = " ".join(_text(out).split())
    assert f"Score {detector.score:.4f}"[:11] in text or f"{detector.score:.4f}" in text
    # named as its pinned section names it, with what its score measures (not "evidence-ela, evidence")
    assert "Other analyses in the case ela — Error level analysis, score" in text
    assert "(share of the image above 0.5)" in text and "evidence-ela, evidence" not in text


def test_the_analysts_note_is_on_the_items_first_page_with_its_status(tmp_path):
    # It used to close the item's section, after the method and integrity tables, often pages later.
    folder = _make_case(tmp_path, analysed=2, total=2)
    with Case.open(folder) as case:
        case.set_finding(case.evidence[1].id, "manipulation confirmed", note="roof edge pasted from another shot")
    out = tmp_path / "r.pdf"
    build_report(folder, out)
    pages = [" ".join((p.extract_text() or "").split()) for p in pypdf.PdfReader(str(out)).pages]
    first = next(i for i, t in enumerate(pages) if "Item 2 · E0002 · photo_1.jpg" in t)
    page = pages[first]
    assert "roof edge pasted from another shot" in page
    assert page.index("manipulation confirmed") < page.index("roof edge pasted")


def test_an_items_failure_is_the_models_not_a_later_evidence_layers(tmp_path):
    # With --evidence all on an unreadable file, the last failure logged is a layer's: the report named
    # "evidence-resampling, evidence mode" as the item's failed analysis; and a layer stored after a
    # model failure hid that failure.
    folder = _make_case(tmp_path, analysed=1, total=3)
    with Case.open(folder) as case:
        e2, e3 = case.evidence[1].id, case.evidence[2].id
        _log_failure(case, e2, "image file is truncated")
        _log_failure(case, e2, "image file is truncated", "evidence-resampling", "evidence")
        _log_failure(case, e3, "out of memory")
        from engine import evidence
        case.store_analysis(e3, evidence.run("ela", case.item(e3).path))
    out = tmp_path / "r.pdf"
    build_report(folder, out)
    text = " ".join(_text(out).split())
    assert "The last analysis attempt (m1, paper mode" in text
    assert "(evidence-resampling, evidence mode" not in text
    assert "out of memory" in text                  # not cleared by the ela layer stored after it


def test_a_models_table_is_not_split_across_pages(tmp_path):
    # In a 12-item report the table's last row (the weights' SHA-256) was left alone on a page.
    from types import SimpleNamespace

    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import SimpleDocTemplate, Spacer

    from declip_desktop.report import appendix

    card = {"name": "M", "backbone": "lite2", "feature_layer": "3", "decoder": "conv-4", "license": "Apache-2.0",
            "training_data": "synthetic edits of licensed photos"}
    f = SimpleNamespace(analysed=True, index=1, card=card,
                        metadata={"model_id": "m1", "weights": [{"file": "decoder.safetensors", "sha256": "ab" * 32}]})
    out = tmp_path / "m.pdf"
    doc = SimpleDocTemplate(str(out), pagesize=A4)
    doc.build([Spacer(1, doc.height - 110)] + appendix.models([f]))   # room for the heading and two rows only
    pages = [" ".join((p.extract_text() or "").split()) for p in pypdf.PdfReader(str(out)).pages]
    holding = [i for i, t in enumerate(pages) if "Weights SHA-256" in t or "Licence" in t or "Models" in t]
    assert len(set(holding)) == 1, pages


def test_a_long_audit_action_is_printed_whole_with_its_object(tmp_path):
    # "evidence_layer_not_applicable" was wider than the action column's cap and broke mid-word.
    folder = _make_case(tmp_path, analysed=1, total=1)
    with Case.open(folder) as case:
        case.log("evidence_layer_not_applicable", {"evidence_id": "E0001", "layer": "dq",
                                                    "reason": "layer 'dq' needs a JPEG file, found PNG"})
    out = tmp_path / "r.pdf"
    build_report(folder, out)
    pages = [p.extract_text() or "" for p in pypdf.PdfReader(str(out)).pages]
    log = " ".join(" ".join(p for p in pages if "# · entry" in p).split())
    # whole, with the object under it; a name wider than the column wraps after an underscore only
    assert "evidence_layer_not_applicable E0001" in log.replace("_ ", "_")
    assert "evidence_layer_not_app " not in log


def test_audit_rows_show_short_lists_and_parameters_themselves():
    # which layers a finding pinned and which parameters replaced a stored layer are the facts of the row
    from declip_desktop.report.appendix import audit_summary

    row = audit_summary("finding_set", {"evidence_id": "E0001", "status": "suspicious", "layers": ["ela", "clones"]})
    assert "layers (ela, clones)" in row
    row = audit_summary("analysis_stored", {"evidence_id": "E0001", "model_id": "evidence-clones",
                                             "requested_parameters": {"method": "dense", "iterations": 12}})
    assert "requested parameters (method=dense, iterations=12)" in row
    # records are counted in words, not "[40]"
    row = audit_summary("analysis_stored", {"weights": [{"sha256": "x"}] * 40})
    assert row.startswith("weights 40 entries (") and "[40]" not in row
