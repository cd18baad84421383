"""CLIP backbones built from open_clip's modules (no hand-written ViT).

The ViT stops after block `layer` (0-based, before ln_post) and returns its patch tokens as a
(B, width, g, g) grid; the ModifiedResNet stops after layer<K>. Both keep OpenAI/open_clip key
names (conv1, transformer.resblocks.N..., layer3...), so OpenAI weights load directly.
"""
from __future__ import annotations

import copy
import dataclasses

import torch
import torch.nn.functional as F
from torch import nn


def _model_cfg(config) -> dict:
    import open_clip

    if isinstance(config, dict):
        return copy.deepcopy(config)
    cfg = open_clip.get_model_config(config)
    if cfg is None:
        raise ValueError(f"unknown open_clip config {config!r}")
    return copy.deepcopy(cfg)


def _vision_tower(config, blocks: int | None = None) -> nn.Module:
    from open_clip.model import CLIPVisionCfg, _build_vision_tower

    cfg = _model_cfg(config)
    if blocks is not None:
        n = cfg["vision_cfg"]["layers"]
        if not 0 <= blocks - 1 < n:
            raise ValueError(f"feature layer {blocks - 1} outside the {n} blocks of this ViT")
        cfg["vision_cfg"]["layers"] = blocks  # never build (or initialise) the blocks we would drop
    # OpenAI CLIP uses QuickGELU; the *-quickgelu configs say so, custom dicts default to it too.
    quick = bool(cfg.get("quick_gelu", True))
    known = {f.name for f in dataclasses.fields(CLIPVisionCfg)}
    unknown = sorted(set(cfg["vision_cfg"]) - known)
    if unknown:  # a hand-written card's config: one line, not a TypeError from deep inside open_clip
        raise ValueError(f"backbone config.vision_cfg has field(s) this open_clip does not know: {', '.join(unknown)}")
    return _build_vision_tower(cfg["embed_dim"], CLIPVisionCfg(**cfg["vision_cfg"]), quick_gelu=quick)


class ClipViTFeatures(nn.Module):
    def __init__(self, config, layer: int):
        super().__init__()
        visual = _vision_tower(config, blocks=layer + 1)
        # ln_post and proj are never run (features are taken before them), so never loaded.
        visual.prune_intermediate_layers([layer], prune_norm=True, prune_head=True)
        self.visual = visual
        self.layer = layer
        self.out_channels = visual.transformer.width
        self.patch = visual.patch_size[0]
        self.grid = visual.image_size[0] // self.patch
        self.cnn = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.visual.forward_intermediates(x, indices=[self.layer], stop_early=True,
                                                intermediates_only=True, output_fmt="NCHW")
        return out["image_intermediates"][0]

    def weight_prefix(self) -> str:
        return "visual."


class ClipResNetFeatures(nn.Module):
    def __init__(self, config, layer: int):
        super().__init__()
        visual = _vision_tower(config)
        if not 1 <= layer <= 4:
            raise ValueError(f"ResNet feature layer must be 1..4, found {layer}")
        for k in range(layer + 1, 5):
            delattr(visual, f"layer{k}")
        del visual.attnpool
        self.visual = visual
        self.layer = layer
        width = visual.layer1[0].conv1.in_channels  # stem width
        self.out_channels = width * 4 * 2 ** (layer - 1)
        self.grid = visual.image_size // (4 * 2 ** (layer - 1)) if isinstance(visual.image_size, int) else 14
        self.cnn = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.visual
        x = v.stem(x.to(v.conv1.weight.dtype))
        for k in range(1, self.layer + 1):
            x = getattr(v, f"layer{k}")(x)
        return x


class ClipFusionFeatures(nn.Module):
    """ViT grid concatenated with the ResNet grid resized (bilinear) to it: channels [ViT, RN]."""

    def __init__(self, vit_spec: dict, rn_spec: dict):
        super().__init__()
        self.vit = ClipViTFeatures(vit_spec["config"], int(vit_spec["layer"]))
        self.rn = ClipResNetFeatures(rn_spec["config"], int(rn_spec["layer"]))
        self.out_channels = self.vit.out_channels + self.rn.out_channels
        self.grid = self.vit.grid
        self.cnn = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.vit(x)
        b = self.rn(x)
        b = F.interpolate(b.to(a.dtype), size=a.shape[-2:], mode="bilinear", align_corners=False)
        return torch.cat([a, b], dim=1)


def build_clip_backbone(spec: dict, meta: bool = False) -> nn.Module:
    ctx = torch.device("meta") if meta else torch.device("cpu")
    with ctx:
        fam = spec["family"]
        if fam == "clip-vit":
            return ClipViTFeatures(spec["config"], int(spec["layer"]))
        if fam == "clip-rn":
            return ClipResNetFeatures(spec["config"], int(spec["layer"]))
        return ClipFusionFeatures(spec["vit"], spec["rn"])
