"""Metadata dock: hashes, integrity state, EXIF and the analysis record, as a key/value tree."""
from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem


class MetadataView(QTreeWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("metadataView")
        self.setAccessibleName("Image metadata, hashes and integrity")
        self.setColumnCount(2)
        self.setHeaderLabels(["Field", "Value"])
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)

    def show_sections(self, sections: dict[str, Any]) -> None:
        self.clear()
        for title, content in sections.items():
            if content in (None, {}, []):
                continue
            top = QTreeWidgetItem([title, ""])
            self.addTopLevelItem(top)
            self._fill(top, content)
            top.setExpanded(title in ("Integrity", "File", "Analysis"))
        self.resizeColumnToContents(0)

    def _fill(self, parent: QTreeWidgetItem, value: Any, depth: int = 0) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, (dict, list)) and v and depth < 4:
                    node = QTreeWidgetItem([str(k), ""])
                    parent.addChild(node)
                    self._fill(node, v, depth + 1)
                else:
                    parent.addChild(QTreeWidgetItem([str(k), _short(v)]))
        elif isinstance(value, list):
            for i, v in enumerate(value[:200]):
                if isinstance(v, (dict, list)) and depth < 4:
                    node = QTreeWidgetItem([str(i), ""])
                    parent.addChild(node)
                    self._fill(node, v, depth + 1)
                else:
                    parent.addChild(QTreeWidgetItem([str(i), _short(v)]))
        else:
            parent.setText(1, _short(value))


def _short(v: Any) -> str:
    text = "" if v is None else str(v)
    return text if len(text) <= 300 else text[:297] + "…"
