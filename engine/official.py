"""Recognise official DeCLIP checkpoints and infer their architecture from the file itself.

The files hold no architecture, only `model` (state dict), `optimizer`, `total_steps`,
`feature_layer` ('layer20') and `decoder_type` ('conv-20'); ViT files may carry the CLIP weights
under `model.*`. Shapes decide: fc.0.weight (512, 1024|2048, 5, 5) and the final conv index.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from .backbones import PRESETS
from .errors import CheckpointError


def decoder_tensors(raw: dict) -> dict:
    sd = raw.get("model", raw) if isinstance(raw, dict) else {}
    if not isinstance(sd, dict):
        return {}
    return {k: v for k, v in sd.items() if k.startswith("fc.") and torch.is_tensor(v)}


def is_official(raw: dict) -> bool:
    return bool(decoder_tensors(raw))


def infer_architecture(raw: dict, path: str | Path) -> dict:
    """Return {"backbone": spec, "decoder": spec, "feature_layer": str, "embedded_clip": bool}."""
    path = Path(path)
    fc = decoder_tensors(raw)
    if not fc:
        raise CheckpointError(f"{path}: not a DeCLIP checkpoint (expected decoder weights fc.* under 'model')")
    layer_tag = str(raw.get("feature_layer", "") or "")
    dec_tag = str(raw.get("decoder_type", "") or "")
    if "fc.weight" in fc:  # linear decoder
        c_in = fc["fc.weight"].shape[1]
        decoder = {"type": "linear"}
        cnn_final = None
    else:
        if "fc.0.weight" not in fc or fc["fc.0.weight"].ndim != 4:
            raise CheckpointError(f"{path}: decoder has no 4-D fc.0.weight; found {sorted(fc)[:4]}")
        convs = sorted(int(m.group(1)) for k in fc if (m := re.match(r"fc\.(\d+)\.weight$", k)) and fc[k].ndim == 4)
        final = convs[-1]
        depth = len(convs) - 1
        if depth % 4 or depth == 0:
            raise CheckpointError(f"{path}: {len(convs)} conv layers do not form a conv-N decoder (N = 4, 12, 20)")
        c_in = fc["fc.0.weight"].shape[1]
        per = depth // 4
        widths = [int(fc[f"fc.{3 * per * s + s}.weight"].shape[0]) for s in range(4)]
        plain_final = 3 * depth + 4
        if final == plain_final:
            cnn_final = False
        elif final == plain_final + 1:
            cnn_final = True
        else:
            raise CheckpointError(f"{path}: final conv at fc.{final}, expected fc.{plain_final} (ViT) "
                                  f"or fc.{plain_final + 1} (CNN/fusion) for conv-{depth}")
        decoder = {"type": "conv", "depth": depth, "widths": widths}
        if dec_tag and dec_tag != f"conv-{depth}":
            raise CheckpointError(f"{path}: decoder_type says {dec_tag!r} but the weights are conv-{depth}")
    vit_layer = _layer_number(layer_tag, default=20)
    if c_in == 2048 and cnn_final is not False:
        backbone = {"family": "fusion", "vit": dict(PRESETS["fusion"]["vit"], layer=vit_layer),
                    "rn": dict(PRESETS["fusion"]["rn"])}
    elif c_in == 1024 and cnn_final is not True:
        backbone = dict(PRESETS["clip-vit-l14"], layer=vit_layer)
    elif c_in == 1024 and cnn_final:
        backbone = dict(PRESETS["clip-rn50"], layer=3)
    else:
        raise CheckpointError(f"{path}: decoder input has {c_in} channels; expected 1024 (CLIP ViT-L/14) "
                              "or 2048 (ViT-L/14 + RN50 fusion)")
    sd = raw.get("model", {})
    embedded = any(k.startswith("model.visual.") or k.startswith("visual.") for k in sd)
    return {"backbone": backbone, "decoder": decoder, "feature_layer": layer_tag or f"layer{vit_layer}",
            "embedded_clip": embedded}


def _layer_number(tag: str, default: int) -> int:
    m = re.match(r"layer(\d+)", tag or "")
    return int(m.group(1)) if m else default
