"""Analysis dock: what to analyse with (model, mode, precision, device, Analyse / Analyse all /
Cancel, progress) and which stored analysis of the selected image is displayed (the switcher)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QStyle, QStyleOptionComboBox, QStylePainter, QToolTip, QVBoxLayout, QWidget)

from declip_desktop import window_state
from declip_desktop.analysis_modes import DESCRIPTIONS, MODES, label

# the engine's precision names (engine.detector.pick_dtype): short labels, what each runs in the tooltip
PRECISIONS = [("auto", "Auto", "Fast on a CUDA GPU, exact on a CPU"),
              ("exact", "Exact (fp32)", "fp32 throughout: the published numerics"),
              ("fast", "Fast", "CUDA: fp16. CPU with native bf16: bf16 backbone, fp32 decoder. "
                               "Other CPUs: fp32 (bf16 would be slower there)")]


def analysis_text(record: dict | None) -> str:
    """'model · mode · stored time · score' for one stored analysis record."""
    from declip_desktop.case.util import readable_utc

    if not record:
        return "not analysed"
    score = record.get("score")
    return " · ".join(x for x in (record.get("model_id") or "?", label(record.get("mode")),
                                  readable_utc(record.get("stored_utc")) or "",
                                  f"score {score:.3f}" if score is not None else "") if x)


class ElidingComboBox(QComboBox):
    """A combo whose closed face ends a text too long for it with '…' (Qt cuts it mid-letter, as in
    '(splices, copy-m'), with the whole text in its tooltip; the open list shows every name whole."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(12)

    def shown_text(self) -> str:
        """The current text as the closed combo draws it."""
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        rect = self.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                           QStyle.SubControl.SC_ComboBoxEditField, self)
        return self.fontMetrics().elidedText(self.currentText(), Qt.TextElideMode.ElideRight, rect.width() - 4)

    def event(self, e) -> bool:
        if e.type() == QEvent.Type.ToolTip:  # the whole current text, however the combo was filled
            extra = self.toolTip()  # e.g. what the chosen mode does
            QToolTip.showText(e.globalPos(), self.currentText() + (f"\n{extra}" if extra else ""), self)
            return True
        return super().event(e)

    def paintEvent(self, _event) -> None:  # noqa: N802
        p = QStylePainter(self)
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        p.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, opt)
        opt.currentText = self.shown_text()
        p.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, opt)

    def showPopup(self) -> None:  # noqa: N802
        # the list as wide as its longest name (up to the screen), not as the narrow closed combo
        view = self.view()
        widest = view.sizeHintForColumn(0) + 2 * view.frameWidth() + 24
        room = window_state.available_geometry(self)
        screen = room.width() if room is not None else 1280
        view.setMinimumWidth(min(max(widest, self.width()), screen - 40))
        super().showPopup()


class AnalysisPanel(QWidget):
    displayedChosen = Signal(object)  # the AnalysisRef the examiner picked in the switcher

    def __init__(self, parent=None):
        super().__init__(parent)
        self.modelCombo = ElidingComboBox(objectName="modelCombo", accessibleName="Model")
        # the mode names are long too: neither combo may widen the dock past the window (it clipped the buttons)
        self.modeCombo = ElidingComboBox(objectName="modeCombo", accessibleName="Analysis mode")
        for i, (key, text) in enumerate(MODES):
            self.modeCombo.addItem(text, key)
            self.modeCombo.setItemData(i, DESCRIPTIONS[key], Qt.ItemDataRole.ToolTipRole)
        self.modeCombo.currentIndexChanged.connect(
            lambda i: self.modeCombo.setToolTip(DESCRIPTIONS.get(self.modeCombo.itemData(i), "")))
        self.modeCombo.setToolTip(DESCRIPTIONS[MODES[0][0]])
        self.precisionCombo = QComboBox(objectName="precisionCombo", accessibleName="Precision")
        for i, (key, text, tip) in enumerate(PRECISIONS):
            self.precisionCombo.addItem(text, key)
            self.precisionCombo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
        self.resolutionLabel = QLabel("", objectName="resolutionLabel", accessibleName="Working resolution")
        self.resolutionLabel.setWordWrap(True)
        self.resolutionLabel.setText("Select an image to see the size it is analysed at.")
        self.deviceLabel = QLabel("…", objectName="deviceLabel", accessibleName="Device in use")
        self.deviceLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.analyzeButton = QPushButton("&Analyse", objectName="analyzeButton",
                                         accessibleName="Analyse the selected images")
        self.analyzeAllButton = QPushButton("Analyse a&ll", objectName="analyzeAllButton",
                                            accessibleName="Analyse every image in the case")
        self.cancelButton = QPushButton("Cancel", objectName="cancelButton",
                                        accessibleName="Cancel the running analysis")
        self.cancelButton.setEnabled(False)
        self.progressBar = QProgressBar(objectName="progressBar", accessibleName="Analysis progress")
        self.progressLabel = QLabel("", objectName="progressLabel")
        self.progressLabel.setWordWrap(True)
        self.displayedCombo = QComboBox(objectName="displayedAnalysisCombo",
                                        accessibleName="Displayed analysis of the selected image")
        # Long entries must not widen the dock (a horizontal scroll bar hid the panel's right side).
        self.displayedCombo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.displayedCombo.setMinimumContentsLength(16)
        self.displayedCombo.setToolTip("The analysis shown in the viewer, the list, the finding and the report. "
                                       "Choosing another records it in the image's finding.")
        # Sized for two lines from the start: the dock's height is fixed from this panel's size hint.
        self.displayedLabel = QLabel("No image selected\n", objectName="displayedAnalysisLabel",
                                     accessibleName="Displayed analysis")
        self.displayedLabel.setWordWrap(True)
        self.displayedLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._learned: tuple = (None, False, "")  # (displayed record, any stored?, its text)
        self._layer: str | None = None  # the evidence layer drawn instead of the learned map
        self.set_idle()

        run = QGroupBox("Analyse with")
        form = QFormLayout(run)
        form.addRow("Model", self.modelCombo)
        form.addRow("Mode", self.modeCombo)
        form.addRow("", self.resolutionLabel)
        form.addRow("Precision", self.precisionCombo)
        form.addRow("Device", self.deviceLabel)
        buttons = QHBoxLayout()
        for b in (self.analyzeButton, self.analyzeAllButton, self.cancelButton):
            buttons.addWidget(b)
        form.addRow(buttons)
        form.addRow(self.progressBar)
        form.addRow(self.progressLabel)
        shown = QGroupBox("Displayed analysis")
        lay2 = QVBoxLayout(shown)
        lay2.addWidget(self.displayedCombo)
        lay2.addWidget(self.displayedLabel)
        lay = QVBoxLayout(self)
        lay.addWidget(run)
        lay.addWidget(shown)
        lay.addStretch(1)
        self.displayedCombo.activated.connect(lambda i: self.displayedChosen.emit(self.displayedCombo.itemData(i)))

    # -- running --------------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.cancelButton.setEnabled(running)
        self.analyzeButton.setEnabled(not running)
        self.analyzeAllButton.setEnabled(not running)
        for w in (self.modelCombo, self.modeCombo, self.precisionCombo):
            w.setEnabled(not running)

    def set_idle(self) -> None:
        """Nothing running: the bar says so instead of a stale 0 % or 100 %."""
        self.progressBar.setRange(0, 1)
        self.progressBar.setValue(0)
        self.progressBar.setFormat("Idle")

    def set_progress(self, done: int, total: int) -> None:
        bar = self.progressBar
        total = max(1, total)
        if bar.format() != "%p%":
            bar.setFormat("%p%")
        if bar.maximum() != total:
            bar.setRange(0, total)
        bar.setValue(min(done, total))

    def select_data(self, combo: QComboBox, value) -> None:
        i = combo.findData(value)
        if i >= 0:
            combo.setCurrentIndex(i)

    # -- displayed analysis ---------------------------------------------------------------------
    def set_displayed(self, choices: list[tuple[object, dict]], current, note: str = "",
                      can_switch: bool = True, failing: set = frozenset(), no_image: bool = False) -> None:
        """choices: (AnalysisRef, record) of the item's stored analyses; current: the displayed ref;
        failing: those that failed verification (listed, marked, never selectable); no_image: no
        item is selected (or no case is open), which is not "Not analysed"."""
        combo = self.displayedCombo
        combo.blockSignals(True)
        combo.clear()
        for k, (ref, record) in enumerate(choices):
            if ref in failing:
                combo.addItem(f"⚠ FAILS VERIFICATION: {analysis_text(record)}", ref)
                combo.model().item(k).setEnabled(False)
                combo.setItemData(k, "Its map or record changed after it was stored (or it was never logged): "
                                     "not shown and not reported. Analyse again to replace it.",
                                  Qt.ItemDataRole.ToolTipRole)
            else:
                combo.addItem(analysis_text(record), ref)
        i = next((k for k, (ref, _) in enumerate(choices) if ref == current), -1)
        combo.setCurrentIndex(i if i >= 0 or not failing else 0)
        combo.setEnabled(can_switch and len(choices) - len(failing) > 1)
        combo.blockSignals(False)
        rec = dict(choices)[current] if current is not None and current in dict(choices) else None
        text = f"Shown: {analysis_text(rec)}" if rec else ("No image selected" if no_image else
                                                           "Not analysed" if not choices else "")
        if len(choices) > 1:
            text += f" ({len(choices)} stored analyses of this image)"
        if failing:
            n = len(failing)
            text += ("\n" if text else "") + (f"⚠ {n} stored analysis of this image fails verification" if n == 1 else
                                               f"⚠ {n} stored analyses of this image fail verification") + \
                ": not shown, not in the report. Analyse again to replace it."
        self._learned = (rec, bool(choices), text + (f"\n{note}" if note else ""))
        self._show_text()

    def set_layer_shown(self, layer_text: str | None) -> None:
        """An evidence layer replaces the learned map on screen (None: the learned map is back).
        The label then says so, so it never reads "Not analysed" over a drawn map."""
        self._layer = layer_text
        self._show_text()

    def _show_text(self) -> None:
        rec, stored, learned = self._learned
        layer = self._layer
        # while a layer is drawn the learned-analysis switcher is beside the point: room for the layer's line
        self.displayedCombo.setVisible(layer is None and stored)
        if layer is None:
            self.displayedLabel.setText(learned)
        elif rec is None and stored:  # stored but not shown (e.g. failed verification): say why
            self.displayedLabel.setText(f"Shown: evidence layer {layer}.\n{learned}")
        elif rec is None:
            self.displayedLabel.setText(f"Shown: evidence layer {layer}.\nThe learned map was not run on this "
                                        "image (Analyse runs it).")
        else:
            self.displayedLabel.setText(f"Shown: evidence layer {layer}.\nLearned map ({rec.get('model_id')}) "
                                        "hidden: choose it under Overlay › Map.")
