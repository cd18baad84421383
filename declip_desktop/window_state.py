"""What the main window remembers between sessions: geometry and dock layout (QSettings) and the
overlay and analysis choices (Preferences)."""
from __future__ import annotations

from PySide6.QtCore import QByteArray

from declip_desktop import settings
from declip_desktop.overlay_style import DisplayMode, OverlayStyle


def restore(win) -> None:
    s = settings.qsettings()
    geom = s.value("window/geometry")
    if isinstance(geom, QByteArray) and not geom.isEmpty():
        win.restoreGeometry(geom)
    else:
        win.resize(1400, 900)
    state = s.value("window/state")
    if isinstance(state, QByteArray) and not state.isEmpty():
        win.restoreState(state)
    p = win.prefs
    try:
        mode = DisplayMode(p.display_mode)
    except ValueError:
        mode = DisplayMode.HEAT
    win.overlayPanel.set_style(OverlayStyle(cmap=p.colormap, opacity=p.opacity, threshold=p.threshold, mode=mode))
    win.analysisPanel.select_data(win.analysisPanel.modeCombo, p.analysis_mode)
    win.analysisPanel.select_data(win.analysisPanel.precisionCombo, p.precision)


def save(win) -> None:
    s = settings.qsettings()
    s.setValue("window/geometry", win.saveGeometry())
    s.setValue("window/state", win.saveState())
    s.sync()
    p, st = win.prefs, win.overlayPanel.style()
    p.colormap, p.opacity, p.threshold = st.cmap, st.opacity, st.threshold
    p.display_mode = st.mode.value if st.mode is not DisplayMode.ORIGINAL else "heat"
    p.analysis_mode = win.analysisPanel.modeCombo.currentData()
    p.precision = win.analysisPanel.precisionCombo.currentData()
    try:
        p.save()
    except OSError:
        pass
