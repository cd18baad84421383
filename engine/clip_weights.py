"""Normalise CLIP weights from OpenAI TorchScript, open_clip and Hugging Face files to one key
layout (open_clip / OpenAI: `visual.conv1.weight`, `visual.transformer.resblocks.N...`)."""
from __future__ import annotations

import re
from pathlib import Path

import torch

from .errors import CheckpointError

_WRAPPERS = ("state_dict", "model", "module")


def unwrap(raw: dict) -> dict:
    """Strip container dicts and `module.`/`model.` prefixes that trainers add."""
    obj = raw
    for _ in range(3):
        if isinstance(obj, dict) and not any(torch.is_tensor(v) for v in obj.values()):
            inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), dict)), None)
            if inner is None:
                break
            obj = inner
    out = {}
    for k, v in obj.items():
        if not torch.is_tensor(v):
            continue
        for prefix in ("module.", "model."):
            if k.startswith(prefix) and not k.startswith("model.fc"):
                k = k[len(prefix):]
        out[k] = v
    return out


def hf_to_openclip(sd: dict) -> dict:
    """Map Hugging Face transformers CLIP vision keys onto open_clip's layout."""
    out: dict[str, torch.Tensor] = {}
    pre = "vision_model."
    layers: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in sd.items():
        if k == "visual_projection.weight":
            out["visual.proj"] = v.t().contiguous()
            continue
        if not k.startswith(pre):
            continue
        k = k[len(pre):]
        if k == "embeddings.class_embedding":
            out["visual.class_embedding"] = v
        elif k == "embeddings.patch_embedding.weight":
            out["visual.conv1.weight"] = v
        elif k == "embeddings.position_embedding.weight":
            out["visual.positional_embedding"] = v
        elif k.startswith("pre_layrnorm."):
            out["visual.ln_pre." + k.split(".", 1)[1]] = v
        elif k.startswith("post_layernorm."):
            out["visual.ln_post." + k.split(".", 1)[1]] = v
        else:
            m = re.match(r"encoder\.layers\.(\d+)\.(.+)$", k)
            if m:
                layers.setdefault(int(m.group(1)), {})[m.group(2)] = v
    rename = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
              "self_attn.out_proj": "attn.out_proj"}
    for i, parts in layers.items():
        base = f"visual.transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            qkv = [parts.get(f"self_attn.{p}_proj.{kind}") for p in "qkv"]
            if all(t is not None for t in qkv):
                out[base + f"attn.in_proj_{kind}"] = torch.cat(qkv, dim=0)
        for k, v in parts.items():
            if k.startswith("self_attn.") and k.split(".")[1] in ("q_proj", "k_proj", "v_proj"):
                continue
            for a, b in rename.items():
                if k.startswith(a + "."):
                    out[base + b + k[len(a):]] = v
                    break
    return out


def visual_state(raw: dict, path: str | Path) -> dict:
    """Return only `visual.*` tensors in open_clip layout, whatever the source format."""
    sd = unwrap(raw)
    if any(k.startswith("vision_model.") for k in sd):
        sd = hf_to_openclip(sd)
    vis = {k: v for k, v in sd.items() if k.startswith("visual.")}
    if not vis:
        sample = ", ".join(list(sd)[:3]) or "no tensors"
        raise CheckpointError(f"{path}: expected CLIP image-encoder weights (visual.* or vision_model.* keys), "
                              f"found {sample}")
    return vis


def describe_visual(vis: dict) -> str:
    if "visual.transformer.resblocks.0.attn.in_proj_weight" in vis:
        w = vis["visual.conv1.weight"]
        blocks = 1 + max(int(k.split(".")[3]) for k in vis if k.startswith("visual.transformer.resblocks."))
        return f"CLIP ViT (width {w.shape[0]}, patch {w.shape[-1]}, {blocks} blocks)"
    if "visual.layer1.0.conv1.weight" in vis:
        return f"CLIP ResNet (stem width {vis['visual.layer1.0.conv1.weight'].shape[1]})"
    return "unrecognised CLIP visual weights"


def visual_kind(vis: dict) -> str:
    if "visual.transformer.resblocks.0.attn.in_proj_weight" in vis:
        return "clip-vit"
    if "visual.layer1.0.conv1.weight" in vis:
        return "clip-rn"
    return "unknown"
