"""Analysis dock: model, mode, precision, device, Analyse / Analyse all / Cancel, progress."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QListWidget,
                               QProgressBar, QPushButton, QVBoxLayout, QWidget)

MODES = [("paper", "Paper (whole image, resized)"), ("tiled", "Tiled (full resolution)")]
# the engine's precision names (engine.detector.pick_dtype): short labels, what each runs in the tooltip
PRECISIONS = [("auto", "Auto", "Fast on a CUDA GPU, exact on a CPU"),
              ("exact", "Exact (fp32)", "fp32 throughout: the published numerics"),
              ("fast", "Fast", "CUDA: fp16. CPU with native bf16: bf16 backbone, fp32 decoder. "
                               "Other CPUs: fp32 (bf16 would be slower there)")]


class AnalysisPanel(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.modelCombo = QComboBox(objectName="modelCombo", accessibleName="Model")
        self.modeCombo = QComboBox(objectName="modeCombo", accessibleName="Analysis mode")
        for key, label in MODES:
            self.modeCombo.addItem(label, key)
        self.precisionCombo = QComboBox(objectName="precisionCombo", accessibleName="Precision")
        for i, (key, label, tip) in enumerate(PRECISIONS):
            self.precisionCombo.addItem(label, key)
            self.precisionCombo.setItemData(i, tip, Qt.ItemDataRole.ToolTipRole)
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
        self.progressBar.setRange(0, 1)
        self.progressBar.setValue(0)
        self.progressLabel = QLabel("", objectName="progressLabel")
        self.progressLabel.setWordWrap(True)
        self.errorList = QListWidget(objectName="errorList", accessibleName="Images that failed")
        self.errorList.setMaximumHeight(90)
        self.errorList.hide()

        form = QFormLayout()
        form.addRow("Model", self.modelCombo)
        form.addRow("Mode", self.modeCombo)
        form.addRow("Precision", self.precisionCombo)
        form.addRow("Device", self.deviceLabel)
        buttons = QHBoxLayout()
        for b in (self.analyzeButton, self.analyzeAllButton, self.cancelButton):
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.progressBar)
        lay.addWidget(self.progressLabel)
        lay.addWidget(self.errorList)
        lay.addStretch(1)

    def set_running(self, running: bool) -> None:
        self.cancelButton.setEnabled(running)
        self.analyzeButton.setEnabled(not running)
        self.analyzeAllButton.setEnabled(not running)
        for w in (self.modelCombo, self.modeCombo, self.precisionCombo):
            w.setEnabled(not running)

    def select_data(self, combo: QComboBox, value) -> None:
        i = combo.findData(value)
        if i >= 0:
            combo.setCurrentIndex(i)

    def add_error(self, text: str) -> None:
        self.errorList.addItem(text)
        self.errorList.setToolTip(text)
        self.errorList.show()
