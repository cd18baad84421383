"""Metadata dock: hashes, integrity state, EXIF and the analysis record, as a key/value tree."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QTreeWidget, QTreeWidgetItem


class MetadataView(QTreeWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("metadataView")
        self.setAccessibleName("Image metadata, hashes and integrity")
        self.setColumnCount(2)
        self.setHeaderLabels(["Field", "Value"])
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        # Hashes are cut short by the column: the full value is in the tooltip and can be copied.
        copy = QAction("Copy value", self, objectName="copyMetadataValue")
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        copy.triggered.connect(self.copy_value)
        self.addAction(copy)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)

    def copy_value(self) -> str:
        item = self.currentItem()
        if item is None:
            return ""
        text = item.data(1, Qt.ItemDataRole.UserRole) or item.text(1)
        if text:
            QApplication.clipboard().setText(text)
        return text

    def show_sections(self, sections: dict[str, Any]) -> None:
        self.clear()
        for title, content in sections.items():
            if content in (None, {}, []):
                continue
            top = QTreeWidgetItem([title, ""])
            self.addTopLevelItem(top)
            self._fill(top, content)
            top.setExpanded(title in ("Integrity", "Content Credentials", "File", "Analysis"))
        self.resizeColumnToContents(0)

    def _fill(self, parent: QTreeWidgetItem, value: Any, depth: int = 0) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, (dict, list)) and v and depth < 4:
                    node = QTreeWidgetItem([str(k), ""])
                    parent.addChild(node)
                    self._fill(node, v, depth + 1)
                else:
                    parent.addChild(_leaf(str(k), v))
        elif isinstance(value, list):
            for i, v in enumerate(value[:200]):
                if isinstance(v, (dict, list)) and depth < 4:
                    node = QTreeWidgetItem([str(i), ""])
                    parent.addChild(node)
                    self._fill(node, v, depth + 1)
                else:
                    parent.addChild(_leaf(str(i), v))
        else:
            parent.setText(1, _short(value))


def _leaf(key: str, value: Any) -> QTreeWidgetItem:
    full = "" if value is None else str(value)
    item = QTreeWidgetItem([key, _short(value)])
    item.setToolTip(1, full if len(full) <= 2000 else full[:2000] + "…")
    item.setData(1, Qt.ItemDataRole.UserRole, full)
    return item


def _short(v: Any) -> str:
    text = "" if v is None else str(v)
    return text if len(text) <= 300 else text[:297] + "…"
