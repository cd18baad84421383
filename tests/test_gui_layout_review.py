"""The window on an ordinary laptop screen (1280x800, 1366x768) and the docks' readability: the GUI
review's defects on the right-hand column, the Problems dock, the corroboration table, the view
actions without an image and the metadata dock."""
from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtWidgets import QDockWidget

from tests.gui_support import close_window, find, make_window, write_photos


def _in_view(widget) -> int:
    """How many of the widget's pixel rows are on screen (not clipped by a dock or scroll area)."""
    return widget.visibleRegion().boundingRect().height() if widget.isVisible() else 0


def _fit(qtbot, w, screen: int):
    from declip_desktop import window_state

    window_state.fit_to_screen(w, screen)
    w.resize(1280, screen - window_state.FRAME_ALLOWANCE)
    qtbot.wait(50)


def test_the_finding_note_and_overlay_readouts_are_in_view_on_an_800_px_screen(qtbot, tmp_path):
    from declip_desktop import window_state

    w = make_window(qtbot, tmp_path / "case.declip")
    fp, op = w.findingPanel, w.overlayPanel
    fp.set_finding({"status": "suspicious", "note": "a\nb\nc", "layers": ["clones", "ela"]}, enabled=True)
    op.set_readout_source(0.9961, lambda t: 0.12, reach=0.4, caption="clones map value (its own scale)",
                          meaning="strength of the strongest confirmed copy, 0 when none")  # threshold 0.5: warned
    _fit(qtbot, w, 800)
    assert w.height() <= 760 and w.minimumSizeHint().height() <= 760
    # the finding: status, pinned line, at least three lines of note, and Save, none scrolled away
    line = fp.findingNoteEdit.fontMetrics().lineSpacing()
    assert _in_view(fp.findingNoteEdit) >= 3 * line
    for widget in (fp.findingStatusCombo, fp.pinnedLabel, fp.saveFindingButton):
        assert _in_view(widget) == widget.height() > 0, widget.objectName()
    # the overlay readouts whole: score (with its meaning), flagged share, the cursor readout
    for widget in (op.scoreLabel, op.reachLabel, op.probeLabel):
        assert _in_view(widget) == widget.height() > 0, widget.objectName()
    assert "Flagged: 12.0 %" in op.scoreLabel.text()
    # the analysis dock is the one that gave up height (it scrolls)
    analysis = w.findChild(QDockWidget, "analysisDock").widget()
    assert analysis.minimumHeight() < analysis.property("wholeHeight")
    overlay = w.findChild(QDockWidget, "overlayDock").widget()
    assert overlay.minimumHeight() == overlay.property("wholeHeight")
    # on a tall screen every dock is whole again
    window_state.fit_to_screen(w, 2000)
    assert analysis.minimumHeight() == analysis.property("wholeHeight")
    close_window(w)


def test_docks_give_up_height_in_order():
    from declip_desktop.window_state import MIN_DOCK_HEIGHT, shared_dock_heights

    wanted = {"analysis": 380, "overlay": 310}
    assert shared_dock_heights(wanted, 100, ("analysis", "overlay")) == {"analysis": 280, "overlay": 310}
    both = shared_dock_heights(wanted, 300, ("analysis", "overlay"))
    assert both == {"analysis": MIN_DOCK_HEIGHT, "overlay": 310 - (300 - (380 - MIN_DOCK_HEIGHT))}
    assert shared_dock_heights(wanted, 10**4, ("analysis", "overlay")) == {"analysis": MIN_DOCK_HEIGHT,
                                                                          "overlay": MIN_DOCK_HEIGHT}


def test_the_problems_dock_shown_later_keeps_the_window_on_an_800_px_screen(qtbot, tmp_path, monkeypatch):
    from declip_desktop import window_state

    w = make_window(qtbot, tmp_path / "case.declip")
    monkeypatch.setattr(window_state, "screen_height", lambda _win: 800)
    _fit(qtbot, w, 800)
    assert not w._docks["problems"].isVisible()
    for k in range(4):
        w.problemsPanel.add("ingest", f"Not added: file{k}.txt: not an image (format not recognised)")
    qtbot.waitUntil(lambda: w._docks["problems"].isVisible())
    qtbot.wait(50)
    # under the image only: the side columns (the tall part) keep their height, the window its size
    assert w.minimumSizeHint().height() <= 760 and w.height() <= 760
    problems = w._docks["problems"].geometry()
    assert problems.left() >= w._docks["evidence"].geometry().right()
    assert problems.right() <= w._docks["finding"].geometry().left()
    assert _in_view(find(w, "saveFindingButton")) > 0 and w.statusBar().isVisible()
    close_window(w)


def test_refit_when_a_dock_makes_the_window_too_tall(qtbot, tmp_path, monkeypatch):
    from declip_desktop import window_state

    w = make_window(qtbot, tmp_path / "case.declip")
    monkeypatch.setattr(window_state, "screen_height", lambda _win: 800)
    _fit(qtbot, w, 800)
    overlay = w.findChild(QDockWidget, "overlayDock").widget()
    overlay.setMinimumHeight(2000)  # as a dock turned on later would, with its whole height
    w._docks["problems"].hide()
    w._docks["problems"].show()  # any dock shown later checks the fit
    qtbot.waitUntil(lambda: w.minimumSizeHint().height() <= 760, timeout=3000)
    close_window(w)


def test_the_corroboration_text_never_lies_over_the_table(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path / "case.declip")
    w._docks["corroboration"].raise_()
    regions = [SimpleNamespace(source=s, index=i, area_share=0.06, box=[10, 20, 30, 40], overlap={},
                               agreement_text=lambda: "touches: learned map 2 %, noise 5 %, ela 3 %")
               for s, i in (("learned map", 1), ("clones", 1), ("clones", 2), ("noise", 1))]
    lp = w.layerPanel
    lp.set_corroboration(regions)
    lp.corroborationTable.selectRow(0)
    qtbot.wait(50)
    t = lp.corroborationTable
    last = sum(t.rowHeight(r) for r in range(t.rowCount()))
    assert t.height() >= t.horizontalHeader().height() + last  # every row whole
    assert lp.regionLabel.isVisible() and lp.regionLabel.geometry().top() >= t.geometry().bottom()
    close_window(w)


def test_without_a_case_the_view_actions_are_off_and_the_size_text_is_gone(qtbot, tmp_path):
    from tests.gui_support import drop_paths, wait_ingest

    w = make_window(qtbot, tmp_path / "case.declip")
    view_actions = (w.actionZoomIn, w.actionZoomOut, w.actionFit, w.actionActualSize, w.actionToggleOriginal)
    assert not any(a.isEnabled() for a in view_actions)  # a case, but no image in it
    drop_paths(w, write_photos(tmp_path / "in", 1))
    wait_ingest(qtbot, w)
    w.display.select(w.case.evidence[0].id)
    qtbot.waitUntil(lambda: w.imageView.image is not None, timeout=30000)
    assert all(a.isEnabled() for a in view_actions)
    assert "320 x 240" in w.analysisPanel.resolutionLabel.text()
    w.cases.close_case()
    assert w.case is None
    assert not any(a.isEnabled() for a in view_actions)
    assert "320 x 240" not in w.analysisPanel.resolutionLabel.text()
    mode = w.overlayPanel.style().mode
    w.actionToggleOriginal.trigger()  # a disabled action does nothing (the O shortcut too)
    assert w.overlayPanel.style().mode is mode
    close_window(w)


def test_analysis_failures_stay_until_that_item_is_analysed():
    from declip_desktop.docks.problems_dock import ProblemsPanel

    p = ProblemsPanel()
    p.add("ingest", "Added with a warning: E0002 broken.jpg")
    p.add("analysis", "broken.jpg: image file is truncated", "E0002")
    p.add("analysis", "Analysis failed: no model")
    p.clear_key("analysis", None)  # a new run: the whole-run message goes
    assert p.texts() == ["Added with a warning: E0002 broken.jpg", "broken.jpg: image file is truncated"]
    p.clear_key("analysis", "E0001")  # another item analysed: the failure stays
    assert p.texts("analysis") == ["broken.jpg: image file is truncated"]
    p.clear_key("analysis", "E0002")  # that item analysed at last
    assert p.texts("analysis") == [] and p.texts("ingest")


def test_metadata_is_readable_and_names_the_map_on_screen(qtbot):
    from declip_desktop.docks.metadata_dock import MetadataView
    from declip_desktop.metadata_presenter import metadata_sections
    from engine import evidence

    item = SimpleNamespace(id="E001", file_name="a.jpg", sha256="ab" * 32, md5="cd" * 16, size=1234,
                           original_name="IMG_1.JPG", original_path="/media/x/IMG_1.JPG",
                           original_mtime_utc="2026-01-01T00:00:00.123456Z", ingested_utc="2026-02-01T10:11:12.5Z",
                           format="JPEG", width=600, height=400, metadata={})
    learned = {"model_id": "m1", "mode": "paper", "score": 0.05070850998163223,
               "stored_utc": "2026-12-07T14:25:27.123456Z", "metadata": {}}
    s = metadata_sections(item, learned, None)
    assert s["Analysis"]["score"] == "0.0507" and s["Analysis"]["stored"] == "2026-12-07 14:25:27 UTC"
    assert s["File"]["ingested"] == "2026-02-01 10:11:12 UTC"
    layer = {"model_id": "evidence-clones", "score": 0.99612345, "stored_utc": "2026-12-07T14:22:00Z",
             "metadata": {"layer": "clones", "model_name": "Copy-move", "method_version": "1.8",
                          "default_threshold": 0.5, "parameters": {"method": "keypoints"},
                          "created_utc": "2026-12-07T14:22:00.411915Z"}}
    s = metadata_sections(item, learned, None, layer=layer)
    titles = list(s)
    assert titles.index("Shown map: evidence layer clones") < titles.index("Learned map (not shown)")
    assert "Analysis" not in s
    shown = s["Shown map: evidence layer clones"]
    assert shown["method"] == "Copy-move" and shown["version"] == "1.8"
    assert shown["score"] == f"0.9961 ({evidence.info('clones').score_meaning})"
    assert shown["parameters"] == {"method": "keypoints"} and shown["computed"] == "2026-12-07 14:22:00 UTC"

    view = MetadataView()
    qtbot.addWidget(view)
    view.resize(330, 400)
    view.show()
    view.show_sections(s)
    qtbot.wait(20)
    state = view.topLevelItem(0).child(0)
    assert state.text(1).startswith("not verified this session")
    # long values wrap: the row is taller than one line, so nothing ends cut off
    one_line = view.fontMetrics().lineSpacing()
    assert view.visualItemRect(state).height() > 1.5 * one_line
    sha = view.topLevelItem(0).child(1)
    assert sha.text(1).split() == ["ab" * 8] * 4 and sha.data(1, 0x0100) == "ab" * 32  # grouped; copy is exact
    assert view.columnWidth(0) <= 0.45 * view.viewport().width()


def test_a_column_dragged_or_restored_narrow_keeps_its_controls_whole(qtbot, tmp_path):
    """Old code: a layout restored from a small window (or columns dragged narrow) let the docks shrink to
    150-180 px, cutting the model list, 'Analyse all' and the colour controls off mid-word."""
    from PySide6.QtCore import QRect, Qt

    from declip_desktop import window_state

    w = make_window(qtbot, tmp_path / "case.declip")
    docks = w._docks
    window_state.keep_columns_usable(w, QRect(0, 0, 1280, 800))  # the test screen is 800 px wide
    w.resizeDocks([docks["evidence"], docks["analysis"]], [100, 100], Qt.Orientation.Horizontal)
    qtbot.wait(50)
    for key in ("analysis", "overlay", "finding", "evidence", "metadata"):
        assert docks[key].width() >= docks[key].minimumWidth() >= 240, key
    panel = w.analysisPanel
    assert panel.width() >= panel.minimumSizeHint().width()  # nothing of it cut off at the dock's edge
    op = w.overlayPanel
    for widget in (op.colormapCombo, op.displayModeCombo):
        right = widget.mapTo(op, widget.rect().topRight()).x()
        assert right <= op.width(), widget.objectName()
    # the Evidence layer dock's clone method list elides at that width instead of cutting the dock's text off
    w.layerPanel.cloneMethodRow.show()
    inner = docks["layer"].widget().widget()
    assert inner.minimumSizeHint().width() <= docks["layer"].minimumWidth() - 12
    # on a screen too narrow for both columns at that width, they share what there is (the window fits)
    window_state.keep_columns_usable(w, QRect(0, 0, 800, 600))
    qtbot.wait(50)
    assert docks["analysis"].minimumWidth() < 310
    assert w.minimumSizeHint().width() <= 800 - window_state.SIDE_ALLOWANCE
    close_window(w)
