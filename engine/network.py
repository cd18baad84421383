"""Assemble backbone + decoder into one frozen network and load weights into it.

Models are built on the meta device and the weights attached with load_state_dict(assign=True):
no random init of 300M parameters, and peak memory is about one copy of the weights.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .backbones import build_backbone, family_of
from .clip_weights import describe_visual, visual_kind, visual_state
from .decoder_spec import decoder_input_channels, first_conv_key
from .decoders import build_decoder, decoder_state_to_module, fold_batchnorm, map_conv_stacks
from .errors import CheckpointError
from .weights import check_weight_values
from .winograd import winograd_decoder


CONV_CHOICES = ("auto", "direct", "winograd")


class DeclipNet(nn.Module):
    """Frozen backbone -> (B,C,g,g) features -> decoder -> (B,1,256,256) logits.

    flip_average (a card's input says so): the map is the mean of the logits of the image and of its
    left-right mirror image, mirrored back. The features then hold both views stacked on the
    channels, (B,2C,g,g), so one image still has one feature tensor for callers that cache them.
    """

    def __init__(self, backbone: nn.Module, decoder: nn.Module, decoder_spec: dict, conv_kernel: str = "direct",
                 flip_average: bool = False, decoder_dtype: torch.dtype = torch.float32):
        super().__init__()
        self.backbone = backbone
        self.decoder = decoder
        self.decoder_spec = decoder_spec
        self.conv_kernel = conv_kernel  # how the decoder's convolutions are computed (for the metadata)
        self.flip_average = flip_average
        self.decoder_dtype = decoder_dtype  # may differ from the backbone's (CPU fast: bf16 backbone, fp32 decoder)

    @property
    def out_channels(self) -> int:
        return self.backbone.out_channels

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if not self.flip_average:
            return self.backbone(x)
        both = self.backbone(torch.cat([x, x.flip(-1)]))  # one backbone batch for both views
        return torch.cat(both.chunk(2), 1)

    def decode(self, feats: torch.Tensor) -> torch.Tensor:
        feats = feats.to(self.decoder_dtype)
        return flip_averaged(self.decoder, feats) if self.flip_average else self.decoder(feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.features(x))


def flip_averaged(decoder: nn.Module, feats: torch.Tensor) -> torch.Tensor:
    """feats = (plain view, mirrored view) stacked on the channels -> the mean of their logit maps,
    the mirrored one mirrored back. Shared by the engine and the trainer's calibration."""
    c = feats.shape[1] // 2
    return (decoder(feats[:, :c]) + decoder(feats[:, c:]).flip(-1)) / 2


class FlipAveraged(nn.Module):
    """A decoder taking both views' features (see flip_averaged), for code that wants one module."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return flip_averaged(self.decoder, feats)


def _load_into(module: nn.Module, state: dict, origin: str, expected: str, dtype: torch.dtype,
               prefix: str = "") -> None:
    """prefix: what the file calls the module's keys (fc. for a decoder), so messages name its tensors."""
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise CheckpointError(f"{origin}: expected {expected}; missing {len(missing)} tensor{'s' if len(missing) != 1 else ''}, e.g. {prefix}{missing[0]}")
    # a tensor the model does not use means the file is not the model its card says: never drop it silently
    extra = [prefix + k for k in state if k not in own]
    if extra:
        raise CheckpointError(f"{origin}: expected {expected}; {len(extra)} tensor{'s' if len(extra) != 1 else ''} it does not use, e.g. "
                              f"{', '.join(extra[:3])}")
    fixed = {}
    for k, ref in own.items():
        if k not in state:
            fixed[k] = torch.zeros((), dtype=torch.long)
            continue
        t = state[k]
        if tuple(t.shape) != tuple(ref.shape):
            raise CheckpointError(f"{origin}: expected {expected}; tensor {prefix}{k} has shape {tuple(t.shape)}, "
                                  f"the model needs {tuple(ref.shape)}")
        if ref.is_floating_point() and not t.is_floating_point():
            raise CheckpointError(f"{origin}: expected {expected}; tensor {prefix}{k} holds {t.dtype} values, "
                                  "the model needs floating-point weights")
        fixed[k] = t.to(dtype) if t.is_floating_point() else t
    if dtype == torch.float32:  # cheap in fp32 (imports and exact mode); the decoder is always fp32
        check_weight_values(fixed, origin, prefix)
    module.load_state_dict(fixed, strict=True, assign=True)


def build_network(backbone_spec: dict, decoder_spec: dict, decoder_state: dict, clip_files: dict[str, dict],
                  device: torch.device, dtype: torch.dtype, decoder_origin: str = "decoder",
                  fold_bn: bool = True, conv: str = "auto", flip_average: bool = False,
                  decoder_dtype: torch.dtype | None = None, stage_state: dict | None = None,
                  stage_origin: str = "backbone stages") -> DeclipNet:
    """clip_files: role -> raw weights dict (already safely read) with an 'origin' label under '__path__'.

    dtype is the backbone's; decoder_dtype (default: the same) the decoder's.

    clip_files and decoder_state are consumed (cleared) once their tensors are in the modules, so the
    file copies are freed before the next part is built: peak memory stays near one model copy.

    conv: 'auto' computes the wide 5x5 decoder convs with Winograd on CPU in fp32 (faster there; the
    same function up to float rounding) and directly elsewhere; 'direct' or 'winograd' force one.

    stage_state: the card's tuned weights for the stages backbone_spec['tuned_stages'] names (read
    from stage_origin), loaded over the packaged ones; required exactly when the spec names stages.
    """
    if conv not in CONV_CHOICES:
        raise ValueError(f"unknown conv kernel {conv!r}: use one of {', '.join(CONV_CHOICES)}")
    try:
        family = family_of(backbone_spec)
        clip = family.card_weights  # weights from the card's files, attached to a module built on meta
        backbone = build_backbone(backbone_spec, meta=clip)
    except ValueError as exc:  # a card's backbone that cannot be built (an unknown config field, a layer out of range)
        raise CheckpointError(f"{decoder_origin}: {exc}") from None
    if clip:
        prefixes = family.weight_prefixes(backbone_spec)
        for role, prefix in prefixes.items():
            if role not in clip_files:
                raise CheckpointError(f"{decoder_origin}: this model needs {role} weights "
                                      f"({'CLIP ViT-L/14' if role == 'clip-vit' else 'CLIP RN50'}); none given")
            raw = clip_files[role]
            origin = str(raw.get("__path__", role))
            vis = visual_state(raw, origin)
            kind = visual_kind(vis)
            if kind != role:
                want = "CLIP ViT weights" if role == "clip-vit" else "CLIP ResNet weights"
                raise CheckpointError(f"{origin}: expected {want}, found {describe_visual(vis)}")
            sub = backbone.vit if prefix == "vit." else backbone.rn if prefix == "rn." else backbone
            needed = sub.state_dict().keys()
            part = {k: vis[k] for k in needed if k in vis}
            _load_into(sub, part, origin, want_label(role), dtype)
            part.clear()
            vis.clear()
    tuned = backbone_spec.get("tuned_stages")
    if tuned:
        if stage_state is None:
            raise CheckpointError(f"{decoder_origin}: the backbone's stages {tuned} are tuned, but no "
                                  "backbone-stages file was given")
        from .backbones.efficientnet_lite import load_tuned_stages

        check_weight_values(stage_state, stage_origin)
        load_tuned_stages(backbone, tuned, stage_state, stage_origin)
        stage_state.clear()
    elif stage_state is not None:
        raise CheckpointError(f"{stage_origin}: tuned backbone stages given, but the backbone spec names none "
                              "(tuned_stages)")
    backbone = backbone.to(device=device, dtype=dtype)
    # The backbone holds its own copies now: drop the file's tensors (fp16 for OpenAI CLIP) before
    # the decoder is built, so both never sit in memory together with the decoder's.
    for raw in clip_files.values():
        raw.clear()
    c_in = backbone.out_channels
    splits = getattr(backbone, "part_channels", None)  # a stack backbone's channels per part
    try:
        with torch.device("meta"):
            decoder = build_decoder(decoder_spec, c_in, cnn=getattr(backbone, "cnn", False), splits=splits)
    except ValueError as exc:  # a mixture on a backbone that is not a stack of as many parts
        raise CheckpointError(f"{decoder_origin}: {exc}") from None
    # Own copies, so the checkpoint's (possibly memory-mapped) file is released right away.
    state = {k: v.to(torch.float32, copy=True) if v.is_floating_point() else v.clone()
             for k, v in decoder_state_to_module(decoder_state, decoder_spec).items()}
    decoder_state.clear()
    _check_decoder_input(state, c_in, decoder_origin, backbone_spec, decoder_spec, splits)
    ctx = f" with {decoder_spec['context']} context" if decoder_spec.get("context") else ""
    if decoder_spec.get("members", 1) > 1:
        ctx += f" of {decoder_spec['members']} members"
    _load_into(decoder, state, decoder_origin, f"a {decoder_spec.get('type', 'conv')} decoder{ctx} for {c_in} input channels",
               torch.float32, prefix="" if decoder_spec.get("type") == "linear" else "fc.")
    state.clear()
    decoder = decoder.eval()
    if fold_bn:
        decoder = map_conv_stacks(decoder, fold_batchnorm)
    decoder_dtype = decoder_dtype or dtype
    decoder = decoder.to(device=device, dtype=decoder_dtype)
    kernel = "direct"
    want_winograd = conv == "winograd" or (conv == "auto" and device.type == "cpu" and decoder_dtype == torch.float32)
    if want_winograd and fold_bn:
        counts = []  # (swapped, direct) per conv stack

        def swap(seq: nn.Sequential) -> nn.Sequential:
            n = winograd_decoder(seq)
            counts.append((n, sum(isinstance(m, nn.Conv2d) for m in seq)))
            return seq

        map_conv_stacks(decoder, swap)
        swapped = sum(c[0] for c in counts)
        total = sum(c[0] + c[1] for c in counts)
        if swapped:
            kernel = f"winograd F(4x4,5x5) for {swapped} of {total} convs, direct for the rest"
    net = DeclipNet(backbone.eval(), decoder, decoder_spec, kernel, flip_average, decoder_dtype).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    leftover = [n for n, t in list(net.named_parameters()) + list(net.named_buffers()) if t.is_meta]
    if leftover:
        raise CheckpointError(f"{decoder_origin}: weights missing for {leftover[0]} (and {len(leftover) - 1} more)")
    return net


def want_label(role: str) -> str:
    return {"clip-vit": "CLIP ViT-L/14 image-encoder weights", "clip-rn": "CLIP RN50 image-encoder weights"}.get(role, role)


def _check_decoder_input(state: dict, c_in: int, origin: str, backbone_spec: dict, decoder_spec: dict,
                         splits: list[int] | None = None) -> None:
    if decoder_spec.get("type") == "mixture":  # build_decoder has checked that splits match the parts
        for i, (part, c) in enumerate(zip(decoder_spec["parts"], splits)):
            sub = {k[len(f"parts.{i}."):]: v for k, v in state.items() if k.startswith(f"parts.{i}.")}
            _check_decoder_input(sub, c, f"{origin} (mixture part {i})", backbone_spec["parts"][i], part)
        return
    first = state.get(first_conv_key(decoder_spec))
    if first is None or first.ndim < 2:  # not a conv/linear weight there: the strict load names the mismatch
        return
    found, want = first.shape[1], decoder_input_channels(decoder_spec, c_in)
    if found != want:
        ctx = " (twice the backbone's, with the image context)" if want != c_in else ""
        raise CheckpointError(f"{origin}: decoder expects {found}-channel input but the backbone "
                              f"({backbone_spec['family']}) gives {c_in} channels, so it needs {want}{ctx}")
