"""The bundled fonts (resources/fonts), registered with Qt at start-up so the window shows the
same scripts the PDF report does: an examiner named 王小明 must not become □□□ on a machine
without CJK system fonts (air-gapped installs often have none)."""
from __future__ import annotations

import resources

BUNDLED = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf", "DroidSansFallback.ttf")
_registered: list[str] | None = None


def register_bundled_fonts() -> list[str]:
    """Add the bundled fonts to Qt's database once and put them behind the application font as
    fallbacks. Returns the families registered. Needs a QGuiApplication."""
    global _registered
    if _registered is not None:
        return _registered
    from PySide6.QtGui import QFontDatabase, QGuiApplication

    families: list[str] = []
    for name in BUNDLED:
        font_id = QFontDatabase.addApplicationFont(str(resources.path("fonts", name)))
        if font_id >= 0:
            families += [f for f in QFontDatabase.applicationFontFamilies(font_id) if f not in families]
    app = QGuiApplication.instance()
    if app is not None and families:
        font = app.font()
        # The system's UI font first; the bundled ones fill the scripts it lacks.
        font.setFamilies([font.family()] + [f for f in families if f != font.family()])
        app.setFont(font)
    _registered = families
    return families
