"""build_report: lay out the whole PDF, write it atomically, record its SHA-256."""
from __future__ import annotations

import os
import tempfile
import time
from glob import escape as glob_escape
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from reportlab import rl_config
from reportlab.platypus import PageBreak

from declip_desktop.case.anchor import marker, signature_marker
from engine.atomic import TMP_PREFIX, fsync_dir
from engine.errors import DeclipError
from engine.hashing import file_sha256
from engine.versions import app_version

from . import appendix, evidence_pages, fonts, imaging, provenance_block, validation
from .cover import cover
from .findings import compute
from .flow import ReportDoc
from .installation import cover_line, installations
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
                 items: list[str] | None = None, progress: Progress | None = None,
                 sign_key: str | os.PathLike | None = None) -> ReportInfo:
    """Write the forensic PDF report of `case` to `out_path`, plus `<out_path>.sha256`.

    case: a case folder path, an open `declip_desktop.case` Case, or a `report.model.ReportCase`.
    threshold: one threshold for every item (None: each item's analyst threshold, else the case default).
    items: item ids or file names to include (None: all, in case order).
    progress(done, total, message) is called as items are laid out.
    When the case has an audit log, the report's SHA-256 is appended to it after writing.
    sign_key: an Ed25519 private key (PEM, `declip case keygen`) that signs the audit head printed.
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
        if sign_key is not None:
            from declip_desktop.case.signing import sign_head

            if not rcase.audit.head:
                raise ReportError("only a report of a case folder has an audit head to sign")
            rcase.audit.signature = sign_head(sign_key, rcase.audit.head, rcase.case_uuid)
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

    installs = installations(findings)  # the validation records that may be cited (same model and weights)
    story = cover(rcase, findings, report_id=report_id, utc=utc, local=local, app=app,
                  threshold_override=threshold, total_items=total_items, validation=cover_line(installs))
    story += [PageBreak()] + summary(findings, thumbs)
    for s in sections:
        story += [PageBreak()] + s
    story += [PageBreak()] + method(findings)
    story += [PageBreak()] + appendix.hashes(findings) + appendix.audit(rcase) + appendix.full_exif(findings)
    story += validation.appendix(findings, installs)  # model figures + this install's validation
    story += provenance_block.appendix(findings)  # Appendix E: how Content Credentials were validated
    story += evidence_pages.methods_appendix(findings)  # the evidence-layer methods pinned to findings

    timings["prepare_cpu"] = sum(prep_cpu)
    timings["items_done"] = time.perf_counter() - started
    step(n, "writing PDF")
    furn = Furniture(case_number=clip(rcase.number, 60), case_title=clip(rcase.title, 90), report_id=report_id,
                     generated_utc=utc)
    author = clip(rcase.examiner, 120) + (f", {clip(rcase.organisation, 120)}" if rcase.organisation else "")
    head = rcase.audit.head
    keywords = ["forensic", "image manipulation", clip(rcase.number, 60), report_id]
    if head:  # machine-readable for `declip case verify --against REPORT.pdf`
        keywords.append(marker(head, rcase.audit.recorded))
    if rcase.audit.signature:
        keywords.append(signature_marker(rcase.audit.signature))
    leftovers = _remove_leftovers(out_path)
    tmp_fh, tmp = _temp_beside(out_path)
    doc = ReportDoc(
        tmp_fh, pagesize=PAGE, leftMargin=MARGIN_X, rightMargin=MARGIN_X, topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=f"Forensic image analysis report — case {clip(rcase.number, 60)}: {clip(rcase.title, 120)}",
        author=author, subject=f"DeCLIP Desktop manipulation localisation report, case {clip(rcase.number, 60)}, "
                               f"report id {report_id}",
        creator=app, producer=app, keywords=keywords,
    )
    a85 = rl_config.useA85
    rl_config.useA85 = 0   # binary streams: ASCII85 would add 25 % to every image
    t_layout = time.perf_counter()
    try:
        with tmp_fh:
            doc.build(story, canvasmaker=canvas_class(furn))
            tmp_fh.flush()
            os.fsync(tmp_fh.fileno())
        timings["layout"] = time.perf_counter() - t_layout
        step(n + 1, "recording the report's SHA-256")
        digest, sidecar = _publish(tmp, out_path, head, recorded=rcase.audit.recorded,
                                   signature=rcase.audit.signature)
    except OSError as exc:
        raise ReportError(f"{out_path}: cannot write the report ({exc.strerror or exc})") from None
    finally:
        rl_config.useA85 = a85
        tmp.unlink(missing_ok=True)
    info = ReportInfo(path=out_path, sha256=digest, sidecar=sidecar, report_id=report_id, pages=furn.pages,
                      items=n, analysed=sum(f.analysed for f in findings),
                      integrity_failures=[f.item.file_name for f in findings
                                          if f.integrity.status in ("MISMATCH", "file missing")],
                      size_bytes=out_path.stat().st_size, seconds=time.perf_counter() - started, generated_utc=utc,
                      timings={k: round(v, 3) for k, v in timings.items()})
    info.audit_logged = log_report(case_obj, info, threshold=threshold, items=[it.item_id for it in chosen],
                                   removed_leftovers=leftovers)
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


def clip(text: str, limit: int) -> str:
    """One line of at most `limit` characters (page headers and PDF properties do not wrap)."""
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _temp_beside(out_path: Path):
    """An unpredictable temp file next to the report, created with O_EXCL|O_NOFOLLOW (mkstemp), so a
    planted file or link can never be written through."""
    fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{out_path.name}.", suffix=".pdf", dir=out_path.parent)
    return os.fdopen(fd, "wb"), Path(name)


def _remove_leftovers(out_path: Path) -> list[str]:
    """Temp files an earlier, killed export of this same report left beside it (named after it, so
    nothing else is touched); the clean-up is recorded with this report's audit entry."""
    gone = []
    for prefix in (f"{TMP_PREFIX}{out_path.name}.", f"{TMP_PREFIX}{out_path.name}.sha256."):
        for p in out_path.parent.glob(glob_escape(prefix) + "*"):
            if p.is_file() and not p.is_symlink() and p.name.startswith(prefix):
                try:
                    p.unlink()
                    gone.append(str(p))
                except OSError:
                    pass
    return sorted(set(gone))


def _publish(tmp: Path, out_path: Path, head: dict | None, recorded: bool,
             signature: dict | None = None) -> tuple[str, Path]:
    """Put the PDF and its .sha256 sidecar in place so that a kill at any moment never leaves a PDF
    beside a sidecar naming other bytes: sidecar written to a temp, the old sidecar removed, the PDF
    renamed, then the new sidecar renamed. Worst case a PDF without sidecar, which is plain to see."""
    digest = file_sha256(tmp)
    sidecar = out_path.with_name(out_path.name + ".sha256")
    lines = [f"{digest}  {out_path.name}"]
    if head:  # sha256sum -c ignores '#' lines; `declip case verify --against` reads them
        lines.append(f"# {marker(head, recorded)}")
        lines.append(f"# case audit log head when this report was made: entry {head['entries']}, sha256 "
                     f"{head['last_sha256']}; report {'recorded in the log after it' if recorded else 'not recorded (case read-only)'}")
        if signature:
            lines.append(f"# {signature_marker(signature)}")
    side_fh, side_tmp = _temp_beside(sidecar)
    try:
        with side_fh:
            side_fh.write(("\n".join(lines) + "\n").encode("utf-8"))
            side_fh.flush()
            os.fsync(side_fh.fileno())
        if os.path.lexists(sidecar):
            os.unlink(sidecar)
        os.replace(tmp, out_path)
        os.replace(side_tmp, sidecar)
        fsync_dir(out_path.parent)
    finally:
        side_tmp.unlink(missing_ok=True)
    return digest, sidecar
