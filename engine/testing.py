"""Small random models for tests, benchmarks and demos (never for evidence).

make_tiny_model_dir: a tiny open_clip ViT + conv-4 decoder in the project's own format.
make_official_checkpoint: a file in the official DeCLIP layout (real ViT-L/14 / RN50 widths,
truncated to the blocks the feature layer needs, so it stays small).
"""
from __future__ import annotations

from pathlib import Path

import torch

from .backbones import build_backbone
from .cards import ModelCard
from .decoders import build_decoder, module_state_to_checkpoint
from .hashing import file_sha256
from .weights import save_safetensors

TINY_VIT = {"embed_dim": 32, "quick_gelu": True,
            "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "patch_size": 14, "head_width": 32}}
TINY_RN = {"embed_dim": 32, "quick_gelu": True,
           "vision_cfg": {"image_size": 224, "layers": [1, 1, 1, 1], "width": 16, "patch_size": None}}


def _randomise(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
            elif "weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(1.0 + 0.2 * torch.rand(b.shape, generator=g))


def random_decoder_state(in_channels: int, depth: int = 4, widths=(32, 16, 8, 8), cnn: bool = False,
                         seed: int = 0, decoder_type: str = "conv") -> dict:
    spec = {"type": decoder_type, "depth": depth, "widths": list(widths)}
    dec = build_decoder(spec, in_channels, cnn)
    _randomise(dec, seed)
    return module_state_to_checkpoint(dec, spec)


def make_tiny_model_dir(folder: str | Path, model_id: str = "tiny-test", seed: int = 0, layer: int = 1) -> Path:
    """A complete own-format model folder (card.json, decoder + backbone safetensors)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    spec = {"family": "clip-vit", "config": TINY_VIT, "layer": layer}
    bb = build_backbone(spec)
    _randomise(bb, seed + 1)
    save_safetensors(bb.state_dict(), folder / "backbone.safetensors")
    dec_spec = {"type": "conv", "depth": 4, "widths": [32, 16, 8, 8]}
    save_safetensors(random_decoder_state(bb.out_channels, seed=seed + 2), folder / "decoder.safetensors")
    card = ModelCard(
        id=model_id, name="Tiny random test model", backbone=spec, decoder=dec_spec,
        files=[{"role": "decoder", "name": "decoder.safetensors", "path": "decoder.safetensors",
                "sha256": file_sha256(folder / "decoder.safetensors"), "format": "safetensors"},
               {"role": "clip-vit", "name": "backbone.safetensors", "path": "backbone.safetensors",
                "sha256": file_sha256(folder / "backbone.safetensors"), "format": "safetensors"}],
        license="test data, no licence", training_data="none (random weights)",
        intended_use="software tests only", limitations="random weights: its maps mean nothing")
    card.save(folder)
    return folder


def make_official_checkpoint(path: str | Path, arch: str = "vit", layer: int = 0, depth: int = 4,
                             embed_clip: bool = False, clip_path: str | Path | None = None,
                             rn_path: str | Path | None = None, seed: int = 0,
                             full_decoder: bool = False) -> Path:
    """Write a checkpoint in the official layout: {'model': fc.* [+ model.visual.*], 'optimizer', ...}.

    The CLIP parts have the real ViT-L/14 and RN50 shapes but only the blocks up to `layer`
    (all the engine reads); CLIP weights go into the checkpoint (embed_clip) and/or to
    OpenAI-layout files clip_path / rn_path (`visual.*` keys).
    """
    path = Path(path)
    widths = (512, 256, 128, 64) if full_decoder else (32, 16, 8, 8)
    vit_spec = {"family": "clip-vit", "config": "ViT-L-14-quickgelu", "layer": layer}
    vit = build_backbone(vit_spec)
    _randomise(vit, seed + 1)
    model: dict[str, torch.Tensor] = {}
    cnn = arch == "fusion"
    c_in = 1024
    if arch == "fusion":
        rn = build_backbone({"family": "clip-rn", "config": "RN50-quickgelu", "layer": 3})
        _randomise(rn, seed + 3)
        c_in = 2048
        if rn_path:
            torch.save({k: v.half() if v.is_floating_point() else v for k, v in rn.state_dict().items()}, rn_path)
    dec = random_decoder_state(c_in, depth, widths, cnn, seed=seed + 2)
    model.update(dec)
    vit_sd = {k: v.half() for k, v in vit.state_dict().items()}
    if embed_clip:
        model.update({f"model.{k}": v for k, v in vit_sd.items()})
    if clip_path:
        torch.save(vit_sd, clip_path)
    ckpt = {"model": model, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3}]}, "total_steps": 1234,
            "feature_layer": f"layer{layer}", "decoder_type": f"conv-{depth}"}
    torch.save(ckpt, path)
    return path
