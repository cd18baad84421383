"""Colour bar legend: the colour map from 0 to 1 with tick labels and the threshold marked."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from declip_desktop import colormaps
from declip_desktop.overlay_style import DisplayMode, OverlayStyle, mask_color


class ColorBar(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("colorBar")
        self.setAccessibleName("Colour bar legend: probability of manipulation from 0 to 1")
        self.setMinimumHeight(52)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.style_ = OverlayStyle()
        self._strip: QImage | None = None
        self._strip_key = None

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(240, 52)

    def set_style(self, style: OverlayStyle) -> None:
        if style != self.style_:
            self.style_ = style
            self.update()

    def _gradient(self) -> QImage:
        key = (self.style_.cmap, self.style_.mode, self.style_.threshold_u8)
        if self._strip_key != key:
            if self.style_.mode in (DisplayMode.MASK, DisplayMode.CONTOUR):
                rgb = np.repeat(np.array([[90, 90, 90]], np.uint8), 256, axis=0)
                top = (mask_color(self.style_.cmap) if self.style_.mode is DisplayMode.MASK
                       else np.asarray(colormaps.MASK_COLOUR, np.uint8))
                rgb[self.style_.threshold_u8 + 1:] = top
            else:
                rgb = np.array(colormaps.lut(self.style_.cmap), dtype=np.uint8)
            row = np.ascontiguousarray(rgb[None, :, :])
            self._strip = QImage(row.data, 256, 1, 768, QImage.Format.Format_RGB888).copy()
            self._strip_key = key
        return self._strip

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        pal = self.palette()
        bar = QRectF(8, 4, max(10, self.width() - 16), 14)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.drawImage(bar, self._gradient())
        p.setPen(QPen(pal.text().color(), 1))
        p.drawRect(bar)
        font = p.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        p.setFont(font)
        for value in (0.0, 0.25, 0.5, 0.75, 1.0):
            x = bar.left() + value * bar.width()
            p.drawLine(int(x), int(bar.bottom()), int(x), int(bar.bottom()) + 3)
            label = f"{value:g}"
            w = p.fontMetrics().horizontalAdvance(label)
            p.drawText(int(min(max(x - w / 2, 0), self.width() - w)), int(bar.bottom()) + 15, label)
        # Threshold marker
        tx = bar.left() + self.style_.threshold * bar.width()
        p.setPen(QPen(QColor(0, 200, 255), 2))
        p.drawLine(int(tx), int(bar.top()) - 3, int(tx), int(bar.bottom()) + 3)
        p.setPen(QPen(pal.text().color(), 1))
        p.drawText(QRectF(0, bar.bottom() + 16, self.width(), 14), Qt.AlignmentFlag.AlignCenter,
                   "probability of manipulation")
        p.end()
