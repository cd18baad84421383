"""Packs against the model-management review: cards naming files outside the pack, messages that
name the pack and its member, provenance in the imported card, and temp folders a kill leaves."""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import time
import zipfile

import pytest

from declip_desktop.cli import main as declip
from engine.hashing import file_sha256
from engine.packs import CARD_NAME, SUMS_NAME, PackError, import_pack, pack_model
from engine.store import ModelStore, _locked
from engine.testing import make_tiny_model_dir


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    d = tmp_path_factory.mktemp("packs")
    tiny = make_tiny_model_dir(d / "tiny", model_id="tiny-pack")
    store = ModelStore(home=d / "home")
    store.import_path(tiny)
    path, _ = pack_model(store, "tiny-pack", d / "tiny.declipmodel")
    return {"pack": path, "tiny": tiny}


def _repack(src, out, edit_card=None, replace=None):
    """Rewrite a pack with its card edited and members replaced ({name: bytes}); sums rebuilt."""
    with zipfile.ZipFile(src) as zf:
        entries = {i.filename: zf.read(i) for i in zf.infolist() if i.filename != SUMS_NAME}
    card = json.loads(entries[CARD_NAME])
    if edit_card:
        edit_card(card)
    for name, data in (replace or {}).items():  # None: drop the member
        entries.pop(name, None)
        if data is not None:
            entries[name] = data
    entries[CARD_NAME] = json.dumps(card).encode()
    with zipfile.ZipFile(out, "w") as zf:
        for n, b in entries.items():
            zf.writestr(n, b)
        zf.writestr(SUMS_NAME, "".join(f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in entries.items()))
    return out


def _nothing_imported(store: ModelStore) -> bool:
    return (not store.models_dir.exists() or not any(store.models_dir.iterdir())) \
        and not list(store.home.glob(".pack-import-*"))


@pytest.mark.parametrize("field", ["weights_path", "stages_path"])
def test_a_card_naming_a_file_outside_the_pack_is_refused(made, tmp_path, field):
    victim = tmp_path / "victim.txt"
    victim.write_text("a file of the importing machine")

    def point_outside(card):
        card["backbone"][field] = str(victim)

    bad = _repack(made["pack"], tmp_path / "outside.declipmodel", point_outside)
    with pytest.raises(PackError, match=f"backbone.{field} names a file outside the pack"):
        import_pack(bad)
    assert _nothing_imported(ModelStore())


def test_a_hostile_member_is_named_by_pack_and_member(made, tmp_path, capsys):
    class Payload:
        def __reduce__(self):
            return (os.system, ("true",))

    evil = pickle.dumps({"model": {"fc.0.weight": Payload()}})

    def use_evil(card):
        card["files"][0].update(name="evil.pth", sha256=hashlib.sha256(evil).hexdigest())

    bad = _repack(made["pack"], tmp_path / "evil.declipmodel", use_evil,
                  {"evil.pth": evil, "decoder.safetensors": None})
    rc = declip(["models", "import", str(bad)])
    err = capsys.readouterr().err
    assert rc == 1 and f"{bad}: member evil.pth: refused" in err, err
    assert ".pack-import-" not in err
    assert _nothing_imported(ModelStore())


def test_a_pack_whose_model_is_installed_does_not_advise_id(made, capsys):
    assert declip(["models", "import", str(made["pack"])]) == 0
    capsys.readouterr()
    assert declip(["models", "import", str(made["pack"])]) == 1
    err = capsys.readouterr().err
    assert "already in the store" in err and "declip models remove tiny-pack" in err and "--id" not in err


def test_the_card_records_the_pack_name_and_sha256(made):
    card = import_pack(made["pack"])
    stored = ModelStore().get(card.id)
    assert f"imported from pack {made['pack'].name} (SHA-256 {file_sha256(made['pack'])})" in stored.source


# ---- temp folders of killed imports ------------------------------------------------------------------
def _leftover(folder, tiny, age_s: float):
    shutil.copytree(tiny, folder)
    t = time.time() - age_s
    os.utime(folder, (t, t))
    return folder


def test_killed_import_folders_are_never_listed_and_are_swept(made):
    store = ModelStore()
    store.models_dir.mkdir(parents=True)
    importing = _leftover(store.models_dir / ".tiny-pack.importing", made["tiny"], 3600)
    staging = _leftover(store.home / ".pack-import-abc123", made["tiny"], 3600)
    assert "tiny-pack" not in [e.card.id for e in store.list() if e.location == "store"]
    store.sweep_stale(force=True)
    assert not importing.exists() and not staging.exists()


def test_a_temp_folder_in_use_is_not_swept(made):
    store = ModelStore()
    store.models_dir.mkdir(parents=True)
    busy = _leftover(store.models_dir / ".busy.importing", made["tiny"], 3600)
    with _locked(busy):
        t = time.time() - 3600
        os.utime(busy, (t, t))  # the lock file touched the folder: make it old again
        assert store.sweep_stale(force=True) == []
        assert busy.is_dir()
    assert store.sweep_stale(force=True) == [busy] and not busy.exists()


def test_a_folder_made_after_this_process_started_is_left_alone(made):
    store = ModelStore()
    fresh = _leftover(store.home / ".pack-import-new", made["tiny"], 0)
    assert store.sweep_stale(force=True) == [] and fresh.is_dir()


def test_import_after_a_kill_succeeds(made, tmp_path):
    """A killed import of the same id leaves .ID.importing; the next import replaces it."""
    store = ModelStore()
    store.models_dir.mkdir(parents=True)
    _leftover(store.models_dir / ".tiny-pack.importing", made["tiny"], 3600)
    card = import_pack(made["pack"], store)
    assert store.find(card.id).status == "ready"
    assert sorted(p.name for p in store.models_dir.iterdir()) == ["tiny-pack"]
    assert not (store.models_dir / "tiny-pack" / ".lock").exists()
