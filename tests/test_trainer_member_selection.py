"""Member selection for `declip ensemble --select`: the counting IoU, the forward selection, and the CLI."""
import json

import pytest
import torch
from PIL import Image

from engine.errors import DeclipError
from tests.test_trainer_e2e import SYNTH_ARGS, TRAIN_ARGS, declip, dataset  # noqa: F401 (the module-scoped data set)
from trainer.member_selection import forward_select, pool_iou
from trainer.calibration import CALIBRATION_SHIFTS, iou_by_shift


def _iou_per_shift_reference(logits, masks, shifts):
    """The definition, one shift at a time: IoU of logit + shift > 0 against mask > 127; an empty mask
    scores 100 when at most 1 % of the pixels are predicted, else 0."""
    gt = masks > 127
    cols = []
    for sh in shifts:
        pred = logits + sh > 0
        inter = (pred & gt).flatten(1).sum(1).float()
        union = (pred | gt).flatten(1).sum(1).float()
        iou = torch.where(union > 0, inter / union.clamp(min=1) * 100, torch.full_like(union, 100.0))
        clean = pred.flatten(1).float().mean(1) <= 0.01
        cols.append(torch.where(gt.flatten(1).any(1), iou, clean.float() * 100))
    return torch.stack(cols, 1)


@pytest.mark.parametrize("shifts", [CALIBRATION_SHIFTS, torch.tensor([0.25]), torch.tensor([1.0, -2.0, 0.25, 0.25])])
def test_counted_iou_by_shift_equals_the_definition_exactly(shifts):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 64, 64, generator=g) * 3
    logits[0] = 0.0                   # every pixel on the 0 shift's boundary
    logits[1, :8] = -0.25             # pixels exactly on a threshold (logit + 0.25 = 0 is not > 0)
    logits[2] = -100.0                # nothing predicted at any shift
    masks = (torch.rand(12, 64, 64, generator=g) * 255).to(torch.uint8)
    logits[4] = -100.0
    logits[4, 0, :40] = 100.0         # 40 stray pixels (< 1 % of 4096) on an authentic image: still clean
    logits[5] = -100.0
    logits[5, :1, :] = 100.0          # 64 pixels (> 1 %) on an authentic image: flagged
    masks[0], masks[2], masks[3], masks[4], masks[5] = 0, 0, 255, 0, 0  # empty vs everything, vs nothing; all manipulated
    got = iou_by_shift(logits, masks, shifts)
    assert got.shape == (12, len(shifts))
    assert torch.equal(got, _iou_per_shift_reference(logits, masks, shifts))
    assert got[2].eq(100.0).all()     # both empty
    assert got[4].eq(100.0).all() and got[5].eq(0.0).all()  # the 1 % rule of `declip evaluate`
    if 0.0 in shifts.tolist():
        assert got[0, shifts.tolist().index(0.0)] == 100.0  # logit 0 is not > 0, mask empty


def test_forward_selection_adds_the_most_useful_candidate_and_keeps_the_best_prefix():
    masks = torch.zeros(4, 16, 16, dtype=torch.uint8)
    masks[:, 4:12, 4:12] = 255
    truth = torch.where(masks > 127, 4.0, -4.0)
    good = truth.clone()
    good[:, 4:6, 4:12] = -4.0          # misses two rows of the region
    other = truth.clone()
    other[:, 10:12, 4:12] = -4.0       # misses two other rows: its errors are not good's
    bad = -truth                       # the opposite everywhere
    noise = torch.zeros(4, 16, 16)     # no opinion
    cands = [c.half() for c in (bad, noise, good, other)]
    chosen, steps = forward_select(cands, masks, max_members=4)
    assert [s["added"] for s in steps][:2] == [2, 3]  # the best alone first, then the one that fixes its misses
    assert steps[1]["val_iou"] == pytest.approx(100.0) and steps[0]["val_iou"] < 100.0
    assert chosen == [2, 3]            # adding the bad or the neutral one cannot beat a perfect pair
    assert steps[-1]["members"] == 4 and steps[-1]["val_iou"] < 100.0
    iou, shift = pool_iou(cands[2].float() + cands[3].float(), 2, masks)
    assert iou == pytest.approx(steps[1]["val_iou"]) and shift == steps[1]["shift"]
    with pytest.raises(DeclipError, match="at least 2"):
        forward_select(cands, masks, max_members=1)


def test_ensemble_select_chooses_among_trained_candidates_and_records_how(dataset, tmp_path, capsys):  # noqa: F811
    cache = str(tmp_path / "cache")
    base = ["train", "--data", str(dataset), "--cache", cache, *TRAIN_ARGS, "--image-context", "--calibrate-bias"]
    cands = []
    for seed in ("3", "4", "5"):
        cands.append(tmp_path / f"s{seed}")
        assert declip(base[:-2] + ["--seed", seed, "--out", str(cands[-1])] + base[-2:]) == 0
    # refused before any work: no data to choose on, fewer than two members
    capsys.readouterr()
    assert declip(["ensemble", *map(str, cands), "--select", "2", "--out", str(tmp_path / "bad")]) == 1
    assert "--select needs --data" in capsys.readouterr().err
    assert declip(["ensemble", *map(str, cands), "--select", "1", "--data", str(dataset),
                   "--out", str(tmp_path / "bad")]) == 1
    assert "give 2 or more" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()

    out = tmp_path / "sel"
    assert declip(["ensemble", *map(str, cands), "--select", "3", "--data", str(dataset), "--flip-average",
                   "--id", "sel", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "candidate 3/3 scored" in err and "selected" in err
    card = json.loads((out / "card.json").read_text())
    ens = card["training"]["ensemble"]
    sel = ens["selection"]
    ids = [json.loads((c / "card.json").read_text())["id"] for c in cands]
    assert [c["id"] for c in sel["candidates"]] == ids and sel["max_members"] == 3
    assert len(sel["steps"]) == 3 and sorted(s["added"] for s in sel["steps"]) == sorted(ids)
    kept = sel["kept"]
    assert 2 <= kept <= 3 and card["decoder"]["members"] == kept
    # the members are the kept prefix, in the order chosen, and the best prefix by validation IoU
    assert [m["id"] for m in ens["members"]] == [s["added"] for s in sel["steps"][:kept]]
    assert sel["steps"][kept - 1]["val_iou"] == max(s["val_iou"] for s in sel["steps"][1:])
    # the calibration measures the chosen pool the way the selection did
    assert card["metrics"]["val_iou"] == pytest.approx(sel["steps"][kept - 1]["val_iou"], abs=1e-3)
    assert ens["bias_shift"] == sel["steps"][kept - 1]["shift"]


def test_authentic_validation_images_count_only_when_asked(tmp_path, capsys):
    # --include-real trains on authentic images; --no-val-real keeps them out of validation, and
    # `declip ensemble --include-real` scores them in selection and calibration (recorded on the card)
    photos = tmp_path / "photos"
    photos.mkdir()
    skd = pytest.importorskip("skimage.data")
    for name in ("chelsea", "coffee", "astronaut", "rocket"):
        Image.fromarray(getattr(skd, name)()).convert("RGB").resize((160, 120)).save(photos / f"{name}.png")
    ds = tmp_path / "ds"
    assert declip(["synth", "--photos", str(photos), "--out", str(ds), *SYNTH_ARGS, "--real-fraction", "1"]) == 0
    man = json.loads((ds / "manifest.json").read_text())
    n_val_fake = sum(1 for i in man["items"] if i["split"] == "val" and "mask" in i)
    n_val_real = sum(1 for i in man["items"] if i["split"] == "val" and "mask" not in i)
    assert n_val_real > 0
    cache = str(tmp_path / "cache")
    base = ["train", "--data", str(ds), "--cache", cache, *TRAIN_ARGS, "--image-context", "--include-real"]
    cands = []
    for seed, extra in (("3", ["--no-val-real"]), ("4", [])):
        cands.append(tmp_path / f"s{seed}")
        capsys.readouterr()
        assert declip(base + ["--seed", seed, "--out", str(cands[-1])] + extra) == 0
        n_val = n_val_fake + (0 if extra else n_val_real)
        assert f", {n_val} val images" in capsys.readouterr().err
        recipe = json.loads((cands[-1] / "card.json").read_text())["training"]["recipe"]
        assert recipe["include_real"] is True and recipe["val_real"] is (False if extra else None)
    out = tmp_path / "ens"
    assert declip(["ensemble", *map(str, cands), "--select", "2", "--data", str(ds), "--include-real",
                   "--out", str(out)]) == 0
    ens = json.loads((out / "card.json").read_text())["training"]["ensemble"]
    assert ens["val_includes_authentic"] is True and ens["selection"]["images"] == n_val_fake + n_val_real
    # an authentic-image budget: the threshold keeps every authentic val image clean, recorded on the card
    assert declip(["ensemble", *map(str, cands), "--data", str(ds), "--out", str(tmp_path / "clean"),
                   "--authentic-budget", "0"]) == 1
    assert "--authentic-budget needs --data and --include-real" in capsys.readouterr().err
    assert declip(["ensemble", *map(str, cands), "--data", str(ds), "--include-real", "--authentic-budget", "0",
                   "--out", str(tmp_path / "clean")]) == 0
    clean = json.loads((tmp_path / "clean" / "card.json").read_text())
    budget = clean["training"]["ensemble"]["authentic_budget"]
    assert budget["share"] == 0 and budget["val_authentic_flagged"] == 0 and budget["val_authentic"] == n_val_real
    assert clean["metrics"]["val_iou"] == pytest.approx(budget["val_edits_iou"], abs=1e-3)
