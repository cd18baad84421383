"""Metadata dock: hashes, integrity state, EXIF and the analysis record, as a key/value tree."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QAction, QFontMetrics, QKeySequence
from PySide6.QtWidgets import (QApplication, QStyledItemDelegate, QStyleOptionViewItem, QTreeWidget,
                               QTreeWidgetItem)


class _WrapDelegate(QStyledItemDelegate):
    """Value cells as tall as their text wrapped to the Value column's width (the stock delegate
    sizes every row for one line, so a wrapped value was cut off)."""

    def sizeHint(self, option, index):  # noqa: N802
        base = super().sizeHint(option, index)
        view = self.parent()
        if index.column() != 1 or view is None:
            return base
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        width = max(40, view.columnWidth(1) - 10)
        text = opt.text or ""
        rect = QFontMetrics(opt.font).boundingRect(QRect(0, 0, width, 100000), int(Qt.TextFlag.TextWordWrap), text)
        return QSize(base.width(), max(base.height(), rect.height() + 4))


class MetadataView(QTreeWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("metadataView")
        self.setAccessibleName("Image metadata, hashes and integrity")
        self.setColumnCount(2)
        self.setHeaderLabels(["Field", "Value"])
        # Long values wrap in the narrow dock instead of ending in "…"; hashes are shown in groups
        # of 16 so they wrap too. The exact value is in the tooltip and is what Copy value copies.
        self.setWordWrap(True)
        self.setUniformRowHeights(False)
        self.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.header().setStretchLastSection(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setItemDelegate(_WrapDelegate(self))
        self.header().sectionResized.connect(lambda *_: self.scheduleDelayedItemsLayout())  # rewrap
        self.setAlternatingRowColors(True)
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
            top.setFirstColumnSpanned(True)  # a section's title is read whole, across both columns
            self._fill(top, content)
            # the map on screen is open; the learned map's record, when hidden behind a layer, is not
            top.setExpanded(title in ("Integrity", "Content Credentials", "File", "Analysis")
                            or title.startswith("Shown map"))
        self.fit_columns()

    def fit_columns(self) -> None:
        """The Field column as wide as its names, but never more than about 40 % of the dock: the
        values (wrapped) need the room more."""
        self.resizeColumnToContents(0)
        self.setColumnWidth(0, min(self.columnWidth(0), max(90, int(0.4 * self.viewport().width()))))

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self.topLevelItemCount():
            self.fit_columns()

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


HEX = set("0123456789abcdefABCDEF")


def _short(v: Any) -> str:
    text = "" if v is None else str(v)
    if len(text) >= 32 and set(text) <= HEX:  # a hash: in groups, so a narrow column wraps it
        return " ".join(text[i:i + 16] for i in range(0, len(text), 16))
    return text if len(text) <= 300 else text[:297] + "…"
