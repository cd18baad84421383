"""Evidence-layer selector for the overlay dock: which map is shown (the learned map or one of
the classical layers), progress and cancel while a layer is computed, the layer's "How to read
this" text and limits, for `clones` its source/target pairs, and the corroboration table. Widgets only; the work is in
declip_desktop/evidence_layers_controller.py."""
from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QLabel, QListWidget, QProgressBar, QPushButton,
                               QHeaderView, QSizePolicy, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from engine.evidence.clone_regions import box_text, pair_text

LEARNED = ""  # the selector's value for the learned map


def layer_titles() -> list[tuple[str, str]]:
    from engine import evidence

    return [(i.name, i.title) for i in evidence.layers()]


def how_to_read_html(metadata: dict) -> str:
    """The panel's text from a stored layer's metadata (the engine's own words, nothing added)."""
    md = metadata or {}
    params = ", ".join(f"{k}={v}" for k, v in (md.get("parameters") or {}).items()) or "defaults"
    rows = [f"<b>{html.escape(str(md.get('model_name') or md.get('layer') or ''))}</b>",
            *[f"<b>This image.</b> {html.escape(str(note))}" for note in md.get("notes") or []],
            f"<b>How to read this.</b> {html.escape(str(md.get('how_to_read', '')))}",
            f"<b>Limits.</b> {html.escape(str(md.get('limits', '')))}",
            f"<b>Default threshold:</b> {md.get('default_threshold', '–')} &nbsp; <b>Parameters:</b> "
            f"{html.escape(params)} &nbsp; <b>Version:</b> {html.escape(str(md.get('method_version', '–')))}",
            f"<b>Reference.</b> {html.escape(str(md.get('reference', '')))}"]
    return "<br><br>".join(rows)


class LayerPanel(QWidget):
    layerChosen = Signal(str)  # layer name, LEARNED for the learned map
    cancelRequested = Signal()
    pairChosen = Signal(int)  # clone pair index, -1 for none
    pinToggled = Signal(bool)
    besideChosen = Signal(object)  # None (the original), LEARNED or a layer name
    regionChosen = Signal(object)  # [x0, y0, x1, y1] of the corroboration row selected, None for none
    methodChosen = Signal(str)  # the clone detector's method: "keypoints" or "dense"

    def __init__(self, parent=None):
        super().__init__(parent)
        self.layerCombo = QComboBox(objectName="layerCombo", accessibleName="Map shown: learned map or evidence layer")
        self.layerCombo.addItem("Learned map", LEARNED)
        for name, title in layer_titles():
            self.layerCombo.addItem(f"{name} — {title}", name)
        self.layerCombo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layerCombo.setMinimumContentsLength(14)  # long layer titles must not widen the dock
        self.layerCombo.setToolTip("Evidence layers are computed on demand in the background and stored in the case")
        self.besideCombo = QComboBox(objectName="besideCombo",
                                     accessibleName="Map shown beside, in the side-by-side display")
        self.besideCombo.addItem("Original (no map)", None)
        self.besideCombo.addItem("Learned map", LEARNED)
        for name, title in layer_titles():
            self.besideCombo.addItem(f"{name} — {title}", name)
        self.besideCombo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.besideCombo.setMinimumContentsLength(14)
        self.besideCombo.setToolTip("In the side-by-side display, the left view shows this map (at its own default "
                                    "threshold), zoom and pan synchronised")
        self.layerProgressBar = QProgressBar(objectName="layerProgressBar", accessibleName="Evidence layer progress")
        self.layerProgressBar.setTextVisible(False)  # a busy bar draws no text in most styles: the label has it
        self.layerProgressBar.setMaximumWidth(90)
        self.layerProgressBar.hide()
        # what the computation is doing, in the bar's row (one row while busy, not a bar and a line)
        self.layerBusyLabel = QLabel("", objectName="layerBusyLabel", accessibleName="Evidence layer progress message")
        self.layerBusyLabel.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # clips, never widens
        self.layerBusyLabel.hide()
        self.layerCancelButton = QPushButton("Cancel", objectName="layerCancelButton",
                                             accessibleName="Cancel computing the evidence layer")
        self.layerCancelButton.hide()
        self.pinLayerCheck = QCheckBox("Pin this layer to the finding", objectName="pinLayerCheck",
                                       accessibleName="Pin the shown evidence layer to the finding (shown in the report)")
        self.pinLayerCheck.setToolTip("A pinned layer is printed on the item's report page with its map, parameters "
                                      "and how-to-read text")
        self.pinLayerCheck.hide()
        # `clones` has two published methods; the stored layer is the one the report cites
        self.cloneMethodCombo = QComboBox(objectName="cloneMethodCombo", accessibleName="Clone detection method")
        self.cloneMethodCombo.addItem("Keypoints (SIFT; the default)", "keypoints")
        self.cloneMethodCombo.addItem("Dense field (Zernike, PatchMatch)", "dense")
        self.cloneMethodCombo.setToolTip("Keypoints: fewer false alarms, the default. Dense: also finds copies with "
                                         "few keypoints and more PatchMatch removals, with more false alarms on "
                                         "repetitive content (docs/evidence.md). Choosing one computes it and "
                                         "replaces the stored layer (the audit log keeps both).")
        # elided in a narrow column (its full names are in the list): its whole width cut the dock's text off
        self.cloneMethodCombo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.cloneMethodCombo.setMinimumContentsLength(12)
        self.cloneMethodRow = QWidget(objectName="cloneMethodRow")
        mrow = QHBoxLayout(self.cloneMethodRow)
        mrow.setContentsMargins(0, 0, 0, 0)
        mrow.addWidget(QLabel("Method"))
        mrow.addWidget(self.cloneMethodCombo, 1)
        self.cloneMethodRow.hide()
        self.layerStatusLabel = QLabel("", objectName="layerStatusLabel")
        self.layerStatusLabel.setWordWrap(True)
        self.howToReadLabel = QLabel("", objectName="howToReadLabel", accessibleName="How to read this layer")
        self.howToReadLabel.setWordWrap(True)
        self.howToReadLabel.setTextFormat(Qt.TextFormat.RichText)
        self.howToReadLabel.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.howToReadLabel.setStyleSheet("QLabel { background: palette(base); padding: 4px; }")
        self.howToReadLabel.hide()
        self.clonePairsList = QListWidget(objectName="clonePairsList", accessibleName="Clone pairs: source and target")
        self.clonePairsList.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.clonePairsList.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.clonePairsList.hide()
        # The long texts never widen the dock: they wrap to whatever width it has.
        self.layerStatusLabel.hide()  # shown while it has something to say (progress, a refusal, a cancel)
        for w in (self.howToReadLabel, self.layerStatusLabel, self.clonePairsList):
            w.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        top = QHBoxLayout()
        top.addWidget(QLabel("Map"))
        top.addWidget(self.layerCombo, 1)
        self.besideRow = QWidget(objectName="besideRow")  # only in the side-by-side display
        beside = QHBoxLayout(self.besideRow)
        beside.setContentsMargins(0, 0, 0, 0)
        beside.addWidget(QLabel("Beside"))
        beside.addWidget(self.besideCombo, 1)
        self.besideRow.hide()
        prog = QHBoxLayout()
        prog.addWidget(self.layerBusyLabel, 1)
        prog.addWidget(self.layerProgressBar, 1)
        prog.addWidget(self.layerCancelButton)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)  # as the overlay dock's rows below it (compact: the dock fits a 720-px screen)
        lay.addLayout(top)
        lay.addWidget(self.besideRow)
        lay.addLayout(prog)
        lay.addWidget(self.layerStatusLabel)
        # What the shown layer means: in a dock of its own (the window places it), so the overlay
        # controls stay short enough to be in view.
        self.details = QWidget(objectName="layerDetails")
        self.detailsHint = QLabel("Choose an evidence layer in the Overlay dock's Map list: how to read it, its "
                                  "limits and parameters show here. The Corroboration tab lists the regions that "
                                  "each stored map flags and where they agree.", objectName="layerDetailsHint")
        self.detailsHint.setWordWrap(True)
        self.detailsHint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        dl = QVBoxLayout(self.details)
        dl.addWidget(self.detailsHint)
        dl.addWidget(self.pinLayerCheck)
        dl.addWidget(self.cloneMethodRow)
        dl.addWidget(self.clonePairsList)
        dl.addWidget(self.howToReadLabel)
        self.corroborateButton = QPushButton("Compare maps", objectName="corroborateButton",
                                             accessibleName="Compare the regions flagged by every stored map")
        self.corroborateButton.setToolTip("Regions flagged by the learned map and by each stored layer at their "
                                          "thresholds, and which other maps agree")
        self.corroborationTable = QTableWidget(0, 3, objectName="corroborationTable",
                                               accessibleName="Corroboration: flagged regions and agreeing maps")
        self.corroborationTable.setHorizontalHeaderLabels(["Region", "Area", "Agrees with"])
        self.corroborationTable.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.corroborationTable.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.corroborationTable.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.corroborationTable.verticalHeader().hide()
        header = self.corroborationTable.horizontalHeader()
        for col in range(2):  # short columns fit their text; "Agrees with" takes the rest and wraps
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.corroborationTable.setWordWrap(True)
        self.corroborationTable.setToolTip("Select a region to draw its box on the image")
        # Where the selected region is: its box is drawn on the image and written here.
        self.regionLabel = QLabel("", objectName="corroborationRegionLabel")
        self.regionLabel.setWordWrap(True)
        self.regionLabel.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.regionLabel.hide()
        self._regions: list = []
        self.corroborationTable.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self.corroborationTable.setMinimumHeight(90)
        self.corroborationTable.hide()
        dl.addStretch(1)
        # The corroboration table gets a panel (and a dock) of its own: below the long how-to-read
        # text it was scrolled out of view, and it is about every map of the item, not the shown one.
        self.corroboration = QWidget(objectName="corroborationPanel")
        self.corroborationHint = QLabel("Compare maps lists each region that the learned map or a stored evidence "
                                        "layer flags at its threshold, its share of the image, and which other maps "
                                        "flag the same place. Select a row to draw its box on the image.",
                                        objectName="corroborationHint")
        self.corroborationHint.setWordWrap(True)
        self.corroborationHint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        cl = QVBoxLayout(self.corroboration)
        cl.addWidget(self.corroborationHint)
        cl.addWidget(self.corroborateButton)
        cl.addWidget(self.corroborationTable, 1)
        cl.addWidget(self.regionLabel)
        cl.addStretch(0)

        self.layerCombo.currentIndexChanged.connect(lambda *_: self.layerChosen.emit(self.layer()))
        self.layerCancelButton.clicked.connect(self.cancelRequested)
        self.clonePairsList.currentRowChanged.connect(self.pairChosen)
        self.pinLayerCheck.toggled.connect(self.pinToggled)
        self.cloneMethodCombo.currentIndexChanged.connect(
            lambda *_: self.methodChosen.emit(self.cloneMethodCombo.currentData()))
        self.besideCombo.currentIndexChanged.connect(lambda *_: self.besideChosen.emit(self.besideCombo.currentData()))
        self.corroborationTable.currentCellChanged.connect(lambda row, *_: self._region(row))

    def layer(self) -> str:
        return self.layerCombo.currentData() or LEARNED

    def set_layer(self, name: str, emit: bool = True) -> None:
        i = max(self.layerCombo.findData(name or LEARNED), 0)
        if not emit:
            self.layerCombo.blockSignals(True)
        try:
            self.layerCombo.setCurrentIndex(i)
        finally:
            self.layerCombo.blockSignals(False)

    def set_stored(self, names: set[str], failing: set[str] = frozenset()) -> None:
        """Mark which layers the case already holds for the current item, and which of those failed
        verification (choosing one computes it again)."""
        for i in range(1, self.layerCombo.count()):
            name = self.layerCombo.itemData(i)
            title = dict(layer_titles())[name]
            mark = "  ⚠ fails verification: recompute" if name in failing else ("" if name in names else "  (compute)")
            self.layerCombo.setItemText(i, f"{name} — {title}{mark}")

    def set_pinned(self, pinned: list[str], shown: str | None, can_pin: bool) -> None:
        """Whether the shown layer (None: the learned map) is pinned; the Finding dock lists all pins."""
        self.pinLayerCheck.blockSignals(True)
        self.pinLayerCheck.setChecked(bool(shown) and shown in pinned)
        self.pinLayerCheck.blockSignals(False)
        self.pinLayerCheck.setVisible(bool(shown))
        self.pinLayerCheck.setEnabled(can_pin)

    def set_corroboration(self, regions: list | None) -> None:
        """engine.evidence.corroboration.FlaggedRegion rows (None hides the table)."""
        t = self.corroborationTable
        t.blockSignals(True)
        t.setVisible(regions is not None)
        t.setRowCount(0)
        self._regions = list(regions or [])
        for r in self._regions:
            row = t.rowCount()
            t.insertRow(row)
            agree = r.agreement_text()
            for col, text in enumerate((f"{r.source} #{r.index}", f"{100 * r.area_share:.1f} %", agree)):
                cell = QTableWidgetItem(text)
                cell.setToolTip(f"box {box_text(r.box)}; "
                                + "; ".join(f"{k}: {100 * v:.0f} % of it flagged" for k, v in r.overlap.items()))
                t.setItem(row, col, cell)
        t.resizeRowsToContents()
        # Tall enough for its first rows (up to four) whatever the dock's height: the dock scrolls
        # instead, and the text below never lies over the last row.
        shown = sum(t.rowHeight(r) for r in range(min(t.rowCount(), 4)))
        t.setMinimumHeight(max(90, t.horizontalHeader().sizeHint().height() + shown + 2 * t.frameWidth() + 2))
        t.blockSignals(False)
        self._region(-1)
        if regions is not None and not regions:
            self.regionLabel.setText("No map flags a region at its threshold.")
            self.regionLabel.show()

    def _region(self, row: int) -> None:
        r = self._regions[row] if 0 <= row < len(self._regions) else None
        self.regionLabel.setVisible(r is not None)
        self.regionLabel.setText(f"{r.source} #{r.index}: x {r.box[0]}–{r.box[2]}, y {r.box[1]}–{r.box[3]} "
                                 "(drawn on the image)" if r is not None else "")
        self.regionChosen.emit(list(r.box) if r is not None else None)

    def set_busy(self, message: str | None) -> None:
        busy = message is not None
        for w in (self.layerBusyLabel, self.layerProgressBar, self.layerCancelButton):
            w.setVisible(busy)
        if busy:
            self.layerProgressBar.setRange(0, 0)  # a layer reports no steps: a busy bar
            self.layerBusyLabel.setText(message)
            self.layerBusyLabel.setToolTip(message)  # the label clips in a narrow dock
            self.set_status(message)
        else:
            self._show_status()

    def set_status(self, text: str) -> None:
        self.layerStatusLabel.setText(text)
        self._show_status()

    def set_side_by_side(self, on: bool) -> None:
        """The Beside choice matters only in the side-by-side display: hidden otherwise, to keep
        the overlay controls in view, and so is the line about the map beside."""
        self.besideRow.setVisible(on)
        self._show_status()

    def _show_status(self) -> None:
        text = self.layerStatusLabel.text()
        # isHidden, not isVisible: the row's own flag, whether or not the dock is on screen
        about_beside = text.startswith("Beside") and self.besideRow.isHidden()
        # while a layer is computed the bar's row says the same words: one row, not two
        on_bar = not self.layerBusyLabel.isHidden() and text == self.layerBusyLabel.text()
        self.layerStatusLabel.setVisible(bool(text) and not about_beside and not on_bar)

    def show_layer(self, metadata: dict | None) -> None:
        """The how-to-read panel and clone pairs of the shown layer (None: the learned map)."""
        self.howToReadLabel.setVisible(metadata is not None)
        self.detailsHint.setVisible(metadata is None)
        self.howToReadLabel.setText(how_to_read_html(metadata) if metadata else "")
        clones = (metadata or {}).get("layer") == "clones"
        self.cloneMethodRow.setVisible(clones)
        if clones:  # the method of the layer on screen, without asking for it again
            method = ((metadata or {}).get("parameters") or {}).get("method", "keypoints")
            self.cloneMethodCombo.blockSignals(True)
            self.cloneMethodCombo.setCurrentIndex(max(self.cloneMethodCombo.findData(method), 0))
            self.cloneMethodCombo.blockSignals(False)
        details = (metadata or {}).get("details") or {}
        pairs = details.get("pairs") or []
        fills = details.get("fills") or []
        self.clonePairsList.blockSignals(True)
        self.clonePairsList.clear()
        for k, p in enumerate(pairs, 1):
            s, t = p.get("source_bbox"), p.get("target_bbox")
            self.clonePairsList.addItem(pair_text(k, p, boxes=False, compact=True))
            # the full sentence too: a narrow dock elides the row's end
            self.clonePairsList.item(k - 1).setToolTip(f"{pair_text(k, p, boxes=False)}; source S{k}: {box_text(s)}; "
                                                       f"target T{k}: {box_text(t)}; "
                                                       f"affine transform source → target {p.get('transform')}")
        # The fill stage's areas: marked on the map like a pair, but with no one source (the review
        # found one at the image's edge with no box and no word about it). Listed after the pairs,
        # drawn as F1, F2... boxes; choosing one draws it thicker, as a pair.
        for j, f in enumerate(fills, 1):
            self.clonePairsList.addItem(fill_text(j, f, compact=True))
            self.clonePairsList.item(self.clonePairsList.count() - 1).setToolTip(fill_text(j, f))
        self.clonePairsList.blockSignals(False)
        self.clonePairsList.setVisible(bool(pairs or fills))
        pairs = pairs + fills  # the rows to size the list for
        rows = min(len(pairs), 4)  # as tall as its rows, up to four; more scroll
        if rows:
            self.clonePairsList.setFixedHeight(rows * self.clonePairsList.sizeHintForRow(0)
                                               + 2 * self.clonePairsList.frameWidth() + 2)


def fill_text(j: int, fill: dict, compact: bool = False) -> str:
    """One area of the clones fill stage for people: 'F1: patch fill, x 376–451, y 128–171 px' (a
    list row), or what it is and why it has no source/target pair (its tooltip)."""
    box = box_text(fill.get("bbox"))
    if compact:
        return f"F{j}: patch fill, {box}"
    density = fill.get("density")
    share = f", {float(density):.0%} of its pixels copied" if density is not None else ""
    area = f", {int(fill['area'])} px" if fill.get("area") is not None else ""
    return (f"F{j}: an area made of many small patches copied from elsewhere in the image ({box}{area}{share}), "
            "as an exemplar fill (object removal, 'content-aware fill') leaves. It has no single source, so no "
            "S/T pair: the area includes both the fill and the places its patches came from.")

