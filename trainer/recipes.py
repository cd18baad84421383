"""Named training recipes, as data: the authors' published settings, and the small-data recipe the
embedded default model was trained with (docs/default-model.md). `declip train --recipe` and the
trainer dialog read them from here; any flag given explicitly still wins. No torch import, so that
`declip --help` stays fast."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    description: str
    config: dict = field(default_factory=dict)  # TrainConfig values that differ from the authors'
    lite_backbone: dict = field(default_factory=dict)  # backbone spec values, for the EfficientNet-Lite backbones


RECIPES: dict[str, Recipe] = {
    "authors": Recipe(
        "authors", "Authors' recipe (large data sets)",
        "The published DeCLIP settings: conv-20 decoder, batch 64, BCE, AdamW lr 1e-3, N(0, 0.02) "
        "initialisation, lr x0.1 after 5 epochs without a better validation IoU. Meant for thousands of "
        "images per generator, as in Dolos."),
    "small-data": Recipe(
        "small-data", "Small-data recipe (as the default model)",
        "The recipe of the embedded default model, chosen by measured validation IoU on 2100 images: "
        "conv-4 decoder with widths 64,32,16,8 and image context, feature dropout 0.5, an exponential "
        "moving average of the weights (0.99), batch 16, lr decay after 2 flat epochs, at most 12 epochs, "
        "and the final threshold and probability scale calibrated on validation. Lite backbones: stages 3+4 "
        "at 448 px on a 32x32 grid. (The default model's members also had a second, shorter cycle: "
        "docs/trainer.md.)",
        config={"decoder": "conv-4", "widths": [64, 32, 16, 8], "batch_size": 16, "patience": 2,
                "bn_gamma_mean": 1.0, "calibrate_bias": True, "calibrate_scale": True, "feature_dropout": 0.5,
                "image_context": "image-mean", "ema": 0.99, "max_epochs": 12},
        lite_backbone={"stages": [3, 4], "grid": 32, "input_size": 448}),
}
DEFAULT_RECIPE = "authors"
# every TrainConfig setting some recipe changes
RECIPE_SETTINGS = tuple(sorted({k for r in RECIPES.values() for k in r.config}))


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


def resolve(name: str, given: dict) -> dict:
    """The values of the settings in `given` that a run uses: the given value, else the recipe's, else the
    authors' (TrainConfig's own default). given maps TrainConfig field names to a value or None (not set)."""
    from dataclasses import fields

    from .train import TrainConfig  # here, not at the top: it imports torch

    own = {f.name: f.default for f in fields(TrainConfig)}
    r = recipe(name)
    out = {key: value if value is not None else r.config.get(key, own[key]) for key, value in given.items()}
    # a decoder other than the recipe's keeps its own channel plan unless widths are given too
    if "widths" in given and given["widths"] is None and given.get("decoder") not in (None, r.config.get("decoder")):
        out["widths"] = own["widths"]
    return out


def lite_backbone(name: str, spec: dict, given: dict) -> dict:
    """spec with the recipe's Lite stages/grid/input size wherever the user gave none."""
    spec = dict(spec)
    for key, value in recipe(name).lite_backbone.items():
        if given.get(key) is None:
            spec[key] = list(value) if isinstance(value, list) else value
    return spec
