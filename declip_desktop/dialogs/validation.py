"""Help -> Validate installation: runs `declip validate` (engine.golden + its record) in a worker and
shows PASS/FAIL per item, the largest differences and where the record (JSON + PDF) was written."""
from __future__ import annotations

import html

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QProgressBar, QTextBrowser, QVBoxLayout

from declip_desktop.workers import Job, JobRunner


def _validate_job(ctx, model=None):
    from declip_desktop.validate_cli import validate

    v, record, written = validate(model, progress=ctx.progress, cancel=ctx.cancelled)
    return v, record, [str(p) for p in written]


def result_html(v, record: dict, written: list[str]) -> str:
    e = html.escape
    ok = record["result"] == "PASS"
    colour = "#1a7f37" if ok else "#b42318"
    rows = "".join(f"<tr><td>{'PASS' if f['ok'] else '<b>FAIL</b>'}</td><td>file {e(f['name'])}</td>"
                   f"<td>{'matches the card' if f['ok'] else 'differs from the card'}</td></tr>" for f in v.files)
    rows += "".join(f"<tr><td>{'PASS' if i.ok else '<b>FAIL</b>'}</td><td>{e(i.name)}</td><td>"
                    + (f"largest difference {i.max_diff:.1e} (tolerance {i.tolerance:g})" if i.max_diff is not None else "")
                    + (f" {e(i.problem)}" if i.problem else "") + "</td></tr>" for i in v.items)
    problems = "".join(f"<p style='color:{colour}'>{e(p)}</p>" for p in v.problems)
    return (f"<h3 style='color:{colour}'>Validation {record['result']}</h3>"
            f"<p>{e(v.model_name)} (<code>{e(v.model_id)}</code>) "
            + (f"on {e(v.device_name)}, precision {e(v.precision)}" if v.device_name else "(the model was not run)")
            + f" · {e(record['created_utc'])} UTC</p>{problems}"
            f"<table cellspacing=4>{rows}</table>"
            f"<p>Record: {'<br>'.join(e(p) for p in written[:2])}</p>")


class ValidationDialog(QDialog):
    """Starts the validation when shown; Close cancels a run still going."""

    def __init__(self, runner: JobRunner, parent=None, model: str | None = None):
        super().__init__(parent)
        self.setObjectName("validationDialog")
        self.setWindowTitle("Validate installation")
        self.resize(640, 480)
        lay = QVBoxLayout(self)
        self.status = QLabel("Re-hashing the model and running the golden set…", objectName="validationStatus")
        self.bar = QProgressBar(objectName="validationProgress")
        self.details = QTextBrowser(objectName="validationDetails")
        self.details.setOpenExternalLinks(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        for w in (self.status, self.bar, self.details, buttons):
            lay.addWidget(w)
        self.result = None
        self.job = Job(_validate_job, model, name="validate")
        s = self.job.signals
        s.progress.connect(self._progress)
        s.succeeded.connect(self._done)
        s.failed.connect(lambda msg: self._end(f"Validation could not run: {msg}"))
        s.cancelled.connect(lambda: self._end("Validation cancelled."))
        runner.start(self.job)

    def _progress(self, done: int, total: int, message: str = "") -> None:
        self.bar.setMaximum(total)
        self.bar.setValue(done)
        self.status.setText(f"Checked {done} of {total}: {message}")

    def _done(self, result) -> None:
        v, record, written = result
        self.result = record
        self._end(f"Validation {record['result']}")
        self.details.setHtml(result_html(v, record, written))

    def _end(self, text: str) -> None:
        self.status.setText(text)
        self.bar.hide()

    def reject(self) -> None:
        self.job.cancel()
        super().reject()
