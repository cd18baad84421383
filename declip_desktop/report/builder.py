"""build_report: lay out the whole PDF, write it atomically, record its SHA-256."""
from __future__ import annotations

import hashlib
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reportlab import rl_config
from reportlab.platypus import PageBreak, SimpleDocTemplate

from engine.errors import DeclipError
from engine.versions import app_version

from . import appendix, fonts, imaging, provenance_block
from .cover import cover
from .findings import compute
from .item_page import item_section
from .method import method
from .pictures import prepare
from .model import Progress, ReportCase, ReportInfo
from .pages import Furniture, canvas_class
from .styles import MARGIN_BOTTOM, MARGIN_TOP, MARGIN_X, PAGE
from .summary import summary


# Items prepared in parallel (decode, resample, encode). Each holds one full-size map at a time.
WORKERS = int(os.environ.get("DECLIP_REPORT_WORKERS", min(4, os.cpu_count() or 1)))


class ReportError(DeclipError):
    """The report cannot be produced (bad output path, unknown item ...); str() is one line."""


def build_report(case: Any, out_path: str | os.PathLike, threshold: float | None = None,
                 items: list[str] | None = None, progress: Progress | None = None) -> ReportInfo:
    """Write the forensic PDF report of `case` to `out_path`, plus `<out_path>.sha256`.

    case: a case folder path, an open `declip_desktop.case` Case, or a `report.model.ReportCase`.
    threshold: one threshold for every item (None: each item's analyst threshold, else the case default).
    items: item ids or file names to include (None: all, in case order).
    progress(done, total, message) is called as items are laid out.
    When the case has an audit log, the report's SHA-256 is appended to it after writing.
    """
    started = time.perf_counter()
    if threshold is not None and not (0.0 <= float(threshold) <= 1.0):
        raise ReportError(f"threshold {threshold} is outside 0..1")
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".pdf":
        raise ReportError(f"{out_path}: the report file name must end in .pdf")
    if not out_path.parent.exists():
        raise ReportError(f"{out_path.parent}: output folder does not exist")
    from .case_adapter import open_case

    with open_case(case) as (case_obj, rcase):
        return _build(case_obj, rcase, out_path, threshold, items, progress, started,
                      {"open_verify": time.perf_counter() - started})


def _build(case_obj, rcase: ReportCase, out_path: Path, threshold, items, progress, started,
           timings: dict[str, float]) -> ReportInfo:
    from .case_adapter import log_report

    total_items = len(rcase.items)
    chosen = _select(rcase, items)

    fonts.register()
    report_id = str(uuid.uuid4())
    now = datetime.now(timezone.utc).replace(microsecond=0)
    utc = now.strftime("%Y-%m-%d %H:%M:%S UTC")
    local_dt = now.astimezone()
    z = local_dt.strftime("%z")
    local = f"{local_dt.strftime('%Y-%m-%d %H:%M:%S')} {local_dt.tzname() or ''} (UTC{z[:3]}:{z[3:]})"
    app = f"DeCLIP Desktop {app_version()}"

    n = len(chosen)
    step = _progress(progress, n + 2)

    prep_cpu = []

    def prepare_one(i_item):
        i, item = i_item
        t0 = time.thread_time()
        f = compute(rcase, item, i, threshold)
        pics = prepare(f)
        prep_cpu.append(time.thread_time() - t0)
        f.result = f.small_map = None  # maps are no longer needed: memory stays flat over many items
        return f, pics

    findings, sections, thumbs = [], [], {}
    workers = max(1, min(WORKERS, n))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # map() keeps the case order; only the small encoded pictures wait for the layout.
        for k, (f, pics) in enumerate(pool.map(prepare_one, enumerate(chosen, 1)), 1):
            step(k, f"laid out item {k} of {n}: {f.item.file_name}")
            findings.append(f)
            sections.append(item_section(f, pics))
            if pics.thumb is not None:
                thumbs[f.index] = imaging.flowable(pics.thumb, 44, 36)

    story = cover(rcase, findings, report_id=report_id, utc=utc, local=local, app=app,
                  threshold_override=threshold, total_items=total_items)
    story += [PageBreak()] + summary(findings, thumbs)
    for s in sections:
        story += [PageBreak()] + s
    story += [PageBreak()] + method(findings)
    story += [PageBreak()] + appendix.hashes(findings) + appendix.audit(rcase) + appendix.full_exif(findings)
    story += provenance_block.appendix(findings)

    timings["prepare_cpu"] = sum(prep_cpu)
    timings["items_done"] = time.perf_counter() - started
    step(n, "writing PDF")
    furn = Furniture(case_number=rcase.number, case_title=rcase.title, report_id=report_id, generated_utc=utc)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    author = rcase.examiner + (f", {rcase.organisation}" if rcase.organisation else "")
    doc = SimpleDocTemplate(
        str(tmp), pagesize=PAGE, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM, title=f"Forensic image analysis report — case {rcase.number}: {rcase.title}",
        author=author, subject=f"DeCLIP Desktop manipulation localisation report, case {rcase.number}, "
                               f"report id {report_id}",
        creator=app, producer=app, keywords=["forensic", "image manipulation", rcase.number, report_id],
    )
    a85 = rl_config.useA85
    rl_config.useA85 = 0   # binary streams: ASCII85 would add 25 % to every image
    t_layout = time.perf_counter()
    try:
        doc.build(story, canvasmaker=canvas_class(furn))
        timings["layout"] = time.perf_counter() - t_layout
        os.replace(tmp, out_path)
    except OSError as exc:
        raise ReportError(f"{out_path}: cannot write the report ({exc.strerror or exc})") from None
    finally:
        rl_config.useA85 = a85
        if tmp.exists():
            tmp.unlink()

    step(n + 1, "recording the report's SHA-256")
    digest = _sha256(out_path)
    sidecar = out_path.with_name(out_path.name + ".sha256")
    sidecar.write_text(f"{digest}  {out_path.name}\n", encoding="utf-8")
    info = ReportInfo(path=out_path, sha256=digest, sidecar=sidecar, report_id=report_id, pages=furn.pages,
                      items=n, analysed=sum(f.analysed for f in findings),
                      integrity_failures=[f.item.file_name for f in findings
                                          if f.integrity.status in ("MISMATCH", "file missing")],
                      size_bytes=out_path.stat().st_size, seconds=time.perf_counter() - started, generated_utc=utc,
                      timings={k: round(v, 3) for k, v in timings.items()})
    info.audit_logged = log_report(case_obj, info, threshold=threshold, items=[it.item_id for it in chosen])
    step(n + 2, "done")
    return info


def _select(rcase: ReportCase, wanted: list[str] | None):
    if not wanted:
        return list(rcase.items)
    by_key = {}
    for it in rcase.items:
        by_key.setdefault(it.item_id, it)
        by_key.setdefault(it.file_name, it)
    out, missing = [], []
    for w in wanted:
        key = str(w).strip()
        it = by_key.get(key) or by_key.get(key.upper())
        if it is None and len(key) >= 8:   # a unique SHA-256 prefix, as `declip case` accepts
            hits = [x for x in rcase.items if (x.sha256_ingest or "").lower().startswith(key.lower())]
            it = hits[0] if len(hits) == 1 else None
        if it is None:
            missing.append(str(w))
        elif it not in out:
            out.append(it)
    if missing:
        raise ReportError(f"no such evidence item in case {rcase.number}: {', '.join(missing)}")
    return out


def _progress(cb: Progress | None, total: int):
    def step(done: int, msg: str) -> None:
        if cb is not None:
            cb(done, total, msg)
    return step


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
