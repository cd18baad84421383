"""Forensic PDF report (reportlab platypus). No Qt: the CLI and the GUI call the same function.

    from declip_desktop.report import build_report
    info = build_report(case, "out.pdf", threshold=None, items=None, progress=None)
    # case: case folder path | declip_desktop.case.Case | report.model.ReportCase
    # writes out.pdf and out.pdf.sha256 (sha256sum format); logs the SHA-256 in the case audit log
    # returns ReportInfo(path, sha256, sidecar, report_id, pages, items, analysed, ...)
"""
from .builder import ReportError, build_report
from .model import AuditSummary, ReportCase, ReportInfo, ReportItem

__all__ = ["build_report", "ReportError", "ReportInfo", "ReportCase", "ReportItem", "AuditSummary"]
