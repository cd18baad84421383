"""The main window: construction, menus and wiring. Each concern has one owner (napari style):

- `CaseController` (case_controller.py): the open case, new/open/close, examiner, verify;
- `IngestController`: adding images; `AnalysisController`: the running analysis;
- `DisplayController`: which item and which stored analysis are on screen, image loading, caches;
- `FindingsController`: the finding, autosave, unsaved edits, flush;
- `metadata_presenter.metadata_sections`: what the metadata dock lists (pure).

All heavy work runs in JobRunner workers; the window only reacts with cheap widget updates.
Widgets are found by objectName (tests and automation do the same).
"""
from __future__ import annotations

import os

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QLabel, QListView, QMainWindow, QMessageBox,
                               QScrollArea, QStackedWidget, QToolBar, QWidget)

from declip_desktop import jobs, settings, window_state
from declip_desktop.analysis_controller import AnalysisController
from engine.stamps import os_user
from declip_desktop.case_controller import CaseController
from declip_desktop.display_controller import DisplayController
from declip_desktop.docks.analysis_dock import AnalysisPanel
from declip_desktop.docks.finding_dock import FindingPanel
from declip_desktop.docks.metadata_dock import MetadataView
from declip_desktop.docks.overlay_dock import OverlayPanel
from declip_desktop.docks.problems_dock import ProblemsPanel
from declip_desktop.dropping import local_paths
from declip_desktop.evidence_model import EvidenceModel, IdRole
from declip_desktop.findings_controller import FindingsController
from declip_desktop.gui_fonts import register_bundled_fonts
from declip_desktop.ingest_controller import IngestController
from declip_desktop.overlay_style import DisplayMode, OverlayStyle
from declip_desktop.provenance_view import install_reread_action, trust_anchor_action
from declip_desktop.responsiveness import device_guess, preload_engine, tune_for_gui
from declip_desktop.viewer import ViewerPane
from declip_desktop.welcome import WelcomePanel
from declip_desktop.workers import JobRunner

APP_TITLE = "DeCLIP Desktop"


def image_file_filter() -> str:
    """The Add images dialog's filter: every suffix the engine reads a folder's images by, so no file
    it can analyse is hidden under "Images". HEIC is left out: it cannot be read here (an added .heic
    is refused as "not an image"), so it shows only under "All files"."""
    from engine.cli import IMAGE_SUFFIXES

    # both cases: Qt's own dialog matches either, but a native (GTK, portal) dialog matches case-sensitively,
    # and cameras name their files IMG_0001.JPG
    patterns = [f"*{s}" for s in sorted(IMAGE_SUFFIXES)] + [f"*{s.upper()}" for s in sorted(IMAGE_SUFFIXES)]
    return f"Images ({' '.join(patterns)});;All files (*)"


class MainWindow(QMainWindow):
    caseOpened = Signal(str)
    caseClosed = Signal()
    ingestFinished = Signal(object)  # IngestReport
    analysisFinished = Signal(int, int)  # done, failed
    displayReady = Signal(str)  # evidence id now on screen (image, and overlay when analysed)
    findingSaved = Signal(str)
    reportExported = Signal(str)  # path of the PDF

    def __init__(self, case_path: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self.prefs = settings.Preferences.load()
        self.runner = JobRunner(self)
        self.detectors = jobs.DetectorCache()
        self._last_style: OverlayStyle | None = None
        self._mode_before_original = DisplayMode.HEAT
        preload_engine()  # import torch now, never while a batch runs (its import holds the GIL)
        register_bundled_fonts()  # CJK and other scripts on machines without such system fonts
        tune_for_gui()  # no GC walks, short GIL waits, no zeroing under the GIL (see the module)
        self._build_ui()
        self.cases = CaseController(self)
        self.ingest = IngestController(self)
        self.analysis = AnalysisController(self)
        self.display = DisplayController(self)
        self.analysis.fill_models()
        from declip_desktop.dialogs.release_offer import watch_model_combo  # releases not installed

        watch_model_combo(self.analysisPanel.modelCombo, self, self.analysis.fill_models)
        self.findings = FindingsController(self)
        self._build_actions()
        self._wire()
        window_state.restore(self)
        self.case_shown(None, False)
        self.statusBar().showMessage("Ready. Create or open a case, or drop photos anywhere on the window.", 5000)
        if case_path:
            self.open_case(case_path, create=True)  # named on the command line: a new folder is wanted

    # ----------------------------------------------------------------------------- building --
    def _build_ui(self) -> None:
        self.viewer = ViewerPane(self)
        self.imageView = self.viewer.view
        self.welcome = WelcomePanel(self)
        self.central = QStackedWidget(self, objectName="centralStack")
        self.central.addWidget(self.welcome)
        self.central.addWidget(self.viewer)
        self.setCentralWidget(self.central)

        self.evidenceModel = EvidenceModel(self)
        self.evidenceList = QListView(objectName="evidenceList", accessibleName="Evidence images in the case")
        self.evidenceList.setModel(self.evidenceModel)
        self.evidenceList.setIconSize(QSize(96, 96))
        self.evidenceList.setSpacing(2)
        self.evidenceList.setUniformItemSizes(True)
        self.evidenceList.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.analysisPanel = AnalysisPanel()
        self.overlayPanel = OverlayPanel()
        self.metadataView = MetadataView()
        install_reread_action(self)  # Content Credentials on demand
        self.findingPanel = FindingPanel()
        self.problemsPanel = ProblemsPanel()
        from declip_desktop.docks.layer_panel import LayerPanel

        # The layer selector heads the overlay dock; what the shown layer means (how to read it,
        # clone pairs) gets a dock of its own, beside the metadata, and so does the corroboration table.
        self.layerPanel = LayerPanel()
        self.overlayPanel.add_header(self.layerPanel)

        self._docks = {}
        left, right, bottom = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea,
                               Qt.DockWidgetArea.BottomDockWidgetArea)
        for key, title, widget, area in (
            ("evidence", "Evidence", self.evidenceList, left), ("analysis", "Analysis", self.analysisPanel, right),
            ("overlay", "Overlay", self.overlayPanel, right), ("finding", "Finding", self.findingPanel, right),
            ("metadata", "Metadata", self.metadataView, left), ("layer", "Evidence layer", self.layerPanel.details, left),
            ("corroboration", "Corroboration", self.layerPanel.corroboration, left),
            ("problems", "Problems", self.problemsPanel, bottom),
        ):
            dock = QDockWidget(title, self, objectName=f"{key}Dock")
            # finding and overlay scroll inside (their footers never scroll); corroboration scrolls whole
            # (its table never squeezed under its text)
            dock.setWidget(_scroll(widget) if key in ("analysis", "layer", "corroboration") else widget)
            if key == "analysis":  # its progress is kept in view where the screen allows
                dock.widget().setMinimumHeight(widget.sizeHint().height() + 6)
                dock.widget().setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.addDockWidget(area, dock)
            self._docks[key] = dock
        self._docks["problems"].hide()  # shown when there is a problem to read
        for key in ("layer", "corroboration"):
            self._docks[key].widget().setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # The bottom area (the Problems dock) sits under the image only, not under the side columns:
        # showing it later never makes the window taller than the screen (the columns are the tall part).
        self.setCorner(Qt.Corner.BottomLeftCorner, left)
        self.setCorner(Qt.Corner.BottomRightCorner, right)
        for dock in self._docks.values():  # a dock shown later (Problems, View menu) must still fit
            dock.visibilityChanged.connect(lambda shown: shown and QTimer.singleShot(
                0, self, lambda: window_state.refit_if_needed(self)))
        # rows added to the overlay controls (Beside, a layer's progress) get room where the screen has it
        self.overlayPanel.wholeHeightChanged.connect(lambda _h: QTimer.singleShot(
            0, self, lambda: window_state.refit_if_needed(self)))
        self.tabifyDockWidget(self._docks["metadata"], self._docks["layer"])
        self.tabifyDockWidget(self._docks["layer"], self._docks["corroboration"])
        self._docks["metadata"].raise_()
        self.size_docks()
        # Drops go to the window whatever widget is under the cursor.
        for w in (self.evidenceList, self.evidenceList.viewport(), self.viewer.view, self.viewer.view.viewport(),
                  self.viewer.twin, self.viewer.twin.viewport(), self.metadataView, self.metadataView.viewport()):
            w.setAcceptDrops(False)

        self.caseLabel = QLabel("No case open", objectName="caseLabel")
        self.examinerLabel = QLabel("", objectName="examinerLabel")
        self.deviceStatus = QLabel("", objectName="deviceStatus")
        for w in (self.caseLabel, self.examinerLabel, self.deviceStatus):
            self.statusBar().addPermanentWidget(w)
        self.show_device(device_guess(self.prefs.device))

    def size_docks(self) -> None:
        """The side columns' default widths (window_state sets them again once the window has its size,
        when no saved layout does)."""
        self.resizeDocks([self._docks["evidence"], self._docks["analysis"]], [330, 360], Qt.Orientation.Horizontal)
        self.resizeDocks([self._docks["evidence"], self._docks["metadata"]], [520, 300], Qt.Orientation.Vertical)

    def _build_actions(self) -> None:
        def act(name, text, slot, shortcut=None, tip=None, checkable=False) -> QAction:
            a = QAction(text, self, objectName=name)
            if shortcut is not None:
                a.setShortcuts([QKeySequence(s) for s in (shortcut if isinstance(shortcut, list) else [shortcut])])
            if tip:
                a.setStatusTip(tip)
                a.setToolTip(tip)
            a.setCheckable(checkable)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        K, c, v, an = QKeySequence.StandardKey, self.cases, self.viewer.view, self.analysis
        self.actionNewCase = act("actionNewCase", "&New case…", c.new_case_dialog, K.New, "Create a new case")
        self.actionOpenCase = act("actionOpenCase", "&Open case…", c.open_case_dialog, K.Open, "Open a case folder")
        self.actionAddImages = act("actionAddImages", "&Add images…", self.add_images_dialog, "Ctrl+I",
                                   "Copy photos into the case (or drop them on the window)")
        self.actionResumeIngest = act("actionResumeIngest", "&Resume interrupted ingest", self.ingest.resume, None,
                                      "Index the images an interrupted ingest copied and logged but never indexed, "
                                      "from their copies in the case (the originals are not needed)")
        self.actionSaveFinding = act("actionSaveFinding", "&Save finding", lambda: self.findings.save(), K.Save,
                                     "Save the finding with the current threshold and opacity")
        self.actionExportReport = act("actionExportReport", "&Export report…", self.export_report, "Ctrl+E",
                                      "Export a forensic PDF report of the case")
        self.actionVerify = act("actionVerify", "&Verify integrity", c.verify_case, None,
                                "Re-hash the evidence and check the audit chain")
        self.actionExaminer = act("actionExaminer", "E&xaminer…", c.set_examiner_dialog, None,
                                  "Who is working now: findings and the audit log are credited to this name")
        self.actionCloseCase = act("actionCloseCase", "&Close case", c.close_case, K.Close)
        self.actionQuit = act("actionQuit", "&Quit", self.close, "Ctrl+Q")
        self.actionZoomIn = act("actionZoomIn", "Zoom &in", v.zoom_in, ["+", "=", "Ctrl++"])
        self.actionZoomOut = act("actionZoomOut", "Zoom &out", v.zoom_out, ["-", "Ctrl+-"])
        self.actionActualSize = act("actionActualSize", "&100 %", v.actual_size, ["0", "Ctrl+0"])
        self.actionFit = act("actionFit", "&Fit to window", v.fit, "F")
        self.actionToggleOriginal = act("actionToggleOriginal", "Show &original only", self._toggle_original, "O",
                                        "Toggle between the overlay and the original image", checkable=True)
        self.actionAnalyze = act("actionAnalyze", "&Analyse selected", an.analyze_selected, "Ctrl+R")
        self.actionAnalyzeAll = act("actionAnalyzeAll", "Analyse &all", an.analyze_all, "Ctrl+Shift+R")
        self.actionAnalyzeRemaining = act("actionAnalyzeRemaining", "Analyse &remaining", an.analyze_remaining,
                                          "Ctrl+Alt+R", "Analyse only the images that have no stored analysis "
                                                        "with the chosen model and mode (e.g. after a cancel)")
        self.actionCancel = act("actionCancel", "&Cancel", self.cancel, "Esc")
        self.actionModelManager = act("actionModelManager", "&Model manager…", self.model_manager, None)
        self.actionImportModel = act("actionImportModel", "&Import model…", self.import_model, None,
                                     "Import an official DeCLIP checkpoint and its CLIP weights")
        self.actionTrain = act("actionTrain", "&Train a model…", self.train_dialog, None)
        self.actionAbout = act("actionAbout", "&About DeCLIP Desktop", self.about, None)
        self.actionValidate = act("actionValidate", "&Validate installation…", self.validate_installation, None,
                                  "Re-hash the model and compare its maps with the bundled golden set")

        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addActions([self.actionNewCase, self.actionOpenCase])
        self.recentMenu = m.addMenu("Open &recent")
        self.recentMenu.setObjectName("recentMenu")
        self.recentMenu.aboutToShow.connect(self.fill_recent)
        self.fill_recent()
        m.addSeparator()
        m.addActions([self.actionAddImages, self.actionResumeIngest, self.actionSaveFinding, self.actionExportReport,
                      self.actionVerify])
        m.addSeparator()
        m.addActions([self.actionExaminer, trust_anchor_action(self), self.actionCloseCase, self.actionQuit])
        m = mb.addMenu("&View")
        m.addActions([self.actionZoomIn, self.actionZoomOut, self.actionActualSize, self.actionFit])
        m.addSeparator()
        m.addAction(self.actionToggleOriginal)
        m.addSeparator()
        m.addActions([dock.toggleViewAction() for dock in self._docks.values()])
        m = mb.addMenu("&Analysis")
        m.addActions([self.actionAnalyze, self.actionAnalyzeAll, self.actionAnalyzeRemaining, self.actionCancel])
        m = mb.addMenu("&Models")
        m.addActions([self.actionModelManager, self.actionImportModel, self.actionTrain])
        self.helpMenu = mb.addMenu("&Help")
        self.helpMenu.addActions([self.actionValidate, self.actionAbout])

        tb = QToolBar("Main", self, objectName="mainToolBar")
        tb.setIconSize(QSize(18, 18))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for a in (self.actionNewCase, self.actionOpenCase, self.actionAddImages, None, self.actionAnalyze,
                  self.actionAnalyzeAll, self.actionCancel, None, self.actionZoomIn, self.actionZoomOut,
                  self.actionFit, self.actionActualSize, self.actionToggleOriginal, None, self.actionExportReport):
            tb.addSeparator() if a is None else tb.addAction(a)
        self.addToolBar(tb)

    def _wire(self) -> None:
        sel = self.evidenceList.selectionModel()
        sel.currentChanged.connect(lambda cur, _prev: self.display.select(cur.data(IdRole) if cur.isValid() else None))
        sel.selectionChanged.connect(lambda *_: self.findingPanel.set_scope(self.display.current_id,
                                                                           len(sel.selectedIndexes())))
        self.overlayPanel.styleChanged.connect(self._style_changed)
        self.viewer.view.hovered.connect(self.display.hovered)
        self.analysisPanel.analyzeButton.clicked.connect(self.analysis.analyze_selected)
        self.analysisPanel.analyzeAllButton.clicked.connect(self.analysis.analyze_all)
        self.analysisPanel.cancelButton.clicked.connect(self.cancel)
        self.analysisPanel.displayedChosen.connect(self.display.choose)
        self.analysis.itemStored.connect(self.display.analysis_stored)
        self.analysis.finished.connect(self.analysisFinished)
        self.analysis.runningChanged.connect(lambda _r: self.update_actions())
        self.ingest.runningChanged.connect(lambda _r: self.update_actions())
        self.ingest.finished.connect(self.ingestFinished)
        self.display.displayReady.connect(self.displayReady)
        self.findings.saved.connect(self.findingSaved)
        self.findings.recorded.connect(lambda f: self.display.item_changed(f.evidence_id))
        self.cases.opened.connect(self.caseOpened)
        self._wire_evidence_layers()
        self.cases.closed.connect(self.caseClosed)
        self.welcome.newRequested.connect(self.cases.new_case_dialog)
        self.welcome.openRequested.connect(self.cases.open_case_dialog)
        self.welcome.recentRequested.connect(lambda p: self.cases.open_case(p))

    def _wire_evidence_layers(self) -> None:
        """The layer selector (evidence_layers_controller): it draws a layer over the displayed item and
        goes back to the learned map whenever the display controller shows an item."""
        from declip_desktop.evidence_layers_controller import wire_layers

        d = self.display
        self.layers = wire_layers(self, lambda: d.current_id, lambda: d.present(d.current_id),
                                  lambda ov: setattr(d, "current_overlay", ov))
        self.evidenceList.selectionModel().currentChanged.connect(lambda *_: self.layers.item_changed())
        self.layers.findingRecorded.connect(self.findings.pins_recorded)
        self.viewer.twin.hovered.connect(self.layers.twin_hovered)  # the left view reads the map it shows
        d.displayReady.connect(lambda _eid: self.layers.item_changed())

    # ------------------------------------------------------------------------ state and prefs --
    @property
    def case(self):
        return self.cases.case

    def case_shown(self, case, has_items: bool) -> None:
        """The window's look for an open case (or none): title, labels, the welcome page, controls."""
        self.setWindowTitle(f"{case.title} — {APP_TITLE}" if case is not None else APP_TITLE)
        self.caseLabel.setText("No case open" if case is None else f"Case: {case.title}"
                               + (f" ({case.number})" if case.number else "") + (" — READ-ONLY" if case.readonly else ""))
        self.central.setCurrentWidget(self.viewer if case is not None else self.welcome)
        self.welcome.set_recent(settings.recent_cases())
        self.viewer.set_content(None, None)
        self.viewer.show_message("" if has_items else "Drop photos or folders anywhere on this window to add them.")
        self.analysisPanel.set_idle()
        self.analysisPanel.set_displayed([], None, no_image=True)
        self.analysis.update_resolution()  # no image selected now: not the last item's size
        self.overlayPanel.set_readout_source(None, None)
        self.findingPanel.set_finding(None, enabled=False)
        self.metadataView.clear()
        self.update_actions()

    def update_actions(self) -> None:
        has_case = self.case is not None
        writable = has_case and not self.case.readonly
        who = self.case.session_examiner if has_case else (self.prefs.examiner or os_user())
        self.examinerLabel.setText(f"Examiner: {who}")
        busy = self.analysis.running
        ingesting = self.ingest.job is not None
        for a in (self.actionExportReport, self.actionVerify, self.actionCloseCase, self.actionExaminer):
            a.setEnabled(has_case or a is self.actionExaminer)
        for a in (self.actionAddImages, self.actionSaveFinding):
            a.setEnabled(writable)
        self.actionResumeIngest.setEnabled(writable and not ingesting)
        for a in (self.actionAnalyze, self.actionAnalyzeAll, self.actionAnalyzeRemaining):
            a.setEnabled(writable and not busy)
        self.actionCancel.setEnabled(busy or ingesting)
        self.analysisPanel.set_running(busy)
        if busy:  # on a short screen the analysis dock scrolls: bring its progress into view
            self._docks["analysis"].widget().ensureWidgetVisible(self.analysisPanel.progressBar)
        self.analysisPanel.analyzeButton.setEnabled(writable and not busy)
        self.analysisPanel.analyzeAllButton.setEnabled(writable and not busy)
        self.analysisPanel.cancelButton.setEnabled(busy or ingesting)
        self.overlayPanel.setEnabled(has_case)  # controls that need a case are off without one
        # zoom and the original-only toggle act on a shown image: off without one (the toggle would
        # otherwise change the display mode of nothing, and the next image would open without its map)
        has_image = has_case and self.display.current_id is not None
        for a in (self.actionZoomIn, self.actionZoomOut, self.actionActualSize, self.actionFit,
                  self.actionToggleOriginal):
            a.setEnabled(has_image)

    def show_device(self, name: str) -> None:
        """One label for the device, in the status bar and the analysis dock, from the start: the
        engine's own name for it ('CPU (1 thread)'), which each analysis then confirms."""
        self.deviceStatus.setText(f"Device: {name}")
        self.analysisPanel.deviceLabel.setText(name)
        tip = ("The device this window analyses on, as each stored analysis records it. Analyses stored "
               "by the command line (declip case analyze) record their own, which may use more CPU "
               "threads: this window leaves one core to the display.")
        self.deviceStatus.setToolTip(tip)
        self.analysisPanel.deviceLabel.setToolTip(tip)

    def fill_recent(self) -> None:
        self.recentMenu.clear()
        recent = settings.recent_cases()
        for path in recent:
            a = self.recentMenu.addAction(path)
            a.triggered.connect(lambda _=False, p=path: self.open_case(p))
        self.recentMenu.setEnabled(bool(recent))

    # ---------------------------------------------------------------------------- behaviour --
    def open_case(self, path: str, create: bool = False, readonly: bool = False) -> bool:
        return self.cases.open_case(path, create=create, readonly=readonly)

    def set_examiner(self, name: str) -> None:
        self.cases.set_examiner(name)

    def add_paths(self, paths: list[str]) -> None:
        self.ingest.add_paths(paths)

    @property
    def ask_new_case(self):
        return self.cases.ask_new_case

    @ask_new_case.setter
    def ask_new_case(self, fn) -> None:
        self.cases.ask_new_case = fn

    def analyze_all(self) -> None:
        self.analysis.analyze_all()

    def cancel(self) -> None:
        self.analysis.cancel()
        self.ingest.cancel()

    def add_images_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add images to the case", "", image_file_filter())
        if files:
            self.add_paths(files)

    def _style_changed(self, style: OverlayStyle) -> None:
        prev, self._last_style = self._last_style, style
        self.viewer.set_style(style)
        self.actionToggleOriginal.setChecked(style.mode is DisplayMode.ORIGINAL)
        self.findings.style_changed(prev, style)

    def _toggle_original(self) -> None:
        st = self.overlayPanel.style()
        if st.mode is DisplayMode.ORIGINAL:
            self.overlayPanel.set_mode(self._mode_before_original)
        else:
            self._mode_before_original = st.mode
            self.overlayPanel.set_mode(DisplayMode.ORIGINAL)

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        event.acceptProposedAction() if local_paths(event.mimeData()) else event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if event.mimeData() is not None and event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            self.statusBar().showMessage("Nothing to add: drop image files or folders.", 5000)
            return
        event.acceptProposedAction()
        self.add_paths(paths)

    # ------------------------------------------------------------------------------ dialogs --
    def export_report(self) -> None:
        if self.case is None:
            return
        self.findings.flush(sync=True)
        from declip_desktop import report_export

        report_export.export_report_interactive(self)

    def model_manager(self):
        from declip_desktop.dialogs.model_manager import ModelManagerDialog

        return self._open_dialog(ModelManagerDialog(self), refill_models=True)

    def import_model(self) -> None:
        dlg = self.model_manager()
        QTimer.singleShot(0, dlg.import_official)

    def train_dialog(self) -> None:
        from declip_desktop.dialogs.trainer import TrainerDialog

        self._open_dialog(TrainerDialog(self), refill_models=True)

    def about(self) -> None:
        from declip_desktop.dialogs.about import AboutDialog

        self._open_dialog(AboutDialog(self))

    def _open_dialog(self, dlg, refill_models: bool = False):
        if refill_models:
            dlg.finished.connect(lambda *_: self.analysis.fill_models())
        dlg.finished.connect(dlg.deleteLater)
        dlg.open()
        return dlg

    def validate_installation(self) -> None:
        from declip_desktop.dialogs.validation import ValidationDialog

        self._open_dialog(ValidationDialog(self.runner, self))  # runs in a worker; PASS/FAIL per item

    def report_error(self, title: str, message: str) -> None:
        """Errors never block: a window-modal box (non-blocking) plus the status bar."""
        self.statusBar().showMessage(f"{title}: {message.splitlines()[0] if message else ''}", 10000)
        if os.environ.get("DECLIP_NO_DIALOGS"):
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("errorBox")
        box.finished.connect(box.deleteLater)
        box.open()

    def without_case_path(self, message: str) -> str:
        """Messages name files inside the case by their place in it, not the case's full path."""
        if self.case is None:
            return message
        path = str(self.case.path)
        return message.replace(path + os.sep, "").replace(path, "the case folder")

    def closeEvent(self, event) -> None:  # noqa: N802
        window_state.save(self)
        self.cases.close_case()
        self.runner.cancel_all()
        self.runner.wait(30000)
        super().closeEvent(event)


def _scroll(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area
