"""Owns the open case: new, open (read-only when locked), recent cases, close, examiner, verify.

Nothing here blocks the window: questions are window-modal but non-blocking dialogs, and
verification runs in a worker."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from declip_desktop import jobs, settings
from declip_desktop.case.errors import READ_ONLY_STILL_WORKS, CaseLockedError
from engine.stamps import os_user
from declip_desktop.evidence_model import EvidenceRow, ingest_warnings
from declip_desktop.ingest_controller import thumbnail_failed
from declip_desktop.metadata_presenter import verdict_of
from declip_desktop.model_preload import start_preload
from declip_desktop.workers import Job


class CaseController(QObject):
    opened = Signal(str)
    closed = Signal()

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.case = None
        # Tests (and automation) replace this to avoid the modal "new case" question.
        self.ask_new_case: Callable[[list[str]], dict | None] | None = None

    # -- new --------------------------------------------------------------------------------------
    def new_case_dialog(self) -> None:
        self.ask_and_create_case([])

    def ask_and_create_case(self, pending: list[str]) -> None:
        if self.ask_new_case is not None:  # automation: no dialog
            values = self.ask_new_case(pending)
            if values:
                self.create_case(values, pending)
            return
        from declip_desktop.dialogs.new_case import NewCaseDialog

        intro = f"No case is open. Create one to hold the {len(pending)} dropped item(s)?" if pending else ""
        dlg = NewCaseDialog(self.win, examiner=self.win.prefs.examiner, intro=intro)
        dlg.accepted.connect(lambda: self.create_case(dlg.values(), pending))
        dlg.finished.connect(dlg.deleteLater)
        dlg.open()  # window-modal but non-blocking: the event loop keeps running

    def create_case(self, values: dict, pending: list[str]) -> bool:
        Case = _case_class()
        try:
            Path(values["path"]).parent.mkdir(parents=True, exist_ok=True)
            case = Case.create(values["path"], title=values["title"], number=values.get("number", ""),
                               examiner=values["examiner"], organisation=values.get("organisation", ""),
                               description=values.get("description", ""))
        except Exception as exc:
            self.win.report_error("Cannot create the case", str(exc))
            return False
        if values.get("examiner"):
            self.win.prefs.examiner = values["examiner"]
        self._set_case(case)
        if pending:
            self.win.ingest.add_paths(pending)
        return True

    # -- open -------------------------------------------------------------------------------------
    def open_case_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.win, "Open case folder (*.declip)", str(cases_folder()))
        if folder:
            self.open_case(folder)

    def reopen_last(self) -> bool:
        """At start-up: the most recent case, when it is still there (never creates anything)."""
        for path in settings.recent_cases()[:1]:
            if _case_class().is_case(path):
                return self.open_case(path)
        return False

    def open_case(self, path: str, create: bool = False, readonly: bool = False) -> bool:
        """Open the case at `path`. create: make a case there if the folder is new or empty (only for
        a path the user named for that, e.g. on the command line); never for Recent or Open, where a
        missing folder means a moved case or an unplugged drive. readonly: view and report only."""
        Case = _case_class()
        path = str(path)
        p = Path(path)
        if self.case is not None and p.resolve() == Path(self.case.path).resolve() and not readonly:
            return True  # already open
        if not Case.is_case(path) and not create:
            if not p.exists():
                self.win.report_error("Cannot open the case", f"The case folder {path} does not exist. It may have been "
                                      f"moved or renamed, or be on a drive that is not connected. Nothing was created.")
                self._offer_forget_recent(path)
            else:
                self.win.report_error("Cannot open the case", f"{path} is not a DeCLIP case (it has no case.json). "
                                                              f"Use File > New case to create one.")
            return False
        examiner = self.win.prefs.examiner
        try:
            if not Case.is_case(path) and (not p.exists() or not any(p.iterdir())):
                title = p.name.removesuffix(".declip") or "Case"
                case = Case.create(path, title=title, number="", examiner=examiner or os_user())
            else:
                case = Case.open(path, examiner=examiner or None, readonly=readonly)
        except Exception as exc:
            if not readonly and isinstance(exc, READ_ONLY_STILL_WORKS):
                return self._offer_read_only(path, exc)
            self.win.report_error("Cannot open the case", str(exc))
            return False
        self._set_case(case)
        return True

    def _offer_forget_recent(self, path: str) -> None:
        if path not in settings.recent_cases() or os.environ.get("DECLIP_NO_DIALOGS"):
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Recent cases",
                          f"Remove {path} from the recent cases?\n(Keep it if the drive will be connected again.)",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self.win)
        box.finished.connect(lambda r: (settings.remove_recent_case(path), self.win.fill_recent())
                             if r == QMessageBox.StandardButton.Yes else None)
        box.finished.connect(box.deleteLater)
        box.open()

    def _offer_read_only(self, path: str, exc: Exception) -> bool:
        """A locked or write-protected case can still be viewed and reported on, without a lock."""
        reason = ("another session has it open" if isinstance(exc, CaseLockedError) else
                  "this account cannot write to its folder")
        text = (f"The case {path} cannot be opened for work: {reason}.\n\n{exc}\n\n"
                f"Open it read-only? You can view the images, maps and findings and export a report; "
                f"nothing in the case can be changed.")
        if os.environ.get("DECLIP_NO_DIALOGS"):
            self.win.statusBar().showMessage(f"Cannot open the case: {reason}", 10000)
            return False
        box = QMessageBox(QMessageBox.Icon.Question, "Open read-only?", text,
                          QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel, self.win)
        box.setObjectName("readOnlyBox")
        box.finished.connect(lambda r: self.open_case(path, readonly=True)
                             if r == QMessageBox.StandardButton.Open else None)
        box.finished.connect(box.deleteLater)
        box.open()
        return False

    def _set_case(self, case) -> None:
        self.close_case()
        win = self.win
        self.case = case
        settings.add_recent_case(str(case.path))
        win.problemsPanel.clear_all()  # a case that failed to open may have left none, but be sure
        rows = [EvidenceRow(id=item.id, name=item.file_name, status=case.finding(item.id).status,
                            provenance=verdict_of(item.metadata),
                            warning="; ".join(ingest_warnings(item.metadata)) or None)
                for item in case.evidence]
        win.evidenceModel.set_rows(rows)
        win.display.load_index()
        _show_last_failures(win, case)
        win.case_shown(case, bool(rows))
        start_preload(win)  # the model loads on a worker now, so the first Analyse finds it ready
        if rows:
            win.evidenceList.setCurrentIndex(win.evidenceModel.index(0))
            job = Job(jobs.thumbnails_job, case, [r.id for r in rows], name="thumbs")
            job.signals.item.connect(lambda key, img: win.evidenceModel.update(key[1], thumbnail=img))
            job.signals.itemFailed.connect(lambda key, msg: thumbnail_failed(win.evidenceModel, key, msg))
            win.runner.start(job)
        self.opened.emit(str(case.path))
        win.statusBar().showMessage(f"Opened case {case.title}: {len(rows)} image(s)", 5000)

    def close_case(self) -> None:
        if self.case is None:
            return
        win = self.win
        win.findings.flush(sync=True)
        win.runner.cancel_all()
        win.runner.wait(30000)
        QApplication.processEvents()  # deliver the finished jobs' last signals before the case goes
        try:
            self.case.close()
        except Exception:
            pass
        self.case = None
        win.display.reset()
        win.evidenceModel.set_rows([])
        win.problemsPanel.clear_all()  # the closed case's problems are not the next one's
        win.case_shown(None, False)
        self.closed.emit()

    # -- examiner ---------------------------------------------------------------------------------
    def set_examiner_dialog(self) -> None:
        from PySide6.QtWidgets import QInputDialog

        current = self.case.session_examiner if self.case is not None else (self.win.prefs.examiner or os_user())
        dlg = QInputDialog(self.win, objectName="examinerDialog")
        dlg.setWindowTitle("Examiner")
        dlg.setLabelText("Who is working now? Findings and the case's audit log are credited to this name.")
        dlg.setTextValue(current)
        dlg.textValueSelected.connect(self.set_examiner)
        dlg.finished.connect(dlg.deleteLater)
        dlg.open()

    def set_examiner(self, name: str) -> None:
        name = " ".join(str(name).split())
        if not name:
            self.win.report_error("Examiner", "The examiner's name cannot be empty.")
            return
        self.win.findings.flush(sync=True)  # what was typed so far belongs to the previous examiner
        self.win.prefs.examiner = name
        if self.case is not None and name != self.case.session_examiner:
            old = self.case.session_examiner
            self.case.session_examiner = name
            if not self.case.readonly:
                try:
                    self.case.log("session_examiner_changed", {"from": old, "to": name})
                except Exception as exc:
                    self.win.report_error("Examiner", f"The change was not logged in the case: {exc}")
        self.win.update_actions()
        self.win.statusBar().showMessage(f"Examiner: {name}", 5000)

    # -- integrity --------------------------------------------------------------------------------
    def verify_case(self) -> None:
        if self.case is None:
            return
        job = Job(jobs.verify_job, self.case, name="verify")
        job.signals.progress.connect(lambda d, t, m: self.win.statusBar().showMessage(f"Verifying: {d}/{t}"))
        job.signals.succeeded.connect(self._verified)
        job.signals.failed.connect(lambda msg: self.win.report_error("Verification failed", msg))
        self.win.runner.start(job)

    def _verified(self, verified) -> None:
        win, report = self.win, verified.report
        win.display.mark_untrusted(verified.untrusted)
        bad = {p.evidence_id: ("missing" if p.kind == "evidence_missing" else "modified")
               for p in report.problems if p.evidence_id and p.kind.startswith("evidence")}
        for row in win.evidenceModel.rows():
            win.evidenceModel.update(row.id, integrity=bad.get(row.id, "ok"))
        win.display.show_metadata()
        if report.ok:
            win.statusBar().showMessage(f"Integrity OK: {report.checked_files} file(s), "
                                        f"{report.audit_entries} audit entries.", 8000)
        else:
            # The status bar gets the counts (a path and two hashes do not fit in it); the box lists
            # each problem, with paths inside the case named by their place in it.
            shown = report.problems[:20]
            more = len(report.problems) - len(shown)
            details = "\n".join(win.without_case_path(str(p)) for p in shown)
            if more:
                details += f"\n... and {more} more (declip case verify lists them all)"
            hidden = (" Analyses that fail are not shown and not reported; analyse again to replace them."
                      if report.untrusted_analyses else "")
            listed = {row.id for row in win.evidenceModel.rows()}
            if any(p.kind == "index_mismatch" and p.evidence_id and p.evidence_id not in listed for p in report.problems):
                hidden += (" Items the audit log added but the index lacks (an interrupted ingest): File > Resume "
                           "interrupted ingest indexes them from their copies in the case, where those are intact.")
            win.report_error("Integrity problems", f"{report.summary()}.{hidden}\n\n{details}")


def cases_folder() -> Path:
    """Where Open starts: the folder of the most recent case, else the default cases folder."""
    from declip_desktop.dialogs.new_case import default_cases_dir

    for path in settings.recent_cases()[:1]:
        parent = Path(path).parent
        if parent.is_dir():
            return parent
    folder = default_cases_dir()
    return folder if folder.is_dir() else Path.home()


def _show_last_failures(win, case) -> None:
    """An image whose last analysis attempt failed shows that error again after reopening, not
    "not analysed" (the audit log keeps each failure, from here or `declip case analyze`)."""
    from declip_desktop.case.analyses import last_failures

    try:
        entries = case.audit_entries()
    except Exception:
        return
    for eid, d in last_failures(entries).items():
        if win.evidenceModel.get(eid) is not None:
            win.evidenceModel.update(eid, error=str(d.get("error") or "analysis failed"))


def _case_class():
    from declip_desktop.case import Case

    return Case
