"""`declip mix`: whole models on different backbones as one model whose logit is a weighted sum of theirs.

Why: `declip ensemble` averages decoders of one backbone, whose mistakes are alike. Decoders on
another backbone (Lite0 against Lite2) take other textures for edits, so their calibrated logits
can combine better (research/default-model-log.md, round 19: +1.35 validation IoU for the two default
models, though test IoU fell, so the default stays one backbone). The engine runs the parts' backbones on one
preprocessed image as a "stack" backbone and the decoders as a "mixture" (engine.decoders), so
every part must take the same input (size, normalisation, flip averaging) and share one grid.

With --data, the weights (part 0's on a 0.05 grid for two parts; equal weights for more, unless
given), a constant logit shift (as --calibrate-bias) and a logit scale (as --calibrate-scale) are
fitted on the validation split's manipulated images, with the engine computing each part's logits
exactly as `declip analyze` would.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.cards import ModelCard, model_id_from
from engine.decoder_spec import MAX_MIXTURE_PARTS
from engine.decoders import build_decoder, decoder_state_to_module
from engine.errors import DeclipError
from engine.stamps import utc_now
from engine.versions import software_versions

from . import datasets as D
from .ensemble import check_new_out, refuse_same_weights, source_records
from .calibration import CALIBRATION_SHIFTS, fit_logit_scale, iou_by_shift
from .card_output import add_card_field, save_decoder
from .decoder_setup import first_mismatch, load_init_state
from .features import stage_channels
from .splits import mask256

_INPUT_KEYS = ("size", "mean", "std", "resize", "flip_average")


def _part_card(path: Path) -> ModelCard:
    from engine.backbones import LITE_FAMILIES

    card = ModelCard.load(path)
    if card.backbone["family"] not in LITE_FAMILIES:
        raise DeclipError(f"{path}: only models on an EfficientNet-Lite backbone can be mixed, "
                          f"this one is on {card.backbone_name}")
    if card.decoder.get("type", "conv") != "conv":
        raise DeclipError(f"{path}: only conv decoders (or their ensembles) can be mixed, this one is "
                          f"{card.decoder_name}")
    if card.backbone.get("tuned_stages"):  # the engine's stack backbone has no per-part stage files
        raise DeclipError(f"{path}: has tuned backbone stages ({card.backbone_name}), which a mixture cannot carry")
    return card


def check_parts(models: list[Path], cards: list[ModelCard]) -> None:
    if not 2 <= len(models) <= MAX_MIXTURE_PARTS:
        raise DeclipError(f"a mixture needs 2 to {MAX_MIXTURE_PARTS} model folders, found {len(models)}")
    first = cards[0]
    for m, c in zip(models[1:], cards[1:]):
        for k in _INPUT_KEYS:
            if c.input.get(k) != first.input.get(k):
                raise DeclipError(f"{m}: its input {k} ({c.input.get(k)!r}) differs from {models[0]}'s "
                                  f"({first.input.get(k)!r}); the parts of a mixture analyse one input")
        if c.backbone.get("grid") != first.backbone.get("grid"):
            raise DeclipError(f"{m}: its feature grid ({c.backbone.get('grid')}) differs from {models[0]}'s "
                              f"({first.backbone.get('grid')})")
    refuse_same_weights(models, cards)


def part_logits(model: Path, samples: list[D.Sample], device: str = "cpu", batch: int = 8,
                log=lambda s: None) -> tuple[torch.Tensor, list[int], list[tuple[int, int]]]:
    """(N, 256, 256) float32 logits of `model` on the samples, computed by the engine as `declip
    analyze` does (paper mode, the card's flip averaging), the indices of the samples read and
    their (width, height) as displayed (for their masks)."""
    from engine import Detector
    from engine.errors import ImageError

    det = Detector.from_model(model, device=device, precision="exact")
    out, kept, sizes = [], [], []
    for start in range(0, len(samples), batch):
        tensors = []
        for i in range(start, min(start + batch, len(samples))):
            try:
                pil = D.read_rgb(samples[i].image)
                tensors.append(det.preprocess(pil))
                kept.append(i)
                sizes.append(pil.size)
            except ImageError as exc:  # one bad image never stops the fit
                log(f"warning: {exc}; skipped")
        if tensors:
            with torch.inference_mode():
                out.append(det.net.decode(det.extract_features(torch.stack(tensors))).float()[:, 0].cpu())
        log(f"{model.name}: {min(start + batch, len(samples))}/{len(samples)} validation images")
    return (torch.cat(out) if out else torch.zeros(0, 256, 256)), kept, sizes


def fit_mixture(logits: list[torch.Tensor], masks: torch.Tensor, weights: list[float] | None = None,
                step: float = 0.05) -> dict:
    """The weights (summing to 1) and constant shift with the best mean validation IoU at 256x256,
    then the logit scale (fit_logit_scale) of the mixed logit; returns the folded coefficients."""
    if weights is not None:
        candidates = [list(weights)]
    elif len(logits) == 2:
        n = int(round(1 / step))
        candidates = [[k / n, 1 - k / n] for k in range(n + 1)]
    else:
        candidates = [[1 / len(logits)] * len(logits)]
    best = None
    for ws in candidates:
        mix = sum(w * lg for w, lg in zip(ws, logits))
        mean = iou_by_shift(mix, masks, CALIBRATION_SHIFTS).mean(0)
        k = int(mean.argmax())
        if best is None or float(mean[k]) > best["val_iou"]:
            best = {"weights": ws, "shift": float(CALIBRATION_SHIFTS[k]), "val_iou": float(mean[k])}
    mix = sum(w * lg for w, lg in zip(best["weights"], logits)) + best["shift"]
    scale = fit_logit_scale(mix[:, ::2, ::2], masks[:, ::2, ::2].float() / 255.0)
    return {**best, "scale": scale, "folded_weights": [round(w * scale, 6) for w in best["weights"]],
            "folded_bias": round(best["shift"] * scale, 6)}


def per_part_text(texts: list[str], cards: list[ModelCard]) -> str:
    """One text when the parts agree, else each part's own, named by its id (a licence must stay
    attached to the weights it covers, a limitation to the model it was measured on)."""
    if len(set(texts)) == 1:
        return texts[0]
    return " | ".join(f"{c.id}: {t}" for c, t in zip(cards, texts))


def build_mixture(models: list[Path], out: Path, model_id: str | None = None, name: str | None = None,
                  data: Path | None = None, val_split: str = "val", weights: list[float] | None = None,
                  device: str = "cpu", half: bool = False, log=lambda s: None) -> dict:
    """Write the mixture of the model folders `models` to `out` (card.json + decoder.safetensors).

    weights: fixed weights of the parts (with data, only the shift and scale are then fitted);
    without data and weights, equal weights and no shift. half: store the weights as float16
    (half the file; the engine computes in float32 either way).
    """
    models = [Path(m) for m in models]
    out = Path(out)
    check_new_out(out)
    cards = [_part_card(m) for m in models]
    check_parts(models, cards)
    if weights is not None and len(weights) != len(models):
        raise DeclipError(f"--weights: {len(weights)} numbers for {len(models)} models")

    splits = [sum(stage_channels(c.backbone)) for c in cards]
    parts = [dict(c.decoder) for c in cards]
    fit = None
    if data is not None:
        ds = D.load_dataset(Path(data), val_split)
        samples = ds.fakes
        if not samples:
            raise D.DatasetError(f"{data}: the '{val_split}' split has no manipulated image to fit on")
        per_part = []
        for m in models:  # every part reads the same images (one reader), so kept and sizes agree
            lg, kept, sizes = part_logits(m, samples, device, log=log)
            per_part.append(lg)
        problems: list[str] = []
        masks, usable = [], []
        for j, (i, size) in enumerate(zip(kept, sizes)):
            try:
                masks.append(mask256(samples[i], size, problems))
                usable.append(j)
            except DeclipError as exc:  # an unreadable mask skips its image, as in training
                log(f"warning: {exc}; skipped")
        for msg in problems:  # resized, colour or empty masks: said, as the trainer says them
            log(f"warning: {msg}")
        if not masks:
            raise D.DatasetError(f"{data}: no usable image left in the '{val_split}' split to fit on")
        per_part = [lg[usable] for lg in per_part]
        fit = fit_mixture(per_part, torch.from_numpy(np.stack(masks)), weights)
        coef, bias = fit["folded_weights"], fit["folded_bias"]
        log(f"fitted on {len(usable)} {val_split} images: weights {fit['weights']}, shift {fit['shift']:+.2f}, "
            f"IoU {fit['val_iou']:.2f}, logit scale {fit['scale']:.3f}")
    else:
        coef, bias = (list(weights) if weights is not None else [1 / len(models)] * len(models)), 0.0
    spec = {"type": "mixture", "parts": parts, "weights": coef, "bias": bias}

    states = {}
    for i, (m, c, part) in enumerate(zip(models, cards, parts)):
        st = decoder_state_to_module(load_init_state(m), part)
        own = build_decoder(part, splits[i], True).state_dict()
        bad = first_mismatch(own, st)
        if bad:
            raise DeclipError(f"{m}: decoder weights do not match its card ({bad})")
        states.update({f"parts.{i}.{k}": st[k] for k in own})
    dec = build_decoder(spec, sum(splits), True, splits)
    dec.load_state_dict(states)  # strict: every part's every tensor is there
    if half:
        dec = dec.half()
    out.mkdir(parents=True, exist_ok=True)
    decoder_file = save_decoder(dec, spec, out, f"mixture of {len(models)}")
    first = cards[0]
    model_id = model_id or model_id_from(out.name, "trained-model")
    inp = {k: v for k, v in first.input.items()}
    card = ModelCard(
        id=model_id, name=name or f"{model_id} (weighted sum of {len(models)} models)",
        backbone={"family": "stack", "parts": [c.backbone for c in cards]}, decoder=spec,
        files=[decoder_file],
        input=inp, license=per_part_text([c.license for c in cards], cards),
        training_data=per_part_text([c.training_data for c in cards], cards),
        intended_use=per_part_text([c.intended_use for c in cards], cards),
        limitations=per_part_text([c.limitations for c in cards], cards), metrics={"val_iou": round(fit["val_iou"], 4)} if fit else {},
        source="declip mix", created_utc=utc_now())
    card.save(out)
    entries = source_records(models, cards, lambda c: {"backbone": c.backbone, "decoder": c.decoder_name})
    add_card_field(out, "training", {
        "mixture": {"parts": entries, "combine": "weights[i] x part i's logit, summed, + bias",
                    "data": str(Path(data).resolve()) if data else None, "val_split": val_split if data else None,
                    "fit": fit, "weights_dtype": "float16" if half else "float32"},
        "finished_utc": utc_now(), "versions": software_versions()})
    return {"card": str(out / "card.json"), "model_id": model_id, "weights": coef, "bias": bias,
            "val_iou": fit["val_iou"] if fit else None, "parts": len(models)}
