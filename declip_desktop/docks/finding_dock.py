"""Finding dock: the analyst's status and note for the selected image."""
from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QLabel, QPlainTextEdit, QPushButton,
                               QVBoxLayout, QWidget)

from declip_desktop.case.util import readable_utc

FINDING_STATUSES = ["not reviewed", "no finding", "suspicious", "manipulation confirmed"]


def saved_text(finding: dict) -> str:
    """'Saved 2026-11-30 05:41:07 UTC by J. Doe' from a stored finding (empty if never saved)."""
    when = readable_utc(finding.get("modified_utc"))
    if not when:
        return ""
    who = finding.get("examiner")
    return f"Saved {when}" + (f" by {who}" if who else "")


class FindingPanel(QWidget):
    saveRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.findingStatusCombo = QComboBox(objectName="findingStatusCombo", accessibleName="Finding status")
        for s in FINDING_STATUSES:
            self.findingStatusCombo.addItem(s, s)  # the case's own status words
        self.findingNoteEdit = QPlainTextEdit(objectName="findingNoteEdit", accessibleName="Finding note")
        self.findingNoteEdit.setPlaceholderText("What you saw, where, and why it matters…")
        self.findingNoteEdit.setTabChangesFocus(True)
        self.findingNoteEdit.setMinimumHeight(60)  # on a small screen the overlay readouts come first  # a typed Tab would land in the evidence record
        self.saveFindingButton = QPushButton("Save finding", objectName="saveFindingButton",
                                             accessibleName="Save the finding with the current threshold and opacity")
        self.savedLabel = QLabel("", objectName="findingSavedLabel")
        self.savedLabel.setWordWrap(True)
        self.scopeLabel = QLabel("", objectName="findingScopeLabel")  # shown when several images are selected
        self.scopeLabel.setWordWrap(True)
        self.scopeLabel.hide()
        form = QFormLayout()
        form.addRow("Status", self.findingStatusCombo)
        lay = QVBoxLayout(self)
        lay.addWidget(self.scopeLabel)
        lay.addLayout(form)
        lay.addWidget(self.findingNoteEdit, 1)
        lay.addWidget(self.saveFindingButton)
        lay.addWidget(self.savedLabel)
        self.saveFindingButton.clicked.connect(self.saveRequested)
        self.set_finding(None)

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
        for w in (self.findingStatusCombo, self.findingNoteEdit, self.saveFindingButton):
            w.setEnabled(enabled)
