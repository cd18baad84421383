"""The Overlay dock on a 1280x720 or 1366x768 laptop screen: every control in view without scrolling,
the other docks still usable; the dock gives back the height it took for rows that have gone (it only
ever grew); and the one helper that finds the screen's area for the window and the dialogs."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDialog, QDockWidget, QWidget

from tests.gui_support import close_window, make_window

CONTROLS = ("layerCombo", "displayModeCombo", "colormapCombo", "opacitySlider", "thresholdSlider", "colorBar")


def _whole_in_view(widget) -> bool:
    seen = widget.visibleRegion().boundingRect()
    return widget.isVisible() and seen.height() == widget.height() > 0 and seen.width() == widget.width()


def _on_screen(qtbot, w, monkeypatch, width: int, height: int) -> None:
    """The window as window_state fits it to a width x height screen (the test screen is smaller)."""
    from declip_desktop import window_state

    monkeypatch.setattr(window_state, "screen_height", lambda _win: height)
    window_state.fit_to_screen(w, height)
    w.resize(width - window_state.SIDE_ALLOWANCE, height - window_state.FRAME_ALLOWANCE)
    qtbot.wait(100)


def _assert_overlay_whole(w, state: str) -> None:
    op = w.overlayPanel
    assert op.controlsScroll.verticalScrollBar().maximum() == 0, (state, op.whole_height(), op.height())
    for name in CONTROLS:
        widget = w.findChild(QDockWidget, "overlayDock").findChild(QWidget, name)
        assert _whole_in_view(widget), (state, name, widget.visibleRegion().boundingRect(), widget.size())
    for widget in (op.scoreLabel, op.probeLabel):
        assert _whole_in_view(widget), (state, widget.objectName())


@pytest.mark.parametrize("screen", [(1280, 720), (1366, 768)])
def test_every_overlay_control_is_in_view_unscrolled_on_a_laptop_screen(qtbot, tmp_path, monkeypatch, screen):
    from declip_desktop import window_state
    from declip_desktop.overlay_style import DisplayMode

    w = make_window(qtbot, tmp_path / "case.declip")
    _on_screen(qtbot, w, monkeypatch, *screen)
    op, lp, fp = w.overlayPanel, w.layerPanel, w.findingPanel
    op.set_readout_source(0.051, lambda t: 0.046, reach=0.66)
    fp.set_finding({"status": "suspicious", "note": "a\nb\nc", "layers": ["clones"]}, enabled=True)
    qtbot.wait(100)
    _assert_overlay_whole(w, "heat")  # was 48 px short at 720 (the colour bar cut, its warning gone)
    op.thresholdSlider.setValue(70)  # above what the map reaches: the warning shows in the readouts
    qtbot.wait(100)
    assert "0.660" in op.reachLabel.text() and _whole_in_view(op.reachLabel)
    _assert_overlay_whole(w, "threshold above the map's reach")
    op.thresholdSlider.setValue(50)
    op.set_mode(DisplayMode.SIDE_BY_SIDE)  # adds the Beside row (30 px short at 768 before)
    qtbot.wait(100)
    _assert_overlay_whole(w, "side by side")
    assert _whole_in_view(lp.besideCombo)
    op.set_mode(DisplayMode.HEAT)
    lp.set_busy("ela: computing…")  # a layer's progress: one row, its words, a busy bar and Cancel
    qtbot.wait(100)
    _assert_overlay_whole(w, "a layer computing")
    for widget in (lp.layerBusyLabel, lp.layerProgressBar, lp.layerCancelButton):
        assert _whole_in_view(widget), widget.objectName()
    assert lp.layerBusyLabel.text() == "ela: computing…"
    assert lp.layerStatusLabel.isHidden()  # the same words as the bar's row: not a second row
    lp.set_busy(None)
    lp.set_status("")
    qtbot.wait(100)
    # the other docks stay usable: the finding whole (status, pins, three lines of note, Save), the
    # Analysis dock no smaller than the least it may have
    line = fp.findingNoteEdit.fontMetrics().lineSpacing()
    assert fp.findingNoteEdit.visibleRegion().boundingRect().height() >= 3 * line
    for widget in (fp.findingStatusCombo, fp.pinnedLabel, fp.saveFindingButton):
        assert _whole_in_view(widget), widget.objectName()
    assert w.findChild(QDockWidget, "analysisDock").widget().height() >= window_state.MIN_DOCK_HEIGHT
    assert w.minimumSizeHint().height() <= screen[1] - window_state.FRAME_ALLOWANCE
    close_window(w)


def test_the_overlay_dock_gives_back_the_height_it_took_for_rows_that_went(qtbot, tmp_path, monkeypatch):
    from declip_desktop.overlay_style import DisplayMode

    w = make_window(qtbot, tmp_path / "case.declip")
    _on_screen(qtbot, w, monkeypatch, 1600, 1000)
    w.resize(w.width(), w.minimumSizeHint().height())  # every dock at its least: new rows must grow one
    qtbot.wait(100)
    overlay, analysis = w.findChild(QDockWidget, "overlayDock"), w.findChild(QDockWidget, "analysisDock")
    start = (w.height(), overlay.height(), analysis.height())
    lp, op = w.layerPanel, w.overlayPanel
    for rows_on, rows_off in ((lambda: lp.set_busy("clones: computing…"), lambda: (lp.set_busy(None), lp.set_status(""))),
                              (lambda: op.set_mode(DisplayMode.SIDE_BY_SIDE), lambda: op.set_mode(DisplayMode.HEAT))):
        rows_on()
        qtbot.waitUntil(lambda: overlay.height() > start[1])  # the dock grew to show the rows
        _assert_overlay_whole(w, "rows added")
        rows_off()
        # back to the learned map's rows: the dock, the Analysis dock and the window as they were (the
        # dock stayed at the larger height before)
        qtbot.waitUntil(lambda: overlay.height() <= start[1])
        qtbot.wait(50)
        assert (w.height(), overlay.height()) == start[:2]
        assert analysis.height() >= start[2]
        _assert_overlay_whole(w, "rows gone")
    # a window the user made taller meanwhile keeps the user's height
    lp.set_busy("clones: computing…")
    qtbot.waitUntil(lambda: overlay.height() > start[1])
    w.resize(w.width(), w.height() + 30)  # still inside the screen (960 px)
    qtbot.wait(50)
    tall = w.height()
    lp.set_busy(None)
    lp.set_status("")
    qtbot.wait(100)
    assert w.height() == tall
    _assert_overlay_whole(w, "rows gone, window taller")
    close_window(w)


def test_the_window_and_the_dialogs_find_the_screen_in_one_place(qtbot, monkeypatch):
    from declip_desktop import window_state
    from declip_desktop.dialogs.screen_fit import fit_dialog
    from declip_desktop.main_window import MainWindow

    # the widget's screen, the primary screen while it has none, or the area given
    w = MainWindow()
    qtbot.addWidget(w)
    assert window_state.available_geometry(w) == w.screen().availableGeometry()
    nowhere = SimpleNamespace(screen=lambda: None)
    assert window_state.available_geometry(nowhere) == QGuiApplication.primaryScreen().availableGeometry()
    given = QRect(0, 0, 1280, 720)
    assert window_state.available_geometry(w, given) is given
    assert window_state.screen_height(w) == w.screen().availableGeometry().height()
    # both the window and a dialog fit the area that the one helper finds
    laptop = QRect(0, 0, 1000, 500)
    monkeypatch.setattr(window_state, "available_geometry", lambda _widget, available=None: available or laptop)
    dlg = QDialog(w)
    fit_dialog(dlg, 1060, 760)
    assert (dlg.width(), dlg.height()) == (1000 - window_state.SIDE_ALLOWANCE, 500 - window_state.FRAME_ALLOWANCE)
    w.resize(1400, 400)
    window_state.fit_width(w)
    assert w.width() == 1000 - window_state.SIDE_ALLOWANCE
    assert window_state.screen_height(w) == 500
    dlg.close()
    close_window(w)


def test_the_overlay_dock_refits_when_its_readouts_take_more_lines(qtbot, tmp_path, monkeypatch):
    """A score meaning on two lines with the range warning outgrows the readouts' three reserved lines. The
    dock watched only its controls, so it kept its height and the controls scrolled instead (the colour bar's
    caption cut at 1280x720); now it refits, and gives the lines back when the readouts are short again."""
    from declip_desktop import window_state

    w = make_window(qtbot, tmp_path / "case.declip")
    _on_screen(qtbot, w, monkeypatch, 1280, 720)
    op, overlay = w.overlayPanel, w.findChild(QDockWidget, "overlayDock")
    op.set_readout_source(0.051, lambda t: 0.046, reach=0.66)
    qtbot.wait(100)
    _assert_overlay_whole(w, "short readouts")
    short = overlay.height()
    op.set_readout_source(0.9961, lambda t: 0.12, reach=0.4, caption="clones map value (its own scale)",
                          meaning="strength of the strongest confirmed copy, 0 when none")  # threshold 0.5: warned
    qtbot.wait(100)
    line = op.scoreLabel.fontMetrics().lineSpacing()
    assert op.scoreLabel.height() >= 3 * line and op.reachLabel.isVisible()  # four lines where three were kept
    _assert_overlay_whole(w, "two-line meaning and the range warning")
    assert _whole_in_view(op.reachLabel) and overlay.height() > short
    assert w.minimumSizeHint().height() <= 720 - window_state.FRAME_ALLOWANCE
    op.set_readout_source(0.051, lambda t: 0.046, reach=0.66)
    qtbot.waitUntil(lambda: overlay.height() == short)
    _assert_overlay_whole(w, "short readouts again")
    # a narrower dock wraps the readouts onto more lines (a resize, no layout request): it refits for them too
    op.thresholdSlider.setValue(70)  # above the map's reach: warned
    narrow = overlay.minimumWidth()  # the narrowest the column may be (window_state.COLUMN_MIN_WIDTHS)
    assert narrow < overlay.width()
    w.resizeDocks([overlay], [narrow], Qt.Orientation.Horizontal)
    qtbot.wait(100)
    assert overlay.width() == narrow and op.scoreLabel.height() >= 2 * line and op.reachLabel.height() >= 2 * line
    _assert_overlay_whole(w, "narrow dock")
    close_window(w)
