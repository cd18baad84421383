"""Download released models (the GUI face of `declip models fetch`): the releases with size, licence
and training data, a licence acceptance dialog, the download in a worker with progress and cancel,
(the offer made when a user picks a release that is not installed is in release_offer.py)."""
from __future__ import annotations

import html
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QMessageBox, QProgressBar, QPushButton, QTableWidget,
                               QTableWidgetItem, QTextBrowser, QVBoxLayout)

from declip_desktop.workers import Job, JobRunner
from engine.download import human_bytes
from engine.fetch import ROLE_WORD



class LicenceDialog(QDialog):
    """Shows the licences of what is about to be downloaded; nothing is fetched unless accepted."""

    def __init__(self, text: str, parent=None):
        super().__init__(parent)
        self.setObjectName("licenceDialog")
        self.setWindowTitle("Licence")
        intro = QLabel("These files are published under the licences below. The DeCLIP checkpoints are for "
                       "non-commercial use only. Your acceptance is recorded in the model card.")
        intro.setWordWrap(True)
        body = QTextBrowser(objectName="licenceText")
        body.setPlainText(text)
        buttons = QDialogButtonBox()
        self.acceptButton = buttons.addButton("Accept and download", QDialogButtonBox.ButtonRole.AcceptRole)
        self.acceptButton.setObjectName("acceptLicenceButton")
        self.declineButton = buttons.addButton("Decline", QDialogButtonBox.ButtonRole.RejectRole)
        self.declineButton.setObjectName("declineLicenceButton")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(body, 1)
        lay.addWidget(buttons)
        self.resize(620, 320)


def ask_licence(parent, text: str) -> bool:
    return LicenceDialog(text, parent).exec() == QDialog.DialogCode.Accepted


def fetch_job(ctx, ids: list[str], base_url: str | None, catalogue):
    """Worker body: fetch and import; progress is in permille with the bytes, rate and ETA in words."""
    from engine.fetch import fetch_models

    last = [0.0]

    def progress(p):
        now = time.monotonic()
        finished = p.total is not None and p.done >= p.total
        if now - last[0] >= 0.1 or finished:  # ~10 updates a second is plenty for a progress bar
            last[0] = now
            ctx.progress(int(1000 * p.done / p.total) if p.total else 0, 1000 if p.total else 0, p.line())

    cards = fetch_models(ids, catalogue=catalogue, accept=True, accepted_how="dialog", base_url=base_url or None,
                         progress=progress, cancelled=ctx.cancelled, log=lambda m: ctx.progress(0, 0, m))
    return [c.id for c in cards]


class DownloadDialog(QDialog):
    downloaded = Signal(list)  # model ids installed
    downloadFailed = Signal(str)

    def __init__(self, parent=None, catalogue=None, select: str | None = None):
        super().__init__(parent)
        from engine.fetch import release_cards

        self.setObjectName("modelDownloadDialog")
        self.setWindowTitle("Download models")
        self.catalogue = release_cards() if catalogue is None else catalogue
        self.confirm_licence = ask_licence  # (parent, text) -> bool; replaceable in tests
        self.runner = JobRunner(self)
        self.job: Job | None = None
        note = QLabel("The only part of DeCLIP Desktop that uses the network. Files are checked against their "
                      "published SHA-256, or against the hash first seen when none is published.")
        note.setWordWrap(True)
        self.table = QTableWidget(0, 5, objectName="releaseTable")
        self.table.setHorizontalHeaderLabels(["Model", "Size", "Licence", "Training data", "State"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        # rows follow their wrapped text as columns settle (resizeRowsToContents ran too early)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setWordWrap(True)
        head = self.table.horizontalHeader()
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        head.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        head.setSectionResizeMode(4, QHeaderView.ResizeMode.ResizeToContents)
        self.mirrorEdit = QLineEdit(objectName="mirrorEdit", accessibleName="Mirror base URL")
        self.mirrorEdit.setPlaceholderText("Optional: internal mirror base URL (keeps the original paths)")
        self.downloadButton = QPushButton("Download…", objectName="startDownloadButton")
        self.cancelButton = QPushButton("Cancel download", objectName="cancelDownloadButton")
        self.cancelButton.setEnabled(False)
        self.progress = QProgressBar(objectName="downloadProgress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status = QLabel("", objectName="downloadStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.downloadButton.clicked.connect(self.start)
        self.cancelButton.clicked.connect(self.cancel)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        row = QHBoxLayout()
        row.addWidget(self.mirrorEdit, 1)
        row.addWidget(self.downloadButton)
        row.addWidget(self.cancelButton)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(note)
        lay.addWidget(self.table, 1)
        lay.addLayout(row)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(close)
        self.resize(980, 460)
        self.refresh(select)

    def refresh(self, select: str | None = None) -> None:
        from engine.fetch import release_size
        from engine.store import ModelStore

        entries = {e.card.id: e for e in ModelStore().list()}
        self.table.setRowCount(len(self.catalogue))
        for r, c in enumerate(self.catalogue):
            e = entries.get(c.id)
            installed = bool(e and e.location == "store" and e.status == "ready")
            size = release_size(c)
            known = sum(f.get("size") or 0 for f in c.files)
            lic = "; ".join(f"{f['name']}: {f.get('licence') or c.license}" for f in c.files)
            cells = [c.name, human_bytes(size) if size is not None else f"over {human_bytes(known)}",
                     "\n".join(f"{f.get('licence') or '?'} ({ROLE_WORD.get(f['role'], f['role'])})" for f in c.files),
                     c.training_data,
                     "installed" if installed else "not installed"]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, c.id)
                item.setToolTip(f"{c.id}\n{c.license}\n{lic}")
                if installed:
                    item.setForeground(Qt.GlobalColor.gray)
                self.table.setItem(r, col, item)
            if c.id == select:
                self.table.selectRow(r)
        self._selection_changed()

    def selected_ids(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in rows]

    def _selection_changed(self) -> None:
        self.downloadButton.setEnabled(bool(self.selected_ids()) and self.job is None)

    def start(self) -> Job | None:
        from engine.fetch import licence_text

        ids = self.selected_ids()
        if not ids or self.job is not None:
            return None
        cards = [c for c in self.catalogue if c.id in ids]
        if not self.confirm_licence(self, licence_text(cards)):
            self.status.setText("Licence declined: nothing was downloaded.")
            return None
        self.status.setText(f"Downloading {', '.join(ids)}…")
        self.progress.setValue(0)
        job = Job(fetch_job, ids, self.mirrorEdit.text().strip(), self.catalogue, name="fetch-models")
        job.signals.progress.connect(self._progress)
        job.signals.succeeded.connect(self._done)
        job.signals.failed.connect(self._failed)
        job.signals.cancelled.connect(lambda: self.status.setText(
            "Download cancelled. What was received is kept; download again to resume."))
        job.signals.finished.connect(self._finished)
        self.job = job
        self.downloadButton.setEnabled(False)
        self.cancelButton.setEnabled(True)
        self.runner.start(job)
        return job

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling…")

    def _progress(self, done: int, total: int, message: str) -> None:
        if total:
            self.progress.setValue(done)
        if message:
            self.status.setText(html.escape(message))

    def _done(self, ids: list) -> None:
        self.progress.setValue(1000)
        self.status.setText(f"Installed and verified: {', '.join(ids)}" if ids else "Already installed.")
        self.refresh()
        self.downloaded.emit(list(ids))

    def _failed(self, message: str) -> None:
        self.status.setText(f"<span style='color:#d33'>Download failed: {html.escape(message)}</span>")
        self.downloadFailed.emit(message)

    def _finished(self) -> None:
        self.job = None
        self.cancelButton.setEnabled(False)
        self._selection_changed()

    def done(self, r: int) -> None:  # noqa: D401  (QDialog API)
        self.runner.cancel_all()
        self.runner.wait(60000)
        super().done(r)
