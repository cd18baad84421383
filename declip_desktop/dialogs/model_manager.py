"""Model manager: the model cards in the store, import of official DeCLIP checkpoints with their
CLIP weights (verified in a worker), the default model, and each model's licence and intended use."""
from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QPushButton, QSplitter, QTextBrowser,
                               QVBoxLayout)

from declip_desktop.workers import Job, JobRunner
from engine.cards import FLIP_AVERAGE_TEXT
from engine.fetch import hash_note
from engine.validation_text import lines as validation_lines
from engine.validation_text import training_summary

STATUS_TEXT = {"ready": "ready", "not imported": "not installed: Download… or import", "files missing": "files missing"}


def card_html(entry, default_id: str) -> str:
    c = entry.card
    e = html.escape

    def row(k, v):
        return f"<tr><td valign=top><b>{e(k)}</b></td><td>{e(str(v))}</td></tr>" if v not in (None, "", {}, []) else ""

    files = "<br>".join(f"{e(f.get('role', ''))}: {e(f.get('name', ''))}"
                        + (f" <small>sha256 {e(str(f.get('sha256'))[:16])}…</small>" if f.get("sha256") else "")
                        + (f" <small><i>({e(hash_note(f))})</i></small>" if hash_note(f) else "")
                        for f in c.files)
    default = " <span style='color:#2a8'>(default)</span>" if c.id == default_id else ""
    metrics = ", ".join(f"{k}: {v}" for k, v in (c.metrics or {}).items()) if isinstance(c.metrics, dict) else c.metrics
    # the independent figure first, in words: what an examiner can quote (engine/validation_text.py)
    validated = "<br><br>".join(e(t) for t in validation_lines(c.validation)) or "no validation recorded on this card"
    return (
        f"<h3>{e(c.name)}{default}</h3>"
        f"<p><code>{e(c.id)}</code> · {e(STATUS_TEXT.get(entry.status, entry.status))} · {e(entry.location)}</p>"
        "<table cellspacing=4>"
        + f"<tr><td valign=top><b>Validated</b></td><td>{validated}</td></tr>"
        + row("Licence", c.license) + row("Intended use", c.intended_use) + row("Limitations", c.limitations)
        + row("Training data", c.training_data) + row("Backbone", c.backbone_name)
        + row("Feature layer", c.feature_layer) + row("Decoder", c.decoder_name)
        + row("Views", FLIP_AVERAGE_TEXT if c.flip_average else "") + row("Metrics", metrics)
        + row("Training record", training_summary(c.training))
        + row("Source", c.source) + row("Version", c.version)
        + f"<tr><td valign=top><b>Files</b></td><td>{files}</td></tr></table>"
    )


class ModelManagerDialog(QDialog):
    imported = Signal(str)  # model id
    importFailed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("modelManagerDialog")
        self.setWindowTitle("Model manager")
        self.runner = JobRunner(self)
        self.modelList = QListWidget(objectName="modelList", accessibleName="Models")
        self.modelList.setWordWrap(True)  # long model names wrap instead of being cut at the edge
        self.modelList.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.modelList.currentItemChanged.connect(lambda *_: self._show_current())
        self.details = QTextBrowser(objectName="modelDetails", accessibleName="Model card")
        self.details.setOpenExternalLinks(False)
        self.importButton = QPushButton("Import official checkpoint…", objectName="importCheckpointButton")
        self.importFolderButton = QPushButton("Import model folder…", objectName="importFolderButton")
        self.defaultButton = QPushButton("Set as default", objectName="setDefaultButton")
        self.verifyButton = QPushButton("Verify files", objectName="verifyModelButton")
        self.removeButton = QPushButton("Remove", objectName="removeModelButton")
        self.downloadButton = QPushButton("Download…", objectName="downloadModelsButton")
        self.importPackButton = QPushButton("Import pack…", objectName="importPackButton")
        self.exportPackButton = QPushButton("Export pack…", objectName="exportPackButton")
        self.status = QLabel("", objectName="modelStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.importButton.clicked.connect(self.import_official)
        self.importFolderButton.clicked.connect(self.import_folder)
        self.defaultButton.clicked.connect(self.set_default)
        self.verifyButton.clicked.connect(self.verify)
        self.removeButton.clicked.connect(self.remove)
        self.downloadButton.clicked.connect(self.open_download)
        self.importPackButton.clicked.connect(self.import_pack)
        self.exportPackButton.clicked.connect(self.export_pack)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.modelList)
        split.addWidget(self.details)
        split.setSizes([260, 460])
        buttons = QHBoxLayout()
        for b in (self.importButton, self.importFolderButton, self.defaultButton, self.verifyButton,
                  self.removeButton):
            buttons.addWidget(b)
        transfer = QHBoxLayout()  # getting models onto this machine, and off it
        for b in (self.downloadButton, self.importPackButton, self.exportPackButton):
            transfer.addWidget(b)
        transfer.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(split, 1)
        lay.addLayout(buttons)
        lay.addLayout(transfer)
        lay.addWidget(self.status)
        lay.addWidget(close)
        self.resize(900, 560)
        self.refresh()

    # -- listing ------------------------------------------------------------------------------
    def _store(self):
        from engine.store import ModelStore

        return ModelStore()

    def refresh(self, select: str | None = None) -> None:
        store = self._store()
        current = select or (self.modelList.currentItem().data(Qt.ItemDataRole.UserRole)
                             if self.modelList.currentItem() else None)
        self._default = store.default_id
        self._entries = {e.card.id: e for e in store.list()}
        self.modelList.clear()
        for mid, e in self._entries.items():
            mark = "★ " if mid == self._default else ""
            item = QListWidgetItem(f"{mark}{e.card.name}\n{STATUS_TEXT.get(e.status, e.status)}")
            item.setData(Qt.ItemDataRole.UserRole, mid)
            item.setToolTip(f"{e.card.name}\n{e.card.id}\nLicence: {e.card.license}")
            if e.status != "ready":  # the text says so; italic marks it too (pale grey was hard to read)
                font = item.font()
                font.setItalic(True)
                item.setFont(font)
            self.modelList.addItem(item)
            if mid == (current or self._default):
                self.modelList.setCurrentItem(item)
        if self.modelList.currentItem() is None and self.modelList.count():
            self.modelList.setCurrentRow(0)
        self._show_current()

    def current_id(self) -> str | None:
        item = self.modelList.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def _show_current(self) -> None:
        mid = self.current_id()
        e = self._entries.get(mid) if mid else None
        self.details.setHtml(card_html(e, self._default) if e else "<p>No models.</p>")
        ready = bool(e and e.status == "ready")
        self.defaultButton.setEnabled(ready and mid != self._default)
        self.verifyButton.setEnabled(ready)
        self.removeButton.setEnabled(bool(e and e.location == "store"))
        self.exportPackButton.setEnabled(bool(e and e.location == "store" and e.status == "ready"))

    # -- import -------------------------------------------------------------------------------
    def import_official(self) -> None:
        ckpt, _ = QFileDialog.getOpenFileName(self, "Official DeCLIP checkpoint", "",
                                              "DeCLIP checkpoints (*.pth *.pt *.ckpt *.safetensors);;All files (*)")
        if not ckpt:
            return
        weights, _ = QFileDialog.getOpenFileNames(
            self, "CLIP weights for this checkpoint (e.g. ViT-L-14.pt, RN50.pt); cancel if embedded", "",
            "CLIP weights (*.pt *.pth *.bin *.safetensors);;All files (*)")
        self.import_files(ckpt, weights)

    def import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder (with card.json)")
        if folder:
            self.import_files(folder, [])

    def import_files(self, path: str, backbone_weights: list[str]) -> Job:
        """Import and verify in a worker (loading a ViT-L checkpoint takes a while)."""
        self.status.setText(f"Importing and verifying {path}…")
        self.importButton.setEnabled(False)

        def work(ctx, store, path, weights):
            return store.import_path(path, backbone_weights=weights or None).id

        job = Job(work, self._store(), str(path), [str(w) for w in backbone_weights], name="import-model")
        job.signals.succeeded.connect(self._imported)
        job.signals.failed.connect(self._import_failed)
        job.signals.finished.connect(lambda: self.importButton.setEnabled(True))
        self.runner.start(job)
        return job

    def _imported(self, model_id: str) -> None:
        self.status.setText(f"Imported and verified: {model_id}")
        self.refresh(select=model_id)
        self.imported.emit(model_id)

    def _import_failed(self, message: str) -> None:
        self.status.setText(f"<span style='color:#d33'>Import failed: {html.escape(message)}</span>")
        self.importFailed.emit(message)

    # -- download and packs ---------------------------------------------------------------------
    def open_download(self, select: str | None = None):
        from declip_desktop.dialogs.model_download import DownloadDialog

        dlg = DownloadDialog(self, select=select or self.current_id())
        dlg.downloaded.connect(lambda ids: self.refresh(select=ids[0] if ids else None))
        dlg.finished.connect(dlg.deleteLater)
        dlg.open()
        return dlg

    def import_pack(self, path: str | None = None) -> Job | None:
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Model pack", "", "DeCLIP model packs (*.declipmodel)")
        if not path:
            return None

        def work(ctx, store, path):
            from engine.packs import import_pack

            return import_pack(path, store).id

        return self._run(Job(work, self._store(), str(path), name="import-pack"), f"Verifying and importing {path}…")

    def export_pack(self, path: str | None = None) -> Job | None:
        mid = self.current_id()
        if not mid:
            return None
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Export model pack", f"{mid}.declipmodel",
                                                  "DeCLIP model packs (*.declipmodel)")
        if not path:
            return None

        def work(ctx, store, mid, path):
            from pathlib import Path

            from engine.packs import pack_model

            return pack_model(store, mid, Path(path))

        job = Job(work, self._store(), mid, str(path), name="export-pack")
        job.signals.succeeded.connect(lambda res: self.status.setText(
            f"Wrote {html.escape(str(res[0]))}<br>SHA-256 <code>{res[1]}</code> (quote it when you hand the pack over)"))
        job.signals.failed.connect(lambda m: self.status.setText(
            f"<span style='color:#d33'>Export failed: {html.escape(m)}</span>"))
        self.status.setText(f"Writing {path}…")
        self.runner.start(job)
        return job

    def _run(self, job: Job, message: str) -> Job:
        self.status.setText(message)
        job.signals.succeeded.connect(self._imported)
        job.signals.failed.connect(self._import_failed)
        self.runner.start(job)
        return job

    # -- other actions ------------------------------------------------------------------------
    def set_default(self) -> None:
        mid = self.current_id()
        if not mid:
            return
        try:
            self._store().default_id = mid
        except Exception as exc:
            self.status.setText(f"Cannot make it the default: {exc}")
            return
        self.status.setText(f"Default model: {mid}")
        self.refresh(select=mid)

    def verify(self) -> None:
        mid = self.current_id()
        if not mid:
            return
        try:
            rows = self._store().verify(mid)
        except Exception as exc:
            self.status.setText(f"Cannot verify: {exc}")
            return
        bad = [r for r in rows if not r["ok"]]
        if bad:
            self.status.setText("Problems: " + "; ".join(f"{r['name']}: {r['problem']}" for r in bad))
        else:
            self.status.setText(f"All {len(rows)} file(s) of {mid} match their SHA-256.")

    def remove(self) -> None:
        mid = self.current_id()
        if not mid:
            return
        try:
            self._store().remove(mid)
        except Exception as exc:
            self.status.setText(f"Cannot remove: {exc}")
            return
        self.status.setText(f"Removed {mid}")
        self.refresh()

    def done(self, r: int) -> None:  # noqa: D401  (QDialog API)
        self.runner.wait(60000)
        super().done(r)
