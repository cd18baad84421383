"""Content Credentials (C2PA) in the GUI: the metadata dock's section and the evidence-list badge.

The record is the one made at ingest (engine.provenance via the case); this module only shows it.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QAction, QColor, QPainter
from PySide6.QtWidgets import QTreeWidgetItem

from declip_desktop.metadata_presenter import CONTENT_CREDENTIALS as SECTION, provenance_sections, verdict_of  # noqa: F401
from engine.provenance import badge, severity, stored_record

# Chip text and colour per severity; "none" draws nothing (an absent manifest is not a finding).
_CHIP = {"ok": ("C2PA ✓", QColor(30, 120, 60)), "bad": ("ALTERED", QColor(200, 30, 30)),
         "ai": ("AI", QColor(120, 60, 170)), "warn": ("C2PA ?", QColor(190, 120, 20))}


def chip(verdict: str | None) -> tuple[str, QColor] | None:
    if verdict is None:
        return None
    return _CHIP.get(severity({"verdict": verdict}))


def draw_chip(p: QPainter, verdict: str | None, size: int) -> None:
    """A small labelled chip at the thumbnail's bottom left (the score chip sits bottom right)."""
    c = chip(verdict)
    if c is None:
        return
    text, colour = c
    w = p.fontMetrics().horizontalAdvance(text) + 8
    rect = QRectF(4, size - 20, w, 16)
    p.setBrush(colour)
    p.setPen(Qt.PenStyle.NoPen)
    p.drawRoundedRect(rect, 4, 4)
    p.setPen(QColor(255, 255, 255))
    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def tooltip_line(verdict: str | None) -> str | None:
    return None if verdict is None else f"Content Credentials: {badge({'verdict': verdict})}"


def emphasise(view, metadata: dict | None) -> None:
    """Colour the verdict row of the dock's section (red for an alteration) and make it bold."""
    c = chip(verdict_of(metadata))
    for i in range(view.topLevelItemCount()):
        top = view.topLevelItem(i)
        if top.text(0) != SECTION:
            continue
        for j in range(min(top.childCount(), 2)):  # verdict, meaning
            row = top.child(j)
            font = row.font(1)
            font.setBold(True)
            row.setFont(1, font)
            if c is not None:
                row.setForeground(1, c[1])
            row.setToolTip(1, row.data(1, Qt.ItemDataRole.UserRole) or row.text(1))


def install_reread_action(window) -> QAction:
    """'Re-read Content Credentials' in the metadata dock's context menu (on demand; logged)."""
    act = QAction("Re-read Content Credentials", window.metadataView, objectName="rereadProvenance")
    act.triggered.connect(lambda: reread_current(window))
    window.metadataView.addAction(act)
    return act


def reread_current(window) -> dict | None:
    """Read the current item's evidence copy again (settings-file anchors) and show it as its own
    section under the ingest record, which stays as it was. A few ms: a file read plus the SDK."""
    from declip_desktop.case.provenance import reread
    from engine.errors import DeclipError

    index = window.evidenceList.currentIndex()  # (evidence_model imports this module: no import back)
    rows = window.evidenceModel.rows()
    eid = rows[index.row()].id if index.isValid() and index.row() < len(rows) else None
    if not eid or window.case is None:
        return None
    try:
        rec = reread(window.case, eid)
    except DeclipError as exc:  # CaseError, ProvenanceError: one line
        window.statusBar().showMessage(f"Content Credentials: {exc}", 10000)
        return None
    view = window.metadataView
    title = f"{SECTION} (re-read {rec.get('read_utc')})"
    at = next((i + 1 for i in range(view.topLevelItemCount()) if view.topLevelItem(i).text(0) == SECTION), 0)
    top = QTreeWidgetItem([title, ""])
    view.insertTopLevelItem(at, top)
    for key, value in provenance_sections({"provenance": rec})[SECTION].items():
        text = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
        child = QTreeWidgetItem([key, text])
        child.setToolTip(1, text)
        child.setData(1, Qt.ItemDataRole.UserRole, text)
        top.addChild(child)
    top.setExpanded(True)
    logged = "" if window.case.readonly else " (logged in the audit trail)"
    window.statusBar().showMessage(f"{eid}: Content Credentials re-read: {badge(rec)}{logged}", 8000)
    return rec


def trust_anchor_action(window) -> QAction:
    """File > 'C2PA trust anchors…': choose the PEM file used to judge signer trust at ingest."""
    act = QAction("C2PA &trust anchors…", window, objectName="actionTrustAnchors")

    def choose() -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(window, "C2PA trust anchors (PEM certificates)", "",
                                              "PEM certificates (*.pem *.crt *.cer);;All files (*)")
        if path:
            set_trust_anchors(window, path)

    act.triggered.connect(choose)
    return act


def set_trust_anchors(window, path: str) -> bool:
    """Check the anchors, then keep them in the preferences file (engine.provenance reads them there)."""
    from engine.provenance import ProvenanceError, load_trust_anchors

    from . import settings

    try:
        anchors = load_trust_anchors(path) if path else None
    except ProvenanceError as exc:
        window.statusBar().showMessage(str(exc), 10000)
        return False
    prefs = settings.Preferences.load()
    prefs.trust_anchors = anchors.source if anchors else ""
    prefs.save()
    window.statusBar().showMessage(
        f"C2PA trust anchors: {len(anchors.certificates)} certificate(s) from {anchors.source}; used for images "
        "added from now on" if anchors else "C2PA trust anchors cleared: signer trust is not judged", 10000)
    return True
