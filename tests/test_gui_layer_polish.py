"""GUI: what the docks say around evidence layers: the Analysis dock names the layer on screen,
a pin refreshes the Finding dock, the Finding dock's Save button stays in view, and an analysis
that fails verification is marked and never displayed as a result."""
from __future__ import annotations

import os

from declip_desktop.docks.finding_dock import saved_text
from tests.gui_support import (choose_layer, close_window, isolated_qsettings, tiny_model,  # noqa: F401
                               wait_overlay, window_on_clones)


def analyse(qtbot, win) -> None:
    """Analyse every item with the tiny model and wait until the learned map is drawn."""
    with qtbot.waitSignal(win.analysisFinished, timeout=120000):
        win.analyze_all()
    wait_overlay(qtbot, win)


def alter(path) -> None:
    """A stored map changed after it was stored (what verify must catch)."""
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(-40, os.SEEK_END)
        f.write(b"\0" * 20)


def test_analysis_dock_names_the_layer_shown(qtbot, tmp_path):
    win, eid = window_on_clones(qtbot, tmp_path)
    label = win.analysisPanel.displayedLabel
    assert label.text().startswith("Not analysed")
    choose_layer(qtbot, win, "noise")
    text = label.text()
    assert "Not analysed" not in text
    assert "noise at threshold 0.80" in text
    for key in list(win.layers.shown.record["metadata"].get("parameters") or {})[:3]:  # the rest: Evidence layer dock
        assert key in text
    assert "learned map was not run" in text
    win.overlayPanel.thresholdSlider.setValue(90)  # the examiner's threshold on the layer, as it changes
    assert "noise at threshold 0.90" in label.text()
    with qtbot.waitSignal(win.layers.layerShown, timeout=10000):
        win.layerPanel.set_layer("")
    assert label.text().startswith("Not analysed")
    close_window(win)


def test_analysis_dock_names_the_layer_over_an_analysed_item(qtbot, tmp_path, tiny_model):
    win, eid = window_on_clones(qtbot, tmp_path)
    analyse(qtbot, win)
    label = win.analysisPanel.displayedLabel
    assert label.text().startswith("Shown: tiny-test")
    choose_layer(qtbot, win, "ela")
    assert label.text().startswith("Shown: evidence layer ela")
    assert "tiny-test" in label.text() and "hidden" in label.text()  # the learned map is named, not shown
    close_window(win)


def test_pinning_refreshes_the_finding_dock(qtbot, tmp_path):
    win, eid = window_on_clones(qtbot, tmp_path)
    fp = win.findingPanel
    fp.findingStatusCombo.setCurrentIndex(fp.findingStatusCombo.findData("suspicious"))
    win.findings.save(sync=True)
    first = win.case.finding(eid).modified_utc
    choose_layer(qtbot, win, "noise")
    qtbot.wait(1100)  # the saved line shows whole seconds
    with qtbot.waitSignal(win.layers.pinnedChanged, timeout=30000):
        win.layerPanel.pinLayerCheck.setChecked(True)
    f = win.case.finding(eid)
    assert f.modified_utc != first
    assert fp.savedLabel.text() == saved_text(f.to_dict())
    assert "noise" in fp.pinnedLabel.text()
    with qtbot.waitSignal(win.layers.pinnedChanged, timeout=30000):
        win.layerPanel.pinLayerCheck.setChecked(False)
    assert "noise" not in fp.pinnedLabel.text()
    close_window(win)


def test_save_button_stays_in_view_at_920_px(qtbot, tmp_path):
    win, eid = window_on_clones(qtbot, tmp_path)
    win.resize(1500, 920)
    fp = win.findingPanel
    fp.findingStatusCombo.setCurrentIndex(fp.findingStatusCombo.findData("suspicious"))
    fp.findingNoteEdit.setPlainText("A long note about what was seen, where, and why it matters. " * 8)
    win.findings.save(sync=True)
    choose_layer(qtbot, win, "clones")
    with qtbot.waitSignal(win.layers.pinnedChanged, timeout=30000):
        win.layerPanel.pinLayerCheck.setChecked(True)
    fp.findingNoteEdit.setFocus()
    qtbot.wait(100)
    button = fp.saveFindingButton
    assert button.isVisible()
    assert button.visibleRegion().boundingRect().size() == button.size(), "the Save button is cut off or hidden"
    assert fp.savedLabel.visibleRegion().boundingRect().height() >= fp.savedLabel.fontMetrics().height()
    pinned = fp.pinnedLabel  # the pins are in view too, above the long note
    assert "clones" in pinned.text() and pinned.visibleRegion().boundingRect().height() >= pinned.fontMetrics().height()
    close_window(win)


def test_analysis_failing_verify_is_marked_and_not_displayed(qtbot, tmp_path, tiny_model):
    win, eid = window_on_clones(qtbot, tmp_path)
    analyse(qtbot, win)
    sa = [a for a in win.case.analyses(eid) if a.mode != "evidence"][0]
    alter(sa.map_path)
    win.actionVerify.trigger()
    qtbot.waitUntil(lambda: win.evidenceModel.get(eid).untrusted_analyses == 1, timeout=60000)
    qtbot.waitUntil(lambda: win.imageView.overlay_item is None, timeout=10000)  # not displayed as a result
    # the status bar says what failed in words that fit; the path and hashes are in the box
    status = win.statusBar().currentMessage()
    assert status.startswith("Integrity problems: 1 stored analysis file modified.") and sa.map_path.name not in status
    combo = win.analysisPanel.displayedCombo
    assert combo.count() == 1 and "FAILS VERIFICATION" in combo.itemText(0)
    assert "fails verification" in win.analysisPanel.displayedLabel.text()
    listed = win.evidenceModel.data(win.evidenceModel.index(0))
    assert "fails verification" in listed and "not analysed" not in listed
    assert "fails verification" in win.overlayPanel.scoreLabel.text()  # not "not analysed"
    assert win.case.finding(eid).model_id is None  # nothing was written to the finding on its behalf
    # a fresh analysis replaces it and is shown again
    analyse(qtbot, win)
    assert win.evidenceModel.get(eid).untrusted_analyses == 0
    assert "FAILS" not in combo.itemText(combo.currentIndex())
    close_window(win)


def test_layer_failing_verify_is_marked_and_recomputed(qtbot, tmp_path):
    win, eid = window_on_clones(qtbot, tmp_path)
    choose_layer(qtbot, win, "noise")
    sa = win.case.analysis_for(eid, model_id="evidence-noise", mode="evidence")
    first = sa.stored_utc
    alter(sa.map_path)
    combo = win.layerPanel.layerCombo
    win.actionVerify.trigger()
    qtbot.waitUntil(lambda: "fails verification" in combo.itemText(combo.findData("noise")), timeout=60000)
    choose_layer(qtbot, win, "noise")  # computed again, not read back from the altered map
    assert win.case.analysis_for(eid, model_id="evidence-noise", mode="evidence").stored_utc != first
    assert "fails" not in combo.itemText(combo.findData("noise"))
    assert win.case.verify().ok
    close_window(win)


def test_side_by_side_opens_as_two_equal_halves(qtbot, tmp_path):
    from declip_desktop.overlay_style import DisplayMode

    win, eid = window_on_clones(qtbot, tmp_path)
    win.resize(1500, 920)
    choose_layer(qtbot, win, "clones")
    with qtbot.waitSignal(win.layers.besideShown, timeout=60000):
        win.layerPanel.besideCombo.setCurrentIndex(win.layerPanel.besideCombo.findData("noise"))
    win.overlayPanel.set_mode(DisplayMode.SIDE_BY_SIDE)
    qtbot.wait(50)
    view, twin = win.viewer.view, win.viewer.twin
    assert twin.isVisible()
    assert abs(view.width() - twin.width()) <= 4, (view.width(), twin.width())
    close_window(win)


def test_corroboration_row_draws_its_region(qtbot, tmp_path):
    win, eid = window_on_clones(qtbot, tmp_path)
    choose_layer(qtbot, win, "noise")
    choose_layer(qtbot, win, "clones")
    with qtbot.waitSignal(win.layers.corroborated, timeout=60000) as comp:
        win.layerPanel.corroborateButton.click()
    regions = comp.args[1]
    table = win.layerPanel.corroborationTable
    assert regions and table.rowCount() == len(regions) and table.columnCount() == 3
    # the table has its own tab, brought in front of Metadata and Evidence layer when the result comes
    dock = win._docks["corroboration"]
    # in a scroll area: a short dock scrolls instead of laying the text below over the table's last row
    assert dock.widget().widget() is win.layerPanel.corroboration and table.isVisibleTo(dock)
    assert win.tabifiedDockWidgets(dock) and not dock.visibleRegion().isEmpty()
    assert win._docks["metadata"].visibleRegion().isEmpty()
    assert win.layers._region_item is None  # nothing drawn until a row is chosen
    table.selectRow(0)
    item = win.layers._region_item
    x0, y0, x1, y1 = regions[0].box
    assert item is not None and item.scene() is win.imageView.scene()
    assert item.rect().getCoords() == (x0, y0, x1, y1)
    assert f"x {x0}–{x1}, y {y0}–{y1}" in win.layerPanel.regionLabel.text()
    # the table keeps to the dock's width: no column is cut to a sliver
    assert table.horizontalHeader().sectionSize(2) >= table.fontMetrics().horizontalAdvance("Agrees")
    close_window(win)


def test_a_new_analysis_while_a_layer_is_shown_restores_the_learned_threshold(qtbot, tmp_path, tiny_model):
    win, eid = window_on_clones(qtbot, tmp_path)
    analyse(qtbot, win)
    learned_t = win.overlayPanel.thresholdSlider.value()
    choose_layer(qtbot, win, "noise")
    assert win.overlayPanel.thresholdSlider.value() == 80
    with qtbot.waitSignal(win.analysisFinished, timeout=120000):
        win.analyze_all()  # stored again: the item is shown afresh on its learned map
    qtbot.waitUntil(lambda: win.layers.shown is None and win.imageView.overlay_item is not None, timeout=30000)
    qtbot.wait(100)
    assert win.layerPanel.layer() == ""
    assert win.overlayPanel.thresholdSlider.value() == learned_t  # not the noise layer's 0.80
    close_window(win)


def test_no_image_is_not_called_not_analysed(qtbot):
    from tests.gui_support import make_window

    win = make_window(qtbot)
    assert win.analysisPanel.displayedLabel.text() == "No image selected"
    close_window(win)


def test_choosing_a_layer_brings_its_explanation_forward(qtbot, tmp_path):
    win, eid = window_on_clones(qtbot, tmp_path)
    dock, how = win._docks["layer"], win.layerPanel.howToReadLabel
    # a tab beside Metadata and Corroboration
    assert set(win.tabifiedDockWidgets(dock)) == {win._docks["metadata"], win._docks["corroboration"]}
    assert dock.visibleRegion().isEmpty()  # Metadata is in front until a layer is shown
    choose_layer(qtbot, win, "clones")
    qtbot.wait(50)
    assert not dock.visibleRegion().isEmpty() and win._docks["metadata"].visibleRegion().isEmpty()
    assert how.isVisible() and "How to read this" in how.text()
    assert win.layerPanel.pinLayerCheck.isVisible() and win.layerPanel.clonePairsList.isVisible()
    close_window(win)


def test_clones_beside_draws_its_pairs_in_the_left_view(qtbot, tmp_path):
    from declip_desktop.overlay_style import DisplayMode

    win, eid = window_on_clones(qtbot, tmp_path)
    win.overlayPanel.set_mode(DisplayMode.SIDE_BY_SIDE)
    with qtbot.waitSignal(win.layers.besideShown, timeout=120000):
        win.layerPanel.besideCombo.setCurrentIndex(win.layerPanel.besideCombo.findData("clones"))
    pairs = win.case.analysis_for(eid, model_id="evidence-clones", mode="evidence").metadata["details"]["pairs"]
    drawn = win.layers._beside_pairs
    assert pairs and drawn is not None and drawn.scene() is win.viewer.twin.scene()
    assert len(drawn.childItems()) >= 5 * len(pairs)  # two boxes, two tags, one line per pair
    with qtbot.waitSignal(win.layers.besideShown, timeout=120000):
        win.layerPanel.besideCombo.setCurrentIndex(win.layerPanel.besideCombo.findData("noise"))
    assert win.layers._beside_pairs is None and drawn.scene() is None  # gone with its map
    close_window(win)
