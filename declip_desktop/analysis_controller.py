"""Owns the running analysis: the job, its counters, progress and the signals the window and
the display controller follow. The model never runs on the GUI thread (jobs.analysis_job runs
in a worker); this only turns the job's signals into cheap widget updates."""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from declip_desktop import jobs
from declip_desktop.analysis_modes import working_resolution
from declip_desktop.evidence_model import IdRole
from declip_desktop.workers import Job


class AnalysisController(QObject):
    itemStored = Signal(object)  # jobs.AnalysisDone
    finished = Signal(int, int)  # done, failed
    runningChanged = Signal(bool)

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.panel = win.analysisPanel
        self.job: Job | None = None
        self.ids: list[str] = []
        self.done = self.failed = 0
        self.cancelled = False
        self.input_sizes: dict[str | None, int] = {}
        self.panel.modeCombo.currentIndexChanged.connect(lambda *_: self.update_resolution())
        self.panel.modelCombo.currentIndexChanged.connect(lambda *_: self.update_resolution())

    @property
    def running(self) -> bool:
        return self.job is not None

    # -- models ---------------------------------------------------------------------------------
    def fill_models(self) -> None:
        combo = self.panel.modelCombo
        combo.blockSignals(True)
        combo.clear()
        self.input_sizes = {}
        try:
            from engine.store import ModelStore

            store = ModelStore()
            default = store.default_id
            entries = store.list()
            for e in entries:
                if e.status == "ready":
                    combo.addItem(e.card.name + (" (default)" if e.card.id == default else ""), e.card.id)
                    self.input_sizes[e.card.id] = int((e.card.input or {}).get("size") or 448)
            from declip_desktop.dialogs.release_offer import add_release_items

            add_release_items(combo, entries)
            combo.setCurrentIndex(max(combo.findData(default), 0))
        except Exception as exc:  # the store is unreadable: analysis falls back to the default id
            self.win.statusBar().showMessage(f"Model store: {exc}", 8000)
        if combo.count() == 0:
            combo.addItem("Default model", None)
        combo.blockSignals(False)

    def model_input_size(self) -> int:
        return self.input_sizes.get(self.panel.modelCombo.currentData(), 448)

    # -- what to analyse --------------------------------------------------------------------------
    def selected_ids(self) -> list[str]:
        win = self.win
        rows = sorted(i.row() for i in win.evidenceList.selectionModel().selectedIndexes())
        ids = [win.evidenceModel.index(r).data(IdRole) for r in rows]
        if not ids and win.display.current_id:
            ids = [win.display.current_id]
        return ids

    def analyze_selected(self) -> None:
        self.analyze(self.selected_ids())

    def analyze_all(self) -> None:
        self.analyze([r.id for r in self.win.evidenceModel.rows()])

    def analyze_remaining(self) -> None:
        if self.win.case is None:
            return
        # The job applies the case's one up-to-date rule (case.analysis_run), as `declip case analyze` does.
        self.analyze([r.id for r in self.win.evidenceModel.rows()], force=False)

    def analyze(self, ids: list[str], force: bool = True) -> None:
        win, panel = self.win, self.panel
        if win.case is None or not ids:
            win.statusBar().showMessage("Nothing to analyse: add images to the case first.", 5000)
            return
        if self.job is not None:
            win.statusBar().showMessage("An analysis is already running.", 5000)
            return
        # A failed run's message goes; an item's failure stays until that item is analysed (the
        # list still marks it ERROR), and the ingest warnings stay.
        win.problemsPanel.clear_key("analysis", None)
        for eid in ids:
            win.evidenceModel.update(eid, busy=True, error=None)
        job = Job(jobs.analysis_job, win.case, list(ids), win.detectors, panel.modelCombo.currentData(),
                  panel.modeCombo.currentData() or "paper", win.prefs.device,
                  panel.precisionCombo.currentData() or "auto", max(1, int(win.prefs.batch_size)),
                  wanted=lambda: win.display.current_id, force=force, name="analysis")
        self.job, self.ids = job, list(ids)
        self.done = self.failed = 0
        self.cancelled = False
        job.on(progress=self._progress, item=self._item, itemFailed=self._item_failed, succeeded=self._succeeded,
               failed=self._failed_all, cancelled=self._cancelled, finished=self._finished)
        panel.set_progress(0, len(ids) * jobs.PROGRESS_SCALE)
        panel.progressLabel.setText(f"Starting analysis of {len(ids)} image(s)…")
        win.runner.start(job)
        self.runningChanged.emit(True)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.panel.progressLabel.setText("Cancelling after the current batch…")

    def update_resolution(self) -> None:
        """The working resolution of the chosen mode for the selected image, with its cost."""
        win = self.win
        eid = win.display.current_id
        text = ""
        if win.case is not None and eid is not None:
            try:
                item = win.case.item(eid)
                text = working_resolution(item.width, item.height, self.panel.modeCombo.currentData() or "paper",
                                          self.model_input_size(), self._seconds_per_window())
            except Exception:
                text = ""
        self.panel.resolutionLabel.setText(text or "Select an image to see the size it is analysed at.")

    def _seconds_per_window(self) -> float | None:
        """From this case's tiled analyses: their recorded time per window on this machine's runs."""
        for rec in reversed(self.win.display.records()):
            md = rec.get("metadata") or {}
            tiles = (md.get("tiling") or {}).get("tiles")
            total = (md.get("timings") or {}).get("total_s")
            if tiles and total:
                return float(total) / float(tiles)
        return None

    # -- job signals ----------------------------------------------------------------------------
    def _progress(self, done: int, total: int, message: str) -> None:
        self.panel.set_progress(done, total)
        self.panel.progressLabel.setText(message)

    def _item(self, key, value) -> None:
        if key == "device":
            self.win.show_device(str(value))
            return
        done: jobs.AnalysisDone = value
        self.done += 1
        self.win.evidenceModel.update(done.evidence_id, busy=False, error=None)
        self.win.problemsPanel.clear_key("analysis", done.evidence_id)  # analysed now: no longer a problem
        self.itemStored.emit(done)

    def _item_failed(self, key, message: str) -> None:
        self.failed += 1
        self.win.evidenceModel.update(key, busy=False, error=message)
        self.win.problemsPanel.clear_key("analysis", key)  # its latest failure only, not one per try
        self.win.problemsPanel.add("analysis", message, key)
        self.win.statusBar().showMessage(message, 8000)

    def _cancelled(self) -> None:
        self.cancelled = True
        total = len(self.ids)
        left = total - self.done - self.failed
        text = (f"Cancelled: {self.done} of {total} analysed"
                + (f", {self.failed} failed" if self.failed else "")
                + f", {left} not analysed" + (" (Analysis > Analyse remaining)" if left else ""))
        self.panel.set_progress(self.done + self.failed, total)
        self.panel.progressLabel.setText(text)
        self.win.statusBar().showMessage(text, 8000)

    def _succeeded(self, counts) -> None:
        done, failed = counts.get("done", 0), counts.get("failed", 0)
        text = f"Analysed {done} image(s)" + (f", {failed} failed" if failed else "")
        if counts.get("up_to_date"):
            text += f", {counts['up_to_date']} already up to date"
            if not done and not failed:
                text = "Every image already has an up-to-date analysis with this model and mode."
        self.panel.progressLabel.setText(text)
        self.win.statusBar().showMessage(text, 8000)

    def _failed_all(self, message: str) -> None:
        self.win.problemsPanel.add("analysis", message)
        self.panel.progressLabel.setText(f"Analysis failed: {message}")
        self.win.report_error("Analysis failed", message)

    def _finished(self) -> None:
        for eid in self.ids:
            row = self.win.evidenceModel.get(eid)
            if row is not None and row.busy:
                self.win.evidenceModel.update(eid, busy=False)
        self.job = None
        if not self.cancelled:
            bar = self.panel.progressBar
            bar.setValue(bar.maximum())  # a batch that ran to its end (some items may have failed) is complete
        self.runningChanged.emit(False)
        self.finished.emit(self.done, self.failed)
