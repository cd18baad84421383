"""What the main window remembers between sessions: geometry and dock layout (QSettings) and the
overlay and analysis choices (Preferences)."""
from __future__ import annotations

from PySide6.QtCore import QByteArray, QCoreApplication, QEvent, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget

from declip_desktop import settings
from declip_desktop.overlay_style import DisplayMode, OverlayStyle


# The docks whose content is kept whole in view (progress, readouts) where the screen allows it.
WHOLE_DOCKS = ("analysis", "overlay")
# On a short screen they give up height in this order, each down to MIN_DOCK_HEIGHT: the analysis
# controls scroll first (set once per session), the overlay readouts only when nothing else is left.
GIVE_UP_ORDER = ("analysis", "overlay")
# Docks whose panel states its own usable height (`usable_height()`), kept whatever the screen:
# the finding's status, pinned layers, a few lines of note and Save.
USABLE_DOCKS = ("finding",)
MIN_DOCK_HEIGHT = 140  # below this a dock shows too little to work with, even scrolled
FRAME_ALLOWANCE = 40  # the window manager's title bar and borders, outside the window's own height
SIDE_ALLOWANCE = 16  # the window manager's side borders, outside the window's own width


def shared_dock_heights(wanted: dict[str, int], excess: int, order: tuple[str, ...] | None = None) -> dict[str, int]:
    """The docks' minimum heights when the window's minimum is `excess` px taller than the screen.
    Without `order` each gives up a share in proportion to its height; with it, the docks give up
    height one after the other in that order. None goes below MIN_DOCK_HEIGHT."""
    if excess <= 0:
        return dict(wanted)
    if order is not None:
        out = dict(wanted)
        for k in order:
            cut = min(max(0, out[k] - MIN_DOCK_HEIGHT), excess)
            out[k] -= cut
            excess -= cut
        return out
    room = sum(max(0, h - MIN_DOCK_HEIGHT) for h in wanted.values())
    cut = min(excess, room)
    return {k: h - (round(cut * max(0, h - MIN_DOCK_HEIGHT) / room) if room else 0) for k, h in wanted.items()}


def available_geometry(widget, available=None):
    """The area a window or dialog must fit in: `available` (a QRect) where given, else the available
    geometry (without task bars) of the widget's screen, or of the primary screen before it has one;
    None without any screen. The one place that decides it, for the main window and the dialogs."""
    if available is not None:
        return available
    screen = widget.screen() or QGuiApplication.primaryScreen()
    return None if screen is None else screen.availableGeometry()


def screen_height(win) -> int | None:
    """The screen's available height (without task bars), None without a screen."""
    room = available_geometry(win)
    return None if room is None else room.height()


# The side columns' narrowest: the analysis controls' own minimum (about 295 px) with the dock's frame, and a
# thumbnail with a readable name beside it. The panels do not scroll sideways, so a column dragged (or restored
# from another screen's layout) narrower than its controls cut them off mid-word.
COLUMN_MIN_WIDTHS = {("analysis", "overlay", "finding"): 310, ("evidence", "metadata", "layer", "corroboration"): 240}
SEPARATORS = 22  # the two column separators and the layout's margins


def keep_columns_usable(win, available=None) -> None:
    """Give each side column its usable width as a minimum; on a screen too narrow for both columns and the
    image (under about 900 px) they share what there is, so the window still fits the screen."""
    available = available_geometry(win, available)
    total = sum(COLUMN_MIN_WIDTHS.values())
    share = 1.0
    if available is not None:
        room = available.width() - SIDE_ALLOWANCE
        image = win.centralWidget().minimumSizeHint().width() if win.centralWidget() is not None else 0
        share = min(1.0, max(0, room - image - SEPARATORS) / total)
    for _ in range(3):  # the tab bars and frames have floors of their own: measure, and give up the rest
        for keys, width in COLUMN_MIN_WIDTHS.items():
            for key in keys:
                dock = win.findChild(QDockWidget, f"{key}Dock")
                if dock is not None:
                    dock.setMinimumWidth(int(width * share))
        if available is None or share == 0:
            return
        _settle(win)
        over = win.minimumSizeHint().width() - room
        if over <= 0:
            return
        share = max(0.0, share - over / total * 2)  # two columns share the cut


def fit_width(win, available=None) -> None:
    """Keep the window no wider than the screen's available area and inside it: the default size
    (1400 px) or one remembered from a wider monitor would put the right-hand docks (slider values,
    the finding's Save) off a 1366- or 1280-px laptop screen."""
    available = available_geometry(win, available)
    if available is None:
        return
    room = available.width() - SIDE_ALLOWANCE
    if win.width() > room and not (win.isMaximized() or win.isFullScreen()):
        win.resize(max(win.minimumSizeHint().width(), room), win.height())
    if win.x() + win.width() > available.right() + 1 or win.x() < available.left():
        win.move(available.left(), win.y())


def _whole(panel) -> int:
    """The height at which a dock's content needs no scrolling: the panel's own measure where it has one
    (the overlay panel, whose rows come and go), else the height recorded when the window was built."""
    if hasattr(panel, "whole_height"):
        return panel.whole_height()
    return panel.property("wholeHeight") or panel.minimumHeight()


def fit_to_screen(win, available_height: int | None = None) -> None:
    """Keep the window no taller than the screen. The analysis and overlay docks hold their whole
    content (so progress and readouts never scroll away), which makes the window about 890 px tall at
    least; on a shorter screen (an 800- or 768-px laptop) the analysis dock gives up height first and
    scrolls, then the overlay dock. The finding dock always keeps its usable height."""
    if available_height is None:
        available_height = screen_height(win)
        if available_height is None:
            return
    for k in USABLE_DOCKS:
        panel = win.findChild(QDockWidget, f"{k}Dock").widget()
        panel.setMinimumHeight(panel.usable_height())
    docks = {k: win.findChild(QDockWidget, f"{k}Dock").widget() for k in WHOLE_DOCKS}
    wanted = {k: _whole(w) for k, w in docks.items()}
    for k, w in docks.items():
        w.setProperty("wholeHeight", wanted[k])
        w.setMinimumHeight(wanted[k])
    _settle(win)
    excess = win.minimumSizeHint().height() - (available_height - FRAME_ALLOWANCE)
    for k, h in shared_dock_heights(wanted, excess, GIVE_UP_ORDER).items():
        docks[k].setMinimumHeight(h)
    _settle(win)
    if win.height() > available_height - FRAME_ALLOWANCE and not (win.isMaximized() or win.isFullScreen()):
        win.resize(win.width(), max(win.minimumSizeHint().height(), available_height - FRAME_ALLOWANCE))


def refit_if_needed(win) -> None:
    """After a dock is shown later (the Problems dock, a dock the user turns on) or a dock's content
    grew or shrank (rows added to or taken from the overlay controls): fit again if the window's
    minimum, or the window itself, no longer fits the screen, or if a dock kept whole now needs more,
    or less, than it was given. A dock that grew for rows gives the height back when they go."""
    avail = screen_height(win)
    if avail is None or not win.isVisible():
        return
    _settle(win)
    grown = shrunk = False
    for k in WHOLE_DOCKS:
        panel = win.findChild(QDockWidget, f"{k}Dock").widget()
        if hasattr(panel, "whole_height"):
            now, given = panel.whole_height(), panel.property("wholeHeight") or 0
            grown, shrunk = grown or now > given, shrunk or now < given
    if grown and getattr(win, "_before_growth", None) is None:  # (window, overlay dock) heights
        win._before_growth = (win.height(), win.findChild(QDockWidget, "overlayDock").height())
    if grown or shrunk or win.minimumSizeHint().height() > avail - FRAME_ALLOWANCE or win.frameGeometry().height() > avail:
        fit_to_screen(win, avail)
    if shrunk:
        _give_back(win)


def _give_back(win) -> None:
    """The overlay dock once grew for rows that are gone now (Beside, a layer's progress): it goes back
    to its old height, or to what its content still needs, the rest to the Analysis dock above (the
    one that gave it up), and a window that grew for the rows to its old height. Without this the dock
    (and the window) only ever grew."""
    before = getattr(win, "_before_growth", None)
    if before is None:
        return
    win_before, dock_before = before
    overlay, analysis = win.findChild(QDockWidget, "overlayDock"), win.findChild(QDockWidget, "analysisDock")
    needs = _whole(overlay.widget()) + overlay.height() - overlay.widget().height()  # + its title bar
    if needs > dock_before:
        return  # rows are still there (Beside): give back when they are gone
    win._before_growth = None
    # the window goes back only where it grew no more than the dock did (not where the user made it taller)
    if 0 < win.height() - win_before <= overlay.height() - dock_before and not (win.isMaximized() or win.isFullScreen()):
        win.resize(win.width(), max(win_before, win.minimumSizeHint().height()))
        win.layout().activate()
    spare = overlay.height() - dock_before
    if spare <= 0 or overlay.isFloating():
        return
    if analysis.isVisible() and not analysis.isFloating():
        win.resizeDocks([analysis, overlay], [analysis.height() + spare, dock_before], Qt.Orientation.Vertical)
    else:
        win.resizeDocks([overlay], [dock_before], Qt.Orientation.Vertical)


def _settle(win) -> None:
    """Let the docks' new minimum heights reach the window's minimum size now (they travel as posted
    layout requests, dock by dock)."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
    win.layout().activate()


def restore(win) -> None:
    s = settings.qsettings()
    geom = s.value("window/geometry")
    if isinstance(geom, QByteArray) and not geom.isEmpty():
        win.restoreGeometry(geom)
    else:
        win.resize(1400, 900)
    keep_columns_usable(win)
    fit_width(win)
    fit_to_screen(win)
    state = s.value("window/state")
    if isinstance(state, QByteArray) and not state.isEmpty():
        win.restoreState(state)
    else:  # the side columns' default widths, once the window has its size: a window narrowed to the
        # screen takes the width from the image, not from the docks
        QTimer.singleShot(0, win, win.size_docks)
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
