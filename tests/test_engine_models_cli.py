"""`declip models show/list/import/default/remove` against the model-management review: card text is
shown, never obeyed; an examiner sees where each file is and what it is; the default must verify;
a folder whose card is unreadable can be removed."""
from __future__ import annotations

import json
import os

import pytest

from declip_desktop.cli import main as declip
from engine.hashing import file_sha256
from engine.store import ModelStore
from engine.testing import make_tiny_model_dir

HOSTILE_NAME = "Nice model\n        status: ready (embedded)\x1b[31m"
HOSTILE_LICENCE = "MIT\x1b[0m\r        license: Apache-2.0"


@pytest.fixture
def hostile(tmp_path):
    folder = make_tiny_model_dir(tmp_path / "hostile", model_id="hostile")
    card = json.loads((folder / "card.json").read_text())
    card.update(name=HOSTILE_NAME, license=HOSTILE_LICENCE, training_data="faces\x9b31m", source="lab\x07")
    (folder / "card.json").write_text(json.dumps(card))
    ModelStore().import_path(folder)
    return folder


def test_show_and_list_escape_control_characters(hostile, capsys):
    assert declip(["models", "show", "hostile"]) == 0
    out = capsys.readouterr().out
    assert not any(c in out for c in "\x1b\r\x07\x9b")
    assert "Nice model\\n        status: ready (embedded)\\x1b[31m" in out and "\\r" in out
    assert [line for line in out.splitlines() if line.strip().startswith("status:")] == ["        status: ready (store)"]
    assert declip(["models", "list"]) == 0
    assert not any(c in capsys.readouterr().out for c in "\x1b\r\x07\x9b")
    # --json too: JSON escapes C0 controls itself; C1 controls and bidi overrides are escaped for the terminal
    for command in (["models", "show", "hostile", "--json"], ["models", "list", "--json"]):
        assert declip(command) == 0
        out = capsys.readouterr().out
        assert "\x9b" not in out and "\\u009b" in out
        shown = json.loads(out)
        card = shown if isinstance(shown, dict) else next(c for c in shown if c["id"] == "hostile")
        assert card["training_data"] == "faces\x9b31m"  # the exact text, for a program reading it


@pytest.mark.parametrize("name", ["line\nforged", "red\x1b[31m", "back\rwards", "bell\x07"])
def test_import_refuses_control_characters_in_name(tmp_path, capsys, name):
    folder = make_tiny_model_dir(tmp_path / "m", model_id="m")
    assert declip(["models", "import", str(folder), "--name", name]) == 1
    err = capsys.readouterr().err
    assert "without control characters" in err and len(err.strip().splitlines()) == 1
    assert not ModelStore().models_dir.exists() or not any(ModelStore().models_dir.iterdir())


def test_import_refuses_control_characters_in_id(tmp_path, capsys):
    folder = make_tiny_model_dir(tmp_path / "m", model_id="m")
    assert declip(["models", "import", str(folder), "--id", "x\x1b[31m"]) == 1
    assert "model id must be" in capsys.readouterr().err


def test_show_gives_source_times_sizes_hashes_and_locations(tmp_path, capsys):
    folder = make_tiny_model_dir(tmp_path / "m", model_id="m")
    ModelStore().import_path(folder)
    card = ModelStore().get("m")
    assert declip(["models", "show", "m"]) == 0
    out = capsys.readouterr().out
    assert f"folder: {card.root}" in out and "imported:" in out and "(UTC)" in out and "source:" in out
    for f in card.files:
        path = card.path_of(f["role"]).resolve()
        assert f"size {path.stat().st_size:,} bytes" in out
        assert f"sha256 {file_sha256(path)}" in out
        assert f"location {path}" in out


def test_default_refuses_a_model_whose_files_fail_their_hash(tmp_path, capsys):
    ModelStore().import_path(make_tiny_model_dir(tmp_path / "m", model_id="m"))
    assert declip(["models", "default", "m"]) == 0
    stored = ModelStore().get("m").path_of("decoder")
    os.chmod(stored, 0o644)
    with open(stored, "ab") as fh:
        fh.write(b"tampered")
    assert declip(["models", "default", "declip-lite2-default"]) == 0
    capsys.readouterr()
    assert declip(["models", "default", "m"]) == 1
    err = capsys.readouterr().err
    assert "not made the default" in err and "hash mismatch" in err
    assert ModelStore().default_id == "declip-lite2-default"


def test_remove_clears_a_folder_whose_card_is_unreadable(tmp_path, capsys):
    ModelStore().import_path(make_tiny_model_dir(tmp_path / "m", model_id="m"))
    folder = ModelStore().models_dir / "m"
    (folder / "card.json").write_text("{not json")
    assert declip(["models", "remove", "m"]) == 0
    out = capsys.readouterr().out
    assert "removed m (its card was unreadable:" in out and not folder.exists()
    assert declip(["models", "remove", "m"]) == 1  # nothing left: unknown again
    assert "unknown model" in capsys.readouterr().err


def test_remove_never_follows_a_link_named_like_an_id(tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "card.json").write_text("{not json")
    store = ModelStore()
    store.models_dir.mkdir(parents=True)
    (store.models_dir / "linked").symlink_to(outside)
    assert declip(["models", "remove", "linked"]) == 1
    assert outside.is_dir() and (outside / "card.json").exists()
