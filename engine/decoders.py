"""DeCLIP decoders, built so their state-dict keys match the official checkpoints (`fc.<i>`).

conv-N: four stages; stage i is N/4 triples (Conv5x5 pad 2, BatchNorm, ReLU) then a x2 bilinear
Upsample; CNN backbones add Upsample(size=256); a final Conv5x5 to one logit channel.
Parameter-free modules count in the indices, so ViT conv-20 ends at fc.64 and fusion at fc.65.
linear: one Linear(C, 1) per patch token, the 16x16 map upsampled bicubically to 256.
Own models may add `"context": "image-mean"` (not in the paper): an ImageContext module at fc.0,
so the convs start at fc.1 and the first one takes twice the backbone's channels.
Own models may set `"last_relu": false` (not in the paper): the last triple's ReLU becomes an
identity, so the final conv sees signed features and can add evidence as well as subtract it
(research/default-model-log.md, round 31: with the ReLU every map tops out at the final conv's bias,
so no threshold keeps authentic photos clean and still finds edits). Keys are unchanged.
Own models may also be `"members": N` conv decoders (not in the paper): N decoders of the given
widths side by side in one Sequential, whose output is the mean of their logits. The first conv
stacks the members' outputs, the later convs are grouped (groups=N) so each member sees only its
own channels, and the final conv sums the members' last features with weights / N.
A "mixture" (not in the paper) combines conv decoders trained on different backbones of a "stack"
backbone (engine.backbones.stack): part i reads backbone part i's channels, and the logit is
sum_i weights[i] * logit_i + bias; checkpoint keys are fc.parts.<i>.<conv decoder key>.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .decoder_spec import DEFAULT_WIDTHS, OUT_SIZE, context_of, last_relu_of, members_of


class ImageContext(nn.Module):
    """Appends, for every channel, each cell's difference from the image's mean of that channel.

    Why: a conv-4 decoder sees about 9x9 cells of a 32x32 grid, too little to compare a region
    with the rest of the photo, and a splice or a fill is exactly a region unlike the rest of its
    photo. Parameter-free, so it costs only the first conv's doubled input.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, x - x.mean(dim=(2, 3), keepdim=True)], 1)


def conv_decoder(in_channels: int, depth: int = 20, widths=DEFAULT_WIDTHS, cnn: bool = False,
                 context: str | None = None, members: int = 1, last_relu: bool = True) -> nn.Sequential:
    if depth % 4 or depth <= 0:
        raise ValueError(f"conv decoder depth must be a positive multiple of 4, found {depth}")
    per_stage = depth // 4
    n = members
    layers: list[nn.Module] = [ImageContext()] if context else []
    prev, groups = (in_channels * 2 if context else in_channels), 1  # the first conv sees all input channels
    for width in widths:
        for _ in range(per_stage):
            layers += [nn.Conv2d(prev, width * n, 5, padding=2, groups=groups), nn.BatchNorm2d(width * n),
                       nn.ReLU(inplace=True)]
            prev, groups = width * n, n  # from here on each member keeps to its own channels
        layers.append(nn.Upsample(scale_factor=2, mode="bilinear"))
    if not last_relu:  # parameter-free either way, so the module indices (checkpoint keys) stay the same
        layers[-2] = nn.Identity()
    if cnn:
        layers.append(nn.Upsample(size=(OUT_SIZE, OUT_SIZE), mode="bilinear"))
    layers.append(nn.Conv2d(prev, 1, 5, padding=2))
    return nn.Sequential(*layers)


def ensemble_state(member_states: list[dict], member: nn.Sequential) -> dict:
    """Module state of the `members`-decoder that outputs the mean of these members' logits.

    member_states: module-key states of decoders shaped like `member` (one conv decoder).
    """
    n = len(member_states)
    last = max(i for i, m in enumerate(member) if isinstance(m, nn.Conv2d))
    out = {}
    for key in member_states[0]:
        idx = int(key.split(".")[0])
        parts = [s[key] for s in member_states]
        if key.endswith("num_batches_tracked"):
            out[key] = parts[0].clone()
        elif idx == last and key.endswith("weight"):
            out[key] = torch.cat(parts, 1) / n  # sum over the members' channels, / n: the mean logit
        elif idx == last:
            out[key] = torch.stack(parts).mean(0)
        else:  # first conv (stacked outputs), grouped convs and BatchNorm: the members side by side
            out[key] = torch.cat(parts, 0)
    return out


def split_ensemble_state(state: dict, member: nn.Sequential, n: int) -> list[dict]:
    """The inverse of ensemble_state: n member states from an ensemble's module state.

    Exact for every weight; each member's final bias is the members' mean bias (an ensemble keeps
    only that mean, and only the mean enters its logit), so their mean logit is the ensemble's.
    """
    last = max(i for i, m in enumerate(member) if isinstance(m, nn.Conv2d))
    members = [{} for _ in range(n)]
    for key, ref in member.state_dict().items():
        idx, t = int(key.split(".")[0]), state[key]
        for i, out in enumerate(members):
            if key.endswith("num_batches_tracked"):
                out[key] = t.clone()
            elif idx == last and key.endswith("weight"):
                w = ref.shape[1]
                out[key] = (t[:, i * w:(i + 1) * w] * n).contiguous()
            elif idx == last:
                out[key] = t.clone()
            else:
                w = ref.shape[0]
                out[key] = t[i * w:(i + 1) * w].clone()
    return members


class LinearDecoder(nn.Module):
    """Per-token logistic regression; key names `fc.weight`/`fc.bias` as in the reference."""

    def __init__(self, in_channels: int):
        super().__init__()
        self.linear = nn.Linear(in_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return F.interpolate(logits, size=(OUT_SIZE, OUT_SIZE), mode="bicubic", align_corners=False)


class MixtureDecoder(nn.Module):
    """logit = sum_i weights[i] * parts[i](features[:, slice i]) + bias, slices of `splits` channels.

    Why: decoders on different backbones err differently, so a weighted sum of their calibrated
    logits can map edits better than either (research/default-model-log.md, round 19: on validation, though
    not on that round's test split). Weights and bias are plain numbers from the card, so a reader
    sees exactly how the parts are combined.
    """

    def __init__(self, parts: list[nn.Module], splits: list[int], weights: list[float], bias: float = 0.0):
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.splits = [int(c) for c in splits]
        self.weights = [float(w) for w in weights]
        self.bias = float(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = None
        for w, part, xi in zip(self.weights, self.parts, torch.split(x, self.splits, 1)):
            term = part(xi) * w
            out = term if out is None else out + term
        return out + self.bias


def map_conv_stacks(decoder: nn.Module, fn) -> nn.Module:
    """Apply fn (Sequential -> Sequential) to a conv decoder, or to each part of a mixture."""
    if isinstance(decoder, MixtureDecoder):
        decoder.parts = nn.ModuleList(fn(p) for p in decoder.parts)
        return decoder
    return fn(decoder) if isinstance(decoder, nn.Sequential) else decoder


def build_decoder(spec: dict, in_channels: int, cnn: bool, splits: list[int] | None = None) -> nn.Module:
    """splits: a stack backbone's channels per part (a mixture decoder needs them)."""
    kind = spec.get("type", "conv")
    if kind == "mixture":
        parts = spec["parts"]
        if not splits or len(splits) != len(parts) or sum(splits) != in_channels:
            raise ValueError(f"a mixture of {len(parts)} decoders needs a stack backbone of {len(parts)} parts")
        return MixtureDecoder([build_decoder(p, c, cnn) for p, c in zip(parts, splits)], splits,
                              spec["weights"], spec.get("bias", 0.0))
    if kind == "conv":
        return conv_decoder(in_channels, int(spec.get("depth", 20)), tuple(spec.get("widths", DEFAULT_WIDTHS)), cnn,
                            context_of(spec), members_of(spec), last_relu_of(spec))
    if kind == "linear":
        return LinearDecoder(in_channels)
    raise ValueError(f"unknown decoder type {kind!r}")


def decoder_state_to_module(state: dict, spec: dict) -> dict:
    """Map checkpoint keys (fc.*) onto the decoder module's own keys (a mixture: fc.parts.<i>.*)."""
    if spec.get("type", "conv") == "linear":
        return {k.replace("fc.", "linear.", 1): v for k, v in state.items()}
    return {k[3:]: v for k, v in state.items()}


def module_state_to_checkpoint(module: nn.Module, spec: dict) -> dict:
    sd = module.state_dict()
    if spec.get("type", "conv") == "linear":
        return {k.replace("linear.", "fc.", 1): v for k, v in sd.items()}
    return {f"fc.{k}": v for k, v in sd.items()}


def fold_batchnorm(seq: nn.Sequential) -> nn.Sequential:
    """Inference copy with each eval-mode BatchNorm folded into the conv before it.

    Same function up to float rounding (~1e-6), one fewer memory pass per triple.
    """
    mods = list(seq)
    out: list[nn.Module] = []
    i = 0
    while i < len(mods):
        m = mods[i]
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        if isinstance(m, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d):
            # Built on the meta device: a random init of ~50M weights to be overwritten costs ~0.6 s.
            conv = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=m.padding, groups=m.groups,
                             device="meta")
            with torch.no_grad():
                scale = nxt.weight / torch.sqrt(nxt.running_var + nxt.eps)
                bias = m.bias if m.bias is not None else torch.zeros_like(nxt.running_mean)
                conv.weight = nn.Parameter(m.weight * scale[:, None, None, None], requires_grad=False)
                conv.bias = nn.Parameter((bias - nxt.running_mean) * scale + nxt.bias, requires_grad=False)
            out.append(conv)
            i += 2
            continue
        out.append(m)
        i += 1
    return nn.Sequential(*out).eval()
