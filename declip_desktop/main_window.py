"""The main window: evidence list, viewer, docks, menus; wires cases and the engine together.

All heavy work (ingest, decoding, analysis, map pyramids, case writes) runs in JobRunner
workers; this module only reacts to their signals with cheap widget updates.
"""
from __future__ import annotations

import getpass
import os
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QByteArray, QItemSelectionModel, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QLabel, QListView,
                               QMainWindow, QMessageBox, QScrollArea, QToolBar, QWidget)

from declip_desktop import jobs, settings
from declip_desktop.case.analyses import last_failures
from declip_desktop.case.errors import READ_ONLY_STILL_WORKS, CaseLockedError
from declip_desktop.docks.analysis_dock import AnalysisPanel
from declip_desktop.model_preload import start_preload
from declip_desktop.docks.finding_dock import FINDING_STATUSES, FindingPanel
from declip_desktop.docks.metadata_dock import MetadataView
from declip_desktop.docks.overlay_dock import OverlayPanel
from declip_desktop.dropping import local_paths
from declip_desktop.evidence_model import IdRole, EvidenceModel, EvidenceRow
from declip_desktop.overlay_style import DisplayMode, OverlayStyle
from declip_desktop.responsiveness import tune_for_gui
from declip_desktop.viewer import ViewerPane
from declip_desktop.workers import Job, JobRunner

APP_TITLE = "DeCLIP Desktop"
DISPLAY_CACHE = 3  # decoded images kept for instant switching


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
        self.case = None
        self.runner = JobRunner(self)
        self.detectors = jobs.DetectorCache()
        self._analysis_job: Job | None = None
        self._ingest_job: Job | None = None
        self._display_job: Job | None = None
        self._display_job_id: str | None = None
        self._pending_overlays: dict[str, jobs.AnalysisDone] = {}
        self._display_cache: OrderedDict[str, jobs.DisplayData] = OrderedDict()
        self._current_id: str | None = None
        self._current_overlay = None
        self._pending_paths: list[str] = []
        self._analysis_was_cancelled = False
        self._last_style: OverlayStyle | None = None
        self._unsaved_findings: dict[str, tuple[str, str]] = {}  # evidence id -> (status, note) not yet written
        self._finding_dirty = False
        self._loading_finding = False
        # Tests (and automation) replace this to avoid the modal "new case" question.
        self.ask_new_case: Callable[[list[str]], dict | None] | None = None

        _preload_engine()  # import torch now, never while a batch runs (its import holds the GIL)
        tune_for_gui()  # no GC walks, short GIL waits, no zeroing under the GIL (see the module)
        self._build_ui()
        self._build_actions()
        self._restore_state()
        self._apply_prefs()
        self._finding_timer = QTimer(self, singleShot=True, interval=800)
        self._finding_timer.timeout.connect(self.save_finding)
        self._update_actions()
        self.statusBar().showMessage("Ready. Drop photos or folders anywhere on the window.", 5000)
        if case_path:
            self.open_case(case_path, create=True)  # named on the command line: a new folder is wanted

    # ===================================================================================== UI ==
    def _build_ui(self) -> None:
        self.viewer = ViewerPane(self)
        self.setCentralWidget(self.viewer)
        self.imageView = self.viewer.view

        self.evidenceModel = EvidenceModel(self)
        self.evidenceList = QListView(objectName="evidenceList", accessibleName="Evidence images in the case")
        self.evidenceList.setModel(self.evidenceModel)
        self.evidenceList.setIconSize(QSize(96, 96))
        self.evidenceList.setSpacing(2)
        self.evidenceList.setUniformItemSizes(True)
        self.evidenceList.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.evidenceList.selectionModel().currentChanged.connect(self._current_changed)
        self.evidenceList.selectionModel().selectionChanged.connect(lambda *_: self._update_finding_scope())

        self.analysisPanel = AnalysisPanel()
        self.overlayPanel = OverlayPanel()
        self.metadataView = MetadataView()
        self.findingPanel = FindingPanel()
        # expose the named widgets as attributes for scripting
        for panel in (self.analysisPanel, self.overlayPanel, self.findingPanel):
            for name in dir(panel):
                if name[:1].islower() and name.endswith(("Button", "Combo", "Slider", "Bar", "Label", "Edit",
                                                         "List", "Value")):
                    w = getattr(panel, name)
                    if isinstance(w, QWidget) and not hasattr(self, name):
                        setattr(self, name, w)

        self._docks = {}
        for key, title, widget, area in (
            ("evidence", "Evidence", self.evidenceList, Qt.DockWidgetArea.LeftDockWidgetArea),
            ("analysis", "Analysis", self.analysisPanel, Qt.DockWidgetArea.RightDockWidgetArea),
            ("overlay", "Overlay", self.overlayPanel, Qt.DockWidgetArea.RightDockWidgetArea),
            ("finding", "Finding", self.findingPanel, Qt.DockWidgetArea.RightDockWidgetArea),
            ("metadata", "Metadata", self.metadataView, Qt.DockWidgetArea.LeftDockWidgetArea),
        ):
            dock = QDockWidget(title, self, objectName=f"{key}Dock")
            dock.setWidget(widget if key in ("evidence", "metadata") else _scroll(widget))
            if key in ("analysis", "overlay"):  # progress and readouts must never scroll out of view
                dock.widget().setMinimumHeight(widget.sizeHint().height() + 6)
            self.addDockWidget(area, dock)
            self._docks[key] = dock
        self.resizeDocks([self._docks["evidence"], self._docks["analysis"]], [330, 340], Qt.Orientation.Horizontal)
        self.resizeDocks([self._docks["evidence"], self._docks["metadata"]], [520, 300], Qt.Orientation.Vertical)

        # Drops go to the window whatever widget is under the cursor.
        for w in (self.evidenceList, self.evidenceList.viewport(), self.viewer.view, self.viewer.view.viewport(),
                  self.viewer.twin, self.viewer.twin.viewport(), self.metadataView, self.metadataView.viewport()):
            w.setAcceptDrops(False)

        self.caseLabel = QLabel("No case open", objectName="caseLabel")
        self.statusBar().addPermanentWidget(self.caseLabel)
        self.examinerLabel = QLabel("", objectName="examinerLabel")
        self.statusBar().addPermanentWidget(self.examinerLabel)
        self.deviceStatus = QLabel(_device_guess(), objectName="deviceStatus")
        self.statusBar().addPermanentWidget(self.deviceStatus)
        self.analysisPanel.deviceLabel.setText(self.deviceStatus.text())

        self.overlayPanel.styleChanged.connect(self._style_changed)
        self._wire_evidence_layers()
        self.viewer.view.hovered.connect(self._hovered)
        self.viewer.twin.hovered.connect(self._hovered)
        self.analysisPanel.analyzeButton.clicked.connect(self.analyze_selected)
        self.analysisPanel.analyzeAllButton.clicked.connect(self.analyze_all)
        self.analysisPanel.cancelButton.clicked.connect(self.cancel)
        self.findingPanel.saveRequested.connect(self.save_finding)
        self.findingPanel.findingStatusCombo.currentIndexChanged.connect(lambda *_: self._finding_edited(0))
        self.findingPanel.findingNoteEdit.textChanged.connect(lambda: self._finding_edited(800))
        self._fill_models()
        from declip_desktop.dialogs.release_offer import watch_model_combo  # releases not installed

        watch_model_combo(self.analysisPanel.modelCombo, self, self._fill_models)

    def _wire_evidence_layers(self) -> None:
        from declip_desktop.evidence_layers_controller import wire_layers

        self.layerPanel, self.layers = wire_layers(self, lambda: self._current_id, lambda: self._show_learned(),
                                                   lambda ov: setattr(self, "_current_overlay", ov))

    def _show_learned(self) -> None:
        cached = self._display_cache.get(self._current_id)
        self._show(cached) if cached is not None else self._load_display(self._current_id)

    def _build_actions(self) -> None:
        def act(name, text, slot, shortcut=None, tip=None, checkable=False) -> QAction:
            a = QAction(text, self, objectName=name)
            if shortcut is not None:
                a.setShortcuts([QKeySequence(s) for s in shortcut] if isinstance(shortcut, list) else [QKeySequence(shortcut)])
            if tip:
                a.setStatusTip(tip)
                a.setToolTip(tip)
            a.setCheckable(checkable)
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        K = QKeySequence.StandardKey
        self.actionNewCase = act("actionNewCase", "&New case…", self.new_case_dialog, K.New, "Create a new case")
        self.actionOpenCase = act("actionOpenCase", "&Open case…", self.open_case_dialog, K.Open, "Open a case folder")
        self.actionAddImages = act("actionAddImages", "&Add images…", self.add_images_dialog, "Ctrl+I",
                                   "Copy photos into the case (or drop them on the window)")
        self.actionSaveFinding = act("actionSaveFinding", "&Save finding", self.save_finding, K.Save,
                                     "Save the finding with the current threshold and opacity")
        self.actionExportReport = act("actionExportReport", "&Export report…", self.export_report, "Ctrl+E",
                                      "Export a forensic PDF report of the case")
        self.actionVerify = act("actionVerify", "&Verify integrity", self.verify_case, None,
                                "Re-hash the evidence and check the audit chain")
        self.actionExaminer = act("actionExaminer", "E&xaminer…", self.set_examiner_dialog, None,
                                  "Who is working now: findings and the audit log are credited to this name")
        self.actionCloseCase = act("actionCloseCase", "&Close case", self.close_case, K.Close)
        self.actionQuit = act("actionQuit", "&Quit", self.close, "Ctrl+Q")
        self.actionZoomIn = act("actionZoomIn", "Zoom &in", self.viewer.view.zoom_in, ["+", "=", "Ctrl++"])
        self.actionZoomOut = act("actionZoomOut", "Zoom &out", self.viewer.view.zoom_out, ["-", "Ctrl+-"])
        self.actionActualSize = act("actionActualSize", "&100 %", self.viewer.view.actual_size, ["0", "Ctrl+0"])
        self.actionFit = act("actionFit", "&Fit to window", self.viewer.view.fit, "F")
        self.actionToggleOriginal = act("actionToggleOriginal", "Show &original only", self._toggle_original, "O",
                                        "Toggle between the overlay and the original image", checkable=True)
        self.actionAnalyze = act("actionAnalyze", "&Analyse selected", self.analyze_selected, "Ctrl+R")
        self.actionAnalyzeAll = act("actionAnalyzeAll", "Analyse &all", self.analyze_all, "Ctrl+Shift+R")
        self.actionAnalyzeRemaining = act("actionAnalyzeRemaining", "Analyse &remaining", self.analyze_remaining,
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
        for a in (self.actionNewCase, self.actionOpenCase):
            m.addAction(a)
        self.recentMenu = m.addMenu("Open &recent")
        self.recentMenu.setObjectName("recentMenu")
        self.recentMenu.aboutToShow.connect(self._fill_recent)
        self._fill_recent()
        m.addSeparator()
        for a in (self.actionAddImages, self.actionSaveFinding, self.actionExportReport, self.actionVerify):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.actionExaminer)
        m.addAction(self.actionCloseCase)
        m.addAction(self.actionQuit)
        m = mb.addMenu("&View")
        for a in (self.actionZoomIn, self.actionZoomOut, self.actionActualSize, self.actionFit):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.actionToggleOriginal)
        m.addSeparator()
        for dock in self._docks.values():
            m.addAction(dock.toggleViewAction())
        m = mb.addMenu("&Analysis")
        for a in (self.actionAnalyze, self.actionAnalyzeAll, self.actionAnalyzeRemaining, self.actionCancel):
            m.addAction(a)
        m = mb.addMenu("&Models")
        for a in (self.actionModelManager, self.actionImportModel, self.actionTrain):
            m.addAction(a)
        m = mb.addMenu("&Help")
        m.addAction(self.actionValidate)
        m.addAction(self.actionAbout)

        tb = QToolBar("Main", self, objectName="mainToolBar")
        tb.setIconSize(QSize(18, 18))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for a in (self.actionNewCase, self.actionOpenCase, self.actionAddImages, None, self.actionAnalyze,
                  self.actionAnalyzeAll, self.actionCancel, None, self.actionZoomIn, self.actionZoomOut,
                  self.actionFit, self.actionActualSize, self.actionToggleOriginal, None, self.actionExportReport):
            tb.addSeparator() if a is None else tb.addAction(a)
        self.addToolBar(tb)

    def _fill_models(self) -> None:
        combo = self.analysisPanel.modelCombo
        combo.blockSignals(True)
        combo.clear()
        try:
            from engine.store import ModelStore

            store = ModelStore()
            default = store.default_id
            entries = store.list()
            for e in entries:
                if e.status == "ready":
                    combo.addItem(e.card.name + (" (default)" if e.card.id == default else ""), e.card.id)
            from declip_desktop.dialogs.release_offer import add_release_items

            add_release_items(combo, entries)
            i = combo.findData(default)
            combo.setCurrentIndex(max(i, 0))
        except Exception as exc:  # the store is unreadable: analysis falls back to the default id
            self.statusBar().showMessage(f"Model store: {exc}", 8000)
        if combo.count() == 0:
            combo.addItem("Default model", None)
        combo.blockSignals(False)

    def _fill_recent(self) -> None:
        self.recentMenu.clear()
        recent = settings.recent_cases()
        for path in recent:
            a = self.recentMenu.addAction(path)
            a.triggered.connect(lambda _=False, p=path: self.open_case(p))
        self.recentMenu.setEnabled(bool(recent))

    # ============================================================================ settings ==
    def _restore_state(self) -> None:
        s = settings.qsettings()
        geom = s.value("window/geometry")
        if isinstance(geom, QByteArray) and not geom.isEmpty():
            self.restoreGeometry(geom)
        else:
            self.resize(1400, 900)
        state = s.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)

    def _save_state(self) -> None:
        s = settings.qsettings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.sync()
        p = self.prefs
        st = self.overlayPanel.style()
        p.colormap, p.opacity, p.threshold = st.cmap, st.opacity, st.threshold
        p.display_mode = st.mode.value if st.mode is not DisplayMode.ORIGINAL else "heat"
        p.analysis_mode = self.analysisPanel.modeCombo.currentData()
        p.precision = self.analysisPanel.precisionCombo.currentData()
        try:
            p.save()
        except OSError:
            pass

    def _apply_prefs(self) -> None:
        p = self.prefs
        try:
            mode = DisplayMode(p.display_mode)
        except ValueError:
            mode = DisplayMode.HEAT
        self.overlayPanel.set_style(OverlayStyle(cmap=p.colormap, opacity=p.opacity, threshold=p.threshold, mode=mode))
        self.analysisPanel.select_data(self.analysisPanel.modeCombo, p.analysis_mode)
        self.analysisPanel.select_data(self.analysisPanel.precisionCombo, p.precision)

    def _update_actions(self) -> None:
        has_case = self.case is not None
        writable = has_case and not self.case.readonly
        who = self.case.session_examiner if has_case else (self.prefs.examiner or _os_user())
        self.examinerLabel.setText(f"Examiner: {who}")
        busy = self._analysis_job is not None
        for a in (self.actionExportReport, self.actionVerify, self.actionCloseCase):
            a.setEnabled(has_case)
        for a in (self.actionAddImages, self.actionSaveFinding):
            a.setEnabled(writable)
        self.actionAnalyze.setEnabled(writable and not busy)
        self.actionAnalyzeAll.setEnabled(writable and not busy)
        self.actionAnalyzeRemaining.setEnabled(writable and not busy)
        self.actionCancel.setEnabled(busy or self._ingest_job is not None)
        self.analysisPanel.set_running(busy)
        self.analysisPanel.analyzeButton.setEnabled(writable and not busy)
        self.analysisPanel.analyzeAllButton.setEnabled(writable and not busy)
        self.analysisPanel.cancelButton.setEnabled(busy or self._ingest_job is not None)

    # ================================================================================ cases ==
    def new_case_dialog(self) -> None:
        self._ask_and_create_case([])

    def _ask_and_create_case(self, pending: list[str]) -> None:
        if self.ask_new_case is not None:  # automation: no dialog
            values = self.ask_new_case(pending)
            if values:
                self._create_case(values, pending)
            return
        from declip_desktop.dialogs.new_case import NewCaseDialog

        intro = (f"No case is open. Create one to hold the {len(pending)} dropped item(s)?" if pending else "")
        dlg = NewCaseDialog(self, examiner=self.prefs.examiner, intro=intro)
        dlg.accepted.connect(lambda: self._create_case(dlg.values(), pending))
        dlg.finished.connect(dlg.deleteLater)
        dlg.open()  # window-modal but non-blocking: the event loop keeps running

    def _create_case(self, values: dict, pending: list[str]) -> bool:
        Case = _case_class()

        try:
            Path(values["path"]).parent.mkdir(parents=True, exist_ok=True)
            case = Case.create(values["path"], title=values["title"], number=values.get("number", ""),
                               examiner=values["examiner"], organisation=values.get("organisation", ""),
                               description=values.get("description", ""))
        except Exception as exc:
            self._error("Cannot create the case", str(exc))
            return False
        if values.get("examiner"):
            self.prefs.examiner = values["examiner"]
        self._set_case(case)
        if pending:
            self.add_paths(pending)
        return True

    def open_case_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open case folder (*.declip)")
        if folder:
            self.open_case(folder)

    def open_case(self, path: str, create: bool = False, readonly: bool = False) -> bool:
        """Open the case at `path`. create: make a case there if the folder is new or empty (only for
        a path the user named for that, e.g. on the command line); never for Recent or Open, where a
        missing folder means a moved case or an unplugged drive. readonly: view and report only."""
        Case = _case_class()

        path = str(path)
        p = Path(path)
        if not Case.is_case(path) and not create:
            if not p.exists():
                msg = (f"The case folder {path} does not exist. It may have been moved or renamed, or be "
                       f"on a drive that is not connected. Nothing was created.")
                self._error("Cannot open the case", msg)
                self._offer_forget_recent(path)
            else:
                self._error("Cannot open the case", f"{path} is not a DeCLIP case (it has no case.json). "
                                                     f"Use File > New case to create one.")
            return False
        try:
            if not Case.is_case(path) and (not p.exists() or not any(p.iterdir())):
                title = p.name.removesuffix(".declip") or "Case"
                case = Case.create(path, title=title, number="", examiner=self.prefs.examiner or _os_user())
            else:
                case = Case.open(path, examiner=self.prefs.examiner or None, readonly=readonly)
        except Exception as exc:
            if not readonly and isinstance(exc, READ_ONLY_STILL_WORKS):
                return self._offer_read_only(path, exc)
            self._error("Cannot open the case", str(exc))
            if self.case is None:
                self.viewer.show_message(f"Cannot open the case: {exc}")
            return False
        self._set_case(case)
        return True

    def set_examiner_dialog(self) -> None:
        from PySide6.QtWidgets import QInputDialog

        current = self.case.session_examiner if self.case is not None else (self.prefs.examiner or _os_user())
        dlg = QInputDialog(self, objectName="examinerDialog")
        dlg.setWindowTitle("Examiner")
        dlg.setLabelText("Who is working now? Findings and the case's audit log are credited to this name.")
        dlg.setTextValue(current)
        dlg.textValueSelected.connect(self.set_examiner)
        dlg.finished.connect(dlg.deleteLater)
        dlg.open()

    def set_examiner(self, name: str) -> None:
        name = " ".join(str(name).split())
        if not name:
            self._error("Examiner", "The examiner's name cannot be empty.")
            return
        self.flush_finding(sync=True)  # what was typed so far belongs to the previous examiner
        self.prefs.examiner = name
        if self.case is not None and name != self.case.session_examiner:
            old = self.case.session_examiner
            self.case.session_examiner = name
            if not self.case.readonly:
                try:
                    self.case.log("session_examiner_changed", {"from": old, "to": name})
                except Exception as exc:
                    self._error("Examiner", f"The change was not logged in the case: {exc}")
        self._update_actions()
        self.statusBar().showMessage(f"Examiner: {name}", 5000)

    def _offer_forget_recent(self, path: str) -> None:
        if path not in settings.recent_cases() or os.environ.get("DECLIP_NO_DIALOGS"):
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Recent cases",
                          f"Remove {path} from the recent cases?\n(Keep it if the drive will be connected again.)",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.finished.connect(lambda r: (settings.remove_recent_case(path), self._fill_recent())
                             if r == QMessageBox.StandardButton.Yes else None)
        box.finished.connect(box.deleteLater)
        box.open()

    def _offer_read_only(self, path: str, exc: Exception) -> bool:
        """A locked or write-protected case can still be viewed and reported on, without a lock."""
        reason = ("another session has it open" if isinstance(exc, CaseLockedError) else
                  "this account cannot write to its folder")
        text = (f"The case {path} cannot be opened for work: {reason}.\n\n{exc}\n\n"
                f"Open it read-only? You can view the images, maps and findings and export a report; "
                f"nothing in the case can be changed.")
        if os.environ.get("DECLIP_NO_DIALOGS"):
            self.statusBar().showMessage(f"Cannot open the case: {reason}", 10000)
            return False
        box = QMessageBox(QMessageBox.Icon.Question, "Open read-only?", text,
                          QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel, self)
        box.setObjectName("readOnlyBox")
        box.finished.connect(lambda r: self.open_case(path, readonly=True)
                             if r == QMessageBox.StandardButton.Open else None)
        box.finished.connect(box.deleteLater)
        box.open()
        return False

    def _set_case(self, case) -> None:
        self.close_case()
        self.case = case
        settings.add_recent_case(str(case.path))
        self.setWindowTitle(f"{case.title} — {APP_TITLE}")
        self.caseLabel.setText(f"Case: {case.title}" + (f" ({case.number})" if case.number else "")
                               + (" — READ-ONLY" if case.readonly else ""))
        rows = []
        for item in case.evidence:
            f = case.finding(item.id)
            rows.append(EvidenceRow(id=item.id, name=item.file_name, status=f.status))
        self.evidenceModel.set_rows(rows)
        self._refresh_scores()
        self.viewer.show_message("" if rows else "Drop photos or folders anywhere on this window to add them.")
        start_preload(self)  # the model loads on a worker now, so the first Analyse finds it ready
        self._update_actions()
        if rows:
            self.evidenceList.setCurrentIndex(self.evidenceModel.index(0))
            self._start(Job(jobs.thumbnails_job, case, [r.id for r in rows], name="thumbs"), self._thumbs_connect)
        self.caseOpened.emit(str(case.path))
        self.statusBar().showMessage(f"Opened case {case.title}: {len(rows)} image(s)", 5000)

    def _refresh_scores(self) -> None:
        """Scores come from stored analyses; reading them scans small JSON files only."""
        if self.case is None:
            return
        try:
            analyses = self.case.analyses()
        except Exception:
            return
        latest: dict[str, object] = {}
        for sa in analyses:
            prev = latest.get(sa.evidence_id)
            if prev is None or (sa.stored_utc or "") >= (prev.stored_utc or ""):
                latest[sa.evidence_id] = sa
        for eid, sa in latest.items():
            self.evidenceModel.update(eid, score=sa.score)
        # An image whose last analysis attempt failed shows that error again after reopening,
        # not "not analysed" (the audit log keeps each failure, from here or `declip case analyze`).
        try:
            entries = self.case.audit_entries()
        except Exception:
            return
        for eid, d in last_failures(entries).items():
            if self.evidenceModel.get(eid) is not None:
                self.evidenceModel.update(eid, error=str(d.get("error") or "analysis failed"))

    def close_case(self) -> None:
        if self.case is None:
            return
        self.flush_finding(sync=True)
        self.runner.cancel_all()
        self.runner.wait(30000)
        QApplication.processEvents()  # deliver the finished jobs' last signals before the case goes
        try:
            self.case.close()
        except Exception:
            pass
        self.case = None
        self._current_id = None
        self._display_cache.clear()
        self.evidenceModel.set_rows([])
        self.viewer.set_content(None, None)
        self.viewer.show_message("Drop photos or folders anywhere on this window to add them to a case.")
        self.overlayPanel.set_readout_source(None, None)
        self.findingPanel.set_finding(None, enabled=False)
        self.metadataView.clear()
        self.setWindowTitle(APP_TITLE)
        self.caseLabel.setText("No case open")
        self._update_actions()
        self.caseClosed.emit()

    # =============================================================================== ingest ==
    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

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

    def add_images_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add images to the case", "",
                                                "Images (*.jpg *.jpeg *.png *.tif *.tiff *.webp *.bmp *.heic);;All files (*)")
        if files:
            self.add_paths(files)

    def add_paths(self, paths: list[str]) -> None:
        paths = [str(p) for p in paths]
        if self.case is not None and self.case.readonly:
            self._error("Add images", "This case is open read-only: nothing can be added to it.")
            return
        if self.case is None:  # the new case takes them; _pending_paths is only for a running ingest
            self._ask_and_create_case(paths)
            return
        if self._ingest_job is not None:  # queue behind the running ingest
            self._pending_paths.extend(paths)
            return
        job = Job(jobs.ingest_job, self.case, paths, name="ingest")
        self._ingest_job = job
        job.signals.progress.connect(self._ingest_progress)
        job.signals.item.connect(self._ingest_item)
        job.signals.succeeded.connect(self._ingest_done)
        job.signals.failed.connect(lambda msg: self._error("Adding images failed", msg))
        job.signals.finished.connect(self._ingest_finished)
        self.statusBar().showMessage(f"Adding {len(paths)} item(s)…")
        self.runner.start(job)
        self._update_actions()

    def _ingest_progress(self, done: int, total: int, message: str) -> None:
        if self._analysis_job is None:
            self._set_progress(done, total)
        self.statusBar().showMessage(f"Adding images: {done}/{total} {Path(message).name if message else ''}")

    def _ingest_item(self, key, value) -> None:
        kind, eid = key
        if kind == "added":
            self.evidenceModel.append(EvidenceRow(id=eid, name=value.file_name))
            if self.evidenceModel.rowCount() == 1:
                self.evidenceList.setCurrentIndex(self.evidenceModel.index(0))
        elif kind == "thumb":
            self.evidenceModel.update(eid, thumbnail=value)

    def _ingest_done(self, report) -> None:
        n_add = len(report.added)
        issues = report.issues
        lines = []
        for issue in issues:
            reason = issue.reason.removeprefix("not added: ")
            lines.append(f"Not added: {Path(issue.path).name}: {reason}")
        # Added, but the file itself looks damaged (e.g. a truncated JPEG): the examiner must know now.
        for item in report.added:
            for note in (item.metadata or {}).get("notes", []):
                if "damaged" in note or "truncated" in note:
                    lines.append(f"Added with a warning: {item.id} {item.file_name}: {note}")
        for line in lines:
            self.analysisPanel.add_error(line)
        msg = f"Added {n_add} image(s)"
        if issues:
            msg += f"; {len(issues)} not added"
        if report.cancelled:
            msg += "; cancelled"
        self.statusBar().showMessage(msg, 8000)
        if lines:
            shown = lines[:30] + ([f"… and {len(lines) - 30} more (listed in the Analysis panel)"] if len(lines) > 30 else [])
            self._error("Adding images", msg + ".\n\n" + "\n".join(shown))
        self.ingestFinished.emit(report)

    def _ingest_finished(self) -> None:
        self._ingest_job = None
        if self._analysis_job is None:
            self._set_progress(1, 1)
        self._update_actions()
        if self._pending_paths and self.case is not None:
            paths, self._pending_paths = self._pending_paths, []
            self.add_paths(paths)

    def _thumbs_connect(self, job: Job) -> None:
        job.signals.item.connect(lambda key, img: self.evidenceModel.update(key[1], thumbnail=img))

    # ============================================================================= analysis ==
    def selected_ids(self) -> list[str]:
        rows = sorted(i.row() for i in self.evidenceList.selectionModel().selectedIndexes())
        ids = [self.evidenceModel.index(r).data(IdRole) for r in rows]
        if not ids and self._current_id:
            ids = [self._current_id]
        return ids

    def analyze_selected(self) -> None:
        self.analyze(self.selected_ids())

    def analyze_all(self) -> None:
        self.analyze([r.id for r in self.evidenceModel.rows()])

    def analyze_remaining(self) -> None:
        if self.case is None:
            return
        # The job applies the case's one up-to-date rule (case.analysis_run), as `declip case analyze` does.
        self.analyze([r.id for r in self.evidenceModel.rows()], force=False)

    def analyze(self, ids: list[str], force: bool = True) -> None:
        if self.case is None or not ids:
            self.statusBar().showMessage("Nothing to analyse: add images to the case first.", 5000)
            return
        if self._analysis_job is not None:
            self.statusBar().showMessage("An analysis is already running.", 5000)
            return
        panel = self.analysisPanel
        panel.errorList.clear()
        panel.errorList.hide()
        for eid in ids:
            self.evidenceModel.update(eid, busy=True, error=None)
        job = Job(jobs.analysis_job, self.case, list(ids), self.detectors, panel.modelCombo.currentData(),
                  panel.modeCombo.currentData() or "paper", self.prefs.device, panel.precisionCombo.currentData() or "auto",
                  max(1, int(self.prefs.batch_size)), wanted=lambda: self._current_id, force=force, name="analysis")
        self._analysis_job = job
        self._analysis_ids = list(ids)
        self._analysis_failed = 0
        self._analysis_done = 0
        self._analysis_was_cancelled = False
        job.signals.progress.connect(self._analysis_progress)
        job.signals.item.connect(self._analysis_item)
        job.signals.itemFailed.connect(self._analysis_item_failed)
        job.signals.succeeded.connect(self._analysis_succeeded)
        job.signals.failed.connect(self._analysis_failed_all)
        job.signals.cancelled.connect(self._analysis_cancelled)
        job.signals.finished.connect(self._analysis_finished)
        self._set_progress(0, len(ids) * jobs.PROGRESS_SCALE)
        panel.progressLabel.setText(f"Starting analysis of {len(ids)} image(s)…")
        self.runner.start(job)
        self._update_actions()

    def cancel(self) -> None:
        if self._analysis_job is not None:
            self._analysis_job.cancel()
            self.analysisPanel.progressLabel.setText("Cancelling after the current batch…")
        if self._ingest_job is not None:
            self._ingest_job.cancel()

    def _set_progress(self, done: int, total: int) -> None:
        bar = self.analysisPanel.progressBar
        total = max(1, total)
        if bar.maximum() != total:
            bar.setRange(0, total)
        bar.setValue(min(done, total))

    def _analysis_progress(self, done: int, total: int, message: str) -> None:
        self._set_progress(done, total)
        self.analysisPanel.progressLabel.setText(message)

    def _analysis_item(self, key, value) -> None:
        if key == "device":
            self.deviceStatus.setText(f"Device: {value}")
            self.analysisPanel.deviceLabel.setText(str(value))
            return
        done: jobs.AnalysisDone = value
        self._analysis_done += 1
        self.evidenceModel.update(done.evidence_id, busy=False, score=done.score, error=None)
        cached = self._display_cache.get(done.evidence_id)
        if cached is not None:
            if done.overlay is not None:
                cached.overlay, cached.analysis = done.overlay, done.record
            else:
                self._display_cache.pop(done.evidence_id, None)
        if done.evidence_id == self._current_id:
            if done.overlay is not None and cached is not None:
                self._show(cached)
            elif done.overlay is not None and self._display_job is not None \
                    and self._display_job_id == done.evidence_id:
                self._pending_overlays[done.evidence_id] = done  # merged when the image is decoded
            else:
                self._load_display(done.evidence_id)

    def _analysis_cancelled(self) -> None:
        self._analysis_was_cancelled = True
        total = len(self._analysis_ids)
        left = total - self._analysis_done - self._analysis_failed
        text = (f"Cancelled: {self._analysis_done} of {total} analysed"
                + (f", {self._analysis_failed} failed" if self._analysis_failed else "")
                + f", {left} not analysed" + (" (Analysis > Analyse remaining)" if left else ""))
        self._set_progress(self._analysis_done + self._analysis_failed, total)
        self.analysisPanel.progressLabel.setText(text)
        self.statusBar().showMessage(text, 8000)

    def _analysis_item_failed(self, key, message: str) -> None:
        self._analysis_failed += 1
        self.evidenceModel.update(key, busy=False, error=message)
        self.analysisPanel.add_error(message)
        self.statusBar().showMessage(message, 8000)

    def _analysis_succeeded(self, counts) -> None:
        done, failed = counts.get("done", 0), counts.get("failed", 0)
        text = f"Analysed {done} image(s)" + (f", {failed} failed" if failed else "")
        if counts.get("up_to_date"):
            text += f", {counts['up_to_date']} already up to date"
            if not done and not failed:
                text = "Every image already has an up-to-date analysis with this model and mode."
        self.analysisPanel.progressLabel.setText(text)
        self.statusBar().showMessage(text, 8000)

    def _analysis_failed_all(self, message: str) -> None:
        self.analysisPanel.add_error(message)
        self.analysisPanel.progressLabel.setText(f"Analysis failed: {message}")
        self._error("Analysis failed", message, modal=False)

    def _analysis_finished(self) -> None:
        for eid in self._analysis_ids:
            row = self.evidenceModel.get(eid)
            if row is not None and row.busy:
                self.evidenceModel.update(eid, busy=False)
        self._analysis_job = None
        if not self._analysis_was_cancelled:
            bar = self.analysisPanel.progressBar
            bar.setValue(bar.maximum())  # a batch that ran to its end (some items may have failed) is complete
        self._update_actions()
        self.analysisFinished.emit(self._analysis_done, self._analysis_failed)

    # ============================================================================== display ==
    def _current_changed(self, current, _previous) -> None:
        eid = current.data(IdRole) if current.isValid() else None
        self.select_evidence(eid)

    def select_evidence(self, eid: str | None) -> None:
        if eid == self._current_id:
            return
        self.flush_finding()
        self._current_id = eid
        self.layers.item_changed()
        # The previous image's score and probe must never sit beside this one, even for a moment.
        self._current_overlay = None
        self.overlayPanel.set_readout_source(None, None)
        self.overlayPanel.set_probe(-1, -1, None)
        if eid is None or self.case is None:
            self.viewer.set_content(None, None)
            self.findingPanel.set_finding(None, enabled=False)
            self.metadataView.clear()
            return
        row = self.evidenceModel.row_of(eid)
        if row >= 0 and self.evidenceList.currentIndex().row() != row:
            self.evidenceList.selectionModel().setCurrentIndex(self.evidenceModel.index(row),
                                                               QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self._show_finding(eid)
        self._update_finding_scope()
        self._show_metadata(eid, None)
        cached = self._display_cache.get(eid)
        if cached is not None:
            self._display_cache.move_to_end(eid)
            self._show(cached)
        else:
            self._load_display(eid)

    def _load_display(self, eid: str) -> None:
        if self._display_job is not None:
            self._display_job.cancel()
        panel = self.analysisPanel
        job = Job(jobs.load_display_job, self.case, eid, panel.modelCombo.currentData(),
                  panel.modeCombo.currentData(), name="display")
        self._display_job = job
        self._display_job_id = eid
        self._pending_overlays.pop(eid, None)
        self.statusBar().showMessage("Loading image…")
        job.signals.succeeded.connect(self._display_loaded)
        job.signals.failed.connect(lambda msg, eid=eid: self._display_failed(eid, msg))
        job.signals.finished.connect(lambda j=job: self._display_job_finished(j))
        self.runner.start(job)

    def _display_job_finished(self, job: Job) -> None:
        if self._display_job is job:
            self._display_job = None

    def _display_loaded(self, data: jobs.DisplayData) -> None:
        done = self._pending_overlays.pop(data.evidence_id, None)
        if done is not None:  # analysed while the image was being decoded
            data.overlay, data.analysis = done.overlay, done.record
        self._display_cache[data.evidence_id] = data
        self._display_cache.move_to_end(data.evidence_id)
        while len(self._display_cache) > DISPLAY_CACHE:
            self._display_cache.popitem(last=False)
        if data.evidence_id == self._current_id:
            self._show(data)
        self.statusBar().clearMessage()

    def _display_failed(self, eid: str, message: str) -> None:
        if eid == self._current_id:
            self.viewer.set_content(None, None)
            self._current_overlay = None
            self.overlayPanel.set_readout_source(None, None)
            self.viewer.show_message(f"Cannot display this image: {_without_case_path(message, self.case)}")
        self.evidenceModel.update(eid, error=message)
        self.statusBar().showMessage(message, 8000)

    def _show(self, data: jobs.DisplayData) -> None:
        same_image = self.viewer.view.image is data.image
        if same_image:
            self.viewer.set_overlay(data.overlay)
        else:
            self.viewer.set_content(data.image, data.overlay)
        self._current_overlay = data.overlay
        if data.overlay is not None:
            self.overlayPanel.set_readout_source(data.overlay.score, data.overlay.flagged_fraction)
        else:
            self.overlayPanel.set_readout_source(None, None)
        self._show_metadata(data.evidence_id, data.analysis)
        self.layers.item_changed()  # the learned map is on screen: the layer selector says so
        self.displayReady.emit(data.evidence_id)

    def _style_changed(self, style: OverlayStyle) -> None:
        prev, self._last_style = self._last_style, style
        self.viewer.set_style(style)
        self.actionToggleOriginal.setChecked(style.mode is DisplayMode.ORIGINAL)
        # A recorded finding keeps the threshold and opacity it is being viewed at, so the report
        # shows what the examiner saw; an unreviewed image is not written to for a slider move.
        if (prev is not None and (prev.threshold, prev.opacity) != (style.threshold, style.opacity)
                and self.layers.shown is None  # moving a layer's threshold does not edit the finding
                and (self.findingPanel.status() != FINDING_STATUSES[0] or self.findingPanel.note().strip())):
            self._finding_edited(800)

    def _toggle_original(self) -> None:
        st = self.overlayPanel.style()
        if st.mode is DisplayMode.ORIGINAL:
            self.overlayPanel.set_mode(getattr(self, "_mode_before_original", DisplayMode.HEAT))
        else:
            self._mode_before_original = st.mode
            self.overlayPanel.set_mode(DisplayMode.ORIGINAL)

    def _hovered(self, x: int, y: int) -> None:
        ov = self._current_overlay
        value = ov.value_at(x, y) if (ov is not None and x >= 0) else None
        self.overlayPanel.set_probe(x, y, value)

    def _show_metadata(self, eid: str, analysis: dict | None) -> None:
        if self.case is None:
            return
        try:
            item = self.case.item(eid)
        except Exception:
            return
        row = self.evidenceModel.get(eid)
        md = dict(item.metadata or {})
        sections = {
            "Integrity": {"state": (row.integrity if row and row.integrity != "not checked"
                                    else "not verified this session (File > Verify integrity)"),
                          "sha256": item.sha256, "md5": item.md5, "size (bytes)": item.size},
            "File": {"evidence id": item.id, "file": item.file_name, "original name": item.original_name,
                     "original path": item.original_path, "original modified (UTC)": item.original_mtime_utc,
                     "ingested (UTC)": item.ingested_utc, "format": item.format,
                     "dimensions": f"{item.width} x {item.height}"},
        }
        if analysis:
            meta = analysis.get("metadata") or {}
            sections["Analysis"] = {"score": analysis.get("score"), "model": analysis.get("model_id"),
                                    "mode": analysis.get("mode"), "stored (UTC)": analysis.get("stored_utc"),
                                    "device": meta.get("device_name"), "precision": meta.get("precision"),
                                    "dtype": meta.get("dtype"), "decoder dtype": meta.get("decoder_dtype"),
                                    "weights": meta.get("weights"), "timings": meta.get("timings")}
        exif = md.pop("exif", None)
        sections["Image metadata"] = md
        if exif:
            sections["EXIF"] = exif
        self.metadataView.show_sections(sections)

    # ============================================================================= findings ==
    def _show_finding(self, eid: str) -> None:
        self._loading_finding = True
        unsaved = self._unsaved_findings.get(eid)
        try:
            f = self.case.finding(eid)
            self.findingPanel.set_finding(f.to_dict(), enabled=not self.case.readonly)
            if unsaved is not None:  # an edit whose save failed: show it again, still unsaved
                self.findingPanel.set_edit(*unsaved)
                self.findingPanel.mark_unsaved("the last save failed; it is tried again when you leave this image")
            if f.threshold is not None or f.opacity is not None:
                st = self.overlayPanel.style()
                self.overlayPanel.set_style(st.with_(
                    threshold=f.threshold if f.threshold is not None else st.threshold,
                    opacity=f.opacity if f.opacity is not None else st.opacity))
        finally:
            self._loading_finding = False
        self._finding_dirty = unsaved is not None

    def _update_finding_scope(self) -> None:
        n = len(self.evidenceList.selectionModel().selectedIndexes())
        self.findingPanel.set_scope(self._current_id, n)

    def _finding_edited(self, delay_ms: int) -> None:
        if self._loading_finding or self._current_id is None:
            return
        self._finding_dirty = True
        self._finding_timer.start(delay_ms)

    def flush_finding(self, sync: bool = False) -> None:
        if self._finding_dirty:
            self.save_finding(sync=sync)

    def save_finding(self, sync: bool = False) -> None:
        """Record status + note with the current threshold and opacity in the case (and its audit log).

        Runs in a worker so a case write never blocks the window, unless `sync` (closing)."""
        self._finding_timer.stop()
        if self.case is None or self._current_id is None:
            return
        st = self.layers.finding_style(self.overlayPanel.style())  # a layer's threshold is not the finding's
        panel = self.analysisPanel
        cached = self._display_cache.get(self._current_id)
        rec = cached.analysis if cached is not None and cached.analysis else {}
        args = (self.case, self._current_id, self.findingPanel.status(), self.findingPanel.note(),
                round(st.threshold, 2), round(st.opacity, 2), rec.get("model_id"),
                rec.get("mode") or panel.modeCombo.currentData())
        self._finding_dirty = False
        eid = self._current_id
        # Kept until the case confirms the write, so a failed save is shown again, never lost.
        self._unsaved_findings[eid] = (args[2], args[3])
        if sync:
            try:
                f = jobs.save_finding_job(None, *args)
            except Exception as exc:
                self._finding_failed(eid, str(exc))
                return
            self._finding_saved(f)
            return
        job = Job(jobs.save_finding_job, *args, name="finding")
        job.signals.succeeded.connect(self._finding_saved)
        job.signals.failed.connect(lambda msg, eid=eid: self._finding_failed(eid, msg))
        self.runner.start(job)

    def _finding_saved(self, finding) -> None:
        eid = finding.evidence_id
        if self._unsaved_findings.get(eid) == (finding.status, finding.note):
            del self._unsaved_findings[eid]
        self.evidenceModel.update(eid, status=finding.status)  # the list shows only what the case holds
        panel = self.findingPanel
        if eid == self._current_id and (panel.status(), panel.note()) == (finding.status, finding.note):
            self._finding_dirty = False
            panel.set_saved(finding.to_dict())
        self.statusBar().showMessage(f"Finding saved for {eid}: {finding.status}", 4000)
        self.findingSaved.emit(eid)

    def _finding_failed(self, eid: str, message: str) -> None:
        if eid not in self._unsaved_findings:  # a later save of this image has already succeeded
            return
        if eid == self._current_id:
            self._finding_dirty = True  # the next switch or close tries again
            self.findingPanel.mark_unsaved(message.splitlines()[0] if message else "the case could not be written")
        self._error("Finding not saved", f"The finding for {eid} was not saved: {message}", modal=False)

    # ============================================================================ integrity ==
    def verify_case(self) -> None:
        if self.case is None:
            return
        job = Job(jobs.verify_job, self.case, name="verify")
        job.signals.progress.connect(lambda d, t, m: self.statusBar().showMessage(f"Verifying: {d}/{t}"))
        job.signals.succeeded.connect(self._verified)
        job.signals.failed.connect(lambda msg: self._error("Verification failed", msg))
        self.runner.start(job)

    def _verified(self, report) -> None:
        bad = {p.evidence_id: ("missing" if p.kind == "evidence_missing" else "modified")
               for p in report.problems if p.evidence_id and p.kind.startswith("evidence")}
        for row in self.evidenceModel.rows():
            self.evidenceModel.update(row.id, integrity=bad.get(row.id, "ok"))
        if self._current_id:
            cached = self._display_cache.get(self._current_id)
            self._show_metadata(self._current_id, cached.analysis if cached else None)
        if report.ok:
            self.statusBar().showMessage(f"Integrity OK: {report.checked_files} file(s), "
                                         f"{report.audit_entries} audit entries.", 8000)
        else:
            self._error("Integrity problems", "\n".join(str(p) for p in report.problems[:20]), modal=False)

    # ========================================================================= other dialogs ==
    def export_report(self) -> None:
        if self.case is None:
            return
        self.flush_finding(sync=True)
        try:
            from declip_desktop import report_export
        except ImportError:
            self._error("Export report", "The report module is not available in this build.", modal=False)
            return
        report_export.export_report_interactive(self)

    def model_manager(self) -> None:
        from declip_desktop.dialogs.model_manager import ModelManagerDialog

        dlg = ModelManagerDialog(self)
        dlg.finished.connect(lambda *_: self._fill_models())
        dlg.finished.connect(dlg.deleteLater)
        dlg.open()
        return dlg

    def import_model(self) -> None:
        dlg = self.model_manager()
        if dlg is not None:
            QTimer.singleShot(0, dlg.import_official)

    def train_dialog(self) -> None:
        try:
            from declip_desktop.dialogs.trainer import TrainerDialog
        except ImportError as exc:
            self._error("Trainer", f"The trainer is not available in this build ({exc}).", modal=False)
            return
        dlg = TrainerDialog(self)
        dlg.finished.connect(lambda *_: self._fill_models())
        dlg.finished.connect(dlg.deleteLater)
        dlg.open()

    def about(self) -> None:
        from declip_desktop.dialogs.about import AboutDialog

        dlg = AboutDialog(self)
        dlg.finished.connect(dlg.deleteLater)
        dlg.open()

    def validate_installation(self) -> None:
        from declip_desktop.dialogs.validation import ValidationDialog

        dlg = ValidationDialog(self.runner, self)  # runs in a worker; the dialog shows PASS/FAIL per item
        dlg.finished.connect(dlg.deleteLater)
        dlg.open()

    # ================================================================================ misc ==
    def _start(self, job: Job, connect: Callable[[Job], None] | None = None) -> Job:
        if connect:
            connect(job)
        return self.runner.start(job)

    def _error(self, title: str, message: str, modal: bool = False) -> None:
        """Errors never block: a window-modal box (non-blocking) plus the status bar."""
        self.statusBar().showMessage(f"{title}: {message.splitlines()[0] if message else ''}", 10000)
        if os.environ.get("DECLIP_NO_DIALOGS"):
            return
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        box.setObjectName("errorBox")
        box.finished.connect(box.deleteLater)
        box.open()

    def closeEvent(self, event) -> None:  # noqa: N802
        self._save_state()
        self.close_case()
        self.runner.cancel_all()
        self.runner.wait(30000)
        super().closeEvent(event)


def _without_case_path(message: str, case) -> str:
    """Messages name files inside the case by their place in it, not the case's full path."""
    if case is None:
        return message
    return message.replace(str(case.path) + os.sep, "").replace(str(case.path), "the case folder")


def _scroll(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "examiner"


def _case_class():
    try:
        from declip_desktop.case import Case
    except ImportError:
        from declip_desktop.case.case_folder import Case
    return Case


def _preload_engine() -> None:
    try:
        import engine.detector  # noqa: F401  (torch, open_clip, timm)
        import torch
    except Exception:
        return
    # Leave one core to the GUI thread: on small CPU-only machines torch would otherwise take
    # every core and the window would stutter while a batch runs.
    cores = os.cpu_count() or 1
    if cores <= 8 and torch.get_num_threads() >= cores > 1:
        torch.set_num_threads(cores - 1)


def _device_guess() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f"GPU: {torch.cuda.get_device_name(0)}"
    except Exception:
        pass
    return "CPU"
