"""Owns the examiner's finding for the displayed image: showing it, autosave, unsaved edits, flush.

A finding is written in a worker (a case write never blocks the window), except when the caller
must know it is on disk (closing, exporting). An edit whose save failed is kept and shown again,
never lost. The finding also records which stored analysis is displayed (the switcher).
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from declip_desktop import jobs
from declip_desktop.docks.finding_dock import FINDING_STATUSES
from declip_desktop.workers import Job
from engine.overlay import DEFAULT_THRESHOLD


class FindingsController(QObject):
    saved = Signal(str)  # evidence id
    recorded = Signal(object)  # the Finding as the case now holds it

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.panel = win.findingPanel
        self.dirty = False
        self._loading = False
        self._unsaved: dict[str, tuple[str, str]] = {}  # evidence id -> (status, note) not yet written
        self._timer = QTimer(self, singleShot=True, interval=800)
        self._timer.timeout.connect(self.save)
        self.panel.saveRequested.connect(self.save)
        self.panel.findingStatusCombo.currentIndexChanged.connect(lambda *_: self.edited(0))
        self.panel.findingNoteEdit.textChanged.connect(lambda: self.edited(800))

    @property
    def current_id(self) -> str | None:
        return self.win.display.current_id

    def show(self, eid: str | None) -> None:
        """The item's finding in the panel, and its threshold and opacity on the overlay controls.
        An item without a recorded threshold shows the case default (what the report uses)."""
        if eid is None or self.win.case is None:
            self.panel.set_finding(None, enabled=False)
            self.dirty = False
            return
        case = self.win.case
        self._loading = True
        unsaved = self._unsaved.get(eid)
        try:
            f = case.finding(eid)
            self.panel.set_finding(f.to_dict(), enabled=not case.readonly)
            if unsaved is not None:  # an edit whose save failed: show it again, still unsaved
                self.panel.set_edit(*unsaved)
                self.panel.mark_unsaved("the last save failed; it is tried again when you leave this image")
            ov = self.win.overlayPanel
            st = ov.style()
            ov.set_style(st.with_(threshold=f.threshold if f.threshold is not None else DEFAULT_THRESHOLD,
                                  opacity=f.opacity if f.opacity is not None else st.opacity))
        finally:
            self._loading = False
        self.dirty = unsaved is not None

    def edited(self, delay_ms: int) -> None:
        if self._loading or self.current_id is None:
            return
        self.dirty = True
        self._timer.start(delay_ms)

    def style_changed(self, prev, style) -> None:
        # A recorded finding keeps the threshold and opacity it is being viewed at, so the report
        # shows what the examiner saw; an unreviewed image is not written to for a slider move.
        if (prev is not None and (prev.threshold, prev.opacity) != (style.threshold, style.opacity)
                and self.win.layers.shown is None  # moving a layer's threshold does not edit the finding
                and (self.panel.status() != FINDING_STATUSES[0] or self.panel.note().strip())):
            self.edited(800)

    def flush(self, sync: bool = False) -> None:
        if self.dirty:
            self.save(sync=sync)

    def save(self, sync: bool = False, ref: jobs.AnalysisRef | None = None) -> None:
        """Record status + note with the current threshold and opacity, crediting the displayed
        analysis (or `ref`, when the examiner switches to another one)."""
        self._timer.stop()
        win = self.win
        eid = self.current_id
        if win.case is None or eid is None:
            return
        st = win.layers.finding_style(win.overlayPanel.style())  # a layer's threshold is not the finding's
        if ref is None:
            ref = win.display.displayed_ref(eid)
        args = (win.case, eid, self.panel.status(), self.panel.note(), round(st.threshold, 2),
                round(st.opacity, 2), ref.model_id if ref else None, ref.mode if ref else None)
        self.dirty = False
        # Kept until the case confirms the write, so a failed save is shown again, never lost.
        self._unsaved[eid] = (args[2], args[3])
        if sync:
            try:
                f = jobs.save_finding_job(None, *args)
            except Exception as exc:
                self._failed(eid, str(exc))
                return
            self._saved(f)
            return
        job = Job(jobs.save_finding_job, *args, name="finding")
        job.signals.succeeded.connect(self._saved)
        job.signals.failed.connect(lambda msg, eid=eid: self._failed(eid, msg))
        win.runner.start(job)

    def _saved(self, finding) -> None:
        eid = finding.evidence_id
        if self._unsaved.get(eid) == (finding.status, finding.note):
            del self._unsaved[eid]
        self.win.evidenceModel.update(eid, status=finding.status)  # the list shows only what the case holds
        if eid == self.current_id and (self.panel.status(), self.panel.note()) == (finding.status, finding.note):
            self.dirty = False
            self.panel.set_saved(finding.to_dict())
        self.win.statusBar().showMessage(f"Finding saved for {eid}: {finding.status}", 4000)
        self.recorded.emit(finding)
        self.saved.emit(eid)

    def pins_recorded(self, finding) -> None:
        """A pin (Overlay dock) rewrote the finding: its pinned list and, unless the panel holds
        edits not yet saved, its saved line show what the case now holds."""
        if finding.evidence_id != self.current_id:
            return
        self.panel.set_pinned(list(finding.layers))
        if not self.dirty and (self.panel.status(), self.panel.note()) == (finding.status, finding.note):
            self.panel.set_saved(finding.to_dict())

    def _failed(self, eid: str, message: str) -> None:
        if eid not in self._unsaved:  # a later save of this image has already succeeded
            return
        if eid == self.current_id:
            self.dirty = True  # the next switch or close tries again
            self.panel.mark_unsaved(message.splitlines()[0] if message else "the case could not be written")
        self.win.report_error("Finding not saved", f"The finding for {eid} was not saved: {message}")
