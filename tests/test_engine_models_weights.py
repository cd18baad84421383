"""`declip models import` refuses weights no trained model holds, and files that are not weights,
in one line each and before anything enters the store (checkpoint, model folder and pack)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from declip_desktop.cli import main as declip
from engine.errors import CheckpointError
from engine.hashing import file_sha256
from engine.packs import import_pack, pack_model
from engine.store import ModelStore
from engine.testing import make_official_checkpoint, make_tiny_model_dir
from engine.weights import load_state_file, save_safetensors


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    ckpt = make_official_checkpoint(d / "plain.pth", layer=0, clip_path=d / "clip.pt")
    return {"ckpt": ckpt, "clip": d / "clip.pt", "tiny": make_tiny_model_dir(d / "tiny"), "dir": d}


def _variant(files, tmp_path, name, change) -> Path:
    ckpt = torch.load(files["ckpt"], weights_only=True)
    change(ckpt["model"])
    out = tmp_path / name
    torch.save(ckpt, out)
    return out


def _nothing_stored(store: ModelStore) -> bool:
    return not store.models_dir.exists() or not any(store.models_dir.iterdir())


def _set(key, value):
    def change(sd):
        sd[key] = value(sd[key]) if callable(value) else value
    return change


def _poke(key, index, value):
    def change(sd):
        t = sd[key].clone()
        t.view(-1)[index] = value
        sd[key] = t
    return change


@pytest.mark.parametrize("change, words", [
    (_poke("fc.0.weight", 7, float("nan")), "tensor fc.0.weight holds NaN or infinite"),
    (_poke("fc.16.bias", 0, float("inf")), "tensor fc.16.bias holds NaN or infinite"),
    (_set("fc.1.running_var", lambda t: -t), "tensor fc.1.running_var (a BatchNorm running variance) holds negative"),
    (_set("fc.0.weight", lambda t: t.to(torch.int64)), "tensor fc.0.weight holds torch.int64 values"),
    (_set("fc.5.extra_thing", torch.zeros(3)), "1 tensor it does not use, e.g. fc.5.extra_thing"),
    (_set("garbage.weight", torch.zeros(3)), "not decoder weights, e.g. garbage.weight"),
])
def test_hostile_checkpoint_values_are_refused_in_one_line(files, tmp_path, capsys, change, words):
    bad = _variant(files, tmp_path, "bad.pth", change)
    rc = declip(["models", "import", str(bad), "--backbone-weights", str(files["clip"])])
    err = capsys.readouterr().err
    assert rc == 1 and words in err and str(bad) in err, err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1
    assert _nothing_stored(ModelStore())


def test_nan_in_clip_weights_is_refused(files, tmp_path):
    sd = torch.load(files["clip"], weights_only=True)
    key = next(k for k, v in sd.items() if v.is_floating_point() and v.ndim == 2)
    sd[key] = sd[key].clone()
    sd[key].view(-1)[3] = float("nan")
    clip = tmp_path / "clip.pt"
    torch.save(sd, clip)
    with pytest.raises(CheckpointError, match=f"tensor {key} holds NaN"):
        ModelStore().import_path(files["ckpt"], [clip])
    assert _nothing_stored(ModelStore())


def _nan_folder(files, tmp_path) -> Path:
    folder = Path(shutil.copytree(files["tiny"], tmp_path / "nan-model"))
    state = load_state_file(folder / "decoder.safetensors")
    state["fc.0.weight"] = state["fc.0.weight"].clone()
    state["fc.0.weight"].view(-1)[0] = float("nan")
    save_safetensors(state, folder / "decoder.safetensors")
    card = json.loads((folder / "card.json").read_text())
    card["files"][0]["sha256"] = file_sha256(folder / "decoder.safetensors")
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def test_nan_in_a_model_folder_and_in_a_pack_is_refused(files, tmp_path):
    folder = _nan_folder(files, tmp_path)
    store = ModelStore()
    with pytest.raises(CheckpointError, match="tensor fc.0.weight holds NaN"):
        store.import_path(folder)
    assert _nothing_stored(store)
    # a pack made elsewhere (without the check) from the same folder
    sender = ModelStore(tmp_path / "sender")
    sender.import_path(folder, verify_load=False)
    pack, _ = pack_model(sender, "tiny-test", tmp_path / "nan.declipmodel")
    with pytest.raises(CheckpointError, match="tensor fc.0.weight holds NaN"):
        import_pack(pack, store)
    assert _nothing_stored(store)


@pytest.mark.parametrize("content", [b"this is not a checkpoint\n" * 10, b"hello world\n", b'{"a": 1}\n',
                                     b"\x89PNG\r\n\x1a\n" + b"\0" * 64])
def test_files_that_are_not_weights_say_so(tmp_path, content):
    p = tmp_path / "x.pth"
    p.write_bytes(content)
    with pytest.raises(CheckpointError) as exc:
        load_state_file(p)
    msg = str(exc.value)
    assert "not a weights file" in msg and "pickled" not in msg and "Error" not in msg


def test_corrupt_pickle_stream_gives_no_exception_name(tmp_path):
    p = tmp_path / "x.pth"
    p.write_bytes(b"\x80\x02" + b"q" * 40)  # a protocol-2 header, then nonsense
    with pytest.raises(CheckpointError) as exc:
        load_state_file(p)
    assert "corrupt checkpoint, or not a weights file" in str(exc.value)


def test_memory_error_is_one_line(files, monkeypatch, capsys):
    def no_memory(*a, **k):
        raise MemoryError()

    monkeypatch.setattr(torch, "load", no_memory)
    rc = declip(["models", "import", str(files["ckpt"]), "--backbone-weights", str(files["clip"])])
    err = capsys.readouterr().err
    assert rc == 1 and "too large to load into this machine's memory" in err and "internal error" not in err


def test_a_valid_checkpoint_still_imports(files):
    card = ModelStore().import_path(files["ckpt"], [files["clip"]])
    assert ModelStore().find(card.id).status == "ready"
