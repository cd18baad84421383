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


def test_version_is_printed_and_looked_up_only_when_asked(capsys):
    import subprocess

    from engine.versions import app_version

    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"declip {app_version()}"
    # a fresh process: building the parser for another command imports neither the version lookup
    # nor the download code (start-up time, issue 41)
    code = ("import sys; from declip_desktop import cli; cli.build_parser(); "
            "print(sorted(m for m in ('importlib.metadata', 'http.client', 'engine.download') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
