"""Finding dock: the analyst's status and note for the selected image, the layers pinned to it,
and a Save button that never scrolls out of view (only the status, note and pins scroll)."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton,
                               QScrollArea, QSizePolicy, QVBoxLayout, QWidget)

from declip_desktop.case.util import readable_utc

NOTE_LINES = 3  # the note lines in view however short the screen (window_state keeps the dock this tall)
FINDING_STATUSES = ["not reviewed", "no finding", "suspicious", "manipulation confirmed"]


def saved_text(finding: dict) -> str:
    """'Saved 2026-11-30 05:41:07 UTC by J. Doe' from a stored finding (empty if never saved)."""
    when = readable_utc(finding.get("modified_utc"))
    if not when:
        return ""
    who = finding.get("examiner")
    return f"Saved {when}" + (f" by {who}" if who else "")


class NoteEdit(QPlainTextEdit):
    """The note editor, whose preferred height is its minimum. Once the pinned line (a wrapping label)
    shows, the scroll area sizes the body by its rows' preferred heights: the editor's default 192 px
    made the body taller than the dock, so the note's lower lines, where typing goes on, lay under the
    scroll area's edge. The editor still grows into whatever room the dock has (stretch)."""

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(super().sizeHint().width(), self.minimumHeight())


class FindingPanel(QWidget):
    saveRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.findingStatusCombo = QComboBox(objectName="findingStatusCombo", accessibleName="Finding status")
        for s in FINDING_STATUSES:
            self.findingStatusCombo.addItem(s, s)  # the case's own status words
        self.findingNoteEdit = NoteEdit(objectName="findingNoteEdit", accessibleName="Finding note")
        self.findingNoteEdit.setPlaceholderText("What you saw, where, and why it matters…")
        self.findingNoteEdit.setTabChangesFocus(True)  # a typed Tab would land in the evidence record
        self.findingNoteEdit.setMinimumHeight(self.note_height(NOTE_LINES))  # a few lines, even on a laptop
        self.saveFindingButton = QPushButton("Save finding", objectName="saveFindingButton",
                                             accessibleName="Save the finding with the current threshold and opacity")
        self.savedLabel = QLabel("", objectName="findingSavedLabel")
        self.savedLabel.setWordWrap(True)
        self.pinnedLabel = QLabel("", objectName="findingPinnedLabel",
                                  accessibleName="Evidence layers pinned to the finding")
        self.pinnedLabel.setWordWrap(True)
        self.pinnedLabel.setToolTip("Printed on the item's report page with their maps; pin or unpin a layer "
                                    "in the Overlay dock")
        self.scopeLabel = QLabel("", objectName="findingScopeLabel")  # shown when several images are selected
        self.scopeLabel.setWordWrap(True)
        self.scopeLabel.hide()
        for w in (self.savedLabel, self.pinnedLabel, self.scopeLabel):  # wrap, never widen the dock
            w.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        form = QFormLayout()
        form.addRow("Status", self.findingStatusCombo)
        body = QWidget(objectName="findingBody")
        self._body = body
        lay = QVBoxLayout(body)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.scopeLabel)
        lay.addLayout(form)
        lay.addWidget(self.pinnedLabel)  # above the note: in view however short the dock is
        lay.addWidget(self.findingNoteEdit, 1)
        scroll = QScrollArea(objectName="findingScroll")
        scroll.setWidget(body)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumHeight(36)  # the panel's own minimum (usable_height) is set by window_state
        # On a short screen the note shrinks and then scrolls; Save and the saved line stay put.
        footer = QHBoxLayout()
        footer.addWidget(self.saveFindingButton)
        footer.addWidget(self.savedLabel, 1)
        self._footer = footer
        outer = QVBoxLayout(self)
        outer.setContentsMargins(9, 4, 9, 4)
        outer.addWidget(scroll, 1)
        outer.addLayout(footer)
        self.saveFindingButton.clicked.connect(self.saveRequested)
        self.set_finding(None)

    def note_height(self, lines: int) -> int:
        """The note editor's height for `lines` lines of text."""
        e = self.findingNoteEdit
        return (lines * e.fontMetrics().lineSpacing() + 2 * e.frameWidth()
                + 2 * int(e.document().documentMargin()) + 2)

    def usable_height(self) -> int:
        """The least height at which the panel is still usable without scrolling: the status, one line
        of pinned layers, NOTE_LINES lines of note, and Save with a two-line saved stamp."""
        outer, body = self.layout(), self._body.layout()
        line = self.fontMetrics().lineSpacing()
        inner = (self.findingStatusCombo.sizeHint().height() + line + self.note_height(NOTE_LINES)
                 + 2 * body.spacing())
        footer = max(self.saveFindingButton.sizeHint().height(), 2 * line + 2)
        m = outer.contentsMargins()
        return m.top() + m.bottom() + outer.spacing() + inner + footer + 8  # + the scroll frame, rounding

    def status(self) -> str:
        return self.findingStatusCombo.currentData() or FINDING_STATUSES[0]

    def note(self) -> str:
        return self.findingNoteEdit.toPlainText()

    def set_scope(self, current: str | None, selected: int) -> None:
        """A finding is one image's: say which, when several are selected."""
        self.scopeLabel.setVisible(bool(current) and selected > 1)
        self.scopeLabel.setText(f"<b>{selected} images selected</b> — this finding is for {current} only."
                                if current else "")

    def set_saved(self, finding: dict) -> None:
        self.savedLabel.setText(saved_text(finding))

    def set_pinned(self, layers: list[str]) -> None:
        self.pinnedLabel.setText(f"Pinned layers (in the report): {', '.join(layers)}" if layers else "")
        self.pinnedLabel.setVisible(bool(layers))

    def set_edit(self, status: str, note: str) -> None:
        i = self.findingStatusCombo.findData(status)
        self.findingStatusCombo.setCurrentIndex(max(i, 0))
        self.findingNoteEdit.setPlainText(note)

    def mark_unsaved(self, reason: str) -> None:
        self.savedLabel.setText(f"NOT SAVED: {reason}")

    def set_finding(self, finding: dict | None, enabled: bool = False) -> None:
        finding = finding or {}
        i = self.findingStatusCombo.findData(finding.get("status", FINDING_STATUSES[0]))
        self.findingStatusCombo.setCurrentIndex(max(i, 0))
        self.findingNoteEdit.setPlainText(finding.get("note", "") or "")
        self.savedLabel.setText(saved_text(finding))
        self.set_pinned(list(finding.get("layers") or []))
        for w in (self.findingStatusCombo, self.findingNoteEdit, self.saveFindingButton):
            w.setEnabled(enabled)
