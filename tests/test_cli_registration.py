"""`declip` registers every package's commands; a missing module is a loud one-line error, never a
silently missing command (a broken install used to just lose `declip train`)."""
from __future__ import annotations

import sys

import pytest

from declip_desktop import cli


def test_every_command_is_registered():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert {"analyze", "models", "train", "synth", "case", "validate"} <= set(sub.choices)


def test_a_missing_module_names_itself(monkeypatch, tmp_path, capsys):
    (tmp_path / "broken_cmds.py").write_text("import not_installed_dependency_xyz\n\ndef register(sub):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "COMMAND_MODULES", cli.COMMAND_MODULES + ("broken_cmds",))
    monkeypatch.delenv("DECLIP_DEBUG", raising=False)
    with pytest.raises(cli.BrokenInstall, match="not_installed_dependency_xyz"):
        cli.build_parser()
    assert cli.main(["--help"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("declip: error: cannot load the commands of broken_cmds")
    assert "'not_installed_dependency_xyz' is missing" in err[0]
    sys.modules.pop("broken_cmds", None)
