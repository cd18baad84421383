"""About dialog: versions of the app and its libraries, and licences."""
from __future__ import annotations

import html

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout

from engine.versions import app_version, software_versions

LICENCES = [
    ("DeCLIP Desktop", "Apache-2.0"),
    ("DeCLIP method (Smeu et al., WACV 2025)", "see the model card of each model"),
    ("Qt 6 / PySide6", "LGPL-3.0"),
    ("PyTorch", "BSD-3-Clause"),
    ("open_clip", "MIT"),
    ("timm", "Apache-2.0"),
    ("NumPy", "BSD-3-Clause"),
    ("Pillow", "MIT-CMU (HPND)"),
    ("ExifRead", "BSD-3-Clause"),
    ("reportlab", "BSD-3-Clause"),
]


def about_html() -> str:
    versions = dict(software_versions())
    versions["Qt"] = qVersion()
    versions["PySide6"] = pyside_version
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in versions.items())
    lic = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>" for a, b in LICENCES)
    return (
        f"<h2>DeCLIP Desktop {html.escape(app_version())}</h2>"
        "<p>Offline localisation of manipulated regions in photographs. Results are an aid to a "
        "trained examiner, not proof: read each model's card for its intended use and limits.</p>"
        f"<h3>Versions</h3><table cellspacing=4>{rows}</table>"
        f"<h3>Licences</h3><table cellspacing=4>{lic}</table>"
    )


class AboutDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About DeCLIP Desktop")
        text = QTextBrowser(objectName="aboutText")
        text.setHtml(about_html())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addWidget(buttons)
        self.resize(520, 560)
