"""What the examiner sees is what was analysed: the viewer's item, map and numbers agree with
the list and the report; the threshold shows in every display; fonts cover CJK names."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QLabel

from declip_desktop.case.displayed import displayed_analysis
from declip_desktop.overlay_style import DisplayMode, OverlayStyle
from declip_desktop.pyramid import ImagePyramid, MapPyramid
from declip_desktop.viewer import ViewerPane
from engine.overlay import render_overlay
from tests.gui_support import (close_window, drop_paths, find, isolated_qsettings, make_window,  # noqa: F401
                               tiny_model, wait_analysis, wait_ingest, write_photos)


def _analysed_window(qtbot, tmp_path, n=2, size=(320, 240), mode=None):
    w = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(w, write_photos(tmp_path / "in", n, size=size))
    wait_ingest(qtbot, w)
    if mode:
        w.analysisPanel.select_data(w.analysisPanel.modeCombo, mode)
    with qtbot.waitSignal(w.analysisFinished, timeout=120000):
        w.analyze_all()
    return w


def _shown(w):
    """(item id, map score, image size) on screen, from the viewer itself."""
    ov = w.imageView.overlay_item
    img = w.imageView.image
    return (w.display.current_id, None if ov is None else round(ov.pyramid.score, 6),
            None if img is None else (img.width, img.height))


def _report_score(case, eid):
    from declip_desktop.report.case_adapter import to_report_case

    item = next(it for it in to_report_case(case).items if it.item_id == eid)
    return round(item.load_result().score, 6)


def _grab(widget) -> np.ndarray:
    img = widget.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    return np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)[..., :3].copy()


# -- defect 1: never the previous item's picture under a new selection -----------------------------
def test_a_new_selection_shows_a_placeholder_until_its_pixels_are_ready(qtbot, tmp_path, tiny_model):
    w = _analysed_window(qtbot, tmp_path, n=2)
    ids = [r.id for r in w.evidenceModel.rows()]
    qtbot.waitUntil(lambda: _shown(w)[0] == ids[0] and w.imageView.overlay_item is not None, timeout=30000)
    # item 1 was never shown: its pixels are not decoded yet (as for a 24 MP photo, for seconds)
    w.evidenceList.setCurrentIndex(w.evidenceModel.index(1))
    # Synchronously after the click: nothing of item 0 remains, and the placeholder names item 1.
    assert w.imageView.image is None and w.imageView.overlay_item is None
    caption = w.findChild(QLabel, "viewerCaption")
    assert caption.isVisible() and ids[1] in caption.text() and ids[0] not in caption.text()
    assert "not analysed" in find(w, "scoreLabel").text() or "–" in find(w, "scoreLabel").text()
    with qtbot.waitSignal(w.displayReady, timeout=30000, check_params_cb=lambda e: e == ids[1]):
        pass
    eid, score, size = _shown(w)
    sa = w.case.analysis_for(ids[1])
    assert eid == ids[1] and score == round(sa.score, 6) and size == (320, 240)
    assert np.array_equal(w.imageView.overlay_item.pyramid.probability, sa.probability)
    close_window(w)


# -- defect 2: one explicit displayed analysis for viewer, list, finding and report ------------------
def test_one_displayed_analysis_for_viewer_list_finding_and_report(qtbot, tmp_path, tiny_model):
    w = _analysed_window(qtbot, tmp_path, n=1, mode="paper")
    eid = w.evidenceModel.rows()[0].id
    w.analysisPanel.select_data(w.analysisPanel.modeCombo, "tiled")
    with qtbot.waitSignal(w.analysisFinished, timeout=120000):
        w.analyze_all()
    paper, tiled = w.case.analysis_for(eid, mode="paper"), w.case.analysis_for(eid, mode="tiled")
    assert paper.score != tiled.score

    def agree(sa):
        qtbot.waitUntil(lambda: _shown(w)[1] == round(sa.score, 6), timeout=30000)
        assert w.evidenceModel.get(eid).score == pytest.approx(sa.score)  # the list chip
        assert f"{sa.score:.3f}" in find(w, "scoreLabel").text()
        combo = find(w, "displayedAnalysisCombo")
        assert combo.currentData().mode == sa.mode and combo.count() == 2 and combo.isEnabled()
        assert "Shown:" in find(w, "displayedAnalysisLabel").text()
        assert _report_score(w.case, eid) == round(sa.score, 6)

    agree(tiled)  # no finding names one: the latest is shown, listed and reported
    # The Mode menu chooses how to analyse next; it does not change what is displayed.
    w.analysisPanel.select_data(w.analysisPanel.modeCombo, "paper")
    agree(tiled)
    # The switcher records the choice in the finding; every view follows.
    combo = find(w, "displayedAnalysisCombo")
    combo.activated.emit(combo.findText(next(combo.itemText(i) for i in range(combo.count())
                                             if combo.itemData(i).mode == "paper")))
    agree(paper)
    f = w.case.finding(eid)
    assert (f.model_id, f.mode) == (paper.model_id, "paper")
    close_window(w)


# -- defect 5: an item without a finding shows the case default threshold ------------------------------
def test_an_unreviewed_item_shows_the_case_default_threshold(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(w, write_photos(tmp_path / "in", 2))
    wait_ingest(qtbot, w)
    w.evidenceList.setCurrentIndex(w.evidenceModel.index(0))
    find(w, "findingStatusCombo").setCurrentIndex(find(w, "findingStatusCombo").findData("suspicious"))
    find(w, "thresholdSlider").setValue(35)
    with qtbot.waitSignal(w.findingSaved, timeout=10000):
        w.findings.save()
    w.evidenceList.setCurrentIndex(w.evidenceModel.index(1))
    assert find(w, "thresholdSlider").value() == 50  # what the report uses for it
    w.evidenceList.setCurrentIndex(w.evidenceModel.index(0))
    assert find(w, "thresholdSlider").value() == 35
    close_window(w)


# -- defect 3: the threshold changes the picture in every display, in one look ---------------------------
def _pane(qtbot, prob, rgb):
    pane = ViewerPane()
    qtbot.addWidget(pane)
    pane.resize(700, 500)
    pane.show()
    qtbot.waitExposed(pane)
    pane.set_content(ImagePyramid.from_array(rgb), MapPyramid.from_probability(prob))
    return pane


def _soft_map(h, w):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-(((xx - w * 0.5) / (w * 0.25)) ** 2 + ((yy - h * 0.5) / (h * 0.3)) ** 2)).astype(np.float32)


@pytest.mark.parametrize("mode", [DisplayMode.HEAT, DisplayMode.SIDE_BY_SIDE, DisplayMode.MASK, DisplayMode.CONTOUR])
def test_moving_the_threshold_changes_the_screen_in_every_display(qtbot, mode):
    prob = _soft_map(300, 400)
    pane = _pane(qtbot, prob, np.full((300, 400, 3), 100, np.uint8))
    shots = []
    for t in (0.3, 0.7):
        pane.set_style(OverlayStyle(cmap="inferno", opacity=0.6, threshold=t, mode=mode))
        QApplication.processEvents()
        shots.append(_grab(pane.view.viewport()))
    changed = (np.abs(shots[0].astype(int) - shots[1].astype(int)).max(axis=2) > 8).mean()
    assert changed > 0.003, f"{mode}: {changed:.4f} of the view changed"


@pytest.mark.parametrize("mode", ["heat", "mask", "contour"])
def test_viewer_draws_what_the_cli_and_report_render(qtbot, mode):
    """At 100 % the viewer's pixels are engine.overlay.render_overlay's (the CLI and report look)."""
    h, w_ = 90, 120
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (h, w_, 3), dtype=np.uint8)
    prob = _soft_map(h, w_)
    pane = _pane(qtbot, prob, rgb)
    pane.set_style(OverlayStyle(cmap="viridis", opacity=0.7, threshold=0.45, mode=DisplayMode(mode)))
    pane.view.actual_size()
    QApplication.processEvents()
    shot = _grab(pane.view.viewport())[..., ::-1]  # BGR -> RGB
    origin = pane.view.mapFromScene(QPointF(0, 0))
    screen = shot[origin.y():origin.y() + h, origin.x():origin.x() + w_].astype(int)
    want = render_overlay(rgb, prob, cmap="viridis", opacity=0.7, threshold=0.45, mode=mode).astype(int)
    close = (np.abs(screen - want).max(axis=2) <= 3).mean()
    assert close > 0.99, f"{mode}: only {close:.3f} of the pixels match"


# -- defect 4: the colour bar shows what the map can reach, and warns ------------------------------------
def test_threshold_above_the_maps_reach_is_explained(qtbot, tmp_path, tiny_model):
    w = _analysed_window(qtbot, tmp_path, n=1)
    qtbot.waitUntil(lambda: w.imageView.overlay_item is not None, timeout=30000)
    top = w.imageView.overlay_item.pyramid.max_value
    assert top == pytest.approx(float(w.imageView.overlay_item.pyramid.probability.max()), abs=1e-4)
    bar = find(w, "colorBar")
    assert bar.reach == pytest.approx(top)
    warn = find(w, "reachLabel")
    slider = find(w, "thresholdSlider")
    slider.setValue(min(100, int(top * 100) + 1))
    assert warn.isVisible() and f"{top:.3f}" in warn.text() and "nothing can be flagged" in warn.text()
    slider.setValue(max(0, int(top * 100) - 5))
    assert warn.text() == ""
    close_window(w)


# -- defect 6: CJK text is drawn, not boxes ----------------------------------------------------------------
def test_bundled_fonts_draw_cjk_names(qtbot):
    w = make_window(qtbot)
    a, b = QLabel("王"), QLabel("小")
    for lab in (a, b):
        qtbot.addWidget(lab)
        lab.resize(60, 40)
    assert not np.array_equal(_grab(a), _grab(b)), "two different CJK characters drew the same (boxes)"
    w.set_examiner("王小明")
    assert "王小明" in find(w, "examinerLabel").text()
    close_window(w)


def test_quick_switching_of_items_and_displays_ends_consistent(qtbot, tmp_path, tiny_model):
    """Items, analyses and display modes switched faster than images decode: whatever is on screen
    at the end is one item's picture with that item's displayed analysis, as the list and report say."""
    w = _analysed_window(qtbot, tmp_path, n=3, size=(640, 480), mode="paper")
    w.analysisPanel.select_data(w.analysisPanel.modeCombo, "tiled")
    w.evidenceList.setCurrentIndex(w.evidenceModel.index(1))
    with qtbot.waitSignal(w.analysisFinished, timeout=120000):
        w.analysis.analyze_selected()  # item 1 now has two analyses
    ids = [r.id for r in w.evidenceModel.rows()]
    modes = list(DisplayMode)
    for k in range(12):
        w.evidenceList.setCurrentIndex(w.evidenceModel.index(k % 3))
        w.overlayPanel.set_mode(modes[k % len(modes)])
        QApplication.processEvents()
    w.overlayPanel.set_mode(DisplayMode.HEAT)
    last = ids[11 % 3]
    qtbot.waitUntil(lambda: _shown(w)[0] == last and w.imageView.overlay_item is not None, timeout=30000)
    for eid in ids:
        w.evidenceList.setCurrentIndex(w.evidenceModel.index(ids.index(eid)))
        qtbot.waitUntil(lambda: w.imageView.overlay_item is not None and w.imageView.image is not None
                        and w.display.current_id == eid, timeout=30000)
        shown = w.imageView.overlay_item.pyramid
        sa = displayed_analysis(w.case, eid)
        assert np.array_equal(shown.probability, sa.probability)
        assert w.evidenceModel.get(eid).score == pytest.approx(sa.score) == pytest.approx(shown.score)
        assert _report_score(w.case, eid) == round(sa.score, 6)
    close_window(w)
