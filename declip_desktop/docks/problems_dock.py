"""Problems dock: images not added or added with a warning, and analyses that failed.

Its own dock, so a long list never pushes the analysis controls out of view. Ingest warnings are
cleared by the next ingest; an item's analysis failure stays until that item is analysed
successfully (analysing other items keeps it), a failed run's message until the next run. Every
problem belongs to the case it came from: closing it, or opening another, clears the list."""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QListWidget, QListWidgetItem

KIND_ROLE = Qt.ItemDataRole.UserRole + 1
KEY_ROLE = Qt.ItemDataRole.UserRole + 2  # the evidence id a problem is about (None: the whole run)


class ProblemsPanel(QListWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("errorList")
        self.setAccessibleName("Images that could not be added or analysed")
        self.setWordWrap(True)

    def sizeHint(self) -> QSize:  # noqa: N802
        """About five lines: the dock opens under the image without taking a third of its height for
        one message (the list's default is 192 px); it can be dragged taller, and it scrolls."""
        return QSize(super().sizeHint().width(), 5 * self.fontMetrics().lineSpacing() + 2 * self.frameWidth() + 4)

    def add(self, kind: str, text: str, key: str | None = None, tip: str | None = None) -> None:
        """tip: more than the line says (e.g. a duplicate's whole SHA-256); the line itself by default."""
        item = QListWidgetItem(text)
        item.setData(KIND_ROLE, kind)
        item.setData(KEY_ROLE, key)
        item.setToolTip(f"{text}\n{tip}" if tip else text)
        self.addItem(item)
        self.problemsChanged()

    def clear_all(self) -> None:
        """The case closed (or another opened): its problems go, and so does the dock they opened."""
        self.clear()
        dock = self._dock()
        if dock is not None:
            dock.hide()

    def clear_kind(self, kind: str) -> None:
        for i in reversed(range(self.count())):
            if self.item(i).data(KIND_ROLE) == kind:
                self.takeItem(i)
        self.problemsChanged()

    def clear_key(self, kind: str, key: str | None) -> None:
        """Remove the problems of `kind` about `key` (key None: those about no one item, e.g. a run
        that failed as a whole)."""
        for i in reversed(range(self.count())):
            if self.item(i).data(KIND_ROLE) == kind and self.item(i).data(KEY_ROLE) == key:
                self.takeItem(i)
        self.problemsChanged()

    def texts(self, kind: str | None = None) -> list[str]:
        return [self.item(i).text() for i in range(self.count())
                if kind is None or self.item(i).data(KIND_ROLE) == kind]

    def problemsChanged(self) -> None:  # noqa: N802
        """The dock shows itself when there is something to read (the window connects it)."""
        dock = self._dock()
        if dock is not None and self.count():
            dock.show()
            dock.raise_()

    def _dock(self):
        dock = self.parent()
        while dock is not None and not hasattr(dock, "toggleViewAction"):
            dock = dock.parent()
        return dock
