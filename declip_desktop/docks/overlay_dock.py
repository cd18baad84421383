"""Overlay controls: colour map, opacity, threshold (with readout), display mode, legend and
the live readouts (score, flagged area, probability under the cursor).

The controls scroll when the dock is short; the readouts sit in a footer that never scrolls, so the
value under the cursor stays in view whatever rows the map selector adds above (Beside, progress).
The layout is kept compact (small margins, the threshold-range warning in the readouts' reserved
lines rather than in lines of its own) so that the whole dock fits a 1280x720 screen unscrolled."""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QSlider,
                               QVBoxLayout, QWidget)

from declip_desktop.colorbar import PROBABILITY, ColorBar
from declip_desktop.overlay_style import DisplayMode, OverlayStyle
from engine import overlay as look


def _slider(name: str, accessible: str) -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal, objectName=name, accessibleName=accessible)
    s.setRange(0, 100)
    s.setSingleStep(1)
    s.setPageStep(5)
    return s


# What the learned map's image score is (engine/result.py); evidence layers state their own
# (engine.evidence.info(name).score_meaning), which the window passes with the layer's readouts.
LEARNED_SCORE_MEANING = "mean probability over the image"
COMPACT_SPACING = 4  # between the dock's rows (the style's default is 6): a 720-px screen has no row to spare


class OverlayPanel(QWidget):
    styleChanged = Signal(object)  # OverlayStyle
    wholeHeightChanged = Signal(int)  # rows or readout lines came or went (the window may give the dock room)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.colormapCombo = QComboBox(objectName="colormapCombo", accessibleName="Colour map")
        safe = [n for n in look.COLORMAPS if look.is_color_blind_safe(n)]
        for i, name in enumerate(look.COLORMAPS):
            self.colormapCombo.addItem(name, name)  # the text is the map's name, for scripts too
            if name in safe:
                self.colormapCombo.setItemData(i, "colour-blind safe", Qt.ItemDataRole.ToolTipRole)
        self.colormapCombo.setToolTip(f"Colour-blind safe maps: {', '.join(safe)}")
        self.displayModeCombo = QComboBox(objectName="displayModeCombo", accessibleName="Display mode")
        for mode in DisplayMode:
            self.displayModeCombo.addItem(mode.label, mode.value)
        self.opacitySlider = _slider("opacitySlider", "Overlay opacity")
        self.opacityValue = QLabel(objectName="opacityValue")
        self.thresholdSlider = _slider("thresholdSlider", "Detection threshold")
        self.thresholdValue = QLabel(objectName="thresholdValue", accessibleName="Threshold value")
        for lab in (self.opacityValue, self.thresholdValue):
            lab.setMinimumWidth(36)
            lab.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.colorBar = ColorBar(self)
        self.scoreLabel = QLabel("Score: –", objectName="scoreLabel", accessibleName="Score and flagged area")
        self.scoreLabel.setWordWrap(True)
        self.scoreLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.scoreLabel.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        # Shown under the flagged share only while the threshold is above what the map reaches (the
        # colour bar's hatching shows the same limit); it uses the line the score leaves free.
        self.reachLabel = QLabel("", objectName="reachLabel", accessibleName="Threshold range warning")
        self.reachLabel.setWordWrap(True)
        self.reachLabel.setStyleSheet("color: #c06000")
        self.reachLabel.hide()
        self.probeLabel = QLabel("Under cursor: –", objectName="probeLabel",
                                 accessibleName="Probability under the cursor")
        # one line, kept so that the readouts never move: clipped (its tooltip has it all), never widening the dock
        self.probeLabel.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

        def row(slider, value):
            h = QHBoxLayout()
            h.addWidget(slider, 1)
            h.addWidget(value)
            return h

        form = QFormLayout()
        form.setVerticalSpacing(COMPACT_SPACING)
        # display mode and colour map share a row: both are short choices, and the row saved is what
        # lets the Beside row (side by side) or a layer's progress show on a 720-px screen unscrolled
        for combo in (self.displayModeCombo, self.colormapCombo):
            combo.setMinimumWidth(60)  # a narrow dock elides their text rather than clip the row
        looks = QHBoxLayout()
        looks.addWidget(self.displayModeCombo, 1)
        looks.addWidget(QLabel("Colours", toolTip="Colour map"))
        looks.addWidget(self.colormapCombo)
        form.addRow("Display", looks)
        form.addRow("Opacity", row(self.opacitySlider, self.opacityValue))
        form.addRow("Threshold", row(self.thresholdSlider, self.thresholdValue))
        self.controls = QWidget(objectName="overlayControls")
        controls = QVBoxLayout(self.controls)
        controls.setContentsMargins(0, 0, 0, 0)
        controls.setSpacing(COMPACT_SPACING)
        controls.addLayout(form)
        controls.addWidget(self.colorBar)
        controls.addStretch(1)
        self.controlsScroll = QScrollArea(objectName="overlayControlsScroll")
        self.controlsScroll.setWidget(self.controls)
        self.controlsScroll.setWidgetResizable(True)
        self.controlsScroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.controlsScroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.controlsScroll.setMinimumHeight(24)  # the dock's own minimum is set by window_state
        # Score (with what it means for the shown map, up to two lines), the flagged share and the range
        # warning share three reserved lines, so the cursor readout below them never moves or scrolls
        # away when a longer meaning or the warning shows.
        self.readouts = QWidget(objectName="overlayReadouts")
        readouts = QVBoxLayout(self.readouts)
        readouts.setContentsMargins(0, 0, 0, 0)
        readouts.setSpacing(0)
        readouts.addWidget(self.scoreLabel)
        readouts.addWidget(self.reachLabel)
        readouts.addStretch(1)
        self.readouts.setMinimumHeight(3 * self.scoreLabel.fontMetrics().lineSpacing() + 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 4)  # the dock's title bar and frame are room enough
        lay.setSpacing(COMPACT_SPACING)
        lay.addWidget(self.controlsScroll, 1)
        lay.addWidget(self.readouts)
        lay.addWidget(self.probeLabel)
        self._whole = 0
        # The readouts are watched too: a two-line meaning with the range warning outgrows their reserved
        # lines, and without a refit the controls above would scroll to make room (the colour bar cut).
        self.controls.installEventFilter(self)
        self.readouts.installEventFilter(self)

        self._score: float | None = None
        self._flagged = None  # callable threshold -> fraction
        self._reach: float | None = None
        self._absent = "not analysed"  # why no map is shown, when none is
        self._meaning = LEARNED_SCORE_MEANING  # what the shown map's score is
        self._probe_name = "p ="  # the learned map's values are probabilities; a layer's are its own scale
        self.set_style(OverlayStyle())
        self.colormapCombo.currentIndexChanged.connect(self._emit)
        self.displayModeCombo.currentIndexChanged.connect(self._emit)
        self.opacitySlider.valueChanged.connect(self._emit)
        self.thresholdSlider.valueChanged.connect(self._emit)

    def add_header(self, widget: QWidget) -> None:
        """A row above the controls (the map selector), scrolled with them."""
        self.controls.layout().insertWidget(0, widget)

    def whole_height(self) -> int:
        """The height at which nothing scrolls: the controls at the scroll area's width, and the readouts."""
        width = self.controlsScroll.viewport().width()
        inner = self.controls.heightForWidth(width) if width > 50 else -1
        inner = max(inner, self.controls.minimumSizeHint().height()) if inner > 0 else self.controls.sizeHint().height()
        lay = self.layout()
        m = lay.contentsMargins()
        block = self.readouts.heightForWidth(self.width() - m.left() - m.right())
        readouts = max(self.readouts.minimumHeight(), block) + self.probeLabel.sizeHint().height()
        return m.top() + m.bottom() + inner + readouts + 2 * lay.spacing() + 4  # + rounding

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if obj in (self.controls, self.readouts) and (event.type() == QEvent.Type.LayoutRequest or (
                # a narrower dock wraps the readouts onto more lines; a height change alone (the refit) does not
                obj is self.readouts and event.type() == QEvent.Type.Resize
                and event.size().width() != event.oldSize().width())):
            whole = self.whole_height()
            if whole != self._whole:
                self._whole = whole
                self.wholeHeightChanged.emit(whole)
        return super().eventFilter(obj, event)

    # -- style <-> widgets --------------------------------------------------------------------
    def style(self) -> OverlayStyle:  # type: ignore[override]
        return OverlayStyle(
            cmap=self.colormapCombo.currentData() or "inferno",
            opacity=self.opacitySlider.value() / 100.0,
            threshold=self.thresholdSlider.value() / 100.0,
            mode=DisplayMode(self.displayModeCombo.currentData() or "heat"),
        )

    def set_style(self, style: OverlayStyle) -> None:
        widgets = (self.colormapCombo, self.displayModeCombo, self.opacitySlider, self.thresholdSlider)
        for w in widgets:
            w.blockSignals(True)
        try:
            i = self.colormapCombo.findData(style.cmap)
            self.colormapCombo.setCurrentIndex(max(i, 0))
            self.displayModeCombo.setCurrentIndex(max(self.displayModeCombo.findData(style.mode.value), 0))
            self.opacitySlider.setValue(int(round(style.opacity * 100)))
            self.thresholdSlider.setValue(int(round(style.threshold * 100)))
        finally:
            for w in widgets:
                w.blockSignals(False)
        self._emit()

    def set_mode(self, mode: DisplayMode) -> None:
        self.displayModeCombo.setCurrentIndex(self.displayModeCombo.findData(mode.value))

    def _emit(self, *_args) -> None:
        style = self.style()
        # A contour is drawn in one fixed colour at full strength; the original shows no map at all.
        shows_map = style.mode not in (DisplayMode.CONTOUR, DisplayMode.ORIGINAL)
        for w in (self.colormapCombo, self.opacitySlider, self.opacityValue):
            w.setEnabled(shows_map)
        self.opacityValue.setText(f"{int(round(style.opacity * 100))} %")
        self.thresholdValue.setText(f"{style.threshold:.2f}")
        self.colorBar.set_style(style)
        self._update_score(style)
        self.styleChanged.emit(style)

    # -- readouts -----------------------------------------------------------------------------
    def set_readout_source(self, score: float | None, flagged, reach: float | None = None,
                           absent: str = "not analysed", caption: str = PROBABILITY,
                           meaning: str = LEARNED_SCORE_MEANING) -> None:
        """`flagged(threshold) -> fraction` must be O(1): it runs on every slider step. reach: the
        highest value the displayed map reaches (a threshold at or above it can flag nothing).
        absent: why no map is shown, when none is. caption: what the colour bar's scale measures.
        meaning: what the score is for this map (it differs from map to map)."""
        self._score, self._flagged, self._reach, self._absent = score, flagged, reach, absent
        self._meaning = meaning
        self._probe_name = "p =" if caption == PROBABILITY else "value"
        self.set_probe(-1, -1, None)  # a value read from the previous map must not stand under this one's name
        self.colorBar.set_reach(reach if score is not None else None)
        self.colorBar.set_caption(caption)
        self._update_score(self.style())

    def _update_score(self, style: OverlayStyle) -> None:
        if self._score is None or self._flagged is None:
            self.scoreLabel.setText(f"Score: – ({self._absent})")
            self.scoreLabel.setToolTip("")
            self.reachLabel.clear()
            self.reachLabel.hide()
            return
        pct = 100.0 * self._flagged(style.threshold)
        self.scoreLabel.setText(f"Score: {self._score:.3f} — {self._meaning}\n"
                                f"Flagged: {pct:.1f} % of the image above {style.threshold:.2f}")
        self.scoreLabel.setToolTip(f"Score of the shown map: {self._meaning}. Each map has its own "
                                   "score: the learned map's is its mean probability, a classical layer's the "
                                   "share of the image above 0.5, the copy-move layer's the strength of its "
                                   "strongest confirmed copy. Scores of different maps are not comparable.")
        reach = getattr(self, "_reach", None)
        above = reach is not None and style.threshold >= reach
        # one line in a dock of the default width, so that it takes the line the score leaves free
        self.reachLabel.setText(f"⚠ This map peaks at {reach:.3f}: nothing can be flagged" if above else "")
        self.reachLabel.setVisible(above)
        self.reachLabel.setToolTip(f"This map never exceeds {reach:.3f}: nothing can be flagged at a threshold above "
                                   "it. The model's calibration keeps its maps below 1; lower the threshold to "
                                   "compare regions." if above else "")

    def set_probe(self, x: int, y: int, value: float | None, source: str | None = None) -> None:
        """source: the map read when it is not the shown one (the side-by-side display's left view)."""
        if value is None:
            text = "Under cursor: –"
        elif source is None:
            text = f"Under cursor: {self._probe_name} {value:.3f} at ({x}, {y})"
        else:
            name = "p =" if source == "learned map" else "value"
            text = f"Left ({source}): {name} {value:.3f} at ({x}, {y})"
        self.probeLabel.setText(text)
        self.probeLabel.setToolTip(text)  # the label clips in a narrow dock rather than widen it
