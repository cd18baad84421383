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
