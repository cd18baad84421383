"""Trainer end to end on a tiny data set: synth -> train -> evaluate -> import -> analyze; resume; determinism.

Tiny backbone: real EfficientNet-Lite0 weights cut after stage 1, 64-px input, 8x8 grid, and a
conv-4 decoder with 4 channels per stage, so a whole run takes seconds on CPU.
"""
import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from declip_desktop.cli import main as declip
from engine.errors import Cancelled

TINY = '{"family": "lite0", "stages": [1], "grid": 8, "input_size": 64}'
TRAIN_ARGS = ["--backbone", TINY, "--decoder", "conv-4", "--widths", "4,4,4,4", "--batch-size", "4",
              "--max-epochs", "2", "--seed", "3"]


SYNTH_ARGS = ["--count", "12", "--seed", "1", "--size", "96,128"]


def usage_error(argv, capsys) -> str:
    """Run a command line that cannot work as given: exit 2 (usage error), one line on stderr; returns it."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        declip(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "internal error" not in err, err
    return err
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def _write_photos(folder, names):
    skd = pytest.importorskip("skimage.data")
    for name in names:
        Image.fromarray(getattr(skd, name)()).convert("RGB").resize((160, 120)).save(folder / f"{name}.png")


def make_dataset(tmp_path_factory):
    """The small synthetic data set the trainer tests share (made once per test module)."""
    photos = tmp_path_factory.mktemp("photos")
    _write_photos(photos, PHOTOS)
    (photos / "notes.txt").write_text("not a photo")  # ignored by extension
    out = tmp_path_factory.mktemp("ds") / "ds"
    assert declip(["synth", "--photos", str(photos), "--out", str(out), *SYNTH_ARGS]) == 0
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory)


def test_synth_masks_are_exact_and_splits_disjoint(dataset):
    man = json.loads((dataset / "manifest.json").read_text())
    splits = {}
    for p in man["photos"]:
        splits.setdefault(p["file"], set()).add(p["split"])
    assert all(len(s) == 1 for s in splits.values())  # no photo in two splits
    items = [i for i in man["items"] if "mask" in i]
    assert {i["split"] for i in man["items"]} == {"train", "val", "test"}
    for it in items:
        assert splits[it["host"]] == {it["split"]}
        m = np.asarray(Image.open(dataset / it["mask"]))
        img = Image.open(dataset / it["image"])
        assert m.shape == (img.height, img.width)
        assert set(np.unique(m)) <= {0, 255} and (m == 255).any()


def test_synth_workers_make_the_same_data_set_byte_for_byte(dataset, tmp_path, capsys):
    # the module's data set was made by one process; three worker processes must give the same files
    photos = tmp_path / "photos"
    photos.mkdir()
    _write_photos(photos, PHOTOS)
    out = tmp_path / "ds"
    assert declip(["synth", "--photos", str(photos), "--out", str(out), *SYNTH_ARGS, "--workers", "3"]) == 0
    one, three = (json.loads((d / "manifest.json").read_text()) for d in (dataset, out))
    assert [i["image"] for i in three["items"]] == [i["image"] for i in one["items"]]  # plan order kept
    for a, b in zip(one["items"], three["items"]):
        assert a == b  # kind, host, donor, sha256 of the image, resize and JPEG settings
        if "mask" in a:
            assert (out / b["mask"]).read_bytes() == (dataset / a["mask"]).read_bytes()
    for it in three["items"]:
        assert hashlib.sha256((out / it["image"]).read_bytes()).hexdigest() == it["sha256"]
    assert "--workers 0" in usage_error(["synth", "--photos", str(photos), "--out", str(tmp_path / "y"), *SYNTH_ARGS,
                                         "--workers", "0"], capsys)


def test_synth_skips_bad_photos_in_one_line_each_and_checks_its_settings(tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    _write_photos(photos, PHOTOS)
    Image.new("RGB", (5000, 3)).save(photos / "strip.png")   # too thin to cut a view from
    Image.new("RGB", (1, 1)).save(photos / "dot.png")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    out = tmp_path / "ds"
    assert declip(["synth", "--photos", str(photos), "--out", str(out), *SYNTH_ARGS]) == 0
    err = capsys.readouterr().err
    for name in ("strip.png", "dot.png", "broken.jpg"):
        [line] = [ln for ln in err.splitlines() if name in ln]
        assert line.startswith("warning: ") and "skipped" in line
    assert "Warning" not in err and "warnings.warn" not in err  # no Python warning dumps
    assert {p["file"] for p in json.loads((out / "manifest.json").read_text())["photos"]} == {f"{n}.png" for n in PHOTOS}
    for bad in (["--size", "10,5"], ["--size", "0,0"], ["--size", "100000,100000"], ["--real-fraction", "-1"],
                ["--split", "0.7,0.3"], ["--workers", "0"]):  # usage errors: exit 2, one line, nothing read
        err = usage_error(["synth", "--photos", str(photos), "--out", str(tmp_path / "x"), "--count", "6", *bad], capsys)
        assert bad[0] in err
    assert "--count must be at least 1" in usage_error(["synth", "--photos", str(photos), "--out", str(tmp_path / "x"),
                                                         "--count", "0"], capsys)
    assert not (tmp_path / "x").exists()


def test_photos_pinned_to_train_leave_val_and_test_unchanged(dataset, tmp_path, capsys):
    """Extra training-only photos (LICENSES.json "split": "train") must not move the held-out splits."""
    photos = tmp_path / "photos"
    photos.mkdir()
    _write_photos(photos, PHOTOS + ("camera", "coins"))
    (photos / "LICENSES.json").write_text(json.dumps(
        [{"file": f"{n}.png", "licence": "CC0-1.0", "split": "train"} for n in ("camera", "coins")]))
    out = tmp_path / "ds"
    assert declip(["synth", "--photos", str(photos), "--out", str(out), *SYNTH_ARGS]) == 0
    old = json.loads((dataset / "manifest.json").read_text())
    new = json.loads((out / "manifest.json").read_text())
    held_out = lambda m: [(i["image"], i["sha256"], i["host"]) for i in m["items"] if i["split"] != "train"]
    assert held_out(new) and held_out(new) == held_out(old)  # same items, byte for byte
    split_of = {p["file"]: p["split"] for p in new["photos"]}
    assert split_of["camera.png"] == split_of["coins.png"] == "train"
    assert {p["file"]: p["split"] for p in old["photos"]} == {f"{n}.png": split_of[f"{n}.png"] for n in PHOTOS}
    hosts = {i["host"] for i in new["items"] if i["split"] == "train"}
    assert hosts & {"camera.png", "coins.png"}  # and they are really used for training items

    # A pin to an unknown split is refused in one line, before anything is written.
    (photos / "LICENSES.json").write_text(json.dumps([{"file": "coins.png", "split": "holdout"}]))
    capsys.readouterr()  # drop the good run's progress lines
    assert declip(["synth", "--photos", str(photos), "--out", str(tmp_path / "bad"), *SYNTH_ARGS]) == 1
    err = capsys.readouterr().err.strip()
    assert "coins.png has split 'holdout'" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_train_evaluate_import_analyze(dataset, tmp_path, capsys):
    out = tmp_path / "model"
    cache = tmp_path / "cache"
    assert declip(["train", "--data", str(dataset), "--out", str(out), "--cache", str(cache), *TRAIN_ARGS]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["id"] == "model" and card["decoder"]["depth"] == 4
    assert card["training"]["data_manifest_sha256"] and len(card["training"]["history"]) == 2
    assert list(cache.rglob("*.npy")), "features were cached"
    report = tmp_path / "eval.json"
    csv_path = tmp_path / "eval.csv"
    rc = declip(["evaluate", "--model", str(out), "--data", str(dataset), "--json", str(report), "--csv", str(csv_path)])
    assert rc == 0
    res = json.loads(report.read_text())
    assert 0 <= res["metrics"]["iou"] <= 100 and res["metrics"]["manipulated"] >= 1
    assert len(csv_path.read_text().strip().splitlines()) == res["metrics"]["images"] + 1
    # the reliability table pools every pixel of every scored image, at the image's own size
    import csv
    rows = [r for r in csv.DictReader(open(csv_path)) if not r["error"]]
    rel = res["metrics"]["reliability"]
    assert sum(rel["pixels"]) == sum(int(r["width"]) * int(r["height"]) for r in rows)
    assert sum(rel["manipulated"]) <= sum(rel["pixels"]) and 0 < rel["max_probability"] <= 1
    assert declip(["models", "import", str(out)]) == 0
    img = next((dataset / "test" / "images").iterdir())
    an = tmp_path / "an"
    assert declip(["analyze", "--model", "model", "--out", str(an), str(img)]) == 0
    assert (an / f"{img.stem}.prob.png").is_file()


def test_image_context_model_trains_imports_and_analyzes(dataset, tmp_path, capsys):
    from engine.weights import load_state_file

    out = tmp_path / "ctx"
    args = ["train", "--data", str(dataset), "--out", str(out), "--cache", str(tmp_path / "cache"), *TRAIN_ARGS]
    assert declip(args + ["--image-context", "--feature-dropout", "0.3"]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["decoder"]["context"] == "image-mean"
    fc = load_state_file(out / "decoder.safetensors")
    assert "fc.0.weight" not in fc and fc["fc.1.weight"].shape[1] % 2 == 0
    assert declip(["models", "import", str(out)]) == 0
    capsys.readouterr()
    assert declip(["models", "list"]) == 0
    assert "conv-4 [4, 4, 4, 4] + image-mean context" in capsys.readouterr().out
    img = next((dataset / "test" / "images").iterdir())
    assert declip(["analyze", "--model", "ctx", "--out", str(tmp_path / "an"), str(img)]) == 0
    assert (tmp_path / "an" / f"{img.stem}.prob.png").is_file()
    # a linear decoder has no first conv to widen: refused in one line, before anything is written
    assert "--image-context needs a conv-N decoder" in usage_error(
        ["train", "--data", str(dataset), "--out", str(tmp_path / "lin"), "--backbone", TINY, "--decoder", "linear",
         "--image-context"], capsys)
    assert not (tmp_path / "lin").exists()


def test_ensemble_of_trained_decoders_imports_analyzes_and_is_their_mean(dataset, tmp_path, capsys):
    from engine import Detector
    from engine.weights import load_state_file

    cache = str(tmp_path / "cache")
    base = ["train", "--data", str(dataset), "--cache", cache, *TRAIN_ARGS, "--image-context", "--calibrate-bias"]
    for seed in ("3", "4"):
        assert declip(base + ["--out", str(tmp_path / f"s{seed}"), "--seed", seed]) == 0
    out = tmp_path / "ens"
    capsys.readouterr()
    assert declip(["ensemble", str(tmp_path / "s3"), str(tmp_path / "s4"), "--out", str(out),
                   "--data", str(dataset), "--id", "ens"]) == 0
    assert "mean of 2 decoders, val IoU" in capsys.readouterr().out
    card = json.loads((out / "card.json").read_text())
    assert card["decoder"] == {"type": "conv", "depth": 4, "widths": [4, 4, 4, 4], "context": "image-mean",
                               "members": 2}
    ens = card["training"]["ensemble"]
    members = [json.loads((tmp_path / s / "card.json").read_text()) for s in ("s3", "s4")]
    assert [m["decoder_sha256"] for m in ens["members"]] == [m["files"][0]["sha256"] for m in members]
    assert [m["training"]["recipe"]["seed"] for m in ens["members"]] == [3, 4]  # each member's recipe is kept
    assert 0 <= card["metrics"]["val_iou"] <= 100 and ens["val_iou"] == card["metrics"]["val_iou"]
    fc = load_state_file(out / "decoder.safetensors")
    assert fc["fc.1.weight"].shape[0] == 8 and fc["fc.5.weight"].shape == (8, 4, 5, 5)  # 2 x 4 wide, grouped

    # the ensemble's map is the mean of its members' logits (plus the calibrated shift)
    img = next((dataset / "test" / "images").iterdir())
    logit = [torch.logit(torch.from_numpy(Detector.from_model(d, device="cpu").analyze(img).raw).double(), eps=1e-7)
             for d in (tmp_path / "s3", tmp_path / "s4", out)]
    shift = ens["bias_shift"]
    close = torch.isclose(logit[2], (logit[0] + logit[1]) / 2 + shift, atol=2e-3)
    assert close.float().mean() > 0.99  # (sigmoid saturation at the extremes aside)

    assert declip(["models", "import", str(out)]) == 0
    capsys.readouterr()
    assert declip(["models", "list"]) == 0
    assert "conv-4 [4, 4, 4, 4] + image-mean context, mean of 2 members" in capsys.readouterr().out
    assert declip(["analyze", "--model", "ens", "--out", str(tmp_path / "an"), str(img)]) == 0
    assert (tmp_path / "an" / f"{img.stem}.prob.png").is_file()

    # --flip-average: the card says so, the calibration sees both views, and the map is the mean of
    # the ensemble's logits on the image and on its mirror image (mirrored back), plus its own shift
    flip = tmp_path / "ens-flip"
    assert declip(["ensemble", str(tmp_path / "s3"), str(tmp_path / "s4"), "--out", str(flip), "--data", str(dataset),
                   "--flip-average", "--id", "ens-flip"]) == 0
    fcard = json.loads((flip / "card.json").read_text())
    assert fcard["input"]["flip_average"] is True and fcard["training"]["ensemble"]["flip_average"] is True
    assert "flip_average" not in card["input"]
    mirrored = tmp_path / "mirrored.png"
    ImageOps.mirror(Image.open(img).convert("RGB")).save(mirrored)
    plain_m = torch.logit(torch.from_numpy(Detector.from_model(out, device="cpu").analyze(mirrored).raw).double(),
                          eps=1e-7)
    got = torch.logit(torch.from_numpy(Detector.from_model(flip, device="cpu").analyze(img).raw).double(), eps=1e-7)
    fshift = fcard["training"]["ensemble"]["bias_shift"]
    want = (logit[2] + plain_m.flip(-1)) / 2 - shift + fshift
    assert torch.isclose(got, want, atol=5e-3).float().mean() > 0.99  # (that the views differ: test_engine_checkpoints)
    assert declip(["models", "import", str(flip)]) == 0
    capsys.readouterr()
    assert declip(["models", "show", "ens-flip"]) == 0
    assert "mean of the image's and its mirror image's" in capsys.readouterr().out

    # refused in one line, nothing written: one folder, the same model twice, another form, an ensemble
    capsys.readouterr()
    for bad, msg in [([tmp_path / "s3"], "needs at least two model folders"),
                     ([tmp_path / "s3", tmp_path / "s3"], "has the same decoder weights as"),
                     ([tmp_path / "s3", out], "is itself an ensemble")]:
        assert declip(["ensemble", *map(str, bad), "--out", str(tmp_path / "bad")]) == 1
        assert msg in capsys.readouterr().err
    assert declip(base[:-2] + ["--out", str(tmp_path / "plain")]) == 0
    capsys.readouterr()
    assert declip(["ensemble", str(tmp_path / "s3"), str(tmp_path / "plain"), "--out", str(tmp_path / "bad")]) == 1
    assert "members must have one form" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def _train(dataset, out, cache, stop_at=None, resume=False, **extra):
    from trainer.train import TrainConfig, Trainer

    cfg = TrainConfig(data=str(dataset), out=str(out), backbone=json.loads(TINY), decoder="conv-4", widths=[4, 4, 4, 4],
                      batch_size=4, max_epochs=3, seed=3, cache_dir=str(cache), **extra)
    seen = []
    res = Trainer(cfg, progress=seen.append,
                  cancel=lambda: bool(stop_at and seen and (seen[-1].epoch, seen[-1].step) == stop_at)
                  ).run(resume=resume)
    return res, seen


@pytest.mark.parametrize("extra", [{}, {"feature_dropout": 0.3}, {"ema": 0.9},
                                   {"image_context": "image-mean", "feature_dropout": 0.3}, {"mirror": True}],
                         ids=["recipe", "feature-dropout", "ema", "image-context", "mirror"])
def test_seed_is_deterministic_and_resume_continues_exactly(dataset, tmp_path, extra):
    from engine.weights import load_state_file

    cache = tmp_path / "cache"
    _train(dataset, tmp_path / "a", cache, **extra)
    _train(dataset, tmp_path / "b", cache, **extra)
    a = load_state_file(tmp_path / "a" / "decoder.safetensors")
    b = load_state_file(tmp_path / "b" / "decoder.safetensors")
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    if extra:  # the option really reaches the training loop
        _train(dataset, tmp_path / "plain", cache)
        plain = load_state_file(tmp_path / "plain" / "decoder.safetensors")
        assert a.keys() != plain.keys() or not all(np.array_equal(a[k].numpy(), plain[k].numpy()) for k in a)

    # interrupt after the first batch of epoch 2, then resume: same weights as the uninterrupted run
    with pytest.raises(Cancelled, match="resume"):
        _train(dataset, tmp_path / "c", cache, stop_at=(2, 1), **extra)
    assert (tmp_path / "c" / "state" / "last.pt").is_file()
    assert not (tmp_path / "c" / "card.json").exists()
    res, seen = _train(dataset, tmp_path / "c", cache, resume=True, **extra)
    c = load_state_file(tmp_path / "c" / "decoder.safetensors")
    assert all(np.array_equal(a[k].numpy(), c[k].numpy()) for k in a)
    # the final live weights (and weight average) too, not only the best epoch's
    last_a, last_c = (torch.load(tmp_path / x / "state" / "last.pt", weights_only=True) for x in "ac")
    for part in ("decoder", "ema") if "ema" in extra else ("decoder",):
        assert all(torch.equal(last_a[part][k], last_c[part][k]) for k in last_a[part])
    epochs = [p for p in seen if p.phase == "epoch"]
    assert epochs and epochs[-1].epoch == 3 and not np.isnan(epochs[-1].val_iou)


def test_ctrl_c_in_the_middle_of_a_batch_resumes_exactly(dataset, tmp_path, monkeypatch):
    """A real SIGINT arriving inside a batch (after the forward pass changed BatchNorm statistics)
    stops at the batch's end, so the resumed run equals an uninterrupted one."""
    import os
    import signal

    import trainer.train as T
    from engine.weights import load_state_file

    cache = tmp_path / "cache"
    _train(dataset, tmp_path / "a", cache)
    calls, real_loss = [], T.mask_loss

    def loss_then_ctrl_c(*a, **k):
        calls.append(1)
        if len(calls) == 5:  # mid-batch in epoch 2: after the forward pass, before the optimiser step
            os.kill(os.getpid(), signal.SIGINT)
        return real_loss(*a, **k)

    monkeypatch.setattr(T, "mask_loss", loss_then_ctrl_c)
    with pytest.raises(Cancelled, match="state saved"):
        _train(dataset, tmp_path / "c", cache)
    monkeypatch.setattr(T, "mask_loss", real_loss)
    assert signal.getsignal(signal.SIGINT) is not None and (tmp_path / "c" / "state" / "last.pt").is_file()
    _train(dataset, tmp_path / "c", cache, resume=True)
    a, c = (load_state_file(tmp_path / x / "decoder.safetensors") for x in "ac")
    assert all(np.array_equal(a[k].numpy(), c[k].numpy()) for k in a)
    last_a, last_c = (torch.load(tmp_path / x / "state" / "last.pt", weights_only=True) for x in "ac")
    assert all(torch.equal(last_a["decoder"][k], last_c["decoder"][k]) for k in last_a["decoder"])
    assert (tmp_path / "a" / "decoder.safetensors").read_bytes() == (tmp_path / "c" / "decoder.safetensors").read_bytes()


def test_mirrored_split_holds_features_of_mirrored_images_and_flipped_masks(dataset, tmp_path):
    from PIL import ImageOps

    from engine.errors import DeclipError
    from trainer import datasets as D
    from trainer.features import compute_features
    from trainer.train import TrainConfig, Trainer

    cfg = TrainConfig(data=str(dataset), out=str(tmp_path / "m"), backbone=json.loads(TINY), decoder="conv-4",
                      widths=[4, 4, 4, 4], cache_dir=str(tmp_path / "cache"), mirror=True, seed=5)
    t = Trainer(cfg)
    t.prepare_backbone()
    _, samples = t.validator.load_split("train")
    plain = t.validator.features(samples, "train")
    mirrored = t.validator.features(samples, "train", mirrored=True)
    assert mirrored.names == plain.names
    assert torch.equal(mirrored.masks, plain.masks.flip(-1))
    assert any(m.any() and not torch.equal(m, m.flip(-1)) for m in plain.masks)  # the flip is visible
    # the features are those of the mirrored pixels (close to, but not, the flipped plain features)
    direct = compute_features(t.backbone, t.spec, [ImageOps.mirror(D.read_rgb(samples[0].image))])
    got = mirrored.feats[0].float().numpy()
    assert np.allclose(direct[0].astype(np.float32), got, atol=2e-2, rtol=1e-2)  # batched vs single: rounding only
    assert not np.allclose(plain.feats[0].flip(-1).float().numpy(), got, atol=2e-2, rtol=1e-2)
    # batches mix both views, about half each, and each view comes with its own mask
    plain.add_mirrored(mirrored, seed=5)
    idx = torch.arange(len(plain))
    feats, masks = plain.batch(idx, epoch=1)
    use_m = [torch.equal(feats[i].half(), mirrored.feats[i]) for i in range(len(plain))]
    assert 0 < sum(use_m) < len(use_m)
    assert all(torch.equal(masks[i], mirrored.masks[i] if m else plain.masks[i]) for i, m in enumerate(use_m))
    feats2, _ = plain.batch(idx, epoch=2)
    assert not torch.equal(feats, feats2)  # a new draw each epoch
    with pytest.raises(DeclipError, match="--mirror works on cached features"):
        Trainer(TrainConfig(data=str(dataset), out=str(tmp_path / "x"), mirror=True, augment=True))


def test_small_data_recipe_trains_and_the_card_names_it(dataset, tmp_path, capsys):
    out = tmp_path / "m"
    assert declip(["train", "--data", str(dataset), "--out", str(out), "--recipe", "small-data", "--backbone", TINY,
                   "--widths", "4,4,4,4", "--batch-size", "4", "--max-epochs", "1", "--cache", str(tmp_path / "c")]) == 0
    card = json.loads((out / "card.json").read_text())
    rec = card["training"]["recipe"]
    assert rec["recipe"] == "small-data" and rec["ema"] == 0.99 and rec["feature_dropout"] == 0.5
    assert rec["calibrate_bias"] is True and rec["batch_size"] == 4
    assert card["decoder"]["context"] == "image-mean" and card["decoder"]["depth"] == 4


def test_second_cycle_starts_from_the_first_runs_weights_and_records_them(dataset, tmp_path, capsys):
    """`--init RUN_DIR` (the default model's second cycle): the new run starts from exactly those
    weights, and its card names them by SHA-256, so the chain stays traceable when the folder changes."""
    from engine.decoders import decoder_state_to_module
    from engine.weights import load_state_file
    from trainer.decoder_setup import init_record
    from trainer.train import TrainConfig, Trainer

    first = tmp_path / "c1"
    common = ["--data", str(dataset), "--recipe", "small-data", "--backbone", TINY, "--widths", "4,4,4,4",
              "--batch-size", "4", "--cache", str(tmp_path / "c")]
    assert declip(["train", *common, "--max-epochs", "1", "--out", str(first)]) == 0
    assert declip(["train", *common, "--max-epochs", "1", "--lr", "3e-4", "--init", str(first),
                   "--id", "second", "--out", str(tmp_path / "c2")]) == 0
    c1 = json.loads((first / "card.json").read_text())
    c2 = json.loads((tmp_path / "c2" / "card.json").read_text())
    assert "init" not in c1["training"]
    assert c2["training"]["init"] == {"file": str((first / "decoder.safetensors").resolve()),
                                      "sha256": c1["files"][0]["sha256"], "model_id": c1["id"],
                                      "training": c1["training"]}  # the first run's record comes along
    assert c2["training"]["recipe"]["lr"] == 3e-4
    # the decoder built for the second cycle holds the first run's weights before any step
    cfg = TrainConfig(data=str(dataset), out=str(tmp_path / "x"), backbone=json.loads(TINY), decoder="conv-4",
                      widths=[4, 4, 4, 4], image_context="image-mean", init=str(first), cache_dir=str(tmp_path / "c"))
    t = Trainer(cfg)
    t.prepare_backbone()
    dec = t.build_decoder(t.backbone.out_channels)
    want = decoder_state_to_module(load_state_file(first / "decoder.safetensors"), t.dec_spec)
    got = dec.state_dict()
    assert all(torch.equal(got[k].cpu(), want[k]) for k in want)
    assert init_record(first / "decoder.safetensors")["model_id"] is None  # a bare file has no card


def test_a_resumed_second_cycle_records_the_weights_it_started_from(dataset, tmp_path):
    """The init record is saved with the run's state: if the first run's folder is retrained while the
    second cycle is interrupted, the resumed card still names the weights the cycle really began from."""
    import shutil

    from engine.hashing import file_sha256

    cache = tmp_path / "cache"
    _train(dataset, tmp_path / "first", cache)
    _train(dataset, tmp_path / "other", cache, lr=3e-3)
    started_from = file_sha256(tmp_path / "first" / "decoder.safetensors")
    with pytest.raises(Cancelled, match="resume"):
        _train(dataset, tmp_path / "c2", cache, stop_at=(1, 1), init=str(tmp_path / "first"))
    shutil.copy(tmp_path / "other" / "decoder.safetensors", tmp_path / "first" / "decoder.safetensors")
    assert file_sha256(tmp_path / "first" / "decoder.safetensors") != started_from
    _train(dataset, tmp_path / "c2", cache, resume=True, init=str(tmp_path / "first"))
    card = json.loads((tmp_path / "c2" / "card.json").read_text())
    assert card["training"]["init"]["sha256"] == started_from


def test_train_refuses_test_only_and_missing_resume(tmp_path):
    rc = declip(["train", "--data", str(tmp_path), "--out", str(tmp_path / "m"), "--resume"])
    assert rc == 1


def test_export_official_for_a_model_without_that_layout_is_refused_before_training(dataset, tmp_path, capsys):
    out = tmp_path / "m"
    err = usage_error(["train", "--data", str(dataset), "--out", str(out), *TRAIN_ARGS,
                       "--export-official", str(tmp_path / "x.pth")], capsys)
    assert "--export-official: the official layout exists only for CLIP ViT" in err
    assert "epoch" not in err and not (out / "card.json").exists()  # refused before any training


def _train_plain_and_with(dataset, tmp_path, seed: int, flag: str, name: str):
    """Two calibrated tiny runs of one seed, without and with `flag`: (cards, decoder states)."""
    from engine.weights import load_state_file

    base = ["train", "--data", str(dataset), "--cache", str(tmp_path / "cache"), *TRAIN_ARGS, "--calibrate-bias",
            "--seed", str(seed)]
    assert declip(base + ["--out", str(tmp_path / "plain")]) == 0
    assert declip(base + ["--out", str(tmp_path / name), flag]) == 0
    cards = [json.loads((tmp_path / d / "card.json").read_text()) for d in ("plain", name)]
    states = [load_state_file(tmp_path / d / "decoder.safetensors") for d in ("plain", name)]
    return cards, states


def test_train_flip_average_changes_only_the_card_flag_and_the_calibrated_shift(dataset, tmp_path, capsys):
    from engine import Detector

    (plain, flip), (a, b) = _train_plain_and_with(dataset, tmp_path, 5, "--flip-average", "flip")
    assert flip["input"]["flip_average"] is True and "flip_average" not in plain["input"]
    assert flip["training"]["flip_average"] is True and plain["training"]["flip_average"] is False
    drop = lambda h: [{k: v for k, v in e.items() if k != "seconds"} for e in h]  # noqa: E731
    assert drop(flip["training"]["history"]) == drop(plain["training"]["history"])  # training is untouched
    last_bias = max((k for k in a if k.endswith(".bias")), key=lambda k: int(k.split(".")[1]))
    assert all(torch.equal(a[k], b[k]) for k in a if k != last_bias)
    # the last bias differs from the plain one by the difference of the two calibrated shifts
    diff = flip["training"]["bias_shift"] - plain["training"]["bias_shift"]
    assert torch.allclose(b[last_bias] - a[last_bias], torch.tensor(diff, dtype=a[last_bias].dtype), atol=1e-6)
    assert Detector.from_model(tmp_path / "flip", device="cpu").net.flip_average


def test_calibrate_scale_scales_only_the_final_layer_and_keeps_the_masks(dataset, tmp_path, capsys):
    from engine import Detector

    (plain, scaled), (a, b) = _train_plain_and_with(dataset, tmp_path, 6, "--calibrate-scale", "scaled")
    scale = scaled["training"]["logit_scale"]
    assert plain["training"]["logit_scale"] == 1.0 and scale != 1.0 and 0.05 <= scale <= 20
    assert "logit scale" in capsys.readouterr().err
    last = max({k.rsplit(".", 1)[0] for k in a}, key=lambda k: int(k.split(".")[1]))
    for k in a:
        want = a[k] * scale if k.rsplit(".", 1)[0] == last else a[k]
        assert torch.allclose(b[k].float(), want.float(), rtol=1e-5, atol=1e-7), k
    # the same masks at 0.5, probabilities pushed away from it by the factor
    img = next((dataset / "test" / "images").iterdir())
    p = Detector.from_model(tmp_path / "plain", device="cpu").analyze(img).raw
    q = Detector.from_model(tmp_path / "scaled", device="cpu").analyze(img).raw
    lp, lq = np.log(p / (1 - p)), np.log(q / (1 - q))
    assert np.allclose(lq, lp * scale, atol=1e-3 * max(1.0, scale))
    assert np.array_equal(p > 0.5, q > 0.5)


def test_train_refuses_to_overwrite_a_folder_and_absurd_settings_up_front(dataset, tmp_path, capsys):
    busy = tmp_path / "busy"
    (busy / "state").mkdir(parents=True)
    (busy / "decoder.safetensors").write_text("someone's file")
    before = (busy / "decoder.safetensors").read_bytes()
    assert declip(["train", "--data", str(dataset), "--out", str(busy), *TRAIN_ARGS]) == 1
    assert "is not empty" in capsys.readouterr().err and (busy / "decoder.safetensors").read_bytes() == before
    (busy / "state" / "last.pt").write_text("x")
    assert declip(["train", "--data", str(dataset), "--out", str(busy), *TRAIN_ARGS]) == 1
    assert "holds an interrupted run; add --resume" in capsys.readouterr().err
    a_file = tmp_path / "out.txt"
    a_file.write_text("x")
    assert declip(["train", "--data", str(dataset), "--out", str(a_file), *TRAIN_ARGS]) == 1
    assert "is a file" in capsys.readouterr().err
    for bad in (["--lr", "-1"], ["--batch-size", "0"], ["--max-epochs", "0"], ["--patience", "0"],
                ["--max-train", "0"], ["--stages", "9"]):
        args = ["train", "--data", str(dataset), "--out", str(tmp_path / "new"), *TRAIN_ARGS, *bad]
        if bad[0] == "--stages":
            args = ["train", "--data", str(dataset), "--out", str(tmp_path / "new"), "--backbone", "lite0", *bad]
        err = usage_error(args, capsys)
        assert bad[0].lstrip("-").split("-")[0] in err, (bad, err)
        assert not (tmp_path / "new").exists()


def test_ensemble_names_the_backbone_setting_that_differs(dataset, tmp_path, capsys):
    cache = str(tmp_path / "cache")
    other = TINY.replace('"grid": 8', '"grid": 4')
    args = [a if a != TINY else other for a in TRAIN_ARGS]
    assert declip(["train", "--data", str(dataset), "--cache", cache, "--out", str(tmp_path / "a"), *TRAIN_ARGS]) == 0
    assert declip(["train", "--data", str(dataset), "--cache", cache, "--out", str(tmp_path / "b"), *args]) == 0
    capsys.readouterr()
    assert declip(["ensemble", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "e")]) == 1
    assert "in grid 4 against 8; members must share one backbone" in capsys.readouterr().err
    # a finished run is not resumed (and so not rewritten)
    card = (tmp_path / "a" / "card.json").read_bytes()
    assert declip(["train", "--data", str(dataset), "--cache", cache, "--out", str(tmp_path / "a"), *TRAIN_ARGS,
                   "--resume"]) == 1
    assert "this run has finished" in capsys.readouterr().err and (tmp_path / "a" / "card.json").read_bytes() == card


def test_no_last_relu_trains_imports_and_is_one_form_of_its_own(dataset, tmp_path, capsys):
    """--no-last-relu (round 31): written on the card, loaded by the engine, shown in words, a setting
    --resume checks, and members with and without it are not averaged."""
    from trainer.config import TrainConfig, resume_hash

    cache = str(tmp_path / "cache")
    out = tmp_path / "signed"
    assert declip(["train", "--data", str(dataset), "--cache", cache, "--out", str(out), *TRAIN_ARGS,
                   "--no-last-relu"]) == 0
    assert json.loads((out / "card.json").read_text())["decoder"]["last_relu"] is False
    assert declip(["train", "--data", str(dataset), "--cache", cache, "--out", str(tmp_path / "plain"), *TRAIN_ARGS]) == 0
    assert "last_relu" not in json.loads((tmp_path / "plain" / "card.json").read_text())["decoder"]
    assert declip(["models", "import", str(out)]) == 0
    capsys.readouterr()
    assert declip(["models", "list"]) == 0
    assert "no ReLU before the last conv" in capsys.readouterr().out
    img = next((dataset / "test" / "images").iterdir())
    assert declip(["analyze", "--model", str(out), "--out", str(tmp_path / "an"), str(img)]) == 0
    capsys.readouterr()
    assert declip(["ensemble", str(out), str(tmp_path / "plain"), "--out", str(tmp_path / "e")]) == 1
    assert "members must have one form" in capsys.readouterr().err
    base = dict(data="d", out="o", backbone=json.loads(TINY))
    assert resume_hash(TrainConfig(**base, last_relu=False)) != resume_hash(TrainConfig(**base))
    assert "--no-last-relu needs a conv-N decoder" in usage_error(
        ["train", "--data", str(dataset), "--out", str(tmp_path / "lin"), "--backbone", TINY, "--decoder", "linear",
         "--no-last-relu"], capsys)
