"""Metric functions against cases computed by hand."""
import math

import numpy as np
import pytest

from trainer import metrics as M


def test_iou_hand_case():
    gt = np.zeros((4, 4)); gt[0, :2] = 1  # 2 pixels
    pred = np.zeros((4, 4)); pred[0, 1:3] = 0.9  # 2 pixels, 1 shared
    assert M.iou(pred, gt) == pytest.approx(100 / 3)


def test_iou_threshold_is_strict_and_both_empty_is_100():
    gt = np.zeros((3, 3))
    assert M.iou(np.full((3, 3), 0.5), gt) == 100.0  # 0.5 is not > 0.5: nothing predicted
    assert M.iou(np.full((3, 3), 0.51), gt) == 0.0  # everything predicted, nothing to find


def test_average_precision_hand_case():
    # ranking: pos (0.9), neg (0.8), pos (0.7), neg (0.1) -> AP = 0.5*1 + 0.5*(2/3)
    ap = M.average_precision(np.array([0.9, 0.8, 0.7, 0.1]), np.array([1, 0, 1, 0]))
    assert ap == pytest.approx((0.5 + 0.5 * 2 / 3) * 100)


def test_average_precision_ties_do_not_depend_on_order():
    s = np.array([0.5, 0.5, 0.5, 0.5])
    assert M.average_precision(s, np.array([1, 0, 0, 0])) == pytest.approx(25.0)
    assert M.average_precision(s, np.array([0, 0, 0, 1])) == pytest.approx(25.0)
    assert math.isnan(M.average_precision(s, np.zeros(4)))


def test_pixel_ap_matches_sklearn():
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    s = np.round(rng.random((20, 20)), 2)
    g = rng.random((20, 20)) < 0.3
    assert M.pixel_ap(s, g) == pytest.approx(sklearn.average_precision_score(g.ravel(), s.ravel()) * 100)


def test_ignore_band_excludes_boundary_pixels():
    gt = np.zeros((40, 40)); gt[10:30, 10:30] = 1
    keep = M.ignore_band(gt)
    # 15x15 erosion keeps rows 17..22 of the square; 11x11 dilation reaches rows 5..34
    assert keep[20, 20] and keep[0, 0]
    assert not keep[12, 20] and not keep[6, 20] and keep[4, 20]
    assert not keep[16, 20] and keep[17, 20]


def test_f1_with_band_ignores_a_blurry_rim():
    gt = np.zeros((40, 40)); gt[10:30, 10:30] = 1
    pred = np.zeros((40, 40)); pred[8:32, 8:32] = 1  # 2 px too large: all errors inside the band
    assert M.f1_fixed(pred, gt) == pytest.approx(100.0)
    # without the band: tp 400, |P| 576, |G| 400 -> 800/976
    assert M.f1_fixed(pred, gt, band=False) == pytest.approx(800 / 976 * 100)


def test_best_f1_picks_the_best_threshold():
    gt = np.array([1, 1, 0, 0], float)[None]
    pred = np.array([0.3, 0.2, 0.1, 0.25])[None]  # at 0.5 nothing is predicted
    assert M.f1_fixed(pred, gt, band=False) == 0.0
    # threshold just under 0.3: P={0}, F1 = 2*1/(1+2) ; under 0.25: P={0,3} 2/4 ; under 0.2: P={0,1,3} 4/5
    assert M.f1_best(pred, gt, band=False) == pytest.approx(80.0)


def test_detection_metrics():
    d = M.detection_metrics([0.9, 0.6, 0.4, 0.2], [1, 0, 1, 0])
    assert d["accuracy"] == pytest.approx(50.0)
    assert d["ap"] == pytest.approx((0.5 + 0.5 * 2 / 3) * 100)


def test_localisation_metrics_refuses_size_mismatch():
    with pytest.raises(ValueError):
        M.localisation_metrics(np.zeros((3, 3)), np.zeros((4, 4)))


def test_mask_loss_is_bce_plus_per_image_dice_hand_case():
    import torch

    from trainer.train import mask_loss

    # Image 0: two pixels, logits 0 (p = 0.5), target [1, 0]. Image 1: empty mask.
    logits = torch.zeros(2, 1, 2)
    target = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]]])
    bce = math.log(2)  # every pixel has p = 0.5
    assert float(mask_loss(logits, target)) == pytest.approx(bce, rel=1e-6)
    # Dice of image 0 only (the empty mask has none): 1 - (2*0.5 + 1) / (1.0 + 1 + 1) = 1/3.
    assert float(mask_loss(logits, target, dice_weight=2.0)) == pytest.approx(bce + 2 * (1 / 3), rel=1e-6)
    # All-empty batch: plain BCE, no division by zero.
    assert float(mask_loss(logits, torch.zeros_like(target), dice_weight=1.0)) == pytest.approx(bce, rel=1e-6)


def test_feature_dropout_drops_whole_channels_reproducibly_and_keeps_the_mean():
    import torch

    from trainer.train import drop_channels

    x = torch.ones(64, 32, 4, 4)
    y = drop_channels(x, 0.25, seed=7)
    per_channel = y.flatten(2)
    # every channel is either all zero or all 1/(1-p): whole feature maps are dropped, not pixels
    assert torch.all((per_channel == 0).all(-1) | ((per_channel - 1 / 0.75).abs() < 1e-6).all(-1))
    dropped = float((per_channel[..., 0] == 0).float().mean())
    assert 0.2 < dropped < 0.3
    assert float(y.mean()) == pytest.approx(1.0, abs=0.05)  # rescaled: same expected input
    assert torch.equal(y, drop_channels(x, 0.25, seed=7))  # same seed (epoch, batch), same mask: resumable
    assert not torch.equal(y, drop_channels(x, 0.25, seed=8))


def test_feature_dropout_outside_zero_to_one_is_refused(tmp_path):
    from engine.errors import DeclipError
    from trainer.train import TrainConfig, Trainer

    with pytest.raises(DeclipError, match="--feature-dropout 1.0"):
        Trainer(TrainConfig(data=str(tmp_path), backbone="lite0", decoder="conv-4", out=str(tmp_path / "o"),
                            feature_dropout=1.0))


def test_ema_update_hand_case():
    import torch

    from trainer.train import ema_update

    avg = {"w": torch.zeros(2), "n": torch.tensor(3)}
    # step 0: the ramp (1 + 0) / (10 + 0) = 0.1 is below the decay, so the live weights dominate
    assert ema_update(avg, {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(5)}, 0.9, step=0) == pytest.approx(0.1)
    assert torch.allclose(avg["w"], torch.tensor([0.9, 1.8]))
    assert int(avg["n"]) == 5  # integer buffers (BatchNorm batch counts) are copied, not averaged
    # step 100: the ramp 101 / 110 exceeds 0.9, so the decay itself applies
    assert ema_update(avg, {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(6)}, 0.9, step=100) == pytest.approx(0.9)
    assert torch.allclose(avg["w"], torch.tensor([0.91, 1.82]))


def test_ema_outside_zero_to_one_is_refused(tmp_path):
    from engine.errors import DeclipError
    from trainer.train import TrainConfig, Trainer

    with pytest.raises(DeclipError, match="--ema 1.0"):
        Trainer(TrainConfig(data=str(tmp_path), backbone="lite0", decoder="conv-4", out=str(tmp_path / "o"), ema=1.0))


def test_fit_logit_scale_recovers_a_known_temperature_and_keeps_the_boundary():
    import torch

    from trainer.calibration import fit_logit_scale, fold_logit_scale

    g = torch.Generator().manual_seed(0)
    x = torch.randn(200_000, generator=g) * 2
    y = (torch.rand(200_000, generator=g) < torch.sigmoid(2.5 * x)).float()  # labels drawn at temperature 2.5
    assert abs(fit_logit_scale(x, y) - 2.5) < 0.05
    assert abs(fit_logit_scale(x * 2.5, y) - 1.0) < 0.02  # already calibrated: left alone
    assert fit_logit_scale(torch.zeros(10), torch.ones(10)) == 1.0  # no information: unchanged

    dec = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 3, padding=1),
                              torch.nn.Upsample(scale_factor=2, mode="bilinear"))
    inp = torch.randn(2, 3, 8, 8, generator=g)
    before = dec(inp).detach()
    fold_logit_scale(dec, 1.7)
    assert torch.allclose(dec(inp).detach(), before * 1.7, atol=1e-6)


def test_f1_is_undefined_when_the_ignore_band_swallows_the_whole_edit():
    gt = np.zeros((64, 64), np.uint8)
    gt[30:33, 10:50] = 255  # a 3-px-thin edit: inside the 15x15 erosion band everywhere
    m = M.localisation_metrics(np.zeros((64, 64), np.float32), gt)
    assert np.isnan(m["f1"]) and np.isnan(m["f1_best"]) and m["iou"] == 0.0
    thick = np.zeros((64, 64), np.uint8)
    thick[10:50, 10:50] = 255
    m = M.localisation_metrics(np.zeros((64, 64), np.float32), thick)
    assert m["f1"] == 0.0 and m["f1_best"] > 0.0  # defined as before for an edit the band leaves pixels of


def test_reliability_counts_pixels_per_probability_bin_hand_case():
    rel = M.Reliability()
    # image 1: probabilities 0.05, 0.55, 0.65, 1.0 (the top edge goes to the last bin); only 0.65 and 1.0 manipulated
    rel.add(np.array([[0.05, 0.55], [0.65, 1.0]]), np.array([[0, 0], [1, 1]]))
    # image 2 (authentic): two pixels at 0.62, one at 0.0
    rel.add(np.array([[0.62, 0.62, 0.0]]), np.zeros((1, 3)))
    s = rel.summary()
    assert s["pixels"] == [2, 0, 0, 0, 0, 1, 3, 0, 0, 1]
    assert s["manipulated"] == [0, 0, 0, 0, 0, 0, 1, 0, 0, 1]
    assert s["precision"][6] == pytest.approx(100 / 3)
    assert math.isnan(s["precision"][1])
    assert s["max_probability"] == 1.0
    assert rel.precision_above(0.6) == pytest.approx(50.0)  # 2 of the 4 pixels at >= 0.6
    assert rel.precision_above(0.5) == pytest.approx(40.0)
    assert rel.precision_between(0.5, 0.6) == 0.0 and rel.precision_between(0.6, 0.7) == pytest.approx(100 / 3)
    again = M.Reliability.from_summary(s)
    assert again.summary()["pixels"] == s["pixels"] and again.precision_above(0.6) == pytest.approx(50.0)
    assert math.isnan(M.Reliability().precision_above(0.5))
    with pytest.raises(ValueError):
        rel.add(np.zeros((2, 2)), np.zeros((3, 3)))


def test_budget_shift_takes_the_best_edits_iou_within_the_authentic_budget():
    import torch

    from trainer.calibration import budget_shift

    # columns: five shifts; authentic rows score 100 (clean) or 0 (flagged), as iou_by_shift gives them
    ious = torch.tensor([[100, 100, 100, 0, 0],    # authentic, flagged from the fourth shift on
                         [100, 100, 0, 0, 0],      # authentic, flagged from the third
                         [100, 100, 100, 100, 0],  # authentic
                         [100, 100, 100, 100, 100],  # authentic, never flagged
                         [0, 10, 30, 50, 60],      # edits
                         [0, 20, 40, 50, 70]], dtype=torch.float32)
    authentic = torch.tensor([True, True, True, True, False, False])
    assert budget_shift(ious, authentic, 0.25) == (2, 35.0, 1)  # at most 1 of 4 flagged
    assert budget_shift(ious, authentic, 0.5) == (3, 50.0, 2)
    assert budget_shift(ious, authentic, 0.0) == (1, 15.0, 0)
    nothing = ious.clone()
    nothing[4:] = 0  # no shift finds anything: the lowest shift, which flags least
    assert budget_shift(nothing, authentic, 0.25)[0] == 0
    with pytest.raises(ValueError, match="needs authentic and manipulated"):
        budget_shift(ious[:4], authentic[:4], 0.1)


def test_summary_prints_an_undefined_f1_as_a_dash_and_says_why():
    """A kind whose edits are all thinner than the ignore band has no F1: the table shows '-' and a note,
    not 'nan', which an examiner reading the printout could not interpret."""
    from trainer.evaluate import format_summary

    nan = float("nan")
    m = {"manipulated": 2, "authentic": 0, "failed": 0, "iou": 20.0, "pixel_ap": 30.0, "f1": 40.0, "f1_best": 50.0,
         "per_kind": {"splice": {"images": 1, "iou": 40.0, "pixel_ap": 60.0, "f1": 40.0, "f1_best": 50.0},
                      "removal_line": {"images": 1, "iou": 0.0, "pixel_ap": 1.0, "f1": nan, "f1_best": nan}}}
    text = format_summary({"metrics": m, "model": {"model_id": "x"}, "data": "d", "layout": "benchmark", "split": "all"})
    assert "nan" not in text
    line = next(x for x in text.splitlines() if x.startswith("removal_line"))
    assert line.split()[-2:] == ["-", "-"] and line.split()[2:4] == ["0.0", "1.0"]
    assert "thinner than the band" in text
    m["per_kind"]["removal_line"].update(f1=0.0, f1_best=0.0)
    assert "thinner" not in format_summary({"metrics": m, "model": {"model_id": "x"}, "data": "d",
                                            "layout": "benchmark", "split": "all"})
