"""Named training recipes: `declip train --recipe` and what a run resolves to (explicit flags win)."""
import json

import pytest

from declip_desktop.cli import build_parser
from trainer.cli import train_config
from trainer.recipes import RECIPES, recipe


def _cfg(*flags):
    return train_config(build_parser().parse_args(["train", "--data", "d", "--out", "o", *flags]))


def test_authors_recipe_is_the_default_and_keeps_the_published_values():
    cfg = _cfg()
    assert cfg.recipe == "authors"
    assert (cfg.decoder, cfg.widths, cfg.batch_size, cfg.patience, cfg.max_epochs) == ("conv-20", None, 64, 5, 400)
    assert (cfg.ema, cfg.feature_dropout, cfg.calibrate_bias, cfg.image_context, cfg.bn_gamma_mean) == (0.0, 0.0, False,
                                                                                                         None, 0.0)
    assert cfg.calibrate_scale is False
    assert (cfg.backbone["grid"], cfg.backbone["input_size"]) == (16, 224)  # the lite0 preset, untouched


def test_small_data_recipe_is_the_default_models_recipe():
    cfg = _cfg("--recipe", "small-data")
    assert cfg.recipe == "small-data"
    assert (cfg.decoder, cfg.widths, cfg.batch_size, cfg.patience, cfg.max_epochs) == ("conv-4", [64, 32, 16, 8], 16,
                                                                                       2, 12)
    assert (cfg.ema, cfg.feature_dropout, cfg.calibrate_bias, cfg.image_context, cfg.bn_gamma_mean) == (
        0.99, 0.5, True, "image-mean", 1.0)
    assert cfg.calibrate_scale is True
    assert {k: cfg.backbone[k] for k in ("stages", "grid", "input_size")} == {"stages": [3, 4], "grid": 32,
                                                                             "input_size": 448}
    # the shipped default model was trained with exactly these values
    card = json.loads(open("resources/models/declip-lite2-default/card.json").read())
    assert card["backbone"]["grid"] == 32 and card["backbone"]["input_size"] == 448


def test_explicit_flags_win_over_the_recipe_even_at_the_authors_values():
    cfg = _cfg("--recipe", "small-data", "--batch-size", "64", "--no-calibrate-bias", "--image-context", "none",
               "--no-calibrate-scale",
               "--ema", "0", "--grid", "16", "--decoder", "conv-20", "--widths", "512,256,128,64")
    assert (cfg.batch_size, cfg.calibrate_bias, cfg.image_context, cfg.ema) == (64, False, None, 0.0)
    assert cfg.calibrate_scale is False
    assert (cfg.decoder, cfg.widths) == ("conv-20", [512, 256, 128, 64])
    assert (cfg.backbone["grid"], cfg.backbone["input_size"]) == (16, 448)  # only the flag given wins
    assert cfg.feature_dropout == 0.5 and cfg.patience == 2  # the rest still comes from the recipe
    # another decoder than the recipe's, without --widths, keeps its own channel plan (as in the dialog)
    assert _cfg("--recipe", "small-data", "--decoder", "conv-12").widths is None
    assert _cfg("--recipe", "small-data", "--decoder", "conv-4").widths == [64, 32, 16, 8]


def test_a_json_backbone_spec_is_left_as_typed():
    spec = {"family": "lite0", "stages": [2, 3], "grid": 12, "input_size": 96}
    cfg = _cfg("--recipe", "small-data", "--backbone", json.dumps(spec))
    assert {k: cfg.backbone[k] for k in spec} == spec


def test_unknown_recipe_is_refused_in_one_line(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--data", "d", "--out", "o", "--recipe", "huge"])
    assert "invalid choice: 'huge'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown recipe 'huge'; choose one of authors, small-data"):
        recipe("huge")
    assert set(RECIPES) == {"authors", "small-data"}
