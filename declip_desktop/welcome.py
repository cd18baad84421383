"""What the window shows with no case open: what to do (new case, open case, recent cases)."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget


class WelcomePanel(QWidget):
    newRequested = Signal()
    openRequested = Signal()
    recentRequested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("welcomePanel")
        self.setAccessibleName("No case open: create or open a case")
        title = QLabel("<h2>No case is open</h2>"
                       "<p>A case holds the evidence photos, their analyses, your findings and the audit log.</p>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title.setWordWrap(True)
        self.newButton = QPushButton("New case…   (Ctrl+N)", objectName="welcomeNewButton",
                                     accessibleName="Create a new case")
        self.openButton = QPushButton("Open case…   (Ctrl+O)", objectName="welcomeOpenButton",
                                      accessibleName="Open a case folder")
        for b in (self.newButton, self.openButton):
            b.setMinimumWidth(280)
        self.newButton.clicked.connect(self.newRequested)
        self.openButton.clicked.connect(self.openRequested)
        self.recentTitle = QLabel("<b>Recent cases</b>")
        self.recentBox = QVBoxLayout()
        hint = QLabel("Or drop photos or folders on this window: a new case is proposed for them.")
        hint.setObjectName("welcomeHint")
        hint.setWordWrap(True)
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay = QVBoxLayout(self)
        lay.addStretch(1)
        lay.addWidget(title)
        for w in (self.newButton, self.openButton):
            lay.addWidget(w, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addSpacing(12)
        lay.addWidget(self.recentTitle, 0, Qt.AlignmentFlag.AlignHCenter)
        lay.addLayout(self.recentBox)
        lay.addSpacing(12)
        lay.addWidget(hint)
        lay.addStretch(2)
        self._recent_buttons: list[QPushButton] = []

    def set_recent(self, paths: list[str]) -> None:
        for b in self._recent_buttons:
            self.recentBox.removeWidget(b)
            b.deleteLater()
        self._recent_buttons = []
        for p in paths[:6]:
            b = QPushButton(f"{Path(p).name}  —  {Path(p).parent}", objectName="welcomeRecentButton")
            b.setFlat(True)
            b.setToolTip(p)
            b.clicked.connect(lambda _=False, p=p: self.recentRequested.emit(p))
            self.recentBox.addWidget(b, 0, Qt.AlignmentFlag.AlignHCenter)
            self._recent_buttons.append(b)
        self.recentTitle.setVisible(bool(paths))
