"""`declip ensemble --select N`: choose the members among candidate decoders on validation IoU.

Why: decoders of several seeds and training cycles do not all add to a mean. Forward selection adds,
one at a time, the candidate whose addition gives the mean logit the best validation IoU (at its best
constant shift, as the ensemble's calibration measures it), and keeps the prefix that scored best.
Only the validation split is read, so a test split stays an independent judge of the result.
Each candidate's logits are computed once, on the trainer's cached features; every pool after that
is a cheap mean (segment-anything's "embed once, then reuse").
"""
from __future__ import annotations

from pathlib import Path

import torch

from engine.cards import ModelCard
from engine.decoders import build_decoder, decoder_state_to_module
from engine.errors import DeclipError
from engine.network import FlipAveraged

from .calibration import CALIBRATION_SHIFTS, iou_by_shift
from .decoder_setup import load_init_state
from .features import is_cnn
from .splits import with_mirrored_view
from .validator import Validator

_CHUNK = 64  # images scored at a time (memory)


def candidate_logits(models: list[Path], cards: list[ModelCard], spec: dict, data: Path, split: str,
                     device: str, flip_average: bool, log=lambda s: None,
                     include_real: bool = False) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Each candidate's (N, 256, 256) float16 logits on `split` of `data` (flip-averaged if the model
    will be), and the uint8 masks; the backbone features come from the trainer's cache."""
    v = Validator.for_card(cards[0], spec, data, split, device, log, include_real)
    _, samples = v.load_split(split)
    val = v.features(samples, split)
    if flip_average:
        val = with_mirrored_view(val, v.features(samples, split, mirrored=True))
    if not len(val):
        raise DeclipError(f"{data}: the {split} split has no usable images to choose members on")
    c_in = int(val.feats.shape[1]) // (2 if flip_average else 1)  # the views are stacked on the channels
    out = []
    for i, m in enumerate(models):
        dec = build_decoder(spec, c_in, is_cnn(cards[0].backbone))
        dec.load_state_dict({k: v.float() if v.is_floating_point() else v
                             for k, v in decoder_state_to_module(load_init_state(m), spec).items()})
        judged = FlipAveraged(dec) if flip_average else dec
        out.append(torch.cat([lg.half() for lg, _ in v.logits(judged.to(device), val)]))
        log(f"candidate {i + 1}/{len(models)} scored on {len(val)} {split} images: {m}")
    return out, val.masks


def pool_iou(total: torch.Tensor, count: int, masks: torch.Tensor) -> tuple[float, float]:
    """(mean IoU x 100 at the best constant shift, that shift) of the pool whose summed logits are total."""
    parts = [iou_by_shift(total[i:i + _CHUNK] / count, masks[i:i + _CHUNK], CALIBRATION_SHIFTS).sum(0)
             for i in range(0, len(total), _CHUNK)]
    mean = torch.stack(parts).sum(0) / len(total)
    best = int(mean.argmax())
    return float(mean[best]), float(CALIBRATION_SHIFTS[best])


def forward_select(logits: list[torch.Tensor], masks: torch.Tensor, max_members: int,
                   log=lambda s: None) -> tuple[list[int], list[dict]]:
    """Greedy forward selection on validation IoU; returns (chosen candidate indices, in the order
    added, of the best-scoring prefix with at least two members; every step's record). Ties go to
    the earlier candidate, so the choice depends only on the candidates' order and logits."""
    if max_members < 2:
        raise DeclipError("--select needs at least 2 (an ensemble has two members or more)")
    left = list(range(len(logits)))
    chosen: list[int] = []
    steps: list[dict] = []
    total = torch.zeros(logits[0].shape, dtype=torch.float32)
    while left and len(chosen) < max_members:
        best = None
        for i in left:
            iou, shift = pool_iou(total + logits[i].float(), len(chosen) + 1, masks)
            if best is None or iou > best[1]:
                best = (i, iou, shift)
        i, iou, shift = best
        chosen.append(i)
        left.remove(i)
        total += logits[i].float()
        steps.append({"added": i, "members": len(chosen), "val_iou": round(iou, 4), "shift": shift})
        log(f"select: + candidate {i + 1} -> {len(chosen)} members, val IoU {iou:.2f} (shift {shift:+.2f})")
    keep = max(range(1, len(steps)), key=lambda k: (steps[k]["val_iou"], -k)) + 1  # at least two members
    return chosen[:keep], steps
