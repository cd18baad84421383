"""Problems dock: images not added or added with a warning, and analyses that failed.

Its own dock, so a long list never pushes the analysis controls out of view; each kind is
cleared only by its own next run (starting an analysis keeps the ingest warnings)."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidget, QListWidgetItem

KIND_ROLE = Qt.ItemDataRole.UserRole + 1


class ProblemsPanel(QListWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("errorList")
        self.setAccessibleName("Images that could not be added or analysed")
        self.setWordWrap(True)

    def add(self, kind: str, text: str) -> None:
        item = QListWidgetItem(text)
        item.setData(KIND_ROLE, kind)
        item.setToolTip(text)
        self.addItem(item)
        self.problemsChanged()

    def clear_kind(self, kind: str) -> None:
        for i in reversed(range(self.count())):
            if self.item(i).data(KIND_ROLE) == kind:
                self.takeItem(i)
        self.problemsChanged()

    def texts(self, kind: str | None = None) -> list[str]:
        return [self.item(i).text() for i in range(self.count())
                if kind is None or self.item(i).data(KIND_ROLE) == kind]

    def problemsChanged(self) -> None:  # noqa: N802
        """The dock shows itself when there is something to read (the window connects it)."""
        dock = self.parent()
        while dock is not None and not hasattr(dock, "toggleViewAction"):
            dock = dock.parent()
        if dock is not None and self.count():
            dock.show()
            dock.raise_()
