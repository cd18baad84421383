"""Entry point (`declip-desktop`, --demo, --self-test) and the demo case."""
from __future__ import annotations

import json

from tests.gui_support import isolated_qsettings  # noqa: F401


def test_demo_case_holds_the_samples_with_their_licences(tmp_path):
    import resources
    from declip_desktop import demo
    from declip_desktop.case import Case

    path = demo.build_demo_case(tmp_path)
    entries = json.loads(resources.path("samples", "LICENSES.json").read_text(encoding="utf-8"))
    with Case.open(path, readonly=True) as case:
        names = sorted(it.file_name for it in case.evidence)
        assert names == sorted(e["file"] for e in entries)
        for e in entries:
            assert e["licence"] and e["file"] in case.description
        logged = [a for a in case.audit_entries() if a.get("action") == "demo_sample_licences"]
        assert logged and "chelsea_copy_move.jpg" in logged[0]["details"]["licences"]
    assert demo.build_demo_case(tmp_path) == path  # opened again, not rebuilt


def test_app_opens_the_demo_case(qtbot):
    from declip_desktop.app import build_parser, create_window

    w = create_window(build_parser().parse_args(["--demo"]))
    qtbot.addWidget(w)
    assert w.case is not None and w.case.title == "DeCLIP demo"
    assert w.evidenceModel.rowCount() == 5
    w.close()


def test_cli_flags():
    from declip_desktop.app import build_parser

    args = build_parser().parse_args(["some.declip", "--demo"])
    assert args.case_dir == "some.declip" and args.demo and not args.self_test
    assert build_parser().parse_args(["--self-test"]).self_test


def test_opening_a_bad_case_folder_says_why_and_keeps_running(qtbot, tmp_path):
    from tests.gui_support import close_window, make_window

    bad = tmp_path / "bad.declip"
    bad.mkdir()
    (bad / "case.json").write_text("{not json")
    w = make_window(qtbot, bad)
    assert w.case is None
    assert "Cannot open the case" in w.statusBar().currentMessage()
    assert (bad / "case.json").read_text() == "{not json"  # nothing overwritten
    close_window(w)


def test_window_fits_a_short_screen_and_keeps_whole_docks_on_a_tall_one(qtbot):
    """The analysis and overlay docks hold their whole content where the screen allows it; on a
    768-px laptop they share what is left and scroll, so the window is never taller than the screen."""
    from PySide6.QtWidgets import QDockWidget

    from declip_desktop import window_state
    from tests.gui_support import close_window, make_window

    assert window_state.shared_dock_heights({"a": 400, "b": 300}, 0) == {"a": 400, "b": 300}
    shared = window_state.shared_dock_heights({"a": 400, "b": 300}, 120)
    assert sum(shared.values()) == 580 and shared["a"] < 400 and shared["b"] < 300
    floor = window_state.MIN_DOCK_HEIGHT
    assert window_state.shared_dock_heights({"a": 400, "b": 300}, 10**4) == {"a": floor, "b": floor}

    w = make_window(qtbot)
    docks = [w.findChild(QDockWidget, f"{k}Dock").widget() for k in window_state.WHOLE_DOCKS]
    window_state.fit_to_screen(w, 2000)
    whole = [d.minimumHeight() for d in docks]
    assert all(h > floor for h in whole)
    tall_minimum = w.minimumSizeHint().height()
    window_state.fit_to_screen(w, 768)
    assert w.minimumSizeHint().height() <= 768 - window_state.FRAME_ALLOWANCE < tall_minimum
    assert all(floor <= d.minimumHeight() <= h for d, h in zip(docks, whole))
    analysis = docks[window_state.WHOLE_DOCKS.index("analysis")]
    assert analysis.minimumHeight() < whole[window_state.WHOLE_DOCKS.index("analysis")]  # it gives up first
    window_state.fit_to_screen(w, 2000)  # back on a tall screen: whole again
    assert [d.minimumHeight() for d in docks] == whole
    close_window(w)
