"""Follow-ups of the GUI reviews: one place for the screen's size, the Add images filter built from
the engine's suffixes, thumbnails that must belong to the evidence's bytes."""
from __future__ import annotations

from tests.gui_support import isolated_qsettings  # noqa: F401


def test_the_model_list_popup_asks_window_state_for_the_screen(qtbot, monkeypatch):
    # analysis_dock measured the screen itself; window_state.available_geometry is the one place
    from PySide6.QtCore import QRect

    from declip_desktop import window_state
    from tests.gui_support import shown_analysis_panel

    panel = shown_analysis_panel(qtbot)
    c = panel.modelCombo
    c.addItem("DeCLIP-Lite2 default (splices, copy-move, classical inpainting)", "m")
    c.setFixedWidth(600)  # a list at least as wide as the combo, were the screen wide enough
    asked = []

    def small_screen(widget, available=None):
        asked.append(widget)
        return QRect(0, 0, 400, 300)

    monkeypatch.setattr(window_state, "available_geometry", small_screen)
    c.showPopup()
    try:
        assert asked and asked[0] is c
        assert c.view().minimumWidth() == 400 - 40  # capped by that screen, not the real one
    finally:
        c.hidePopup()
    monkeypatch.setattr(window_state, "available_geometry", lambda widget, available=None: None)
    c.showPopup()  # no screen at all: the old 1280 px guess
    try:
        assert c.view().minimumWidth() == 600
    finally:
        c.hidePopup()


def test_add_images_lists_every_suffix_the_engine_reads(qtbot, tmp_path, monkeypatch):
    # the filter was typed by hand: .jfif, .jpe, .mpo, .gif, .ppm ... were hidden under "Images"
    from engine.cli import IMAGE_SUFFIXES
    from tests.gui_support import make_window

    w = make_window(qtbot)
    asked = {}

    def dialog(parent, caption, folder, filters):
        asked["filters"] = filters
        return [], ""

    monkeypatch.setattr("declip_desktop.main_window.QFileDialog.getOpenFileNames", dialog)
    w.add_images_dialog()
    images, rest = asked["filters"].split(";;")
    assert images.startswith("Images (") and images.endswith(")") and rest == "All files (*)"
    patterns = images[len("Images ("):-1].split()
    # each suffix in both cases: a native (GTK, portal) dialog matches case-sensitively, cameras write IMG_0001.JPG
    assert sorted(patterns) == sorted(["*" + s for s in IMAGE_SUFFIXES] + ["*" + s.upper() for s in IMAGE_SUFFIXES])
    assert {"*.jfif", "*.jpe", "*.mpo", "*.gif", "*.ppm", "*.JPG", "*.JPEG"} <= set(patterns)
    assert "*.heic" not in patterns and "*.HEIC" not in patterns  # not readable: ingest refuses it as "not an image"


def test_the_demo_takes_every_image_the_engine_would(tmp_path, monkeypatch):
    from declip_desktop import demo

    (tmp_path / "samples").mkdir()
    for name in ("a.jfif", "b.GIF", "c.ppm", "d.jpg", "notes.txt", "LICENSES.json"):
        (tmp_path / "samples" / name).write_bytes(b"x")
    monkeypatch.setattr(demo.resources, "path", lambda *parts: tmp_path.joinpath(*parts))
    files, _ = demo.samples()
    assert [p.name for p in files] == ["a.jfif", "b.GIF", "c.ppm", "d.jpg"]


def test_the_evidence_list_never_shows_a_planted_thumbnail(qtbot, tmp_path):
    # the list showed whatever file sat in thumbs/ under the item's name
    import shutil

    from PIL import Image

    from tests.case_support import new_case
    from tests.gui_support import close_window, make_window

    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (160, 120), (220, 20, 20)).save(src / "red.jpg", quality=95)
    Image.new("RGB", (160, 120), (20, 20, 220)).save(src / "blue.jpg", quality=95)
    with new_case(tmp_path) as case:
        case.add_paths([src / "red.jpg", src / "blue.jpg"])
        red, blue = case.thumbnail("E0001", 192), case.thumbnail("E0002", 192)  # the sizes the list asks for
        path = case.path
    shutil.copyfile(blue, red)  # planted: blue's picture under red's name
    w = make_window(qtbot, path)
    qtbot.waitUntil(lambda: all(w.evidenceModel.get(i).thumbnail is not None for i in ("E0001", "E0002")),
                    timeout=20000)
    for eid, want in (("E0001", (220, 20, 20)), ("E0002", (20, 20, 220))):
        img = w.evidenceModel.get(eid).thumbnail
        c = img.pixelColor(img.width() // 2, img.height() // 2)
        assert all(abs(a - b) < 40 for a, b in zip((c.red(), c.green(), c.blue()), want)), (eid, c.name())
    close_window(w)
