"""The window around the viewer: empty state, idle progress, problems list, honest analysis
modes, and the metadata sections (a pure function, tested without Qt at the end)."""
from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtGui import QKeySequence

from declip_desktop import settings
from tests.gui_support import (close_window, drop_paths, find, isolated_qsettings, make_window,  # noqa: F401
                               tiny_model, truncated_jpeg, wait_ingest, write_photos)


# -- defect 10: the empty window says what to do ---------------------------------------------------
def test_empty_window_offers_new_open_and_recent_and_disables_case_controls(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path / "first.declip")
    close_window(w)
    w = make_window(qtbot)
    welcome = find(w, "welcomePanel")
    assert welcome.isVisible() and not find(w, "imageView").isVisible()
    assert "Ctrl+N" in find(w, "welcomeNewButton").text() and "Ctrl+O" in find(w, "welcomeOpenButton").text()
    recent = [b.toolTip() for b in w.findChildren(type(find(w, "welcomeNewButton")), "welcomeRecentButton")]
    assert recent == [str((tmp_path / "first.declip").resolve())]
    for a in (w.actionExportReport, w.actionVerify, w.actionCloseCase, w.actionAddImages, w.actionAnalyze,
              w.actionAnalyzeAll, w.actionSaveFinding):
        assert not a.isEnabled(), a.objectName()
    assert not find(w, "analyzeButton").isEnabled() and not find(w, "thresholdSlider").isEnabled()
    assert QKeySequence("Ctrl+N") in w.actionNewCase.shortcuts()
    # the recent case reopens from the welcome page; Open starts in the cases' folder
    find(w, "welcomeRecentButton").click()
    assert w.case is not None and not welcome.isVisible() and find(w, "thresholdSlider").isEnabled()
    from declip_desktop.case_controller import cases_folder

    assert cases_folder() == (tmp_path / "first.declip").resolve().parent
    close_window(w)


def test_the_app_reopens_the_last_case_at_start(qtbot, tmp_path):
    from declip_desktop.app import build_parser, create_window

    w = make_window(qtbot, tmp_path / "last.declip")
    close_window(w)
    w2 = create_window(build_parser().parse_args([]))
    qtbot.addWidget(w2)
    assert w2.case is not None and w2.case.path.resolve() == (tmp_path / "last.declip").resolve()
    w2.close()


# -- defect 7: progress is idle when nothing runs; ingest warnings survive an analysis --------------------
def test_progress_is_idle_after_ingest_and_on_opening_and_warnings_stay(qtbot, tmp_path, tiny_model):
    case_dir = tmp_path / "case.declip"
    w = make_window(qtbot, case_dir)
    bar = find(w, "progressBar")
    assert bar.format() == "Idle"
    drop_paths(w, write_photos(tmp_path / "in", 2) + [truncated_jpeg(tmp_path / "in")])
    wait_ingest(qtbot, w)
    assert bar.format() == "Idle" and bar.value() == 0  # not "100 %" after an ingest
    problems = find(w, "errorList")
    assert any("broken.jpg" in t for t in problems.texts("ingest"))
    with qtbot.waitSignal(w.analysisFinished, timeout=120000):
        w.analyze_all()
    assert any("broken.jpg" in t for t in problems.texts("ingest"))  # not cleared by the analysis
    assert problems.texts("analysis") and w._docks["problems"].isVisible()
    # the analysis controls stay in view: the problems are in their own dock
    assert problems.window() is w and not w.analysisPanel.isAncestorOf(problems)
    close_window(w)
    w2 = make_window(qtbot, case_dir)
    assert find(w2, "progressBar").format() == "Idle"  # not "0 %" on a fully analysed case
    close_window(w2)


# -- defect 8: the tiled modes say what resolution they work at --------------------------------------------
def test_modes_are_named_for_their_working_resolution():
    from declip_desktop.analysis_modes import MODES, engine_args, working_resolution

    labels = dict(MODES)
    # named for what they do: the working size enlarges small photos, so it is not "reduced"
    assert "working size" in labels["tiled"] and "original pixels" in labels["tiled-full"]
    assert "reduced" not in labels["tiled"] and "full resolution" not in labels["tiled-full"]
    reduced = working_resolution(6000, 4000, "tiled", 448)
    assert "reduced to 1024 x 683" in reduced and "scale 0.17" in reduced
    full = working_resolution(6000, 4000, "tiled-full", 448, seconds_per_window=0.5)
    assert "analysed at 6000 x 4000 (scale 1.00)" in full and "x the working-size tiled time" in full and "≈" in full
    assert engine_args("tiled-full") == ("tiled", {"tile_scale": 1.0}) and engine_args("tiled") == ("tiled", {})


def test_full_resolution_is_a_stored_analysis_of_its_own(qtbot, tmp_path, tiny_model):
    w = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(w, write_photos(tmp_path / "in", 1, size=(700, 500)))
    wait_ingest(qtbot, w)
    w.evidenceList.setCurrentIndex(w.evidenceModel.index(0))
    w.analysisPanel.select_data(w.analysisPanel.modeCombo, "tiled-full")
    assert "700 x 500 analysed at 700 x 500" in find(w, "resolutionLabel").text()
    w.analysisPanel.select_data(w.analysisPanel.modeCombo, "tiled")
    with qtbot.waitSignal(w.analysisFinished, timeout=120000):
        w.analyze_all()
    w.analysisPanel.select_data(w.analysisPanel.modeCombo, "tiled-full")
    with qtbot.waitSignal(w.analysisFinished, timeout=120000) as blocker:
        w.analyze_all()
    assert blocker.args == [1, 0]
    eid = w.evidenceModel.rows()[0].id
    full = w.case.analysis_for(eid, mode="tiled-full")
    assert full.metadata["tiling"]["scale"] == 1.0 and full.metadata["tiling"]["scaled_size"] == [700, 500]
    assert len(w.case.analyses(eid)) == 2  # the reduced run is kept beside it
    close_window(w)


# -- the metadata presenter: item + record -> sections (no Qt) ---------------------------------------------
def test_metadata_sections_from_item_and_record():
    from declip_desktop.metadata_presenter import NOT_VERIFIED, metadata_sections

    item = SimpleNamespace(id="E001", file_name="a.jpg", sha256="ab" * 32, md5="cd" * 16, size=1234,
                           original_name="IMG_1.JPG", original_path="/media/x/IMG_1.JPG",
                           original_mtime_utc="2026-01-01T00:00:00Z", ingested_utc="2026-02-01T00:00:00Z",
                           format="JPEG", width=6000, height=4000,
                           metadata={"exif": {"Make": "Canon"}, "notes": ["n"]})
    record = {"model_id": "m1", "mode": "tiled", "score": 0.07, "stored_utc": "2026-02-02T00:00:00Z",
              "metadata": {"tiling": {"scaled_size": [1024, 683], "scale": 0.170667, "tiles": 12},
                           "device_name": "CPU"}}
    s = metadata_sections(item, record, "ok")
    # Content Credentials right after Integrity, before any map detail (#40)
    assert list(s) == ["Integrity", "Content Credentials", "File", "Analysis", "Image metadata", "EXIF"]
    assert s["Content Credentials"] == {"status": "not read at ingest"}
    assert s["Integrity"]["state"] == "ok" and s["File"]["dimensions"] == "6000 x 4000"
    assert s["Analysis"]["mode"].startswith("Tiled, working size") and s["Analysis"]["working resolution"].startswith("1024 x 683")
    assert s["EXIF"] == {"Make": "Canon"} and "exif" not in s["Image metadata"]
    bare = metadata_sections(item, None, None)
    assert "Analysis" not in bare and bare["Integrity"]["state"] == NOT_VERIFIED
