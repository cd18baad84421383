"""Colour bar legend: the colour map from 0 to 1 as the overlay draws it (faded below the
threshold), the threshold marked, and the part of the scale the map cannot reach greyed out."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from declip_desktop.overlay_style import OverlayStyle
from engine import overlay as look

_BACKDROP = np.array([90, 90, 90], np.float32)  # the table is shown blended over a mid grey
PROBABILITY = "probability of manipulation"      # the learned map's scale; an evidence layer's is its own


class ColorBar(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("colorBar")
        self.caption = PROBABILITY
        self.setAccessibleName(f"Colour bar legend: {PROBABILITY} from 0 to 1")
        self.setMinimumHeight(52)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.style_ = OverlayStyle()
        self.reach: float | None = None  # highest value the displayed map reaches
        self._strip: QImage | None = None
        self._strip_key = None

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(240, 52)

    def set_style(self, style: OverlayStyle) -> None:
        if style != self.style_:
            self.style_ = style
            self.update()

    def set_reach(self, reach: float | None) -> None:
        if reach != self.reach:
            self.reach = reach
            self.update()

    def set_caption(self, caption: str) -> None:
        if caption != self.caption:
            self.caption = caption
            self.setAccessibleName(f"Colour bar legend: {caption} from 0 to 1")
            self.update()

    def _gradient(self) -> QImage:
        st = self.style_
        key = (st.cmap, st.mode, st.threshold_u8)
        if self._strip_key != key:
            t = st.with_(opacity=1.0).rgba()  # the colours at full strength, the fade kept
            if st.mode.drawn_as == "contour":
                t = np.zeros((256, 4), np.float32)
                t[st.threshold_u8 + 1:] = [*look.THRESHOLD_COLOUR, 1.0]
            rgb = t[:, :3] * t[:, 3:4] + _BACKDROP * (1 - t[:, 3:4])
            row = np.ascontiguousarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8)[None, :, :])
            self._strip = QImage(row.data, 256, 1, 768, QImage.Format.Format_RGB888).copy()
            self._strip_key = key
        return self._strip

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        pal = self.palette()
        bar = QRectF(8, 4, max(10, self.width() - 16), 14)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.drawImage(bar, self._gradient())
        if self.reach is not None and self.reach < 1.0:  # values this map never reaches
            x = bar.left() + self.reach * bar.width()
            p.fillRect(QRectF(x, bar.top(), bar.right() - x, bar.height()),
                       QBrush(QColor(40, 40, 40, 200), Qt.BrushStyle.BDiagPattern))
            p.fillRect(QRectF(x, bar.top(), bar.right() - x, bar.height()), QColor(60, 60, 60, 150))
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
        tx = bar.left() + self.style_.threshold * bar.width()
        p.setPen(QPen(QColor(*look.THRESHOLD_COLOUR), 2))
        p.drawLine(int(tx), int(bar.top()) - 3, int(tx), int(bar.bottom()) + 3)
        p.setPen(QPen(pal.text().color(), 1))
        caption = self.caption
        if self.reach is not None:
            caption += f" — this map reaches {self.reach:.2f}"
        p.drawText(QRectF(0, bar.bottom() + 16, self.width(), 14), Qt.AlignmentFlag.AlignCenter, caption)
        p.end()
