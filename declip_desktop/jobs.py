"""The work the GUI hands to background threads: ingest, thumbnails, analysis, display loads,
findings. Each is a plain function `fn(ctx, ...)` run by workers.Job; none touches a widget.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PySide6.QtGui import QImage

from declip_desktop.pyramid import ImagePyramid, MapPyramid
from declip_desktop.workers import JobContext, one_line
from engine.errors import Cancelled, DeclipError, ImageError

PROGRESS_SCALE = 100  # progress units per image, so tiles can move the bar within an image


# -- model loading ----------------------------------------------------------------------------------
class DetectorCache:
    """Keeps loaded detectors across batches (loading weights is the slow part)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._detectors: dict[tuple, Any] = {}

    def get(self, model_id: str | None, device: str = "auto", precision: str = "auto"):
        key = (model_id, device, precision)
        with self._lock:
            det = self._detectors.get(key)
            if det is None:
                from engine import Detector

                det = Detector.from_model(model_id, device=device, precision=precision)
                self._detectors = {key: det}  # one model in memory at a time
            return det

    def clear(self) -> None:
        with self._lock:
            self._detectors.clear()


# -- ingest and thumbnails ------------------------------------------------------------------------
def ingest_job(ctx: JobContext, case, paths: list[str], thumb_size: int = 192):
    """Copy and hash `paths` into the case; then thumbnails of what was added."""
    return _announced(ctx, case, case.add_paths(paths, progress=ctx.progress, cancel=ctx.cancelled), thumb_size)


def resume_ingest_job(ctx: JobContext, case, thumb_size: int = 192):
    """Index what an interrupted ingest logged but never indexed, from the case's own copies."""
    return _announced(ctx, case, case.resume_ingest(), thumb_size)


def _announced(ctx: JobContext, case, report, thumb_size: int):
    """Each added item to the window, then their thumbnails; the report."""
    for item in report.added:
        ctx.item(("added", item.id), item)
    thumbnails_job(ctx, case, [it.id for it in report.added], thumb_size, check_cancel=False)
    return report


def thumbnails_job(ctx: JobContext, case, ids: list[str], size: int = 192, check_cancel: bool = True):
    for eid in ids:
        if check_cancel and ctx.cancelled():
            break
        try:
            img = QImage(str(case.thumbnail(eid, size)))
        except Exception as exc:  # a bad image still gets a row; its error shows on analysis
            ctx.item_failed(("thumb", eid), one_line(exc))
            continue
        if not img.isNull():
            ctx.item(("thumb", eid), img)
    return len(ids)


# -- display ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnalysisRef:
    """One stored analysis of an item: the case keeps one per (model, mode); stored_utc tells runs apart."""

    model_id: str
    mode: str
    stored_utc: str | None = None

    @classmethod
    def of(cls, sa) -> "AnalysisRef | None":
        return None if sa is None else cls(sa.model_id, sa.mode, sa.stored_utc)

    @classmethod
    def of_record(cls, record: dict) -> "AnalysisRef":
        return cls(record.get("model_id"), record.get("mode"), record.get("stored_utc"))


@dataclass
class DisplayData:
    """What one display load brought: the item's image (None when it was already held) and the
    map of `ref` with its stored record (None when the item has no analysis)."""

    evidence_id: str
    image: ImagePyramid | None
    ref: AnalysisRef | None
    overlay: MapPyramid | None
    analysis: dict | None  # stored record: model_id, mode, score, stored_utc, metadata


def as_stored(prob: np.ndarray) -> np.ndarray:
    """The map exactly as the case stores it (16-bit), so the screen shows the values a later
    load, the report and the cursor readout all give, not the pre-storage float ones."""
    from engine.mapio import encode_u16

    return (encode_u16(prob).astype(np.float32) / 65535.0).astype(np.float32)


def build_overlay(prob: np.ndarray, score: float | None) -> MapPyramid:
    return MapPyramid.from_probability(prob, score)


def analysis_record(sa) -> dict:
    return {"model_id": sa.model_id, "mode": sa.mode, "score": sa.score, "stored_utc": sa.stored_utc,
            "metadata": sa.metadata}


def load_display_job(ctx: JobContext, case, evidence_id: str, ref: AnalysisRef | None, need_image: bool = True):
    """Decode the evidence copy (if `need_image`) and the map of `ref`, into pyramids ready to draw."""
    from engine.images import load_image, to_array

    item = case.item(evidence_id)
    image = None
    if need_image:
        loaded = load_image(item.path)
        ctx.check_cancel()
        image = ImagePyramid.from_array(to_array(loaded))
        del loaded
        ctx.check_cancel()
    sa = case.analysis_for(evidence_id, ref.model_id, ref.mode) if ref is not None else None
    if sa is None:
        return DisplayData(evidence_id, image, None, None, None)
    prob = sa.probability
    expected = (image.height, image.width) if image is not None else (item.height, item.width)
    if None not in expected and prob.shape != expected:
        raise DeclipError(f"{item.file_name}: stored map is {prob.shape[1]}x{prob.shape[0]}, "
                          f"image is {expected[1]}x{expected[0]}")
    return DisplayData(evidence_id, image, AnalysisRef.of(sa), build_overlay(prob, sa.score), analysis_record(sa))


# -- analysis ------------------------------------------------------------------------------------------
@dataclass
class AnalysisDone:
    evidence_id: str
    score: float
    overlay: MapPyramid | None  # built only for the image on screen (or small ones)
    record: dict


def analysis_job(ctx: JobContext, case, ids: list[str], detectors: DetectorCache, model_id: str | None,
                 mode: str, device: str, precision: str, batch_size: int,
                 wanted: Callable[[], str | None] = lambda: None, force: bool = True):
    """Analyse evidence items through the case's one use case (case.analysis_run.run_analysis):
    the same up-to-date rule and audit entries as `declip case analyze`. Each result is stored as
    soon as it exists; a bad image is reported with ctx.item_failed and the batch goes on.
    force=False skips items already up to date ("Analyse remaining"). Returns counts."""
    from declip_desktop.case.analysis_run import run_analysis

    n = len(ids)
    total = n * PROGRESS_SCALE
    ctx.progress(0, total, "loading model…")
    det = detectors.get(model_id, device, precision)
    ctx.item("device", det.device_name)
    ctx.check_cancel()
    items = [case.item(i) for i in ids]
    position = {it.id: k for k, it in enumerate(items)}

    def shown(done) -> None:
        item, idx = done.item, position[done.item.id]
        if done.error:
            ctx.item_failed(item.id, f"{item.file_name}: {done.error}")
        else:
            sa, outcome = done.stored, done.result
            overlay = None
            if wanted() == item.id or outcome.probability.size <= 4_000_000:
                overlay = build_overlay(as_stored(outcome.probability), sa.score)
            record = analysis_record(sa)
            ctx.item(item.id, AnalysisDone(item.id, float(outcome.score), overlay, record))
        ctx.progress((idx + 1) * PROGRESS_SCALE, total, f"{idx + 1}/{n} {item.file_name}")

    run = run_analysis(case, det, items, mode, on_item=shown, cancel=ctx.cancelled, force=force,
                       results=lambda todo: _results(ctx, det, todo, mode, batch_size, position, total))
    return {"done": len(run.analysed), "failed": len(run.failed), "up_to_date": len(run.up_to_date)}


def _results(ctx: JobContext, det, items: list, mode: str, batch_size: int, position: dict, total: int):
    """Results in item order: batches in paper mode (faster), one by one with tile progress when tiled."""
    n = len(position)
    if mode.startswith("tiled"):  # tiled and tiled-full (analysis_modes.engine_args)
        for item in items:
            ctx.check_cancel()
            idx = position[item.id]
            ctx.progress(idx * PROGRESS_SCALE, total, f"{idx + 1}/{n} {item.file_name}")

            def tile_progress(done, tot, _msg, idx=idx, name=item.file_name):
                frac = done / tot if tot else 0
                ctx.progress(idx * PROGRESS_SCALE + int(frac * (PROGRESS_SCALE - 1)), total,
                             f"{idx + 1}/{n} {name}: tile {done}/{tot}")

            yield _analyze_one(det, item, mode, tile_progress, ctx.cancelled, batch_size)
        return
    k = 0
    try:
        for outcome in det.analyze_many([it.path for it in items], mode=mode, batch_size=max(1, batch_size),
                                        cancel=ctx.cancelled):
            yield outcome
            k += 1
    except Cancelled:
        raise
    except Exception:  # something beyond one bad image (e.g. out of memory): go one by one
        for item in items[k:]:
            ctx.check_cancel()
            yield _analyze_one(det, item, mode, None, ctx.cancelled, 1)


def _analyze_one(det, item, mode, progress, cancel, batch_size):
    from declip_desktop.analysis_modes import engine_args

    engine_mode, kwargs = engine_args(mode)
    if engine_mode == "tiled":
        kwargs["batch_size"] = batch_size
    try:
        return det.analyze(item.path, mode=engine_mode, progress=progress, cancel=cancel, **kwargs)
    except Cancelled:
        raise
    except Exception as exc:  # per-image failure: reported, the batch goes on
        return exc


# -- findings -----------------------------------------------------------------------------------------
def save_finding_job(ctx: JobContext, case, evidence_id: str, status: str, note: str, threshold: float,
                     opacity: float, model_id: str | None, mode: str | None):
    return case.set_finding(evidence_id, status, note, threshold, opacity, model_id=model_id, mode=mode)


@dataclass
class Verified:
    """A verification, with the stored analyses it found altered or unlogged (as the viewer knows
    them): the report excludes those, and the viewer marks them and never displays them as results."""

    report: Any  # case.records.VerifyReport
    untrusted: set  # {(evidence id, AnalysisRef)}


def verify_job(ctx: JobContext, case) -> Verified:
    report = case.verify(progress=ctx.progress)
    bad = set(getattr(report, "untrusted_analyses", None) or [])
    untrusted = {(sa.evidence_id, AnalysisRef.of(sa)) for sa in case.analyses() if str(sa.json_path) in bad} if bad else set()
    return Verified(report, untrusted)


__all__ = ["DetectorCache", "ingest_job", "thumbnails_job", "load_display_job", "analysis_job",
           "save_finding_job", "verify_job", "Verified", "DisplayData", "AnalysisRef", "AnalysisDone", "PROGRESS_SCALE", "ImageError"]
