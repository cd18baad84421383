"""Viewer: live overlay controls, speed on 24 MP, navigation, readouts, display modes."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from declip_desktop.overlay_style import DisplayMode, OverlayStyle, colorize, contour
from declip_desktop.pyramid import ImagePyramid, MapPyramid
from declip_desktop.viewer import ViewerPane
from tests.gui_support import (find, GapMeter, close_window, drop_paths, isolated_qsettings, make_window,  # noqa: F401
                               tiny_model, wait_analysis, wait_ingest, wait_overlay, write_photos)


def _map(h, w):
    yy, xx = np.mgrid[0:h, 0:w]
    # a soft blob: many distinct levels, so every threshold flags a different area
    return np.exp(-(((xx - w * 0.6) / (w * 0.2)) ** 2 + ((yy - h * 0.4) / (h * 0.25)) ** 2)).astype(np.float32)


def _pane(qtbot, h=600, w=800, rgb=None):
    pane = ViewerPane()
    qtbot.addWidget(pane)
    pane.resize(900, 700)
    pane.show()
    qtbot.waitExposed(pane)
    rgb = np.full((h, w, 3), 90, np.uint8) if rgb is None else rgb
    prob = _map(h, w)
    pane.set_content(ImagePyramid.from_array(rgb), MapPyramid.from_probability(prob))
    QApplication.processEvents()
    return pane, prob


def _red_pixels(img: QImage) -> int:
    img = img.convertToFormat(QImage.Format.Format_RGB32)
    a = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    b, g, r = a[..., 0].astype(int), a[..., 1].astype(int), a[..., 2].astype(int)
    return int(((r - g > 60) & (r - b > 60)).sum())


def test_threshold_changes_the_mask(qtbot):
    pane, prob = _pane(qtbot)
    counts = []
    for t in (0.2, 0.5, 0.8):
        pane.set_style(OverlayStyle(cmap="gray", opacity=1.0, threshold=t, mode=DisplayMode.MASK))
        QApplication.processEvents()
        counts.append(_red_pixels(pane.view.viewport().grab().toImage()))
    assert counts[0] > counts[1] > counts[2] > 0
    # and the share of the view's mask matches the map's flagged share
    mp = pane.view.overlay_item.pyramid
    assert mp.flagged_fraction(0.5) == pytest.approx(float((prob > 0.5).mean()), abs=2e-3)


def test_display_modes_draw_differently(qtbot):
    pane, _ = _pane(qtbot)
    shots = {}
    for mode in (DisplayMode.HEAT, DisplayMode.MASK, DisplayMode.CONTOUR, DisplayMode.ORIGINAL):
        pane.set_style(OverlayStyle(cmap="viridis", opacity=0.8, threshold=0.5, mode=mode))
        QApplication.processEvents()
        img = pane.view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
        shots[mode] = np.frombuffer(img.constBits(), np.uint8).copy()
    keys = list(shots)
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            assert not np.array_equal(shots[keys[i]], shots[keys[j]]), (keys[i], keys[j])
    # original only: the image alone (uniform grey 90 inside the picture)
    orig = shots[DisplayMode.ORIGINAL].reshape(-1, 4)
    assert (np.abs(orig[:, :3].astype(int) - 90) <= 1).mean() > 0.5


def test_side_by_side_is_synchronised(qtbot):
    pane, _ = _pane(qtbot)
    pane.set_style(OverlayStyle(mode=DisplayMode.SIDE_BY_SIDE))
    QApplication.processEvents()
    assert pane.twin.isVisible()
    pane.view.zoom_by(3.0)
    pane.view.horizontalScrollBar().setValue(pane.view.horizontalScrollBar().value() + 40)
    assert pane.twin.scale_factor() == pytest.approx(pane.view.scale_factor())
    # centred on the same image point (a pixel of rounding when the two views differ by one)
    assert abs(pane.twin.horizontalScrollBar().value() - pane.view.horizontalScrollBar().value()) <= 1
    pane.twin.zoom_by(0.5)
    assert pane.view.scale_factor() == pytest.approx(pane.twin.scale_factor())
    pane.set_style(OverlayStyle(mode=DisplayMode.HEAT))
    assert not pane.twin.isVisible()


def test_side_by_side_of_unequal_views_shows_the_same_place(qtbot):
    pane, _ = _pane(qtbot)
    pane.set_style(OverlayStyle(mode=DisplayMode.SIDE_BY_SIDE))
    pane.splitter.setSizes([500, 250])  # the examiner widened one side
    QApplication.processEvents()
    pane.view.zoom_by(3.0)
    pane.view.horizontalScrollBar().setValue(pane.view.horizontalScrollBar().value() + 40)

    def centre(v):
        return v.mapToScene(v.viewport().rect().center())

    assert pane.twin.scale_factor() == pytest.approx(pane.view.scale_factor())
    assert abs(centre(pane.twin).x() - centre(pane.view).x()) <= 1.0
    assert abs(centre(pane.twin).y() - centre(pane.view).y()) <= 1.0


def test_zoom_fit_and_actual_size(qtbot):
    pane, _ = _pane(qtbot, h=300, w=400)
    view = pane.view
    fit = view.scale_factor()
    assert fit > 1.5  # a small image fills the view
    view.actual_size()
    assert view.scale_factor() == pytest.approx(1.0)
    view.zoom_in()
    assert view.scale_factor() == pytest.approx(1.25)
    view.zoom_out()
    view.zoom_out()
    assert view.scale_factor() == pytest.approx(0.8)
    view.fit()
    assert view.scale_factor() == pytest.approx(fit)


def test_wheel_zoom_keeps_the_point_under_the_cursor(qtbot):
    from PySide6.QtGui import QWheelEvent

    pane, _ = _pane(qtbot, h=1200, w=1600)
    view = pane.view
    pos = QPointF(200, 150)
    before = view.mapToScene(pos.toPoint())
    ev = QWheelEvent(pos, view.viewport().mapToGlobal(pos), QPoint(0, 0), QPoint(0, 240),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), ev)
    assert view.scale_factor() > 0.5
    after = view.mapToScene(pos.toPoint())
    assert abs(after.x() - before.x()) < 3 and abs(after.y() - before.y()) < 3


def test_colorize_and_contour_helpers():
    u8 = np.zeros((10, 10), np.uint8)
    u8[3:7, 3:7] = 200
    edge = contour(u8, 100)
    assert edge.sum() == 12  # the ring of a 4x4 square
    mask = colorize(u8, OverlayStyle(mode=DisplayMode.MASK, threshold=0.5, opacity=1.0))
    assert (mask[3:7, 3:7] >> 24 == 255).all() and (mask[0] == 0).all()


def test_sliders_reach_the_screen_and_the_readouts(qtbot, tmp_path, tiny_model):
    """Through the whole app: every slider move repaints the view and the readouts follow the
    threshold live. (Repaint times on 24 MP are measured by benchmarks/bench_gui.py.)"""
    photos = write_photos(tmp_path / "in", 1, size=(800, 600))
    win = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(win, photos)
    wait_ingest(qtbot, win)
    with qtbot.waitSignal(win.analysisFinished, timeout=120000):
        win.analyze_all()
    wait_overlay(qtbot, win)
    for mode in (DisplayMode.HEAT, DisplayMode.MASK, DisplayMode.CONTOUR, DisplayMode.SIDE_BY_SIDE):
        win.overlayPanel.set_mode(mode)
        for slider, value in ((find(win, "thresholdSlider"), 30), (find(win, "opacitySlider"), 70)):
            with qtbot.waitSignal(win.imageView.painted, timeout=5000):
                slider.setValue(value)
            slider.setValue(slider.value() + 5)
    find(win, "thresholdSlider").setValue(20)
    low = find(win, "scoreLabel").text()
    find(win, "thresholdSlider").setValue(90)
    assert find(win, "scoreLabel").text() != low and "0.90" in find(win, "scoreLabel").text()
    assert find(win, "thresholdValue").text() == "0.90"
    close_window(win)


def test_probability_under_cursor(qtbot, tmp_path, tiny_model):
    photos = write_photos(tmp_path / "in", 1, size=(400, 300))
    win = make_window(qtbot, tmp_path / "case.declip")
    drop_paths(win, photos)
    wait_ingest(qtbot, win)
    with qtbot.waitSignal(win.analysisFinished, timeout=120000):
        win.analyze_all()
    wait_overlay(qtbot, win)
    view = win.imageView
    pos = view.mapFromScene(QPointF(120.5, 80.5))
    qtbot.mouseMove(view.viewport(), pos)
    qtbot.waitUntil(lambda: "p = " in win.overlayPanel.probeLabel.text(), timeout=5000)
    expected = win.imageView.overlay_item.pyramid.probability[80, 120]
    assert f"{expected:.3f}" in win.overlayPanel.probeLabel.text()
    close_window(win)
