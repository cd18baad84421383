"""Worker analysis: completion and overlay, per-image errors, cancel, event-loop stalls."""
from __future__ import annotations

from tests.gui_support import (find, GapMeter, close_window, drop_paths, isolated_qsettings,  # noqa: F401
                               make_window, tiny_model, truncated_jpeg, wait_analysis, wait_ingest,
                               wait_overlay, write_photos)


def _window_with(qtbot, tmp_path, paths):
    w = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(w, paths)
    wait_ingest(qtbot, w)
    return w


def test_analysis_completes_and_overlay_appears(qtbot, tmp_path, tiny_model):
    photos = write_photos(tmp_path / "in", 3)
    w = _window_with(qtbot, tmp_path, photos)
    assert w.analysisPanel.modelCombo.currentData() == tiny_model
    with qtbot.waitSignal(w.analysisFinished, timeout=120000) as blocker:
        qtbot.mouseClick(find(w, "analyzeAllButton"), __import__("PySide6.QtCore", fromlist=["Qt"]).Qt.MouseButton.LeftButton)
    assert blocker.args == [3, 0]
    assert find(w, "progressBar").value() == find(w, "progressBar").maximum()
    wait_overlay(qtbot, w)
    assert find(w, "scoreLabel").text().startswith("Score: 0.")
    assert all(r.score is not None and r.error is None for r in w.evidenceModel.rows())
    # stored in the case, with the analysis recorded in the audit log
    assert len(w.case.analyses()) == 3
    assert sum(e.get("action") == "analysis_stored" for e in w.case.audit_entries()) == 3
    assert "CPU" in w.analysisPanel.deviceLabel.text() or "GPU" in w.analysisPanel.deviceLabel.text()
    close_window(w)


def test_bad_image_reports_error_and_others_are_analysed(qtbot, tmp_path, tiny_model):
    photos = write_photos(tmp_path / "in", 2)
    broken = truncated_jpeg(tmp_path / "in")
    w = _window_with(qtbot, tmp_path, [photos[0], broken, photos[1]])
    assert w.evidenceModel.rowCount() == 3
    with qtbot.waitSignal(w.analysisFinished, timeout=120000) as blocker:
        w.analyze_all()
    assert blocker.args == [2, 1]
    rows = {r.name: r for r in w.evidenceModel.rows()}
    assert rows["broken.jpg"].error and "truncated" in rows["broken.jpg"].error
    assert rows[photos[0].name].score is not None and rows[photos[1].name].score is not None
    errors = [find(w, "errorList").item(i).text() for i in range(find(w, "errorList").count())]
    assert any("broken.jpg" in e for e in errors) and find(w, "errorList").isVisible()
    assert find(w, "progressBar").value() == find(w, "progressBar").maximum()
    # analysing another item keeps the failure: the list still marks broken.jpg ERROR
    with qtbot.waitSignal(w.analysisFinished, timeout=120000):
        w.analysis.analyze([rows[photos[0].name].id])
    assert any("broken.jpg" in e for e in find(w, "errorList").texts("analysis"))
    assert len(find(w, "errorList").texts("analysis")) == 1
    close_window(w)


def test_cancel_stops_within_a_batch(qtbot, tmp_path, tiny_model):
    photos = write_photos(tmp_path / "in", 12)
    w = _window_with(qtbot, tmp_path, photos)
    w.prefs.batch_size = 1
    w.analyze_all()
    assert find(w, "cancelButton").isEnabled() and not find(w, "analyzeAllButton").isEnabled()
    qtbot.waitUntil(lambda: any(r.score is not None for r in w.evidenceModel.rows()), timeout=120000)
    with qtbot.waitSignal(w.analysisFinished, timeout=60000):
        find(w, "cancelButton").click()
    done = sum(r.score is not None for r in w.evidenceModel.rows())
    assert 1 <= done < 12
    assert len(w.case.analyses()) == done  # what finished is kept
    assert not any(r.busy for r in w.evidenceModel.rows())
    assert find(w, "analyzeAllButton").isEnabled() and not find(w, "cancelButton").isEnabled()
    # The bar and the label tell how far it got, not "100 %".
    assert (find(w, "progressBar").value(), find(w, "progressBar").maximum()) == (done, 12)
    assert find(w, "progressLabel").text().startswith(f"Cancelled: {done} of 12 analysed") and f"{12 - done} not analysed" in find(w, "progressLabel").text()
    # Resuming analyses only what is missing; the finished ones keep their single stored analysis.
    first = {a.evidence_id: a.record["stored_utc"] for a in w.case.analyses()}
    w.prefs.batch_size = 4
    with qtbot.waitSignal(w.analysisFinished, timeout=120000) as blocker:
        w.actionAnalyzeRemaining.trigger()
    assert blocker.args == [12 - done, 0]
    after = {a.evidence_id: a.record["stored_utc"] for a in w.case.analyses()}
    assert len(after) == 12 and all(after[k] == v for k, v in first.items())
    with qtbot.waitSignal(w.analysisFinished, timeout=60000) as blocker:
        w.actionAnalyzeRemaining.trigger()  # nothing left: the case's up-to-date rule skips every image
    assert blocker.args == [0, 0] and len(w.case.analyses()) == 12
    assert "already has an up-to-date analysis" in w.statusBar().currentMessage()
    close_window(w)


def test_event_loop_keeps_running_during_analysis(qtbot, tmp_path, tiny_model):
    """The model runs in a worker: the GUI thread's timer keeps ticking through a batch. (How long
    the longest stall is, is measured by benchmarks/bench_gui.py, not asserted here.)"""
    photos = write_photos(tmp_path / "in", 6, size=(1600, 1200))
    w = _window_with(qtbot, tmp_path, photos)
    qtbot.waitUntil(lambda: w.imageView.image is not None, timeout=30000)
    meter = GapMeter()
    meter.start()
    with qtbot.waitSignal(w.analysisFinished, timeout=180000):
        w.analyze_all()
    meter.stop()
    print(f"max event-loop gap during analysis: {meter.max_gap * 1000:.1f} ms; gaps > 50 ms {meter.long_gaps}")
    assert meter.ticks > 20
    close_window(w)


def test_analysis_progress_reaches_max_and_buttons_follow_state(qtbot, tmp_path, tiny_model):
    photos = write_photos(tmp_path / "in", 2)
    w = _window_with(qtbot, tmp_path, photos)
    seen = []
    find(w, "progressBar").valueChanged.connect(seen.append)
    w.evidenceList.setCurrentIndex(w.evidenceModel.index(1))
    with qtbot.waitSignal(w.analysisFinished, timeout=120000) as blocker:
        find(w, "analyzeButton").click()  # only the selected image
    assert blocker.args == [1, 0]
    assert seen and seen[-1] == find(w, "progressBar").maximum()
    rows = w.evidenceModel.rows()
    assert rows[0].score is None and rows[1].score is not None
    close_window(w)


def test_every_precision_in_the_menu_analyses(qtbot, tmp_path, tiny_model):
    """The menu's choices are the engine's names: each one runs (an earlier menu offered dtype
    names, which the engine refused at analysis time)."""
    photos = write_photos(tmp_path / "in", 1)
    w = _window_with(qtbot, tmp_path, photos)
    combo = w.analysisPanel.precisionCombo
    assert [combo.itemData(i) for i in range(combo.count())] == ["auto", "exact", "fast"]
    for i in range(combo.count()):
        combo.setCurrentIndex(i)
        with qtbot.waitSignal(w.analysisFinished, timeout=120000) as blocker:
            w.analyze_all()
        assert blocker.args == [1, 0], (combo.itemData(i), find(w, "errorList").count())
        stored = w.case.analyses()[-1].record["result"]["metadata"]
        assert stored["precision_requested"] == combo.itemData(i)
    close_window(w)
