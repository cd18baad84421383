"""`declip train --tune-stages`: the last Lite stages trained with the decoder from a cached frozen part, written
as a hashed stage file that the engine loads over the ImageNet weights.

Tiny backbone as in test_trainer_e2e.py: real Lite0 weights cut after stage 2, 64-px input, an 8x8 grid, a
conv-4 decoder of width 4; stage 2 is tuned, stage 1's output is both a feature and the cache.
"""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from declip_desktop.cli import main as declip
from engine.hashing import file_sha256
from engine.weights import load_state_file, save_safetensors

from tests.test_trainer_e2e import make_dataset, usage_error

TINY = {"family": "lite0", "stages": [1, 2], "grid": 8, "input_size": 64}
TINY_ARGS = ["--backbone", json.dumps(TINY), "--decoder", "conv-4", "--widths", "4,4,4,4", "--batch-size", "4",
             "--max-epochs", "2", "--seed", "3"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory)


def _config(dataset, out, cache, **extra):
    from trainer.train import TrainConfig

    kw = dict(data=str(dataset), out=str(out), backbone=dict(TINY), decoder="conv-4", widths=[4, 4, 4, 4],
              batch_size=4, max_epochs=2, seed=3, cache_dir=str(cache), tune_stages=[2], tune_lr=1e-2)
    kw.update(extra)
    return TrainConfig(**kw)


@pytest.fixture(scope="module")
def tuned_run(dataset, tmp_path_factory):
    """One tuned run with the small-data recipe's extras (EMA, feature dropout, image context, calibration)."""
    from trainer.train import Trainer

    tmp = tmp_path_factory.mktemp("tuned")
    cfg = _config(dataset, tmp / "model", tmp / "cache", ema=0.9, feature_dropout=0.3, image_context="image-mean",
                  calibrate_bias=True, calibrate_scale=True)
    trainer = Trainer(cfg)
    res = trainer.run()
    return trainer, res, tmp / "model", tmp / "cache"


def _image(dataset):
    return Image.open(next((dataset / "test" / "images").iterdir())).convert("RGB")


def test_the_run_writes_the_stage_file_and_the_card_field(tuned_run):
    _, res, out, cache = tuned_run
    card = json.loads((out / "card.json").read_text())
    assert card["backbone"]["tuned_stages"] == [2] and card["backbone"]["stages"] == [1, 2]
    entry = next(f for f in card["files"] if f["role"] == "backbone-stages")
    assert entry["name"] == "backbone_stages.safetensors"
    assert entry["sha256"] == file_sha256(out / entry["name"])
    assert card["training"]["recipe"]["tune_stages"] == [2]
    # the frozen part was cached once, in a folder of its own kind (the stage-2 input, not features)
    folders = [p.name for p in cache.iterdir()]
    assert folders and all(name.startswith("lite0-pre2-") for name in folders)


def test_the_stage_weights_moved_away_from_imagenet_and_only_those(tuned_run):
    from engine.backbones import build_backbone

    _, _, out, _ = tuned_run
    imagenet = build_backbone(TINY).state_dict()
    tuned = load_state_file(out / "backbone_stages.safetensors")
    assert tuned and all(k.startswith("blocks.2.") for k in tuned)
    weights = [k for k in tuned if "running" not in k]
    assert max(float((tuned[k] - imagenet[k]).abs().max()) for k in weights) > 1e-3
    # BatchNorm statistics stay the ImageNet ones (eval mode in training, and outside the weight average)
    assert all(torch.equal(tuned[k], imagenet[k]) for k in tuned if "running" in k)


def test_the_detector_gives_the_training_time_map_and_records_the_stage_file(tuned_run, dataset):
    from engine import Detector

    trainer, _, out, _ = tuned_run
    det = Detector.from_model(out, device="cpu", precision="exact")
    img = _image(dataset)
    x = det.preprocess(img)[None]
    with torch.no_grad():
        trained = torch.sigmoid(trainer.trained(trainer.validator.feature_module(x)))[0, 0]
    engine_map = det.predict(x)[0]
    assert float((engine_map - trained).abs().max()) < 1e-4
    res = det.analyze(img)
    sha = file_sha256(out / "backbone_stages.safetensors")
    assert {"role": "backbone-stages", "file": "backbone_stages.safetensors", "sha256": sha} in res.metadata["weights"]
    assert "stages 2 tuned" in res.metadata["model"]["backbone"]


def test_analyze_and_import_take_the_folder(tuned_run, dataset, tmp_path):
    _, _, out, _ = tuned_run
    img = next((dataset / "test" / "images").iterdir())
    assert declip(["analyze", "--model", str(out), "--out", str(tmp_path / "a"), str(img)]) == 0
    results = json.loads((tmp_path / "a" / "results.json").read_text())
    text = json.dumps(results)
    assert file_sha256(out / "backbone_stages.safetensors") in text
    assert declip(["models", "import", str(out), "--id", "tuned-import"]) == 0
    assert declip(["analyze", "--model", "tuned-import", "--out", str(tmp_path / "b"), str(img)]) == 0
    a = np.asarray(Image.open(tmp_path / "a" / f"{img.stem}.prob.png"))
    b = np.asarray(Image.open(tmp_path / "b" / f"{img.stem}.prob.png"))
    assert np.array_equal(a, b)


def _copy(out, dest):
    import shutil

    shutil.copytree(out, dest)
    return dest


def test_a_changed_byte_in_the_stage_file_is_refused(tuned_run, tmp_path, capsys):
    _, _, out, _ = tuned_run
    folder = _copy(out, tmp_path / "m")
    p = folder / "backbone_stages.safetensors"
    blob = bytearray(p.read_bytes())
    blob[len(blob) // 2] ^= 1
    p.write_bytes(bytes(blob))
    img = tmp_path / "x.png"
    Image.new("RGB", (40, 30), (120, 90, 60)).save(img)
    assert declip(["analyze", "--model", str(folder), "--out", str(tmp_path / "a"), str(img)]) == 1
    err = capsys.readouterr().err
    assert "backbone_stages.safetensors" in err and "SHA-256" in err and "Traceback" not in err


@pytest.mark.parametrize("damage", ["shape", "unknown-name"])
def test_a_stage_file_of_the_wrong_shape_or_names_is_refused(tuned_run, tmp_path, capsys, damage):
    from engine import Detector
    from engine.errors import CheckpointError

    _, _, out, _ = tuned_run
    folder = _copy(out, tmp_path / "m")
    p = folder / "backbone_stages.safetensors"
    state = dict(load_state_file(p))
    key = sorted(state)[0]
    if damage == "shape":
        state[key] = torch.zeros(2, 2)
    else:
        state["blocks.2.0.conv_extra.weight"] = torch.zeros(1)
    save_safetensors(state, p)
    card = json.loads((folder / "card.json").read_text())
    next(f for f in card["files"] if f["role"] == "backbone-stages")["sha256"] = file_sha256(p)
    (folder / "card.json").write_text(json.dumps(card))  # the hash fits: the content itself is refused
    with pytest.raises(CheckpointError, match="has shape" if damage == "shape" else "conv_extra") as err:
        Detector.from_model(folder, device="cpu")
    assert str(p) in str(err.value)
    img = tmp_path / "x.png"
    Image.new("RGB", (40, 30), (120, 90, 60)).save(img)
    capsys.readouterr()
    assert declip(["analyze", "--model", str(folder), "--out", str(tmp_path / "a"), str(img)]) == 1
    err_text = capsys.readouterr().err
    assert "backbone_stages.safetensors" in err_text and "Traceback" not in err_text


def test_resume_continues_a_tuned_run_exactly_with_mirror_and_flip_average(dataset, tmp_path):
    from engine.errors import Cancelled
    from trainer.train import Trainer

    extra = dict(ema=0.9, mirror=True, flip_average=True, calibrate_bias=True)
    whole = Trainer(_config(dataset, tmp_path / "whole", tmp_path / "cache", **extra))
    whole.run()
    assert json.loads((tmp_path / "whole" / "card.json").read_text())["input"]["flip_average"] is True
    from engine import Detector

    det = Detector.from_model(tmp_path / "whole", device="cpu", precision="exact")
    x = det.preprocess(_image(dataset))[None]
    pre, net = whole.validator.feature_module, whole.trained
    with torch.no_grad():  # the engine's flip averaging: both views' logits, the mirrored one mirrored back
        trained = torch.sigmoid((net(pre(x)) + net(pre(x.flip(-1))).flip(-1)) / 2)[0, 0]
    assert float((det.predict(x)[0] - trained).abs().max()) < 1e-4
    # the mirrored images' frozen part has a cache folder of its own kind too
    assert len([p for p in (tmp_path / "cache").iterdir() if p.name.startswith("lite0-pre2-")]) == 2
    seen = []
    cfg = _config(dataset, tmp_path / "cut", tmp_path / "cache", **extra)
    with pytest.raises(Cancelled):
        Trainer(cfg, progress=seen.append,
                cancel=lambda: bool(seen and (seen[-1].epoch, seen[-1].step) == (2, 1))).run()
    Trainer(cfg).run(resume=True)
    for name in ("backbone_stages.safetensors", "decoder.safetensors"):
        assert file_sha256(tmp_path / "whole" / name) == file_sha256(tmp_path / "cut" / name)


@pytest.mark.parametrize("args, message", [
    (["--backbone", "clip-rn50", "--tune-stages", "3"], "applies to EfficientNet-Lite backbones"),
    (["--backbone", json.dumps(TINY), "--tune-stages", "3"], "stage 3 is not one of the backbone's feature stages"),
    (["--backbone", json.dumps({**TINY, "stages": [0, 1]}), "--tune-stages", "1"], "stages before 2 stay frozen"),
    (["--backbone", json.dumps({**TINY, "stages": [2, 3, 4]}), "--tune-stages", "2,4"], "without a gap"),
    (["--backbone", json.dumps({**TINY, "stages": [1, 4]}), "--tune-stages", "4"], "feature stage 1 comes before"),
    (["--backbone", json.dumps(TINY), "--tune-stages", "two"], "expected stage numbers"),
])
def test_tune_stages_that_do_not_fit_are_usage_errors(dataset, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        declip(["train", "--data", str(dataset), "--out", str(tmp_path / "m"), "--cache", str(tmp_path / "c"), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m").exists() and not (tmp_path / "c").exists()


def test_tune_lr_without_tune_stages_and_augment_with_them_are_refused(dataset, tmp_path, capsys):
    base = ["train", "--data", str(dataset), "--out", str(tmp_path / "m"), "--cache", str(tmp_path / "c"), *TINY_ARGS]
    assert "--tune-lr 0.001: goes with --tune-stages" in usage_error(base + ["--tune-lr", "1e-3"], capsys)
    assert "--augment bypasses the cache" in usage_error(base + ["--tune-stages", "2", "--augment"], capsys)
    assert not (tmp_path / "m").exists()


def test_tuned_models_are_not_combined_and_init_must_match(tuned_run, dataset, tmp_path, capsys):
    _, _, out, _ = tuned_run
    assert declip(["ensemble", str(out), str(out), "--out", str(tmp_path / "e")]) == 1
    assert "has tuned backbone stages" in capsys.readouterr().err
    # a second cycle of a tuned run without --tune-stages would pair its decoder with ImageNet stages
    assert declip(["train", "--data", str(dataset), "--out", str(tmp_path / "m"), "--cache", str(tmp_path / "c"),
                   "--init", str(out), *TINY_ARGS, "--image-context"]) == 1
    assert "add --tune-stages 2" in capsys.readouterr().err
