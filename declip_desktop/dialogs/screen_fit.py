"""Dialog sizes that fit the screen: a laptop's 720- or 768-px screen is shorter than the size some
dialogs would like, and a dialog taller than the screen hides its buttons."""
from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QScrollArea

from declip_desktop import window_state  # the screen's area, found as for the main window
# the window manager's title bar and borders, outside the dialog's own size
from declip_desktop.window_state import FRAME_ALLOWANCE, SIDE_ALLOWANCE


def fit_dialog(dlg, width: int, height: int, available=None) -> None:
    """Size `dlg` to width x height, or to the screen's available area (`available`, a QRect: the
    dialog's screen by default) less the frame where that is smaller (the dialog's content must
    scroll or shrink to allow it)."""
    room = window_state.available_geometry(dlg, available)
    if room is not None:
        width = min(width, room.width() - SIDE_ALLOWANCE)
        height = min(height, room.height() - FRAME_ALLOWANCE)
    dlg.resize(width, height)


class WholeScrollArea(QScrollArea):
    """A scroll area that asks for its whole content's height (Qt caps a scroll area's size hint at
    24 lines of text), so it scrolls only where the screen is too short to show it all."""

    def __init__(self, widget, object_name: str = ""):
        super().__init__(objectName=object_name)
        self.setWidget(widget)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)

    def sizeHint(self) -> QSize:  # noqa: N802
        inner = self.widget().sizeHint()
        bar = self.verticalScrollBar().sizeHint().width()  # room for the bar, should the screen be short
        return QSize(inner.width() + bar, inner.height() + 2 * self.frameWidth())
