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
