"""Owns what the viewer shows: which item, which of its stored analyses, image loading, the
caches and maps that arrive while an image is still decoding.

The guarantee: the image, the map and the numbers on screen (score, flagged area, colour-bar
range, metadata, list chip) always belong to the same item and the same stored analysis. Until
a newly selected item's pixels are ready the viewer shows a placeholder naming it, never the
previous item's picture. Which analysis is displayed follows one rule shared with the report
(`case.displayed.displayed_analysis`); the switcher changes it by recording it in the finding.
"""
from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import QItemSelectionModel, QObject, Signal

from declip_desktop import jobs
from declip_desktop.case.displayed import EVIDENCE_LAYER_MODE, pick
from declip_desktop.docks.analysis_dock import analysis_text
from declip_desktop.metadata_presenter import metadata_sections
from declip_desktop.provenance_view import emphasise
from declip_desktop.workers import Job

IMAGE_CACHE = 3  # decoded images kept for instant switching
MAP_CACHE = 6  # maps kept (an item may have several stored analyses)


class DisplayController(QObject):
    displayReady = Signal(str)  # evidence id now fully on screen (image, and map when analysed)

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.current_id: str | None = None
        self.current_overlay = None
        self._images: OrderedDict[str, object] = OrderedDict()
        self._maps: OrderedDict[tuple, tuple] = OrderedDict()  # (eid, ref) -> (MapPyramid, record)
        self._job: Job | None = None
        self._shown: tuple | None = None
        self._layer_record: dict | None = None  # the evidence layer drawn instead of the learned map
        self._notes: dict[str, str] = {}
        self._index: dict[str, dict[jobs.AnalysisRef, dict]] = {}
        self._untrusted: set[tuple[str, jobs.AnalysisRef]] = set()  # failed the last verification

    # -- the rule -------------------------------------------------------------------------------
    # The item's stored analyses are kept here as records (read once at case open, then updated
    # from each finished analysis): asking the case would wait on its lock while a worker writes
    # a map, and the window would stall for that long.
    def load_index(self) -> None:
        self._index = {}
        try:
            analyses = self.win.case.analyses()
        except Exception:
            return
        for sa in analyses:
            self._index.setdefault(sa.evidence_id, {})[jobs.AnalysisRef.of(sa)] = jobs.analysis_record(sa)
        self.refresh_scores()

    def _add_record(self, eid: str, record: dict) -> jobs.AnalysisRef:
        ref = jobs.AnalysisRef.of_record(record)
        refs = self._index.setdefault(eid, {})
        for old in [r for r in refs if (r.model_id, r.mode) == (ref.model_id, ref.mode)]:
            del refs[old]  # the case keeps one analysis per model and mode: the new one replaced it
        refs[ref] = record
        return ref

    def record_stored(self, eid: str, record: dict) -> None:
        """An analysis stored elsewhere (an evidence layer, by the layer selector) joins the index."""
        self._add_record(eid, record)

    def displayed_ref(self, eid: str) -> jobs.AnalysisRef | None:
        case = self.win.case
        if case is None:
            return None
        try:
            finding = case.finding(eid)
        except Exception:
            return None
        # the report's rule: an analysis that failed verification is never the displayed one
        return pick(finding, [r for r in self._index.get(eid, {}) if (eid, r) not in self._untrusted])

    def untrusted(self, eid: str) -> set[jobs.AnalysisRef]:
        """The item's stored analyses that failed the last verification (altered or unlogged)."""
        return {r for r in self._index.get(eid, {}) if (eid, r) in self._untrusted}

    def mark_untrusted(self, untrusted: set) -> None:
        """A verification's result: failing analyses are marked in the list and the switcher, and
        the screen falls back to a trusted one (or to none)."""
        self._untrusted = set(untrusted)
        for key in [k for k in self._maps if k in self._untrusted]:
            del self._maps[key]
        for row in self.win.evidenceModel.rows():
            self.item_changed(row.id)
        if self.current_id is not None:
            self._shown = None
            self.present(self.current_id)

    def stored(self, eid: str) -> list[tuple[jobs.AnalysisRef, dict]]:
        """The item's detector analyses, oldest first (evidence layers are not offered for display)."""
        return sorted(((ref, rec) for ref, rec in self._index.get(eid, {}).items()
                       if ref.mode != EVIDENCE_LAYER_MODE), key=lambda kv: kv[0].stored_utc or "")

    def records(self) -> list[dict]:
        return [rec for refs in self._index.values() for rec in refs.values()]

    def refresh_scores(self) -> None:
        """Every list chip shows its item's displayed analysis."""
        for row in self.win.evidenceModel.rows():
            ref = self.displayed_ref(row.id)
            if ref is not None:
                self.win.evidenceModel.update(row.id, score=self._index[row.id][ref].get("score"))
            elif self.untrusted(row.id):  # only failing analyses: no score is shown for them
                self.win.evidenceModel.update(row.id, score=None)

    # -- selection ------------------------------------------------------------------------------
    def select(self, eid: str | None) -> None:
        if eid == self.current_id:
            return
        win = self.win
        win.findings.flush()
        self.current_id = eid
        self._shown = None
        self._layer_record = None  # a layer drawn over the previous item is not this one's
        self._clear_readouts()
        win.update_actions()  # the view actions (zoom, original only) need an image
        if eid is None or win.case is None:
            win.viewer.set_content(None, None)
            win.findings.show(None)
            win.metadataView.clear()
            win.analysisPanel.set_displayed([], None, no_image=True)
            return
        model = win.evidenceModel
        row = model.row_of(eid)
        if row >= 0 and win.evidenceList.currentIndex().row() != row:
            win.evidenceList.selectionModel().setCurrentIndex(model.index(row),
                                                             QItemSelectionModel.SelectionFlag.ClearAndSelect)
        win.findings.show(eid)
        win.findingPanel.set_scope(eid, len(win.evidenceList.selectionModel().selectedIndexes()))
        win.analysis.update_resolution()
        self.present(eid)

    def present(self, eid: str) -> None:
        """Show `eid` with its displayed analysis, from the caches or after a load."""
        if eid != self.current_id or self.win.case is None:
            return
        win = self.win
        ref = self.displayed_ref(eid)
        self._fill_switcher(eid, ref)
        image = self._images.get(eid)
        if image is not None and (ref is None or (eid, ref) in self._maps):
            self._show(eid, ref)
            return
        self._clear_readouts()
        if image is None:
            # A placeholder naming the new item: the previous picture and map must not stay up.
            win.viewer.set_content(None, None)
            win.viewer.show_message(f"Loading {self._name(eid)}…")
        elif win.viewer.view.image is not image:
            win.viewer.set_content(image, None)
        else:  # the same picture: another analysis's map must not stay up while this one loads
            win.viewer.set_overlay(None)
        self._shown = None
        win.statusBar().showMessage(f"Loading {self._name(eid)}…")
        self._load(eid, ref, need_image=image is None)

    def choose(self, ref: jobs.AnalysisRef | None) -> None:
        """The examiner picked another stored analysis: record it in the finding, then show it."""
        eid, case = self.current_id, self.win.case
        if ref is None or eid is None or case is None or ref == self.displayed_ref(eid):
            return
        if (eid, ref) in self._untrusted:
            self.win.report_error("Displayed analysis", "This analysis failed verification (its map or record "
                                                        "changed after it was stored): it is not shown as a result.")
            self._fill_switcher(eid, self.displayed_ref(eid))
            return
        if case.readonly:
            self.win.report_error("Displayed analysis", "This case is open read-only: the displayed analysis "
                                                        "is the one its finding records and cannot be changed.")
            self._fill_switcher(eid, self.displayed_ref(eid))
            return
        self._notes.pop(eid, None)
        self.win.findings.save(sync=True, ref=ref)
        self.item_changed(eid)

    def item_changed(self, eid: str) -> None:
        """The item's finding or analyses changed: its chip, and the screen when it is shown."""
        ref = self.displayed_ref(eid)
        rec = dict(self.stored(eid)).get(ref) if ref is not None else None
        self.win.evidenceModel.update(eid, score=rec.get("score") if rec else None,
                                      untrusted_analyses=len(self.untrusted(eid)))
        if eid == self.current_id and self._shown != (eid, ref):
            self.present(eid)

    def analysis_stored(self, done: jobs.AnalysisDone) -> None:
        eid = done.evidence_id
        new = self._add_record(eid, done.record)
        if done.overlay is not None:
            self._cache_map(eid, new, done.overlay, done.record)
        shown = self.displayed_ref(eid)
        if shown is not None and shown != new:
            self._notes[eid] = (f"A new analysis was stored ({analysis_text(done.record)}); the finding keeps "
                                f"the one shown. Choose above to switch.")
        if eid == self.current_id:
            self._fill_switcher(eid, shown)
        self.item_changed(eid)

    def reset(self) -> None:
        if self._job is not None:
            self._job.cancel()
        self._job = None
        self.current_id = None
        self._shown = None
        self._layer_record = None
        self._images.clear()
        self._maps.clear()
        self._notes.clear()
        self._index = {}
        self._untrusted = set()
        self._clear_readouts()

    # -- loading --------------------------------------------------------------------------------
    def _load(self, eid: str, ref, need_image: bool) -> None:
        if self._job is not None:
            self._job.cancel()
        job = Job(jobs.load_display_job, self.win.case, eid, ref, need_image, name="display")
        self._job = job
        job.signals.succeeded.connect(self._loaded)
        job.signals.failed.connect(lambda msg, eid=eid: self._failed(eid, msg))
        job.signals.finished.connect(lambda j=job: self._job_finished(j))
        self.win.runner.start(job)

    def _job_finished(self, job: Job) -> None:
        if self._job is job:
            self._job = None

    def _loaded(self, data: jobs.DisplayData) -> None:
        eid = data.evidence_id
        if data.image is not None:
            self._images[eid] = data.image
            self._images.move_to_end(eid)
            while len(self._images) > IMAGE_CACHE:
                self._images.popitem(last=False)
        if data.ref is not None and data.overlay is not None:
            self._add_record(eid, data.analysis)  # e.g. stored meanwhile by `declip case analyze`
            self._cache_map(eid, data.ref, data.overlay, data.analysis)
        self.win.statusBar().clearMessage()
        if eid == self.current_id:
            self.present(eid)

    def _failed(self, eid: str, message: str) -> None:
        win = self.win
        if eid == self.current_id:
            self._clear_readouts()
            win.viewer.set_content(None, None)
            win.viewer.show_message(f"Cannot display {self._name(eid)}: {win.without_case_path(message)}")
        win.evidenceModel.update(eid, error=message)
        win.statusBar().showMessage(message, 8000)

    def _cache_map(self, eid, ref, overlay, record) -> None:
        self._maps[(eid, ref)] = (overlay, record)
        self._maps.move_to_end((eid, ref))
        while len(self._maps) > MAP_CACHE:
            self._maps.popitem(last=False)

    # -- showing --------------------------------------------------------------------------------
    def _show(self, eid: str, ref) -> None:
        win = self.win
        image = self._images[eid]
        self._images.move_to_end(eid)
        overlay, record = self._maps.get((eid, ref), (None, None))
        if win.viewer.view.image is not image:
            win.viewer.set_content(image, overlay)
        elif self._shown != (eid, ref):
            win.viewer.set_overlay(overlay)
        self._shown = (eid, ref)
        self.current_overlay = overlay
        if overlay is not None:
            win.overlayPanel.set_readout_source(overlay.score, overlay.flagged_fraction, overlay.max_value)
            win.evidenceModel.update(eid, score=overlay.score)  # the chip is the displayed analysis
        else:  # an item whose only analyses failed verification is not "not analysed"
            win.overlayPanel.set_readout_source(None, None, absent="its analysis fails verification"
                                                if self.untrusted(eid) else "not analysed")
        self._show_metadata(eid, record)
        win.statusBar().clearMessage()
        self.displayReady.emit(eid)

    def show_layer_metadata(self, record: dict | None) -> None:
        """The evidence layer drawn instead of the learned map (None: the learned map is back): the
        metadata dock then describes that layer first, and names the learned map as not shown."""
        if record is self._layer_record:
            return
        self._layer_record = record
        self.show_metadata()

    def show_metadata(self) -> None:
        if self.current_id is not None:
            rec = self._maps.get(self._shown, (None, None))[1] if self._shown else None
            self._show_metadata(self.current_id, rec)

    def _show_metadata(self, eid: str, record: dict | None) -> None:
        try:
            item = self.win.case.item(eid)
        except Exception:
            return
        row = self.win.evidenceModel.get(eid)
        self.win.metadataView.show_sections(metadata_sections(item, record, row.integrity if row else None,
                                                              layer=self._layer_record))
        emphasise(self.win.metadataView, item.metadata)  # an altered or AI verdict stands out

    def _fill_switcher(self, eid: str, ref) -> None:
        case = self.win.case
        self.win.analysisPanel.set_displayed(self.stored(eid), ref, self._notes.get(eid, ""),
                                             can_switch=case is not None and not case.readonly,
                                             failing=self.untrusted(eid))

    def _clear_readouts(self) -> None:
        # The previous image's score, range and probe must never sit beside another one.
        self.current_overlay = None
        panel = self.win.overlayPanel
        panel.set_readout_source(None, None)
        panel.set_probe(-1, -1, None)

    def hovered(self, x: int, y: int) -> None:
        ov = self.current_overlay
        value = ov.value_at(x, y) if (ov is not None and x >= 0) else None
        self.win.overlayPanel.set_probe(x, y, value)

    def _name(self, eid: str) -> str:
        row = self.win.evidenceModel.get(eid)
        return f"{eid} {row.name}" if row is not None else eid
