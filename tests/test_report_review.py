"""The forensic report's review fixes: what each model is for and misses, re-runnable tiled settings,
the weights hash and evidence id on each item page, layer library versions and full references, an
unbroken summary table, the false-alarm rate's threshold, and no local folders in a layer's note."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pypdf = pytest.importorskip("pypdf")

sys.path.insert(0, str(Path(__file__).parent))
from report_samples import make_photo, make_result  # noqa: E402

from declip_desktop.report import AuditSummary, ReportCase, ReportItem, build_report  # noqa: E402
from engine.result import AnalysisResult  # noqa: E402

VALIDATION = [{"set": {"id": "ext", "name": "bench X", "same_generator": False, "images": 91, "authentic": 13},
               "date": "2026-12-06", "threshold": 0.5,
               "figures": {"iou": 29.5, "authentic_flagged": 38.46, "authentic_flagged_count": 5}}]
DQ_META = {"kind": "evidence", "layer": "dq", "model_id": "evidence-dq", "model_name": "JPEG double quantisation",
           "mode": "evidence", "method_version": "1.0", "default_threshold": 0.8, "parameters": {"block": 8},
           "reference": "Z. Lin et al., Pattern Recognition 42(11), 2009; T. Bianchi, A. Piva, IEEE Trans. Inf. "
                        "Forensics Security 7(3), 2012.",
           "how_to_read": "Bright blocks.", "limits": "Needs a JPEG.",
           "versions": {"app": "0.1.0", "numpy": "2.4.6", "opencv": "5.1.0.95", "scipy": "1.17.1", "jpeglib": "1.0.2"},
           "created_utc": "2026-12-07T14:22:01Z"}


def _pages(pdf: Path) -> list[str]:
    return [(p.extract_text() or "") for p in pypdf.PdfReader(str(pdf)).pages]


def _case(tmp_path: Path) -> ReportCase:
    """E0002: paper mode, model tiny-test, card with intended use and limitations; E0006: tiled at a
    reduced scale with another model whose recorded card lacks them, threshold 0.4, a pinned dq layer."""
    items = []
    for k, (eid, name, mode) in enumerate((("E0002", "paper_photo.jpg", "paper"),
                                           ("E0006", "Wine_by_Jakkub_Mede.jpg", "tiled"))):
        p = tmp_path / name
        sha = make_photo(p, 320, 240, seed=k)
        res = make_result(320, 240, sha, seed=k, mode=mode)
        res.metadata["model"]["validation"] = VALIDATION
        it = ReportItem(item_id=eid, file_name=name, path=p, sha256_ingest=sha, result=res, status="suspicious")
        items.append(it)
    items[0].result.metadata["model"].update(intended_use="INTENDED-FOR-SPLICES", limitations="MISSES-DIFFUSION")
    tiled = items[1]
    tiled.threshold = 0.4
    md = tiled.result.metadata
    md.update(model_id="other-model", model_name="Other model")
    md["model"].update(id="other-model", name="Other model")
    md["weights"] = [{"role": "decoder", "file": "other.safetensors", "sha256": "ef" * 32}]
    md["tiling"] = {"tile_size": 448, "stride": 336, "scale": 0.750183, "scaled_size": [240, 180], "tiles": 9}
    prob = np.full((240, 320), 0.1, np.float32)
    tiled.pinned_layers = [{"layer": "dq", "metadata": DQ_META, "score": 0.1, "stored_utc": "2026-12-07T14:22:01Z",
                            "load": lambda: AnalysisResult(probability=prob, raw=None, score=0.1, metadata=DQ_META)}]
    return ReportCase(title="T", number="N-1", examiner="E", items=items, audit=AuditSummary(chain_ok=True))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("review")
    mp = pytest.MonkeyPatch()
    mp.setenv("DECLIP_HOME", str(tmp / "home"))
    out = tmp / "r.pdf"
    case = _case(tmp)
    try:
        build_report(case, out, items=["E0006", "E0002"])   # report item 1 is the case's E0006
    finally:
        mp.undo()
    pages = _pages(out)
    return case, pages, "\n".join(pages).replace("\n", " ")


def _page_of(pages: list[str], heading: str) -> str:
    return next(p for p in pages if heading in p)


def test_each_models_intended_use_and_limitations_are_stated(report):
    _, _, text = report
    assert "INTENDED-FOR-SPLICES" in text and "MISSES-DIFFUSION" in text
    # the recorded card of the other model lacks them, and no card of that id is in the store
    assert "limitations were not recorded with the analysis" in text
    # the generic sentence no longer claims every decoder marks every kind of edit
    assert "spliced, inpainted, copy-moved or generated content" not in text
    assert "each model's card states its intended use and its limitations" in text


def test_the_declip_paper_is_cited(report):
    text = report[2]
    assert "as in the DeCLIP paper [1]" in text
    assert "Smeu, E. Oneata, D. Oneata" in text and "Decoding CLIP representations for deepfake localization" in text
    assert "WACV), 2025" in text


def test_item_pages_give_evidence_id_tiling_and_full_weights_hash(report):
    _, pages, _ = report
    first = _page_of(pages, "Item 1 · E0006 · Wine_by_Jakkub_Mede.jpg")
    assert "Item 2 · E0002 · paper_photo.jpg" in "\n".join(pages)
    tiled = "\n".join(pages[pages.index(first):]).split("Item 2 · E0002")[0].replace("\n", " ")
    assert "stride 336 px" in tiled and "scale 0.750183" in tiled and "scale 0.75)" not in tiled
    assert "ef" * 32 in tiled                              # the weights hash whole, on the item's own pages


def test_summary_has_mode_model_ids_and_whole_hashes(report):
    case, pages, _ = report
    page = _page_of(pages, "Summary of evidence items")
    assert "tiled" in page and "paper" in page
    assert "other-model" in page and "tiny-test" in page      # two models: each row names its own
    assert "E0006" in page and "E0002" in page
    for it in case.items:
        assert it.sha256_ingest in page.replace(" ", "")      # one piece: no forced break inside the hash
        assert it.sha256_ingest[:32] + "\n" not in page
    assert "Wine_by_Jakkub_Mede.jpg" in page                  # not "...Mede.jp" / "g"


def test_false_alarm_rate_says_it_was_measured_at_another_threshold(report):
    text = report[2]
    assert "That rate was measured at threshold 0.5; this item's mask uses 0.40" in text
    assert text.count("That rate was measured at threshold") == 1   # the 0.5 item needs no caveat


def test_layer_library_versions_and_full_references(report):
    text = report[2]
    assert "OpenCV 5.1.0.95 · SciPy 1.17.1 · jpeglib 1.0.2" in text
    assert "Fast, automatic and fine-grained tampered JPEG image detection" in text
    assert "Image forgery localization via block-grained analysis of JPEG artifacts" in text


def test_names_break_at_separators_never_inside_the_extension():
    from declip_desktop.report.names import name_lines

    name = "IMG_20250601_142203_claimant_upload_whatsapp_forwarded_copy_from_insurer_portal_v2_final.jpg"
    lines = name_lines(name, 118)
    assert len(lines) > 1 and "".join(lines) == name
    assert all(line[-1] in "_-. " for line in lines[:-1]) and lines[-1].endswith("final.jpg")
    assert name_lines("Wine_by_Jakkub_Mede.jpg", 118) == ["Wine_by_Jakkub_Mede.jpg"]


def test_a_layers_reason_loses_the_local_folder():
    from declip_desktop.report.case_adapter import without_folder

    reason = "/tmp/pdfrev/cases/case-0712.declip/evidence/coffee_lossless.png: layer 'ghost' needs a JPEG file, found PNG"
    assert without_folder(reason, "coffee_lossless.png") == \
        "coffee_lossless.png: layer 'ghost' needs a JPEG file, found PNG"
    assert without_folder(r"C:\Cases\My case\x 1.png: needs JPEG/PNG", "x 1.png") == "x 1.png: needs JPEG/PNG"


def _finding(md: dict, card: dict | None = None):
    return SimpleNamespace(item=SimpleNamespace(model_card=card), metadata=md)


def test_old_results_take_scope_only_from_a_store_card_with_the_same_weights(tmp_path, monkeypatch):
    from declip_desktop.report.scope import FROM_STORE, scope_of
    from engine.store import ModelStore

    monkeypatch.setenv("DECLIP_HOME", str(tmp_path / "home"))
    card = ModelStore().get("declip-lite2-default")
    sha = card.file("decoder")["sha256"]
    old = {"model_id": card.id, "model": {"id": card.id, "name": card.name},
           "weights": [{"role": "decoder", "file": "decoder.safetensors", "sha256": sha}]}
    sc = scope_of(_finding(old))
    assert sc.source == FROM_STORE and sc.limitations == card.limitations and sc.intended_use == card.intended_use
    other = dict(old, weights=[{"role": "decoder", "file": "decoder.safetensors", "sha256": "0" * 64}])
    assert scope_of(_finding(other)).source == ""          # same id, other weights: not its words


def test_card_summary_carries_intended_use_and_limitations():
    import resources
    from engine.cards import ModelCard

    card = ModelCard.load(resources.path("models", "declip-lite2-default"))
    s = card.summary()
    assert s["intended_use"] == card.intended_use and s["limitations"] == card.limitations
    assert "diffusion" in s["limitations"]
