"""The one "analyse this case" use case, shared by every front end.

`declip case analyze` (case/cli.py) and the GUI's analysis job (jobs.py) are thin adapters around
run_analysis(): the same up-to-date rule (evidence hash + weights + model + mode, and a record the
audit log vouches for) and the same audit entries, so a run from either can be read and reproduced
the same way. Front ends only choose how results are produced (one by one with tile progress, or
in batches) and how each finished item is shown.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from engine.errors import Cancelled

from .analyses import is_logged, logged_records, run_started_details
from .records import EvidenceItem, StoredAnalysis

if TYPE_CHECKING:
    from .case_folder import Case

# One result (or the exception that replaced it) per item, in order.
Producer = Callable[[list[EvidenceItem]], Iterable[Any]]

# Files that declare far more pixels than their bytes could hold (14000x14000 in 940 bytes) decode
# to gigabytes: said before analysis, so a long run is not a mystery.
HUGE_PIXELS = 50_000_000
MIN_BYTES_PER_MP = 2_000


@dataclass
class ItemDone:
    """What on_item receives for each analysed item: stored (and result) or error."""

    index: int
    total: int
    item: EvidenceItem
    stored: StoredAnalysis | None = None
    result: Any = None
    error: str | None = None


@dataclass
class RunSummary:
    model_id: str | None
    mode: str
    todo: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    analysed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def weights_of(det: Any) -> list[str] | None:
    """The weights (file, sha256) a detector runs with: every file that runs, the packaged backbone
    included, as its describe() records them in each result."""
    try:
        described = det.describe().get("weights") if hasattr(det, "describe") else None
    except Exception:
        described = None
    if not described:
        described = getattr(getattr(det, "card", None), "files", None)
    if not described:
        return None
    try:
        return sorted(json.dumps(x, sort_keys=True, default=str) for x in described)
    except TypeError:
        return None


def same_weights(stored: list | None, current: list[str] | None) -> bool:
    if stored is None or current is None:
        return True  # nothing to compare: model id and mode decide
    try:
        a = sorted(str(x.get("sha256")) for x in stored)
        b = sorted(str(json.loads(x).get("sha256")) for x in current)
    except (AttributeError, TypeError, ValueError):
        return True
    return a == b or not all(b)


def same_tiling(stored: Any, asked: dict | None) -> bool:
    """True unless a tile setting was asked for ({"stride": px, "scale": s}) and the stored analysis
    records another one (its scale rounded to 6 decimals, as engine.tiling stores it)."""
    if not asked:
        return True
    stored = stored if isinstance(stored, dict) else {}
    if "stride" in asked and stored.get("stride") != asked["stride"]:
        return False
    return "scale" not in asked or stored.get("scale") == round(float(asked["scale"]), 6)


def plan(case: "Case", det: Any, items: list[EvidenceItem], mode: str,
         force: bool = False, tiling: dict | None = None) -> tuple[list[EvidenceItem], list[EvidenceItem]]:
    """(to analyse, up to date). Up to date: an analysis with this model and mode, of these exact
    evidence bytes, made with the same weights, with the tile settings asked for (if any), and recorded
    in the audit log with this record (an analysis a killed run stored but never logged is redone)."""
    model_id = model_id_of(det)
    if force or not model_id:
        return list(items), []
    weights = weights_of(det)
    logged = logged_records(case.audit_entries())
    todo, current = [], []
    for it in items:
        old = case.analysis_for(it.id, model_id=model_id, mode=mode)
        ok = (old is not None and old.record.get("evidence_sha256") == it.sha256
              and same_weights(old.metadata.get("weights"), weights)
              and same_tiling(old.metadata.get("tiling"), tiling) and is_logged(old, logged))
        (current if ok else todo).append(it)
    return todo, current


def model_id_of(det: Any) -> str | None:
    return getattr(getattr(det, "card", None), "id", None)


def dimension_warning(item: EvidenceItem) -> str | None:
    """A note for a small file that declares a huge image (a decompression bomb or a broken header)."""
    px = int(item.width or 0) * int(item.height or 0)
    if px < HUGE_PIXELS or item.size >= px / 1e6 * MIN_BYTES_PER_MP:
        return None
    from engine.images import MAX_PIXELS

    return (f"{item.id} declares {item.width}x{item.height} ({px / 1e6:.0f} MP) in only {item.size} bytes: "
            f"decoding it needs about {px * 12 / 1e9:.1f} GB of memory and may take minutes; images above "
            f"{MAX_PIXELS / 1e6:.0f} MP are refused (DECLIP_MAX_PIXELS)")


def analyze_each(det: Any, mode: str, cancel: Callable[[], bool] | None = None,
                 progress: Callable[[int, EvidenceItem, int, int], None] | None = None,
                 tiling: dict | None = None) -> Producer:
    """The plain producer: one image at a time; progress(index, item, tiles done, tiles).
    tiling: {"stride": px, "scale": s} as `declip analyze --tile-stride/--tile-scale` (tiled mode)."""
    extra = {f"tile_{k}": v for k, v in (tiling or {}).items()} if mode == "tiled" else {}

    def produce(items: list[EvidenceItem]) -> Iterator[Any]:
        for n, it in enumerate(items):
            if cancel is not None and cancel():
                raise Cancelled("analysis cancelled")
            cb = (lambda done, tot, _msg, n=n, it=it: progress(n, it, done, tot)) if progress else None
            try:
                yield det.analyze(it.path, mode=mode, progress=cb, cancel=cancel, **extra)
            except (Cancelled, KeyboardInterrupt):
                raise
            except Exception as exc:  # one bad image never stops the batch
                yield exc
    return produce


def error_line(exc: BaseException, item: EvidenceItem) -> str:
    from engine.errors import DeclipError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not isinstance(exc, DeclipError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    p = str(item.path)  # engine messages start with the case copy's path; the id says more
    return text[len(p) + 2:] if text.startswith(p + ": ") else text


def store_error_line(exc: BaseException, item: EvidenceItem) -> str:
    """Why a result could not be stored: a full disk or an I/O error says so in words."""
    if isinstance(exc, OSError):
        return f"cannot write the case folder: {exc.strerror or exc}"
    return error_line(exc, item)


def run_analysis(case: "Case", detector: Any, items: list[EvidenceItem], mode: str,
                 on_item: Callable[[ItemDone], None] | None = None, cancel: Callable[[], bool] | None = None,
                 force: bool = False, results: Producer | None = None, tiling: dict | None = None) -> RunSummary:
    """Analyse the items that are not up to date (all with force), store each result as soon as it
    exists and log the run. One bad image never stops the batch. A cancel (Cancelled) or Ctrl+C
    logs 'analysis_run_interrupted' and propagates."""
    model_id = model_id_of(detector)
    todo, current = plan(case, detector, items, mode, force, tiling)
    summary = RunSummary(model_id, mode, [it.id for it in todo], [it.id for it in current])
    case.log("analysis_run_started", run_started_details(detector, model_id, mode,
                                                         getattr(detector, "precision", None) or "auto",
                                                         summary.todo, force) | {"up_to_date": summary.up_to_date}
             | ({"tiling": dict(tiling)} if tiling else {}))
    produce = results or analyze_each(detector, mode, cancel, tiling=tiling)
    total = len(todo)

    def fail(n: int, it: EvidenceItem, msg: str) -> None:
        summary.failed.append(it.id)
        case.log("analysis_failed", {"evidence_id": it.id, "model_id": model_id, "mode": mode, "error": msg})
        if on_item is not None:
            on_item(ItemDone(n, total, it, error=msg))

    try:
        runnable = []
        for n, it in enumerate(todo):
            try:
                case.evidence_path(it.id)  # never analyse a planted link
                runnable.append((n, it))
            except Exception as exc:
                fail(n, it, error_line(exc, it))
        outcomes = iter(produce([it for _n, it in runnable]))
        for n, it in runnable:
            try:
                outcome = next(outcomes)
            except StopIteration:
                raise Cancelled("analysis stopped before every item had a result") from None
            if isinstance(outcome, BaseException):
                fail(n, it, error_line(outcome, it))
                continue
            try:
                sa = case.store_analysis(it.id, outcome, model_id=model_id, mode=mode)
            except Exception as exc:  # a result that cannot be stored is a failure of this item, logged
                fail(n, it, f"result not stored ({store_error_line(exc, it)})")
                continue
            summary.analysed.append(it.id)
            if on_item is not None:
                on_item(ItemDone(n, total, it, stored=sa, result=outcome))
    except (Cancelled, KeyboardInterrupt):
        case.log("analysis_run_interrupted", {"model_id": model_id, "mode": mode, "done": len(summary.analysed),
                                              "failed": len(summary.failed), "of": total})
        raise
    case.log("analysis_run_finished", {"model_id": model_id, "mode": mode, "analysed": len(summary.analysed),
                                       "failed": len(summary.failed), "up_to_date": len(summary.up_to_date)})
    return summary
