"""A small live chart of training loss (per step) and validation IoU (per epoch).

Painted with QPainter (QtCharts is not part of PySide6-Essentials)."""
from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

LOSS_COLOUR = QColor(230, 120, 40)
IOU_COLOUR = QColor(40, 150, 220)


class TrainingChart(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("trainingChart")
        self.setAccessibleName("Training loss and validation IoU")
        self.setMinimumHeight(110)
        self.loss: list[tuple[float, float]] = []  # (epoch position, loss)
        self.iou: list[tuple[float, float]] = []  # (epoch, IoU percent)
        self.max_epochs = 1

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(480, 220)

    def clear(self) -> None:
        self.loss.clear()
        self.iou.clear()
        self.update()

    def add_loss(self, x: float, value: float) -> None:
        if math.isfinite(value):
            self.loss.append((x, value))
            self.update()

    def add_iou(self, epoch: float, value: float) -> None:
        if math.isfinite(value):
            self.iou.append((epoch, value))
            self.update()

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        plot = QRectF(44, 10, max(10, self.width() - 90), max(10, self.height() - 36))
        p.setPen(QPen(pal.mid().color(), 1))
        p.drawRect(plot)
        xs = [x for x, _ in self.loss] + [x for x, _ in self.iou]
        xmax = max([float(self.max_epochs)] + xs) or 1.0
        values = [v for _, v in self.loss]
        lmax = max(values + [1e-6])
        lmin = min(values) if values else 0.0
        span = lmax - lmin
        lmin, lmax = (max(0.0, lmin - 0.1 * span), lmax + 0.05 * span) if span > 0 else (0.0, lmax)

        def pt(x, y, ymin, ymax):
            return QPointF(plot.left() + plot.width() * x / xmax,
                           plot.bottom() - plot.height() * ((y - ymin) / ((ymax - ymin) or 1.0)))

        for series, ymin, ymax, colour in ((self.loss, lmin, lmax, LOSS_COLOUR), (self.iou, 0.0, 100.0, IOU_COLOUR)):
            if series:
                p.setPen(QPen(colour, 2))
                poly = QPolygonF([pt(x, v, ymin, ymax) for x, v in series])
                p.drawPolyline(poly)
                if len(series) == 1:
                    p.drawEllipse(poly[0], 2.5, 2.5)
        p.setPen(pal.text().color())
        p.drawText(QRectF(0, plot.bottom() + 4, self.width(), 16), Qt.AlignmentFlag.AlignCenter,
                   f"epoch (of at most {self.max_epochs})")
        if not self.loss and not self.iou:
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "Training loss and validation IoU appear here while training runs.")
        p.setPen(LOSS_COLOUR)
        if self.loss:
            p.drawText(QRectF(2, plot.top(), 40, 16), Qt.AlignmentFlag.AlignRight, f"{lmax:.2g}")
        p.drawText(QRectF(2, plot.bottom() - 16, 40, 16), Qt.AlignmentFlag.AlignRight,
                   f"{lmin:.2g}" if self.loss else "0")
        p.drawText(QRectF(2, plot.center().y() - 8, 40, 16), Qt.AlignmentFlag.AlignRight, "loss")
        p.setPen(IOU_COLOUR)
        right = plot.right() + 4
        p.drawText(QRectF(right, plot.top(), 44, 16), Qt.AlignmentFlag.AlignLeft, "100")
        p.drawText(QRectF(right, plot.bottom() - 16, 44, 16), Qt.AlignmentFlag.AlignLeft, "0")
        p.drawText(QRectF(right, plot.center().y() - 8, 44, 16), Qt.AlignmentFlag.AlignLeft, "IoU %")
        p.end()
