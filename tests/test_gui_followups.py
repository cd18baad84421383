"""Follow-ups of the GUI reviews: one place for the screen's size, the Add images filter built from
the engine's suffixes, thumbnails that must belong to the evidence's bytes."""
from __future__ import annotations

from tests.gui_support import isolated_qsettings  # noqa: F401


def test_the_model_list_popup_asks_window_state_for_the_screen(qtbot, monkeypatch):
    # analysis_dock measured the screen itself; window_state.available_geometry is the one place
    from PySide6.QtCore import QRect

    from declip_desktop import window_state
    from declip_desktop.docks.analysis_dock import AnalysisPanel

    panel = AnalysisPanel()
    qtbot.addWidget(panel)
    panel.resize(330, 400)
    panel.show()
    qtbot.waitExposed(panel)
    c = panel.modelCombo
    c.addItem("DeCLIP-Lite2 default (splices, copy-move, classical inpainting)", "m")
    c.setFixedWidth(600)  # a list at least as wide as the combo, were the screen wide enough
    asked = []

    def small_screen(widget, available=None):
        asked.append(widget)
        return QRect(0, 0, 400, 300)

    monkeypatch.setattr(window_state, "available_geometry", small_screen)
    c.showPopup()
    try:
        assert asked and asked[0] is c
        assert c.view().minimumWidth() == 400 - 40  # capped by that screen, not the real one
    finally:
        c.hidePopup()
    monkeypatch.setattr(window_state, "available_geometry", lambda widget, available=None: None)
    c.showPopup()  # no screen at all: the old 1280 px guess
    try:
        assert c.view().minimumWidth() == 600
    finally:
        c.hidePopup()
