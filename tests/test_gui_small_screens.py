"""The window on a 1366x768 or 1280x720 laptop screen (and nothing lost at 1920x1080): the window's
width, the cursor readout kept in view whatever rows the map selector adds, a readout that never
names a map it was not read from, the Beside line, the finding note with a pinned layer, the
Problems dock's height and the trainer dialog's height."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QDockWidget

from tests.gui_support import choose_layer, close_window, make_window, tiny_model, window_on_clones  # noqa: F401


def _whole_in_view(widget) -> bool:
    """Every pixel row and column of the widget is on screen (not clipped by a dock or scroll area)."""
    seen = widget.visibleRegion().boundingRect()
    return widget.isVisible() and seen.height() == widget.height() > 0 and seen.width() == widget.width()


def test_the_window_is_no_wider_than_the_screen(qtbot):
    from declip_desktop import window_state
    from declip_desktop.main_window import MainWindow

    w = MainWindow()  # no saved geometry: the default 1400 px, on the test screen (800 px wide)
    qtbot.addWidget(w)
    avail = w.screen().availableGeometry()
    assert avail.left() <= w.x() and w.x() + w.width() <= avail.right() + 1  # was 1400 px wide
    assert w.width() <= avail.width() - window_state.SIDE_ALLOWANCE  # room for the frame's sides
    # a size and place remembered from a wider monitor, on a 1366-px laptop
    laptop = QRect(0, 0, 1366, 768)
    w.resize(1920, 700)
    w.move(500, 0)
    window_state.fit_width(w, laptop)
    assert w.width() == 1366 - window_state.SIDE_ALLOWANCE and w.x() + w.width() <= laptop.right() + 1
    close_window(w)


@pytest.mark.parametrize("screen", [720, 768, 1080])
def test_the_cursor_readout_stays_in_view_when_the_map_selector_adds_rows(qtbot, tmp_path, monkeypatch, screen):
    from declip_desktop import window_state
    from declip_desktop.overlay_style import DisplayMode

    w = make_window(qtbot, tmp_path / "case.declip")
    monkeypatch.setattr(window_state, "screen_height", lambda _win: screen)
    window_state.fit_to_screen(w, screen)
    w.resize(1280, screen - window_state.FRAME_ALLOWANCE)
    op, lp = w.overlayPanel, w.layerPanel
    op.set_readout_source(0.9961, lambda t: 0.12, reach=0.4, caption="clones map value (its own scale)",
                          meaning="strength of the strongest confirmed copy, 0 when none")  # threshold 0.5: warned
    op.set_probe(224, 149, 0.25)
    # side by side with a map beside (its row and its line), while another layer is computed
    op.set_mode(DisplayMode.SIDE_BY_SIDE)
    lp.set_status("Beside: learned map, score 0.025")
    lp.set_busy("ela: computing…")
    qtbot.wait(100)  # the refit is posted
    assert w.minimumSizeHint().height() <= screen - window_state.FRAME_ALLOWANCE
    for widget in (op.scoreLabel, op.reachLabel, op.probeLabel):
        assert _whole_in_view(widget), (widget.objectName(), widget.visibleRegion().boundingRect(), widget.size())
    assert "0.250" in op.probeLabel.text()
    if screen >= 1080:  # room enough: the overlay dock grows, nothing in it scrolls
        for widget in (lp.besideCombo, lp.layerProgressBar, op.thresholdSlider, op.colorBar, op.reachLabel):
            assert _whole_in_view(widget), widget.objectName()
    close_window(w)


def test_a_new_map_clears_the_value_read_from_the_previous_one(qtbot):
    from declip_desktop.docks.overlay_dock import OverlayPanel

    op = OverlayPanel()
    qtbot.addWidget(op)
    op.set_readout_source(0.03, lambda t: 0.0, 0.57)
    op.set_probe(224, 149, 0.007)
    assert op.probeLabel.text() == "Under cursor: p = 0.007 at (224, 149)"
    # the clones layer replaces the learned map with the cursor still: no learned-map value under its name
    op.set_readout_source(0.996, lambda t: 0.12, caption="clones map value (its own scale)", meaning="strength")
    assert op.probeLabel.text() == "Under cursor: –"
    op.set_probe(224, 149, 0.9)
    assert op.probeLabel.text() == "Under cursor: value 0.900 at (224, 149)"


def test_the_left_view_reads_the_map_drawn_in_it(qtbot, tmp_path, tiny_model):
    from declip_desktop.overlay_style import DisplayMode

    win, _eid = window_on_clones(qtbot, tmp_path)
    win.analyze_all()
    qtbot.waitUntil(lambda: not win.analysis.running, timeout=120000)
    qtbot.waitUntil(lambda: win.imageView.overlay_item is not None, timeout=60000)
    learned = win.imageView.overlay_item.pyramid
    choose_layer(qtbot, win, "clones")
    clones = win.layers.shown.overlay
    x, y = 10, 10
    assert f"{learned.value_at(x, y):.3f}" != f"{clones.value_at(x, y):.3f}"  # the two maps differ there
    win.overlayPanel.set_mode(DisplayMode.SIDE_BY_SIDE)
    win.layerPanel.besideCombo.setCurrentIndex(win.layerPanel.besideCombo.findData(""))  # the learned map
    qtbot.waitUntil(lambda: win.layers._beside is not None)
    win.viewer.twin.hovered.emit(x, y)
    assert win.overlayPanel.probeLabel.text() == f"Left (learned map): p = {learned.value_at(x, y):.3f} at ({x}, {y})"
    win.viewer.view.hovered.emit(x, y)  # the right view: the layer's own value
    assert win.overlayPanel.probeLabel.text() == f"Under cursor: value {clones.value_at(x, y):.3f} at ({x}, {y})"
    win.viewer.twin.hovered.emit(-1, -1)
    assert win.overlayPanel.probeLabel.text() == "Under cursor: –"
    close_window(win)


def test_the_beside_line_shows_only_in_the_side_by_side_display(qtbot):
    from declip_desktop.docks.layer_panel import LayerPanel

    lp = LayerPanel()
    qtbot.addWidget(lp)
    lp.set_side_by_side(True)
    lp.set_status("Beside: learned map, score 0.025")
    assert not lp.layerStatusLabel.isHidden()
    lp.set_side_by_side(False)  # back to the heat map: no map is beside
    assert lp.layerStatusLabel.isHidden()
    lp.set_side_by_side(True)
    assert not lp.layerStatusLabel.isHidden()
    lp.set_side_by_side(False)
    lp.set_status("Cancelled: nothing was stored.")  # other news shows in every display
    assert not lp.layerStatusLabel.isHidden()


def test_the_finding_note_is_whole_with_a_pinned_layer(qtbot):
    from PySide6.QtWidgets import QScrollArea

    from declip_desktop.docks.finding_dock import FindingPanel

    fp = FindingPanel()
    qtbot.addWidget(fp)
    fp.resize(340, 220)
    fp.show()
    fp.set_finding({"status": "suspicious", "note": "a\nb", "layers": ["clones"]}, enabled=True)
    qtbot.wait(50)
    # the dock has room for status, pins and the note: nothing lies under the scroll area's edge,
    # where the lines being typed would go
    assert fp.findChild(QScrollArea, "findingScroll").verticalScrollBar().maximum() == 0
    assert _whole_in_view(fp.findingNoteEdit)


def test_the_problems_dock_opens_a_few_lines_tall(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path / "case.declip")
    w.problemsPanel.add("ingest", "Not added: notes.txt: not an image (format not recognised)")
    dock = w.findChild(QDockWidget, "problemsDock")
    qtbot.waitUntil(dock.isVisible)
    qtbot.wait(50)
    line = w.problemsPanel.fontMetrics().lineSpacing()
    assert w.problemsPanel.height() <= 6 * line + 10  # was 192 px for one line of text
    assert w.imageView.height() >= 4 * w.problemsPanel.height()  # the image keeps most of the height
    close_window(w)


def test_the_trainer_dialog_fits_a_720_px_screen(qtbot):
    from PySide6.QtWidgets import QScrollArea

    from declip_desktop import window_state
    from declip_desktop.dialogs.trainer import TrainerDialog

    dlg = TrainerDialog()
    qtbot.addWidget(dlg)
    room = 720 - window_state.FRAME_ALLOWANCE
    dlg.resize(1060, room)
    dlg.show()
    qtbot.wait(50)
    assert dlg.height() <= room  # its minimum was 728 px: taller than the screen, buttons off it
    # the settings scroll; the chart, Start and Close stay in view
    for widget in (dlg.chart, dlg.startButton, dlg.cancelButton):
        assert _whole_in_view(widget), widget.objectName()
    dlg.resize(1060, 1000)  # a tall screen: the settings are whole
    qtbot.wait(50)
    assert dlg.findChild(QScrollArea, "trainSettingsScroll").verticalScrollBar().maximum() == 0
    assert _whole_in_view(dlg.nameEdit)
    # it opens at its preferred size or the screen's, whichever is smaller
    from declip_desktop.dialogs.screen_fit import fit_dialog

    fit_dialog(dlg, 1060, 760, available=QRect(0, 0, 1280, 720))
    assert (dlg.width(), dlg.height()) == (1060, room)
    close_window(dlg)
