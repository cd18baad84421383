"""GUI: the evidence-layer selector in the overlay dock (computed in a worker, stored in the case,
drawn with the overlay controls at the layer's own default threshold; clone pairs; refusal; cancel)."""
from __future__ import annotations

import numpy as np

from tests.gui_support import (choose_layer, close_window, isolated_qsettings, tiny_model,  # noqa: F401
                               window_on_clones)


def test_layer_selector_computes_stores_and_thresholds(qtbot, tmp_path):
    win, eid = window_on_clones(qtbot, tmp_path)
    panel = win.overlayPanel
    panel.set_style(panel.style().with_(threshold=0.3))

    choose_layer(qtbot, win, "noise")
    sa = win.case.analysis_for(eid, model_id="evidence-noise", mode="evidence")
    assert sa is not None, "the layer was not stored in the case"
    # the viewer draws the stored layer map, at the layer's own default threshold
    drawn = win.imageView.overlay_item.pyramid.probability
    assert np.allclose(drawn, sa.probability, atol=1e-3)
    assert panel.thresholdSlider.value() == 80
    assert "above 0.80" in panel.scoreLabel.text()
    assert "How to read this" in win.layerPanel.howToReadLabel.text()
    assert "Limits" in win.layerPanel.howToReadLabel.text()
    # the same controls apply to the layer
    panel.thresholdSlider.setValue(95)
    assert abs(win.imageView.overlay_item.style.threshold - 0.95) < 1e-6
    pct = 100.0 * float((sa.probability >= 0.95).mean())
    assert f"{pct:.1f} %" in panel.scoreLabel.text() or f"{100.0 * float((sa.probability > 0.95).mean()):.1f} %" \
        in panel.scoreLabel.text()

    # clones: both ends of each pair are drawn, linked, and listed
    choose_layer(qtbot, win, "clones")
    assert panel.thresholdSlider.value() == 50
    pairs = win.layers.shown.record["metadata"]["details"]["pairs"]
    assert pairs, "the constructed copy-move was not found"
    assert win.layerPanel.clonePairsList.count() == len(pairs)
    assert win.layerPanel.clonePairsList.item(0).text().startswith("S1 ↔ T1: ")          # the pair in words
    assert win.layerPanel.clonePairsList.item(0).text().endswith(" px apart")
    tip = win.layerPanel.clonePairsList.item(0).toolTip()
    assert tip.startswith("S1 ↔ T1: rotated ") and " px" in tip                         # the whole pair in words, its boxes
    # the image's own note: how much of it is too flat for a copy to be confirmed
    assert "This image." in win.layerPanel.howToReadLabel.text()
    assert win.layers.shown.record["metadata"]["notes"][0][:40] in win.layerPanel.howToReadLabel.text()
    item = win.layers._pairs_item
    assert item is not None and item.scene() is win.imageView.scene()
    assert len(item.childItems()) >= 5 * len(pairs)  # 2 boxes, 2 labels, 1 line per pair
    # selecting a pair in the list highlights both of its ends
    from PySide6.QtWidgets import QGraphicsRectItem

    win.layerPanel.clonePairsList.setCurrentRow(0)
    boxes = [c for c in win.layers._pairs_item.childItems() if isinstance(c, QGraphicsRectItem)]
    assert [b.pen().width() for b in boxes[:2]] == [4, 4]
    assert all(b.pen().width() == 2 for b in boxes[2:])

    # pin the shown layer to the finding: recorded in the case (and logged), shown in the panel
    assert win.layerPanel.pinLayerCheck.isVisibleTo(win.layerPanel.details)
    with qtbot.waitSignal(win.layers.pinnedChanged, timeout=30000) as pinned:
        win.layerPanel.pinLayerCheck.setChecked(True)
    assert pinned.args == [eid, ["clones"]]
    assert win.case.finding(eid).layers == ["clones"]
    assert "clones" in win.findingPanel.pinnedLabel.text()  # the Finding dock lists the pins

    # compare maps: the two stored layers' regions, and where they agree
    with qtbot.waitSignal(win.layers.corroborated, timeout=60000) as comp:
        win.layerPanel.corroborateButton.click()
    regions = comp.args[1]
    assert {r.source for r in regions} >= {"clones"}
    assert win.layerPanel.corroborationTable.rowCount() == len(regions)
    assert win.layerPanel.corroborationTable.item(0, 0).text().startswith(regions[0].source)

    # side by side: the left view shows another layer (noise here) at its own threshold, synchronised
    from declip_desktop.overlay_style import DisplayMode

    panel.set_mode(DisplayMode.SIDE_BY_SIDE)
    with qtbot.waitSignal(win.layers.besideShown, timeout=60000):
        win.layerPanel.besideCombo.setCurrentIndex(win.layerPanel.besideCombo.findData("noise"))
    twin = win.viewer.twin.overlay_item
    assert twin is not None and np.allclose(twin.pyramid.probability, sa.probability, atol=1e-3)
    assert abs(twin.style.threshold - 0.80) < 1e-6 and abs(win.imageView.overlay_item.style.threshold - 0.5) < 1e-6
    assert win.viewer.twin_box.isVisible()
    panel.set_style(panel.style().with_(opacity=0.9))   # the shared controls reach the left view too
    assert abs(win.viewer.twin.overlay_item.style.opacity - 0.9) < 1e-6
    panel.set_mode(DisplayMode.HEAT)

    # a refusal is one line in the panel, and nothing breaks
    with qtbot.waitSignal(win.layers.layerFailed, timeout=60000) as blocker:
        win.layerPanel.set_layer("dq")
    assert "needs a JPEG" in blocker.args[1]
    assert "needs a JPEG" in win.layerPanel.layerStatusLabel.text()
    assert str(win.case.path) not in win.layerPanel.layerStatusLabel.text()   # no case-copy path in the line
    # the selector names the map still drawn (clones), not the refused one
    assert win.layerPanel.layer() == "clones" and win.layers.shown.layer == "clones"

    # back to the learned map (none here: the item is not analysed): no layer drawn, no pairs left,
    # and the threshold the examiner had before the first layer
    with qtbot.waitSignal(win.layers.layerShown, timeout=10000):
        win.layerPanel.set_layer("")
    assert win.imageView.overlay_item is None
    assert panel.thresholdSlider.value() == 30
    assert win.layers.shown is None and win.layers._pairs_item is None
    assert not win.layerPanel.howToReadLabel.isVisible()
    assert not win.layerPanel.pinLayerCheck.isVisibleTo(win.layerPanel.details)  # the learned map is not a layer to pin

    report = win.case.verify()
    assert report.ok, [p.message for p in report.problems]
    close_window(win)


def test_cancelled_layer_is_not_stored(qtbot, tmp_path):
    win, eid = window_on_clones(qtbot, tmp_path)
    win.layerPanel.set_layer("ela")
    job = win.layers._job
    assert job is not None and win.layerPanel.layerCancelButton.isVisibleTo(win.layerPanel)
    win.layerPanel.layerCancelButton.click()
    qtbot.waitUntil(lambda: job.done.is_set(), timeout=60000)
    qtbot.wait(50)
    assert win.case.analysis_for(eid, model_id="evidence-ela", mode="evidence") is None
    assert "Cancelled" in win.layerPanel.layerStatusLabel.text()
    assert win.layers.shown is None
    assert win.layerPanel.layer() == ""      # the selector is back on the learned map, the one still drawn
    close_window(win)


def test_back_to_the_learned_map(qtbot, tmp_path, tiny_model):
    win, eid = window_on_clones(qtbot, tmp_path)
    with qtbot.waitSignal(win.analysisFinished, timeout=120000):
        win.analyze_all()
    qtbot.waitUntil(lambda: win.imageView.overlay_item is not None, timeout=60000)
    learned = win.imageView.overlay_item.pyramid
    win.findingPanel.findingStatusCombo.setCurrentIndex(win.findingPanel.findingStatusCombo.findData("suspicious"))
    win.findings.save(sync=True)
    recorded = win.case.finding(eid).threshold
    reach = win.overlayPanel.colorBar.reach
    assert reach is not None and win.overlayPanel.colorBar.caption == "probability of manipulation"
    assert "mean probability" in win.overlayPanel.scoreLabel.text()
    assert "Analysis" in _metadata_titles(win)
    choose_layer(qtbot, win, "noise")
    assert win.imageView.overlay_item.pyramid is not learned
    # each map's score says what it is; the metadata dock describes the map on screen
    from engine import evidence

    assert evidence.info("noise").score_meaning in win.overlayPanel.scoreLabel.text()
    titles = _metadata_titles(win)
    assert "Shown map: evidence layer noise" in titles and "Learned map (not shown)" in titles
    assert "Analysis" not in titles
    # side by side: the Beside line names the map beside now, not the one before
    from declip_desktop.overlay_style import DisplayMode

    win.overlayPanel.set_mode(DisplayMode.SIDE_BY_SIDE)
    with qtbot.waitSignal(win.layers.besideShown, timeout=60000):
        win.layerPanel.besideCombo.setCurrentIndex(win.layerPanel.besideCombo.findData("ela"))
    assert win.layerPanel.layerStatusLabel.text().startswith("Beside: ela")
    win.layerPanel.besideCombo.setCurrentIndex(1)  # "Learned map"
    assert win.layerPanel.layerStatusLabel.text() == f"Beside: learned map, score {learned.score:.3f}"
    win.layerPanel.besideCombo.setCurrentIndex(0)  # "Original (no map)"
    assert not win.layerPanel.layerStatusLabel.text().startswith("Beside")
    win.overlayPanel.set_mode(DisplayMode.HEAT)
    # a layer's scale is not the learned map's probability: the colour bar says whose scale it is
    assert win.overlayPanel.colorBar.caption.startswith("noise map value")
    # the layer's threshold on the slider is not the finding's: a save while it is shown keeps the learned one
    win.overlayPanel.thresholdSlider.setValue(93)
    win.findingPanel.findingNoteEdit.setPlainText("seen on the noise layer")
    win.findings.save(sync=True)
    assert win.case.finding(eid).threshold == recorded and recorded != 0.93
    with qtbot.waitSignal(win.layers.layerShown, timeout=10000):
        win.layerPanel.set_layer("")
    assert win.imageView.overlay_item.pyramid is learned
    assert f"Score: {learned.score:.3f}" in win.overlayPanel.scoreLabel.text()
    assert "mean probability" in win.overlayPanel.scoreLabel.text()
    assert "Analysis" in _metadata_titles(win) and not any(t.startswith("Shown map") for t in _metadata_titles(win))
    # back on the learned map: its caption, and its reach greyed out as when it was first shown
    assert win.overlayPanel.colorBar.caption == "probability of manipulation"
    assert win.overlayPanel.colorBar.reach == reach
    close_window(win)


def test_clone_pairs_item_hatches_the_cells_too_flat_to_check(qtbot):
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsRectItem

    from declip_desktop.layer_graphics import ClonePairsItem

    pair = {"source_bbox": [0, 0, 10, 10], "target_bbox": [50, 50, 60, 60]}
    flat = [(0.0, 0.0, 64.0, 32.0), (0.0, 32.0, 32.0, 64.0)]   # an L of flat cells
    item = ClonePairsItem([pair], -1, flat)
    hatches = [c for c in item.childItems() if isinstance(c, QGraphicsPathItem)]
    assert len(hatches) == 1
    path = hatches[0].path()
    assert path.boundingRect().getRect() == (0.0, 0.0, 64.0, 64.0)
    assert path.contains(QPointF(5, 40)) and not path.contains(QPointF(50, 50))   # the L's arm, and its gap
    # the pair's two boxes are still the only rectangles (the highlight logic indexes them)
    assert len([c for c in item.childItems() if isinstance(c, QGraphicsRectItem)]) == 2
    assert not [c for c in ClonePairsItem([pair]).childItems() if isinstance(c, QGraphicsPathItem)]


def test_clone_method_choice_computes_stores_and_shows_the_other_method(qtbot, tmp_path):
    win, eid = window_on_clones(qtbot, tmp_path)
    lp = win.layerPanel
    choose_layer(qtbot, win, "clones")
    assert lp.cloneMethodRow.isVisibleTo(lp.details) and lp.cloneMethodCombo.currentData() == "keypoints"

    def stored():
        return win.case.analysis_for(eid, model_id="evidence-clones", mode="evidence")

    with qtbot.waitSignal(win.layers.layerShown, timeout=120000):
        lp.cloneMethodCombo.setCurrentIndex(lp.cloneMethodCombo.findData("dense"))
    md = stored().metadata
    assert md["parameters"]["method"] == "dense" and md["requested_parameters"] == {"method": "dense"}
    assert win.layers.shown.record["metadata"]["parameters"]["method"] == "dense"   # what is on screen
    assert lp.clonePairsList.count() == len(md["details"]["pairs"]) >= 1
    assert "method=dense" in lp.howToReadLabel.text()
    # another layer hides the choice; back on clones the stored dense layer is read back, not recomputed
    choose_layer(qtbot, win, "noise")
    assert not lp.cloneMethodRow.isVisibleTo(lp.details)
    when = stored().stored_utc
    choose_layer(qtbot, win, "clones")
    assert stored().stored_utc == when and lp.cloneMethodCombo.currentData() == "dense"
    with qtbot.waitSignal(win.layers.layerShown, timeout=120000):
        lp.cloneMethodCombo.setCurrentIndex(lp.cloneMethodCombo.findData("keypoints"))
    md = stored().metadata
    assert md["parameters"]["method"] == "keypoints" and md["requested_parameters"] == {}
    stores = [e["details"].get("requested_parameters") for e in win.case.audit_entries()
              if e["action"] == "analysis_stored" and e["details"]["model_id"] == "evidence-clones"]
    assert stores == [None, {"method": "dense"}, None]
    close_window(win)


def _metadata_titles(win) -> list[str]:
    v = win.metadataView
    return [v.topLevelItem(i).text(0) for i in range(v.topLevelItemCount())]
