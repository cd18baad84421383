"""What the evidence layers draw over the image, as scene items: clone pairs (source and target
boxes, their tags and the line between them), the fill stage's areas (F boxes), the hatched cells too flat for `clones` to check, and
the box of a corroboration region. Pens are
cosmetic and tags ignore the zoom, so they read the same at any scale."""
from __future__ import annotations

from PySide6.QtCore import QLineF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPainterPath, QPen
from PySide6.QtWidgets import (QGraphicsItemGroup, QGraphicsLineItem, QGraphicsPathItem, QGraphicsRectItem,
                               QGraphicsSimpleTextItem)


class _Tag(QGraphicsSimpleTextItem):
    """A pair's S1/T1 tag: bold, on a dark plate so it reads on any photo, the same size at any zoom."""

    def __init__(self, text: str, colour: QColor):
        super().__init__(text)
        font = QFont(self.font())
        font.setBold(True)
        font.setPixelSize(13)
        self.setFont(font)
        self.setBrush(colour)
        self.setFlag(self.GraphicsItemFlag.ItemIgnoresTransformations)

    def boundingRect(self):  # noqa: N802
        return super().boundingRect().adjusted(-3, -1, 3, 1)

    def paint(self, painter, option, widget=None):
        painter.fillRect(self.boundingRect(), QColor(0, 0, 0, 190))
        super().paint(painter, option, widget)


class ClonePairsItem(QGraphicsItemGroup):
    """Source box (cyan), target box (magenta) and a line between their centres, per pair; under them,
    the cells too flat for a copy to be confirmed (`flat`: image-pixel rectangles), hatched in grey."""

    def __init__(self, pairs: list[dict], selected: int = -1, flat: list | None = None, fills: list | None = None):
        """fills: the fill stage's areas ({'bbox': [...]}), drawn as orange F1, F2... boxes; `selected`
        counts them after the pairs, as the layer panel's list does."""
        super().__init__()
        self.setZValue(10)
        if flat:
            path = QPainterPath()
            for x0, y0, x1, y1 in flat:
                path.addRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            hatch = QGraphicsPathItem(path.simplified())
            hatch.setPen(QPen(Qt.PenStyle.NoPen))
            hatch.setBrush(QBrush(QColor(235, 235, 235, 150), Qt.BrushStyle.BDiagPattern))
            self.addToGroup(hatch)
        for k, p in enumerate(pairs):
            s, t = p.get("source_bbox"), p.get("target_bbox")
            if not (s and t):
                continue
            width = 4 if k == selected else 2
            for box, colour, tag in ((s, QColor(0, 220, 255), "S"), (t, QColor(255, 0, 200), "T")):
                r = QGraphicsRectItem(QRectF(box[0], box[1], box[2] - box[0], box[3] - box[1]))
                pen = QPen(colour, width)
                pen.setCosmetic(True)  # the same width at every zoom
                r.setPen(pen)
                self.addToGroup(r)
                label = _Tag(f"{tag}{k + 1}", colour)
                label.setPos(box[0] + 2, box[1] + 2)
                self.addToGroup(label)
            line = QGraphicsLineItem(QLineF((s[0] + s[2]) / 2, (s[1] + s[3]) / 2, (t[0] + t[2]) / 2, (t[1] + t[3]) / 2))
            pen = QPen(QColor(255, 255, 0), width, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            line.setPen(pen)
            self.addToGroup(line)
        for j, f in enumerate(fills or []):
            box = f.get("bbox")
            if not box or len(box) != 4:
                continue
            width = 4 if len(pairs) + j == selected else 2
            colour = QColor(255, 150, 0)
            r = QGraphicsRectItem(QRectF(box[0], box[1], box[2] - box[0], box[3] - box[1]))
            pen = QPen(colour, width, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            r.setPen(pen)
            self.addToGroup(r)
            label = _Tag(f"F{j + 1}", colour)
            label.setPos(box[0] + 2, box[1] + 2)
            self.addToGroup(label)


class RegionItem(QGraphicsRectItem):
    """A corroboration region's box [x0, y0, x1, y1]: dashed white, above the map and the pairs."""

    def __init__(self, box):
        super().__init__(QRectF(box[0], box[1], box[2] - box[0], box[3] - box[1]))
        pen = QPen(QColor(255, 255, 255), 3, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.setPen(pen)
        self.setZValue(11)
