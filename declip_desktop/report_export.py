"""Export report action: pick a PDF path, build the report in a worker, say where it went."""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from declip_desktop.workers import Job


def default_report_path(case) -> Path:
    slug = re.sub(r"[^\w\-]+", "_", case.title).strip("_") or "case"
    return Path(case.reports_dir) / f"{slug}_{datetime.now():%Y%m%d_%H%M}.pdf"


def export_report_interactive(window) -> Job | None:
    case = window.case
    path, _ = QFileDialog.getSaveFileName(window, "Export forensic report", str(default_report_path(case)),
                                          "PDF (*.pdf)")
    if not path:
        return None
    if not path.lower().endswith(".pdf"):
        path += ".pdf"
    return export_report(window, path)


def report_job(ctx, case, path: str):
    from declip_desktop.case.report_target import check_report_target
    from declip_desktop.report import build_report

    check_report_target(case, path)  # never over evidence or case data (the dialog lets one pick any file)
    return build_report(case, path, progress=ctx.progress)


def export_report(window, path: str | Path) -> Job:
    """Build the PDF of the window's case at `path` in a worker; signals via window.reportExported."""
    job = Job(report_job, window.case, str(path), name="report")
    sb = window.statusBar()
    job.signals.progress.connect(lambda d, t, m: sb.showMessage(f"Report: {m or ''} {d}/{t}"))
    job.signals.succeeded.connect(lambda info: _done(window, info))
    job.signals.failed.connect(lambda msg: window.report_error("Report not written", msg))
    sb.showMessage(f"Writing report {Path(path).name}…")
    window.runner.start(job)
    return job


def _done(window, info) -> None:
    bad = list(getattr(info, "integrity_failures", None) or [])
    extra = f"; INTEGRITY PROBLEM for {len(bad)} item(s): {', '.join(bad[:5])}{' …' if len(bad) > 5 else ''}" if bad else ""
    window.statusBar().showMessage(f"Report written: {info.path} ({info.pages} pages, sha256 {info.sha256[:12]}…){extra}",
                                   15000)
    window.reportExported.emit(str(info.path))
