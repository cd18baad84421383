"""New case dialog: title, number, examiner, organisation, description and where to keep it."""
from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPlainTextEdit, QPushButton, QVBoxLayout)

from engine.stamps import os_user


def default_cases_dir() -> Path:
    home = os.environ.get("DECLIP_HOME")
    if home:
        return Path(home) / "cases"
    docs = Path.home() / "Documents"
    return (docs if docs.is_dir() else Path.home()) / "DeCLIP Cases"


def unique_case_path(folder: Path, title: str) -> Path:
    slug = re.sub(r"[^\w\- ]+", "", title).strip().replace(" ", "_") or "case"
    p = folder / f"{slug}.declip"
    n = 2
    while p.exists():
        p = folder / f"{slug}_{n}.declip"
        n += 1
    return p


class NewCaseDialog(QDialog):
    def __init__(self, parent=None, examiner: str = "", intro: str = ""):
        super().__init__(parent)
        self.setObjectName("newCaseDialog")
        self.setWindowTitle("New case")
        title = f"Case {datetime.now():%Y-%m-%d %H%M}"
        self.titleEdit = QLineEdit(title, objectName="caseTitleEdit", accessibleName="Case title")
        self.numberEdit = QLineEdit(objectName="caseNumberEdit", accessibleName="Case number")
        self.examinerEdit = QLineEdit(examiner or os_user(), objectName="caseExaminerEdit",
                                      accessibleName="Examiner")
        self.orgEdit = QLineEdit(objectName="caseOrganisationEdit", accessibleName="Organisation")
        self.descriptionEdit = QPlainTextEdit(objectName="caseDescriptionEdit", accessibleName="Description")
        self.descriptionEdit.setMaximumHeight(70)
        self.descriptionEdit.setTabChangesFocus(True)
        self.locationEdit = QLineEdit(str(unique_case_path(default_cases_dir(), title)),
                                      objectName="caseLocationEdit", accessibleName="Case folder")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        loc = QHBoxLayout()
        loc.addWidget(self.locationEdit, 1)
        loc.addWidget(browse)
        self.titleEdit.textEdited.connect(self._title_edited)
        for edit in (self.examinerEdit, self.locationEdit):
            edit.textEdited.connect(lambda _t: self.error.clear())
        form = QFormLayout()
        form.addRow("Title *", self.titleEdit)
        form.addRow("Case number", self.numberEdit)
        form.addRow("Examiner *", self.examinerEdit)
        form.addRow("Organisation", self.orgEdit)
        form.addRow("Description", self.descriptionEdit)
        form.addRow("Case folder", loc)
        self.error = QLabel("", objectName="newCaseError")
        self.error.setStyleSheet("color: #d33")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create case")
        buttons.accepted.connect(self._check_accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        if intro:
            lab = QLabel(intro)
            lab.setWordWrap(True)
            lay.addWidget(lab)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self._location_touched = False
        self.resize(520, 380)

    def _title_edited(self, text: str) -> None:
        self.error.clear()  # an old complaint must not sit under a field that is now filled in
        if not self._location_touched:
            self.locationEdit.setText(str(unique_case_path(default_cases_dir(), text or "case")))

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Where to keep the case", str(default_cases_dir()))
        if folder:
            self._location_touched = True
            self.locationEdit.setText(str(unique_case_path(Path(folder), self.titleEdit.text() or "case")))

    def _check_accept(self) -> None:
        if not self.titleEdit.text().strip():
            self.error.setText("Please give the case a title.")
        elif not self.examinerEdit.text().strip():
            self.error.setText("Please enter the examiner's name.")
        elif not self.locationEdit.text().strip():
            self.error.setText("Please choose a folder for the case.")
        else:
            self.accept()

    def values(self) -> dict:
        return {
            "path": self.locationEdit.text().strip(),
            "title": self.titleEdit.text().strip(),
            "number": self.numberEdit.text().strip(),
            "examiner": self.examinerEdit.text().strip(),
            "organisation": self.orgEdit.text().strip(),
            "description": self.descriptionEdit.toPlainText().strip(),
        }
