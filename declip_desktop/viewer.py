"""The evidence viewer: a QGraphicsView that draws the image and its overlay from pyramids.

Every paint picks the pyramid level closest to (and not coarser than) screen resolution and
draws only the exposed part of it, so repaint cost depends on the window, not the photo.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QWheelEvent
from PySide6.QtWidgets import (QGraphicsItem, QGraphicsScene, QGraphicsView, QLabel, QSplitter,
                               QStyleOptionGraphicsItem, QVBoxLayout, QWidget)

from declip_desktop.overlay_style import (DisplayMode, OverlayStyle, color_table, contour,
                                          draws_outline, outline_table)
from declip_desktop.pyramid import ImagePyramid, MapPyramid

ZOOM_STEP = 1.25
_OUTLINE = outline_table().tolist()
MIN_SCALE, MAX_SCALE = 0.01, 64.0


def _level_for(scale: float, n_levels: int) -> int:
    if scale >= 1.0 or n_levels <= 1:
        return 0
    return max(0, min(n_levels - 1, int(math.floor(math.log2(1.0 / scale)))))


def _level_window(exposed: QRectF, level: int, lw: int, lh: int, full_w: int, full_h: int):
    """Integer pixel window of a level covering `exposed` (item coords), and its target rect."""
    f = 2 ** level
    x0 = max(0, int(math.floor(exposed.left() / f)))
    y0 = max(0, int(math.floor(exposed.top() / f)))
    x1 = min(lw, int(math.ceil(exposed.right() / f)))
    y1 = min(lh, int(math.ceil(exposed.bottom() / f)))
    if x1 <= x0 or y1 <= y0:
        return None
    # Level pixels map back onto the full-size frame; the last row/column absorbs rounding.
    sx, sy = full_w / lw, full_h / lh
    target = QRectF(x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy)
    return x0, y0, x1, y1, target


class _PyramidItem(QGraphicsItem):
    def __init__(self, width: int, height: int):
        super().__init__()
        self._rect = QRectF(0, 0, width, height)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt API)
        return self._rect

    @staticmethod
    def _hints(painter: QPainter, scale: float) -> None:
        # Smooth when shrinking; crisp pixels when the examiner zooms in.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1.0)


def draw_image_pyramid(painter: QPainter, pyramid: ImagePyramid, exposed: QRectF) -> None:
    """Draw the part of the image inside `exposed` (scene = full-size pixel coordinates)."""
    scale = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
    levels = pyramid.levels
    level = _level_for(scale, len(levels))
    img = levels[level]
    win = _level_window(exposed, level, img.width(), img.height(), pyramid.width, pyramid.height)
    if win is None:
        return
    x0, y0, x1, y1, target = win
    _PyramidItem._hints(painter, scale)
    painter.drawImage(target, img, QRectF(x0, y0, x1 - x0, y1 - y0))


class OverlayItem(_PyramidItem):
    """Colourises the visible window of one map level per paint; never the whole map."""

    def __init__(self, pyramid: MapPyramid, style: OverlayStyle):
        super().__init__(pyramid.width, pyramid.height)
        self.pyramid = pyramid
        self.style = style
        self.setZValue(1)
        self._buf: np.ndarray | None = None  # keeps the QImage's memory alive while drawn
        self._table_key: OverlayStyle | None = None
        self._table_cache: list[int] = []

    def set_style(self, style: OverlayStyle) -> None:
        if style != self.style:
            self.style = style
            self.update()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        if self.style.mode is DisplayMode.ORIGINAL:
            return
        scale = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        levels = self.pyramid.levels
        level = _level_for(scale, len(levels))
        u8 = levels[level]
        lh, lw = u8.shape
        win = _level_window(option.exposedRect, level, lw, lh, self.pyramid.width, self.pyramid.height)
        if win is None:
            return
        x0, y0, x1, y1, target = win
        crop = np.ascontiguousarray(u8[y0:y1, x0:x1])
        # Nearest-neighbour: the level is already within 2x of screen size, and blocky map
        # cells are honest about the map's resolution. Also the cheapest path in the raster engine.
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        bufs = []
        if self.style.mode is not DisplayMode.CONTOUR:  # the contour display has no fill
            painter.drawImage(target, self._indexed(crop, self._table(), bufs))
        if draws_outline(self.style):  # the threshold is visible in every display that shows the map
            painter.drawImage(target, self._indexed(contour(crop, self.style.threshold_u8), _OUTLINE, bufs))
        self._buf = bufs

    @staticmethod
    def _indexed(data: np.ndarray, table: list[int], keep: list) -> QImage:
        keep.append(data)
        h, w = data.shape
        # Qt applies the 256-entry colour table while drawing: no per-pixel work in Python.
        img = QImage(data.data, w, h, w, QImage.Format.Format_Indexed8)
        img.setColorTable(table)
        # One explicit conversion to the raster engine's native format is ~2x faster than
        # letting drawImage convert the indexed image itself.
        return img.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)

    def _table(self) -> list[int]:
        key = self.style
        if self._table_key != key:
            self._table_cache = color_table(key).tolist()
            self._table_key = key
        return self._table_cache


class ImageView(QGraphicsView):
    """Wheel zoom around the cursor, drag to pan, fit and 100%; reports the pixel under the cursor."""

    hovered = Signal(int, int)  # full-size image pixel under the cursor (-1, -1 when outside)
    viewChanged = Signal()  # zoom or scroll changed (for synchronising a twin view)
    painted = Signal()  # a paint event finished (for timing slider-to-screen)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QColor(38, 38, 42))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.image: ImagePyramid | None = None  # drawn as the (cached) background
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.overlay_item: OverlayItem | None = None
        self._fit_mode = True
        self.horizontalScrollBar().valueChanged.connect(lambda _v: self.viewChanged.emit())
        self.verticalScrollBar().valueChanged.connect(lambda _v: self.viewChanged.emit())
        # The zoom level, in the view's top-right corner: Fit enlarges a small photo (451 px wide at
        # 2.7x on a 1920 px screen) and nothing said so; the readout does ("Fit · 268 % (enlarged)").
        self.zoomLabel = QLabel(self, objectName="zoomLabel")
        self.zoomLabel.setStyleSheet("QLabel { background: rgba(0, 0, 0, 170); color: white; padding: 2px 6px; "
                                     "border-radius: 3px; }")
        self.zoomLabel.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.zoomLabel.setToolTip("Zoom: screen pixels per image pixel. Above 100 % the image is enlarged "
                                  "(each image pixel drawn as a block); F fits it to the window, 0 shows it at 100 %.")
        self.zoomLabel.hide()
        self.viewChanged.connect(self._show_zoom)

    # -- content ---------------------------------------------------------------------------
    def set_image(self, pyramid: ImagePyramid | None) -> None:
        scene = self.scene()
        if self.overlay_item is not None:
            scene.removeItem(self.overlay_item)
            self.overlay_item = None
        self.image = pyramid
        self.resetCachedContent()
        if pyramid is None:
            scene.setSceneRect(QRectF(0, 0, 1, 1))
            self.viewport().update()
            self._show_zoom()
            return
        scene.setSceneRect(QRectF(0, 0, pyramid.width, pyramid.height))
        self.fit()
        self.viewport().update()

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        super().drawBackground(painter, rect)
        if self.image is not None:
            draw_image_pyramid(painter, self.image, rect.intersected(self.sceneRect()))

    def set_overlay(self, pyramid: MapPyramid | None, style: OverlayStyle) -> None:
        if self.overlay_item is not None:
            self.scene().removeItem(self.overlay_item)
            self.overlay_item = None
        if pyramid is not None and self.image is not None:
            self.overlay_item = OverlayItem(pyramid, style)
            self.scene().addItem(self.overlay_item)

    def set_style(self, style: OverlayStyle) -> None:
        if self.overlay_item is not None:
            self.overlay_item.set_style(style)

    # -- navigation ------------------------------------------------------------------------
    def scale_factor(self) -> float:
        return float(self.transform().m11())

    def zoom_text(self) -> str:
        """'Fit · 268 % (enlarged)', 'Fit · 37 %' or '150 %': what the corner readout says."""
        pct = self.scale_factor() * 100
        text = f"{pct:.0f} %" if pct >= 10 else f"{pct:.1f} %"
        if self._fit_mode:
            text = f"Fit · {text}" + (" (enlarged)" if pct > 100.5 else "")
        return text

    def _show_zoom(self) -> None:
        label = self.zoomLabel
        if self.image is None:
            label.hide()
            return
        label.setText(self.zoom_text())
        label.adjustSize()
        vp = self.viewport().geometry()
        label.move(vp.right() - label.width() - 6, vp.top() + 6)
        label.show()
        label.raise_()

    def fit(self) -> None:
        self._fit_mode = True
        if not self.sceneRect().isEmpty():
            self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self.viewChanged.emit()

    def actual_size(self) -> None:
        self._fit_mode = False
        self.resetTransform()
        self.viewChanged.emit()

    def zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by `factor`, keeping the scene point under `anchor` (viewport coordinates;
        default: the centre) where it is."""
        current = self.scale_factor()
        target = min(MAX_SCALE, max(MIN_SCALE, current * factor))
        if current <= 0 or math.isclose(target, current):
            return
        self._fit_mode = False
        vp = self.viewport().rect()
        anchor = QPointF(vp.center()) if anchor is None else QPointF(anchor)
        scene_pt = self.mapToScene(anchor.toPoint())
        old = self.transformationAnchor()
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.scale(target / current, target / current)
        self.setTransformationAnchor(old)
        # Scroll so that scene_pt is back under the anchor.
        moved = self.mapFromScene(scene_pt)
        dx, dy = moved.x() - anchor.x(), moved.y() - anchor.y()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + round(dx))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + round(dy))
        self.viewChanged.emit()

    def zoom_in(self) -> None:
        self.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom_by(1 / ZOOM_STEP)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.zoom_by(ZOOM_STEP ** (delta / 120.0), anchor=event.position())
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()
        self._show_zoom()

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        super().mouseMoveEvent(event)
        p: QPointF = self.mapToScene(event.position().toPoint())
        x, y = int(math.floor(p.x())), int(math.floor(p.y()))
        rect = self.sceneRect()
        if rect.isEmpty() or not (0 <= x < rect.width() and 0 <= y < rect.height()):
            x = y = -1
        self.hovered.emit(x, y)

    def leaveEvent(self, event) -> None:  # noqa: N802
        super().leaveEvent(event)
        self.hovered.emit(-1, -1)

    def paintEvent(self, event) -> None:  # noqa: N802
        super().paintEvent(event)
        self.painted.emit()

    def copy_view_from(self, other: "ImageView") -> None:
        """The same zoom, centred on the same image point: the two views of side by side may differ
        in size (a splitter the examiner moved), so scroll positions alone would not line up."""
        self._fit_mode = other._fit_mode
        self.setTransform(other.transform())
        self.centerOn(other.mapToScene(other.viewport().rect().center()))
        self._show_zoom()


class ViewerPane(QWidget):
    """The central viewer: `imageView` (with overlay) and, side by side, a synchronised original."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = ImageView(self)
        self.view.setObjectName("imageView")
        self.view.setAccessibleName("Evidence image with probability overlay")
        self.twin = ImageView(self)
        self.twin.setObjectName("originalView")
        self.twin.setAccessibleName("Original evidence image")
        self.caption = QLabel("Drop photos or folders anywhere on this window to add them to the case.")
        self.caption.setObjectName("viewerCaption")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.twin_box, _ = self._boxed(self.twin, "Original")
        self.view_box, self.view_title = self._boxed(self.view, "Overlay")
        self.view_title.hide()
        self.twin_box.hide()
        self.splitter.addWidget(self.twin_box)
        self.splitter.addWidget(self.view_box)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.caption)
        lay.addWidget(self.splitter, 1)
        self._syncing = False
        self.view.viewChanged.connect(lambda: self._sync(self.view, self.twin))
        self.twin.viewChanged.connect(lambda: self._sync(self.twin, self.view))
        self.style = OverlayStyle()

    @staticmethod
    def _boxed(view: QWidget, title: str):
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        label = QLabel(title)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setStyleSheet("padding: 2px; font-weight: bold")
        lay.addWidget(label)
        lay.addWidget(view, 1)
        return box, label

    def _sync(self, src: ImageView, dst: ImageView) -> None:
        if self._syncing or not (self.twin.isVisible() and self.view.isVisible()):
            return
        self._syncing = True
        try:
            dst.copy_view_from(src)
        finally:
            self._syncing = False

    def set_content(self, image: ImagePyramid | None, overlay: MapPyramid | None) -> None:
        self.view.set_image(image)
        self.twin.set_image(image)
        self.view.set_overlay(overlay, self.style)
        if image is not None:
            self.caption.hide()

    def set_overlay(self, overlay: MapPyramid | None) -> None:
        self.view.set_overlay(overlay, self.style)

    def set_style(self, style: OverlayStyle) -> None:
        side = style.mode is DisplayMode.SIDE_BY_SIDE
        self.style = style
        if side == self.twin_box.isHidden():
            self.twin_box.setVisible(side)
            self.view_title.setVisible(side)
            if side:
                half = max(1, self.splitter.width() // 2)  # two equal halves ([1, 1] left the new one narrow)
                self.splitter.setSizes([half, half])
                self.view.fit()
                self.twin.copy_view_from(self.view)
        # Side by side shows the heat map next to the original.
        self.view.set_style(style.with_(mode=DisplayMode.HEAT) if side else style)

    def show_message(self, text: str) -> None:
        self.caption.setText(text)
        self.caption.setVisible(bool(text))
