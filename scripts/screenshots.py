#!/usr/bin/env python3
"""Render the main states of DeCLIP Desktop into docs/screenshots/*.png.

    xvfb-run -a -s "-screen 0 1600x1000x24" python scripts/screenshots.py [--out docs/screenshots]

Runs in a throw-away DECLIP_HOME/config, on the demo case (resources/samples). It analyses with
the store's default model when that is installed; otherwise with a tiny random test model, and
then the maps are noise (the file names say so: *-random-model.png are only for layout).
Without a display it falls back to Qt's offscreen platform.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from declip_desktop.event_wait import wait_until  # noqa: E402  (after the path is set)

SETTLE = 20  # event rounds after each wait, so the window has repainted before a shot


def find(w, name):
    from PySide6.QtWidgets import QWidget

    return w.findChild(QWidget, name)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--window", default="1500x920", metavar="WxH",
                    help="main window size (e.g. 1366x728 under a 1366x768 screen: a laptop)")
    ap.add_argument("--only", choices=["main", "layers", "dialogs"], action="append",
                    help="render only these groups (repeatable; default: all)")
    args = ap.parse_args()
    groups = set(args.only or ["main", "layers", "dialogs"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    tmp = Path(tempfile.mkdtemp(prefix="declip-shots-"))
    os.environ["DECLIP_HOME"] = str(tmp / "home")
    os.environ["DECLIP_CONFIG_HOME"] = str(tmp / "config")

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    app.setApplicationName("DeCLIP Desktop")
    from declip_desktop import demo
    from declip_desktop.main_window import MainWindow
    from engine.store import ModelStore

    store = ModelStore()
    ready = {e.card.id for e in store.list() if e.status == "ready"}
    suffix = ""
    if store.default_id not in ready:
        from engine.testing import make_tiny_model_dir

        store.import_path(make_tiny_model_dir(tmp / "tiny"))
        store.default_id = "tiny-test"
        suffix = "-random-model"
        print("no default model installed: using a tiny random model (maps are noise)")

    def shot(widget, name):
        app.processEvents()
        path = out / f"{name}{suffix if name.startswith('main-') and name != 'main-empty' else ''}.png"
        widget.grab().save(str(path))
        print("wrote", path)

    w = MainWindow()
    w.resize(*(int(v) for v in args.window.lower().split("x")))
    w.show()
    wait_until(app, lambda: True, settle=SETTLE)
    shot(w, "main-empty")

    w.open_case(str(demo.build_demo_case(tmp / "demo")))
    w.set_examiner("王小明")  # a CJK name: drawn with the bundled fonts, not as boxes
    wait_until(app, lambda: w.imageView.image is not None, settle=SETTLE)
    w.analyze_all()
    wait_until(app, lambda: not w.analysis.running, settle=SETTLE)
    rows = [r.name for r in w.evidenceModel.rows()]
    target = rows.index("astronaut_splice.jpg") if "astronaut_splice.jpg" in rows else 0
    w.evidenceList.setCurrentIndex(w.evidenceModel.index(target))
    wait_until(app, lambda: w.imageView.overlay_item is not None, settle=SETTLE)
    find(w, "findingStatusCombo").setCurrentIndex(find(w, "findingStatusCombo").findData("suspicious"))
    # The default model's real output on this sample, described as an examiner would: it marks the
    # authentic shuttle and only the rim of the pasted mug (see the model card's limits).
    find(w, "findingNoteEdit").setPlainText("Lower right: the mug was pasted in (soft edges, lighting differs); the map "
                                   "marks only its rim. The strongly marked shuttle is in the source photo: "
                                   "a false positive, not a finding.")
    find(w, "thresholdSlider").setValue(50)
    find(w, "opacitySlider").setValue(55)
    w.findings.save(sync=True)
    w.evidenceList.setFocus()
    if "main" in groups:
        main_shots(app, w, shot)
    if "layers" in groups:  # last on the main window: it alters one stored analysis to show a failing one
        layer_shots(app, w, shot, target)
    if "dialogs" not in groups:
        w.close()
        return 0
    dialog_shots(app, w, shot, tmp)
    w.close()
    app.processEvents()
    return 0


def main_shots(app, w, shot) -> None:
    from declip_desktop.overlay_style import DisplayMode

    shot(w, "main-heat")
    for mode, name in ((DisplayMode.MASK, "main-mask"), (DisplayMode.CONTOUR, "main-contour"),
                       (DisplayMode.SIDE_BY_SIDE, "main-side-by-side")):
        w.overlayPanel.set_mode(mode)
        wait_until(app, lambda: True, settle=SETTLE)
        shot(w, name)
    w.overlayPanel.set_mode(DisplayMode.HEAT)
    top = w.imageView.overlay_item.pyramid.max_value
    find(w, "thresholdSlider").setValue(min(100, int(top * 100) + 5))  # above what the map reaches: warned
    wait_until(app, lambda: True, settle=SETTLE)
    shot(w, "main-threshold-above-range")
    find(w, "thresholdSlider").setValue(50)


def dialog_shots(app, w, shot, tmp: Path) -> None:
    from declip_desktop.dialogs.about import AboutDialog
    from declip_desktop.dialogs.model_manager import ModelManagerDialog
    from declip_desktop.dialogs.trainer import TrainerDialog

    for cls, name in ((ModelManagerDialog, "model-manager"), (AboutDialog, "about")):
        dlg = cls(w)
        dlg.show()
        wait_until(app, lambda: True, settle=SETTLE)
        shot(dlg, name)
        dlg.close()

    # Help -> Validate installation after a real run of the embedded model and every layer (~40 s)
    from declip_desktop.dialogs.validation import ValidationDialog

    dlg = ValidationDialog(w.runner, w)
    dlg.resize(700, 720)
    dlg.show()
    wait_until(app, lambda: dlg.result is not None, timeout=600, settle=SETTLE)
    shot(dlg, "validation")
    dlg.close()

    # The trainer after a short real run: a tiny EfficientNet-Lite0 cut and a 4-channel decoder
    # on a data set synthesised from the sample photos (seconds on a CPU).
    import json

    import resources

    dlg = TrainerDialog(w)
    dlg.show()
    dlg.useSynth.setChecked(True)
    authentic = tmp / "authentic"
    authentic.mkdir()
    entries = json.loads(resources.path("samples", "LICENSES.json").read_text(encoding="utf-8"))
    for e in entries:
        if not e.get("manipulated"):
            (authentic / e["file"]).write_bytes(resources.path("samples", e["file"]).read_bytes())
    (authentic / "LICENSES.json").write_text(json.dumps([e for e in entries if not e.get("manipulated")]))
    dlg.photosEdit.setText(str(authentic))
    dlg.synthOutEdit.setText(str(tmp / "synth"))
    dlg.synthCount.setValue(24)
    dlg.recipeCombo.setCurrentIndex(dlg.recipeCombo.findData("small-data"))  # the small-data recipe suits 24 items
    dlg.backboneCombo.setEditText(json.dumps({"family": "lite0", "stages": [1], "grid": 8, "input_size": 64}))
    dlg.decoderCombo.setCurrentText("conv-4")
    dlg.widths = [4, 4, 4, 4]
    dlg.epochsSpin.setValue(6)
    dlg.batchSpin.setValue(4)
    dlg.outEdit.setText(str(tmp / "demo-trained"))
    dlg.nameEdit.setText("Demo decoder (tiny)")
    done = []
    dlg.trainingFinished.connect(done.append)
    dlg.start()
    wait_until(app, lambda: bool(done), timeout=600, settle=SETTLE)
    shot(dlg, "trainer")
    dlg.close()


def layer_shots(app, w, shot, splice_row: int) -> None:
    """Section 3 of issue #38 as an examiner walks it: a layer in the selector, its how-to-read
    panel, clones with a selected pair, side by side with two maps, the corroboration table, a
    pinned layer, and an analysis that fails verification."""
    from declip_desktop.overlay_style import DisplayMode

    def choose(layer):
        shown = []
        w.layers.layerShown.connect(lambda eid, name: shown.append(name))
        w.layerPanel.set_layer(layer)
        wait_until(app, lambda: layer in shown or not w.layerPanel.layerProgressBar.isVisible(), settle=SETTLE)

    def scroll_to(widget):
        area = w._docks["layer"].widget()
        area.ensureWidgetVisible(widget, 0, 0)
        wait_until(app, lambda: True, settle=SETTLE)

    def select(name):
        rows = [r.name for r in w.evidenceModel.rows()]
        w.evidenceList.setCurrentIndex(w.evidenceModel.index(rows.index(name)))
        wait_until(app, lambda: w.display._shown is not None and w.display.current_id == w.evidenceModel.rows()[
            rows.index(name)].id, settle=SETTLE)

    w.evidenceList.setCurrentIndex(w.evidenceModel.index(splice_row))
    wait_until(app, lambda: w.imageView.overlay_item is not None, settle=SETTLE)
    w.layerPanel.set_layer("resampling")  # computing: busy bar and Cancel in the overlay dock
    wait_until(app, lambda: w.layerPanel.layerProgressBar.isVisible(), settle=2)
    shot(w, "layers-computing")
    wait_until(app, lambda: not w.layerPanel.layerProgressBar.isVisible(), settle=SETTLE)
    choose("ela")
    scroll_to(w.layerPanel.howToReadLabel)
    shot(w, "layers-ela")
    w.layerPanel.pinLayerCheck.setChecked(True)
    wait_until(app, lambda: "ela" in w.findingPanel.pinnedLabel.text(), settle=SETTLE)
    scroll_to(w.layerPanel.pinLayerCheck)
    shot(w, "layers-ela-pinned")
    select("chelsea_copy_move.jpg")
    choose("clones")
    w.layerPanel.clonePairsList.setCurrentRow(0)
    scroll_to(w.layerPanel.clonePairsList)
    shot(w, "layers-clones")
    w.layerPanel.besideCombo.setCurrentIndex(w.layerPanel.besideCombo.findData(""))  # the learned map
    w.overlayPanel.set_mode(DisplayMode.SIDE_BY_SIDE)
    wait_until(app, lambda: w.layers._beside is not None, settle=SETTLE)
    w.imageView.zoom_in()
    w.imageView.zoom_in()
    wait_until(app, lambda: True, settle=SETTLE)
    shot(w, "layers-side-by-side")
    w.overlayPanel.set_mode(DisplayMode.HEAT)
    choose("noise")
    done = []
    w.layers.corroborated.connect(lambda *a: done.append(a))
    w.layerPanel.corroborateButton.click()
    wait_until(app, lambda: bool(done) or "Compare maps:" in w.layerPanel.layerStatusLabel.text(), settle=SETTLE)
    w.layerPanel.corroborationTable.selectRow(0)
    wait_until(app, lambda: True, settle=SETTLE)
    shot(w, "layers-corroboration")
    # An analysis whose map was altered on disk after it was stored: verify names it.
    case = w.case
    eid = w.display.current_id
    learned = [a for a in case.analyses(eid) if a.mode != "evidence"]
    if learned:
        path = learned[0].map_path
        os.chmod(path, 0o644)
        with open(path, "r+b") as f:
            f.seek(-32, os.SEEK_END)
            f.write(b"\0" * 16)
        w.actionVerify.trigger()
        wait_until(app, lambda: "Integrity" in w.statusBar().currentMessage()
                   or w.evidenceModel.get(eid).integrity != "not checked", settle=SETTLE)
        select("chelsea_copy_move.jpg")
        w.layerPanel.set_layer("")
        wait_until(app, lambda: True, settle=SETTLE)
        shot(w, "layers-integrity-failure")


if __name__ == "__main__":
    sys.exit(main())
