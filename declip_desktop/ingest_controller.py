"""Owns adding images to the case: the ingest job (copy, hash, thumbnails), paths dropped while
one runs, and the warnings it leaves in the Problems dock."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from declip_desktop import jobs
from declip_desktop.evidence_model import EvidenceRow, ingest_warnings
from declip_desktop.metadata_presenter import verdict_of
from declip_desktop.workers import Job


class IngestController(QObject):
    finished = Signal(object)  # IngestReport
    runningChanged = Signal(bool)

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.job: Job | None = None
        self.pending: list[str] = []

    @property
    def busy(self) -> bool:
        return self.job is not None or bool(self.pending)

    def add_paths(self, paths: list[str]) -> None:
        win = self.win
        paths = [str(p) for p in paths]
        if win.case is not None and win.case.readonly:
            win.report_error("Add images", "This case is open read-only: nothing can be added to it.")
            return
        if win.case is None:  # the new case takes them
            win.cases.ask_and_create_case(paths)
            return
        if self.job is not None:  # queue behind the running ingest
            self.pending.extend(paths)
            return
        self._start(Job(jobs.ingest_job, win.case, paths, name="ingest"), f"Adding {len(paths)} item(s)…")

    def resume(self) -> None:
        """Index, from the case's own copies, what an interrupted ingest logged but never indexed."""
        win = self.win
        if win.case is None or win.case.readonly or self.job is not None:
            return
        self._start(Job(jobs.resume_ingest_job, win.case, name="ingest"),
                    "Indexing what an interrupted ingest left…")

    def _start(self, job: Job, message: str) -> None:
        win = self.win
        self.job = job
        job.signals.progress.connect(self._progress)
        job.signals.item.connect(self._item)
        job.signals.itemFailed.connect(lambda key, msg: thumbnail_failed(self.win.evidenceModel, key, msg))
        job.signals.succeeded.connect(self._done)
        job.signals.failed.connect(lambda msg: win.report_error("Adding images failed", msg))
        job.signals.finished.connect(self._finished)
        win.statusBar().showMessage(message)
        win.runner.start(job)
        self.runningChanged.emit(True)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _progress(self, done: int, total: int, message: str) -> None:
        if not self.win.analysis.running:
            self.win.analysisPanel.set_progress(done, total)
        self.win.statusBar().showMessage(f"Adding images: {done}/{total} {Path(message).name if message else ''}")

    def _item(self, key, value) -> None:
        kind, eid = key
        model = self.win.evidenceModel
        if kind == "added":
            warnings = ingest_warnings(value.metadata)
            model.append(EvidenceRow(id=eid, name=value.file_name, provenance=verdict_of(value.metadata),
                                     warning="; ".join(warnings) or None))
            if model.rowCount() == 1:
                self.win.evidenceList.setCurrentIndex(model.index(0))
        elif kind == "thumb":
            model.update(eid, thumbnail=value)

    def _done(self, report) -> None:
        win = self.win
        problems = [issue_problem(issue, win.evidenceModel) for issue in report.issues]
        # Added, but the file itself looks damaged (e.g. a truncated JPEG): the examiner must know now.
        for item in report.added:
            for note in ingest_warnings(item.metadata):
                problems.append((f"{item.file_name} ({item.id}) was added with a warning: {note}.", None))
        lines = [text for text, _tip in problems]
        win.problemsPanel.clear_kind("ingest")
        for text, tip in problems:
            win.problemsPanel.add("ingest", text, tip=tip)
        msg = f"Added {len(report.added)} image(s)"
        if report.issues:
            msg += f"; {len(report.issues)} not added"
        if report.cancelled:
            msg += "; cancelled"
        win.statusBar().showMessage(msg, 8000)
        if lines:
            shown = lines[:30] + ([f"… and {len(lines) - 30} more (listed in the Problems panel)"]
                                  if len(lines) > 30 else [])
            win.report_error("Adding images", msg + ".\n\n" + "\n".join(shown))
        self.finished.emit(report)

    def _finished(self) -> None:
        self.job = None
        if not self.win.analysis.running:
            self.win.analysisPanel.set_idle()
        self.runningChanged.emit(False)
        if self.pending and self.win.case is not None:
            paths, self.pending = self.pending, []
            self.add_paths(paths)


def issue_problem(issue, model) -> tuple[str, str | None]:
    """One sentence for a file that was not added, and a tooltip with what does not fit in it (a
    duplicate's whole SHA-256, which wrapped mid-string in the Problems list)."""
    name = Path(issue.path).name
    if issue.kind == "duplicate" and issue.existing_id:
        row = model.get(issue.existing_id)
        other = f"{issue.existing_id} ({row.name})" if row is not None else issue.existing_id
        return (f"{name} was not added: it is identical to {other}, already in the case.",
                f"{name}: {issue.reason.removesuffix('; not added')}")
    reason = issue.reason.removeprefix("not added: ").removesuffix("; not added").rstrip(".")
    return f"{name} was not added: {reason}.", None


def thumbnail_failed(model, key, message: str) -> None:
    """A thumbnail job could not make one: the row shows a placeholder that says so."""
    if isinstance(key, tuple) and len(key) == 2 and key[0] == "thumb":
        model.update(key[1], thumb_error=str(message) or "cannot be decoded")
