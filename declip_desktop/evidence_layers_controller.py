"""Shows evidence layers in the viewer: the layer selector's choice is computed (or read back)
in a worker, stored in the case through case/evidence_layers.py (hashed and audited like the
learned map), and drawn with the overlay dock's threshold, opacity, colour map and display mode.
Each layer opens at its own default threshold; `clones` also draws its source/target pairs
(the scene items are in layer_graphics.py).

The window is reached only through the narrow `LayerHost` below, so the wiring stays a few lines.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import QObject, Signal

from declip_desktop.docks.layer_panel import LEARNED, LayerPanel
from declip_desktop.layer_graphics import ClonePairsItem, RegionItem
from declip_desktop.workers import Job, JobContext
from engine.errors import DeclipError
from engine.evidence.outputs import without_name


@dataclass
class LayerHost:
    """What the controller needs from the window."""

    case: Callable[[], object]                 # the open case or None
    runner: object                             # workers.JobRunner
    viewer: object                             # viewer.ViewerPane
    overlay_panel: object                      # docks.overlay_dock.OverlayPanel
    current_id: Callable[[], str | None]
    show_learned: Callable[[], None]           # put the item's learned map back on screen
    set_overlay: Callable[[object], None]      # the map the cursor readout reads (MapPyramid or None)
    describe: Callable[[str | None], None] = lambda text: None  # says elsewhere which layer is on screen
    failing: Callable[[], set] = set           # layers of the item that failed the last verification
    stored_record: Callable[[str, dict], None] = lambda eid, record: None  # a layer (re)stored in the case
    show_record: Callable[[dict | None], None] = lambda record: None  # the drawn layer's record (metadata dock)
    reveal: Callable[[], None] = lambda: None  # bring the layer details (how to read, pairs) to the front
    reveal_corroboration: Callable[[], None] = lambda: None  # bring the corroboration table to the front
    hovered: Callable[[int, int], None] = lambda x, y: None  # the cursor readout for the map on the right


@dataclass
class LayerShown:
    evidence_id: str
    layer: str
    overlay: object          # MapPyramid
    record: dict             # model_id, mode, score, stored_utc, metadata


def layer_job(ctx: JobContext, case, evidence_id: str, layer: str, force: bool = False,
              params: dict | None = None) -> LayerShown:
    """Compute `layer` for one item unless the case already holds it up to date (force: it failed
    verification, so it is computed again), then read it back. params: set beside the layer's defaults
    (the clone method); None takes whatever is stored."""
    from declip_desktop.case.evidence_layers import store_layers
    from declip_desktop.pyramid import MapPyramid
    from engine.evidence import EvidenceError

    ctx.progress(0, 0, f"{layer}: computing…")
    item = case.item(evidence_id)
    if not case.readonly:
        run = store_layers(case, [item], [layer], force=force, cancel=ctx.cancelled,
                           params=None if params is None else {layer: params})
        if run.not_applicable:
            raise EvidenceError(run.not_applicable[0][2])
        if run.failed:
            raise DeclipError(run.failed[0][2])
    ctx.check_cancel()
    sa = case.analysis_for(evidence_id, model_id=f"evidence-{layer}", mode="evidence")
    if sa is None:
        raise DeclipError(f"{evidence_id}: layer {layer} is not stored in this read-only case")
    ctx.progress(0, 0, f"{layer}: reading the map…")
    overlay = MapPyramid.from_probability(sa.probability, sa.score)
    record = {"model_id": sa.model_id, "mode": sa.mode, "score": sa.score, "stored_utc": sa.stored_utc,
              "metadata": sa.metadata}
    return LayerShown(evidence_id, layer, overlay, record)


def pin_job(ctx: JobContext, case, evidence_id: str, layers: list[str]):
    """Record the layers pinned to the finding (its status and note kept); logged like any finding edit."""
    return case.set_finding(evidence_id, case.finding(evidence_id).status, layers=layers)


def corroboration_job(ctx: JobContext, case, evidence_id: str, learned_threshold: float):
    """Regions of the learned map (at `learned_threshold`) and of every stored layer (at its default
    threshold), each with the maps that agree."""
    from engine.evidence.corroboration import corroborate

    finding = case.finding(evidence_id)
    analyses = case.analyses(evidence_id)
    learned = [a for a in analyses if a.mode != "evidence"]
    named = [a for a in learned if (finding.model_id in (None, a.model_id)) and (finding.mode in (None, a.mode))]
    maps = {}
    best = max(named or learned, key=lambda a: a.stored_utc or "", default=None)
    if best is not None:
        maps["learned map"] = (best.probability, learned_threshold)
    for a in analyses:
        ctx.check_cancel()
        if a.mode == "evidence":
            md = a.metadata or {}
            maps[md.get("layer") or a.model_id] = (a.probability, float(md.get("default_threshold", 0.5)))
    if len(maps) < 2:
        raise DeclipError("nothing to compare: analyse the item or compute at least two layers first")
    return evidence_id, corroborate(maps)


class EvidenceLayersController(QObject):
    layerShown = Signal(str, str)  # evidence id, layer (LEARNED for the learned map)
    layerFailed = Signal(str, str)  # layer, one-line message
    besideShown = Signal(str, str)  # evidence id, layer drawn beside
    corroborated = Signal(str, list)  # evidence id, FlaggedRegion rows
    pinnedChanged = Signal(str, list)  # evidence id, the finding's pinned layers (as the case now holds them)
    findingRecorded = Signal(object)  # the Finding a pin wrote (the Finding dock shows its time and pins)

    def __init__(self, panel: LayerPanel, host: LayerHost, parent: QObject | None = None):
        super().__init__(parent)
        self.panel, self.host = panel, host
        self.shown: LayerShown | None = None
        self._job: Job | None = None
        self._pairs_item: ClonePairsItem | None = None
        self._learned: tuple | None = None   # (map pyramid, threshold) on screen before a layer replaced it
        self._learned_eid: str | None = None  # the item they belong to
        panel.layerChosen.connect(self.choose)
        panel.cancelRequested.connect(self._cancel_by_user)
        panel.pairChosen.connect(self._draw_pairs)
        panel.pinToggled.connect(self.pin)
        panel.methodChosen.connect(self.choose_clone_method)
        panel.corroborateButton.clicked.connect(self.corroborate)
        panel.besideChosen.connect(self.beside)
        panel.regionChosen.connect(self._draw_region)
        self._region_item: RegionItem | None = None
        self._beside_pairs: ClonePairsItem | None = None  # clone pairs drawn in the side-by-side left view
        host.overlay_panel.styleChanged.connect(lambda *_: self._style_beside())
        host.overlay_panel.styleChanged.connect(lambda *_: self._describe())
        host.overlay_panel.styleChanged.connect(lambda st: panel.set_side_by_side(st.mode.value == "side_by_side"))
        self._beside: tuple | None = None   # (name, map pyramid, threshold) drawn in the side-by-side view
        self._beside_job: Job | None = None

    # -- the window tells us ---------------------------------------------------------------------
    def item_changed(self) -> None:
        """Another item is on screen, or the same one shown afresh (a new analysis stored): it opens
        on its learned map, and for the same item at the threshold it had before a layer was shown
        (another item's threshold is its finding's, set before this is called)."""
        self.cancel()
        layer_was_on = self.shown is not None
        self._clear()
        if layer_was_on and self._learned is not None and self._learned_eid == self.host.current_id():
            panel = self.host.overlay_panel
            panel.set_style(panel.style().with_(threshold=self._learned[1]))
        self._learned = None
        self._title(None)
        self.panel.set_layer(LEARNED, emit=False)
        self._set_beside(None)
        self.panel.besideCombo.blockSignals(True)
        self.panel.besideCombo.setCurrentIndex(0)
        self.panel.besideCombo.blockSignals(False)
        self.panel.set_status("")
        case, eid = self.host.case(), self.host.current_id()
        stored = set()
        if case is not None and eid is not None:
            try:
                stored = {a.model_id[len("evidence-"):] for a in case.analyses(eid) if a.mode == "evidence"}
            except Exception:  # an unreadable item shows its error elsewhere
                stored = set()
        self.panel.set_stored(stored, self.host.failing())
        self._show_pinned(None)
        self.panel.set_corroboration(None)

    def corroborate(self) -> None:
        case, eid = self.host.case(), self.host.current_id()
        if case is None or eid is None:
            return
        f = case.finding(eid)
        # the learned map at the examiner's threshold: the one recorded, else the one on screen
        t = f.threshold if f.threshold is not None else (self.host.overlay_panel.style().threshold
                                                         if self.shown is None else 0.5)
        job = Job(corroboration_job, case, eid, float(t), name="corroboration")
        job.signals.succeeded.connect(self._corroborated)
        job.signals.failed.connect(lambda msg: self.panel.set_status(f"Compare maps: {msg}"))
        self.host.runner.start(job)

    def _corroborated(self, result) -> None:
        eid, regions = result
        if eid == self.host.current_id():
            self.panel.set_corroboration(regions)
            self.host.reveal_corroboration()
            self.corroborated.emit(eid, regions)

    def _pinned(self) -> list[str]:
        case, eid = self.host.case(), self.host.current_id()
        try:
            return list(case.finding(eid).layers) if case is not None and eid is not None else []
        except Exception:
            return []

    def _show_pinned(self, shown: str | None) -> None:
        case = self.host.case()
        self.panel.set_pinned(self._pinned(), shown, can_pin=case is not None and not case.readonly)

    def pin(self, checked: bool) -> None:
        """Pin (or unpin) the shown layer to the current item's finding, in a worker."""
        case, eid = self.host.case(), self.host.current_id()
        if case is None or eid is None or self.shown is None:
            return
        layer = self.shown.layer
        layers = [n for n in self._pinned() if n != layer] + ([layer] if checked else [])
        job = Job(pin_job, case, eid, layers, name="finding")
        job.signals.succeeded.connect(self._pinned_saved)
        job.signals.failed.connect(lambda msg: (self.panel.set_status(f"Pin not saved: {msg}"),
                                                self._show_pinned(layer)))
        self.host.runner.start(job)

    def _pinned_saved(self, finding) -> None:
        if finding.evidence_id == self.host.current_id():
            self._show_pinned(self.shown.layer if self.shown else None)
        self.findingRecorded.emit(finding)
        self.pinnedChanged.emit(finding.evidence_id, list(finding.layers))

    def finding_style(self, style):
        """The style a finding records: while a layer is on screen the slider holds that layer's
        threshold, but the finding keeps the learned map's (the one it was recorded on)."""
        if self.shown is not None and self._learned is not None:
            return style.with_(threshold=self._learned[1])
        return style

    # -- the examiner chooses ----------------------------------------------------------------------
    def choose_clone_method(self, method: str) -> None:
        """Compute `clones` with the other method and show it (it replaces the stored layer)."""
        if self.shown is None or self.shown.layer != "clones":
            return
        if ((self.shown.record.get("metadata") or {}).get("parameters") or {}).get("method") == method:
            return
        self.choose("clones", {"method": method})

    def choose(self, layer: str, params: dict | None = None) -> None:
        self.cancel()
        case, eid = self.host.case(), self.host.current_id()
        if layer == LEARNED or case is None or eid is None:
            self._clear()
            self.panel.set_status("")
            self._show_pinned(None)
            if layer == LEARNED:
                self._restore_learned()
            return
        failing = layer in self.host.failing()
        if failing and case.readonly:
            self.panel.set_status(f"{layer}: the stored layer fails verification and this read-only case cannot "
                                  "store it again; it is not shown.")
            return
        job = Job(layer_job, case, eid, layer, failing, params, name="evidence-layer")
        self._job = job
        self.panel.set_busy(f"{layer}: computing…")
        job.signals.progress.connect(lambda _d, _t, msg: self.panel.set_busy(msg) if self._job is job else None)
        job.signals.succeeded.connect(self._done)
        path = str(case.item(eid).path)   # a refusal starts with it: the item on screen is the one meant
        job.signals.failed.connect(lambda msg, layer=layer, job=job: self._failed(job, layer, msg, path))
        job.signals.cancelled.connect(lambda job=job: self._cancelled(job))
        job.signals.finished.connect(lambda job=job: self._finished(job))
        self.host.runner.start(job)

    def cancel(self) -> None:
        if self._job is not None:
            self._job.cancel()
            self._job = None
            self.panel.set_busy(None)
            self.panel.set_status("Cancelled: nothing was stored.")

    def _cancel_by_user(self) -> None:
        if self._job is not None:
            self.cancel()
            self._selector_to_shown()

    def _selector_to_shown(self) -> None:
        """A layer that was refused or cancelled is not on screen: the Map selector goes back to the
        map that is (it stayed on the refused name while the learned map or another layer was drawn)."""
        self.panel.set_layer(self.shown.layer if self.shown is not None else "", emit=False)

    # -- results ----------------------------------------------------------------------------------
    def _done(self, shown: LayerShown) -> None:
        if shown.evidence_id != self.host.current_id() or self.panel.layer() != shown.layer:
            return  # the examiner moved on meanwhile
        self.shown = shown
        md = shown.record.get("metadata") or {}
        panel = self.host.overlay_panel
        st = panel.style()
        if self._learned is None:  # what to put back when the examiner returns to the learned map
            item = self.host.viewer.view.overlay_item
            self._learned = (item.pyramid if item is not None else None, st.threshold)
            self._learned_eid = shown.evidence_id
        panel.set_style(st.with_(threshold=float(md.get("default_threshold", st.threshold))))  # each layer's own
        self.host.viewer.set_overlay(shown.overlay)
        self.host.set_overlay(shown.overlay)
        _readouts(panel, shown.overlay, shown.layer)
        self.panel.show_layer(md)
        self.panel.set_status("")  # the Analysis dock says what is shown, its parameters and when it was stored
        stored = {self.panel.layerCombo.itemData(i) for i in range(1, self.panel.layerCombo.count())
                  if not self.panel.layerCombo.itemText(i).endswith("(compute)")}
        self.host.stored_record(shown.evidence_id, shown.record)  # a recomputed layer no longer fails
        self.host.show_record(shown.record)
        self.panel.set_stored(stored | {shown.layer}, self.host.failing())
        self._draw_pairs(-1)
        self._describe()
        self.host.reveal()
        self._title(shown.layer)
        self._show_pinned(shown.layer)
        self.layerShown.emit(shown.evidence_id, shown.layer)

    # -- side by side: a second map in the left view ----------------------------------------------------
    def twin_hovered(self, x: int, y: int) -> None:
        """The cursor over the left view reads the map drawn there, named, not the one on the right."""
        if self._beside is None:
            self.host.hovered(x, y)  # the original: the right-hand map's value at the same pixel
            return
        name, overlay, _threshold = self._beside
        value = overlay.value_at(x, y) if x >= 0 else None
        self.host.overlay_panel.set_probe(x, y, value, source=name)

    def beside(self, name) -> None:
        if self._beside_job is not None:
            self._beside_job.cancel()
            self._beside_job = None
        case, eid = self.host.case(), self.host.current_id()
        if name is None or case is None or eid is None:
            self._set_beside(None)
            if self.panel.layerStatusLabel.text().startswith("Beside"):  # about a map no longer beside
                self.panel.set_status("")
            return
        if name == LEARNED:
            item = self.host.viewer.view.overlay_item
            learned = self._learned[0] if self._learned is not None else (item.pyramid if item is not None else None)
            if learned is None:
                self.panel.set_status("Beside: this item has no learned map yet")
                self._set_beside(None)
            else:
                self._set_beside(("learned map", learned, self.host.overlay_panel.style().threshold
                                  if self._learned is None else self._learned[1]))
                score = getattr(learned, "score", None)  # the line must never name the previous map
                self.panel.set_status("Beside: learned map" + (f", score {score:.3f}" if score is not None else ""))
            return
        job = Job(layer_job, case, eid, name, name="evidence-layer")
        self._beside_job = job
        self.panel.set_busy(f"{name} (beside): computing…")
        job.signals.succeeded.connect(lambda s, job=job: self._beside_done(job, s))
        job.signals.failed.connect(lambda msg, name=name: self.panel.set_status(f"Beside, {name}: {msg}"))
        job.signals.finished.connect(lambda job=job: self._beside_finished(job))
        self.host.runner.start(job)

    def _beside_done(self, job: Job, shown: LayerShown) -> None:
        if self._beside_job is not job or shown.evidence_id != self.host.current_id():
            return
        md = shown.record.get("metadata") or {}
        self._set_beside((shown.layer, shown.overlay, float(md.get("default_threshold", 0.5))),
                         (md.get("details") or {}).get("pairs") or [], (md.get("details") or {}).get("fills") or [])
        self.panel.set_status(f"Beside: {shown.layer}, score {shown.record.get('score', 0):.3f}")
        self.besideShown.emit(shown.evidence_id, shown.layer)

    def _beside_finished(self, job: Job) -> None:
        if self._beside_job is job:
            self._beside_job = None
            if self._job is None:
                self.panel.set_busy(None)

    def _set_beside(self, beside: tuple | None, pairs: list | None = None, fills: list | None = None) -> None:
        """(name, map, threshold) in the left view, with `pairs` drawn over it when it is `clones`."""
        from PySide6.QtWidgets import QLabel

        self._beside = beside
        viewer = self.host.viewer
        if self._beside_pairs is not None:
            self._beside_pairs.scene() and self._beside_pairs.scene().removeItem(self._beside_pairs)
            self._beside_pairs = None
        if beside is not None and (pairs or fills):
            self._beside_pairs = ClonePairsItem(pairs or [], fills=fills)
            viewer.twin.scene().addItem(self._beside_pairs)
        title = viewer.twin_box.findChild(QLabel)
        if title is not None:
            title.setText("Original" if beside is None else f"{beside[0]} (threshold {beside[2]:.2f})")
        viewer.twin.set_overlay(beside[1] if beside else None, self._beside_style())

    def _beside_style(self):
        from declip_desktop.overlay_style import DisplayMode

        st = self.host.overlay_panel.style()
        # the left view shows its own map as a heat map at that map's own threshold
        return st.with_(mode=DisplayMode.HEAT, threshold=self._beside[2] if self._beside else st.threshold)

    def _style_beside(self) -> None:
        if self._beside is not None:
            self.host.viewer.twin.set_style(self._beside_style())

    def _title(self, layer: str | None) -> None:
        """The right view's title in the side-by-side display names the map it shows."""
        title = getattr(self.host.viewer, "view_title", None)
        if title is not None:
            title.setText("Overlay" if not layer else f"{layer} (overlay)")

    def _restore_learned(self) -> None:
        if self._learned is None:
            self.host.show_learned()
            return
        overlay, threshold = self._learned
        self._learned = None
        self._title(None)
        panel = self.host.overlay_panel
        panel.set_style(panel.style().with_(threshold=threshold))
        self.host.viewer.set_overlay(overlay)
        self.host.set_overlay(overlay)
        _readouts(panel, overlay)
        self.layerShown.emit(self.host.current_id() or "", LEARNED)

    def _failed(self, job: Job, layer: str, message: str, path: str | None = None) -> None:
        if self._job is job:
            self.panel.set_status(f"{layer}: {without_name(message, path)}")
            self._selector_to_shown()
            self.layerFailed.emit(layer, message)

    def _cancelled(self, job: Job) -> None:
        if self._job is job:
            self.panel.set_status("Cancelled: nothing was stored.")

    def _finished(self, job: Job) -> None:
        if self._job is job:
            self._job = None
            self.panel.set_busy(None)

    # -- drawing ----------------------------------------------------------------------------------
    def _draw_pairs(self, selected: int) -> None:
        from engine.evidence.clone_coverage import flat_rects

        scene = self.host.viewer.view.scene()
        if self._pairs_item is not None:
            scene.removeItem(self._pairs_item)
            self._pairs_item = None
        md = (self.shown.record.get("metadata") or {}) if self.shown else {}
        details = md.get("details") or {}
        pairs = details.get("pairs") or []
        fills = details.get("fills") or []
        flat = flat_rects(details, self.shown.overlay.height, self.shown.overlay.width) if self.shown else []
        if pairs or flat or fills:
            self._pairs_item = ClonePairsItem(pairs, selected, flat, fills)
            scene.addItem(self._pairs_item)

    def _describe(self) -> None:
        """'ela (Error level analysis), threshold 0.50 (its default 0.5); quality=90, window=9' for the
        Analysis dock, at the threshold now on the slider; None when the learned map is shown."""
        if self.shown is None:
            self.host.describe(None)
            return
        md = self.shown.record.get("metadata") or {}
        items = [f"{k}={v}" for k, v in (md.get("parameters") or {}).items()]
        # the first few parameters; all of them are in the Evidence layer dock (clones has a dozen)
        params = ", ".join(items[:3]) + (f", … ({len(items)} in all)" if len(items) > 3 else "") \
            if items else "default parameters"
        self.host.describe(f"{self.shown.layer} at threshold {self.host.overlay_panel.style().threshold:.2f} "
                           f"(default {md.get('default_threshold', '–')}); {params}")

    def _draw_region(self, box) -> None:
        """The corroboration row selected: its box on the image, and the view centred on it."""
        if self._region_item is not None:
            self._region_item.scene() and self._region_item.scene().removeItem(self._region_item)
            self._region_item = None
        if not box:
            return
        view = self.host.viewer.view
        self._region_item = RegionItem(box)
        view.scene().addItem(self._region_item)
        view.centerOn(self._region_item.rect().center())

    def _clear(self) -> None:
        self.shown = None
        self.host.describe(None)
        self.host.show_record(None)
        self.panel.show_layer(None)
        if self._pairs_item is not None:
            self._pairs_item.scene() and self._pairs_item.scene().removeItem(self._pairs_item)
            self._pairs_item = None


def _readouts(panel, overlay, layer: str | None = None) -> None:
    if overlay is None:
        panel.set_readout_source(None, None)
    elif layer:   # a layer's 0-1 scale is its own measure (a strength, a squashed z-score), not a probability
        from engine import evidence

        panel.set_readout_source(overlay.score, overlay.flagged_fraction,
                                 caption=f"{layer} map value (its own scale)",
                                 meaning=evidence.info(layer).score_meaning)
    else:         # the learned map again: its reach greys out what it never reaches, as when first shown
        panel.set_readout_source(overlay.score, overlay.flagged_fraction, getattr(overlay, "max_value", None))


def wire_layers(win, current_id: Callable[[], str | None], show_learned: Callable[[], None],
                set_overlay: Callable[[object], None]) -> EvidenceLayersController:
    """Connect the window's layer selector (`win.layerPanel`, built with the docks) to the case:
    `win` gives case, runner, viewer, overlayPanel, analysisPanel, display and the layer dock; the
    callables say which item is on screen, put its learned map back, and set the map the cursor
    readout reads."""
    dock = win._docks["layer"]
    host = LayerHost(case=lambda: win.case, runner=win.runner, viewer=win.viewer, overlay_panel=win.overlayPanel,
                     current_id=current_id, show_learned=show_learned, set_overlay=set_overlay,
                     describe=win.analysisPanel.set_layer_shown,
                     failing=lambda: {r.model_id[len("evidence-"):] for r in win.display.untrusted(current_id() or "")
                                      if r.mode == "evidence"},
                     stored_record=win.display.record_stored, show_record=win.display.show_layer_metadata,
                     reveal=dock.raise_,  # a closed dock stays closed; a tab behind Metadata comes forward
                     reveal_corroboration=win._docks["corroboration"].raise_, hovered=win.display.hovered)
    return EvidenceLayersController(win.layerPanel, host, win)
