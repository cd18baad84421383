"""`declip ensemble`: several trained decoders of one form as one model whose map is their mean logit.

Why: on a small training set, decoders trained with different seeds make different mistakes
(which photos' textures they take for edits), so averaging their logits ranks pixels better than
any one of them. The members are built side by side in one grouped conv decoder (see
engine.decoders, "members"), so the engine analyses the ensemble in one pass over the features,
and the card records every member's recipe and weights hash.
"""
from __future__ import annotations

from pathlib import Path

from engine.cards import ModelCard, model_id_from
from engine.decoder_spec import first_conv_key
from engine.decoders import build_decoder, decoder_state_to_module, ensemble_state
from engine.errors import DeclipError
from engine.network import FlipAveraged
from engine.stamps import utc_now
from engine.versions import software_versions

from .calibration import fold_logit_scale, fold_logit_shift
from .card_output import add_card_field, read_card_field, save_decoder
from .decoder_setup import first_mismatch, load_init_state
from .features import is_cnn
from .member_selection import candidate_logits, forward_select
from .splits import with_mirrored_view
from .validator import Validator

_SHAPE_KEYS = ("type", "depth", "widths", "context", "last_relu")


def _member_card(path: Path) -> ModelCard:
    card = ModelCard.load(path)
    if card.decoder.get("type", "conv") != "conv":
        raise DeclipError(f"{path}: only conv decoders can be combined, this one is {card.decoder_name}")
    if card.decoder.get("members", 1) > 1:
        raise DeclipError(f"{path}: is itself an ensemble; combine its members' folders instead")
    if card.backbone.get("tuned_stages"):  # members share one backbone run; tuned members each have their own
        raise DeclipError(f"{path}: has tuned backbone stages ({card.backbone_name}); an ensemble's members "
                          "share one backbone, so only decoders on the untuned backbone can be combined")
    return card


def build_ensemble(models: list[Path], out: Path, model_id: str | None = None, name: str | None = None,
                   data: Path | None = None, val_split: str = "val", device: str = "cpu",
                   flip_average: bool = False, calibrate_scale: bool = False, select: int | None = None,
                   log=lambda s: None, include_real: bool = False, authentic_budget: float | None = None) -> dict:
    """Write the ensemble of the model folders `models` to `out` (card.json + decoder.safetensors).

    With `data`, the constant logit shift with the best mean IoU on its validation split is folded
    into the final bias (as `declip train --calibrate-bias` does for one decoder), and that IoU is
    recorded as the card's val_iou. flip_average: the card says that the map is the mean of the
    image's and its mirror image's (the engine then runs both views), and the calibration sees both.
    calibrate_scale (needs data): then the final logit is scaled as `declip train --calibrate-scale` does.
    select (needs data): `models` are candidates, and at most `select` of them are chosen by forward
    selection on validation IoU (trainer.member_selection); the card records every step.
    include_real (needs data): the selection and the threshold also score the split's authentic images
    (100 when nothing is flagged, else 0), so the calibrated threshold weighs false alarms too.
    authentic_budget (needs data and include_real): instead, the threshold is the one with the best IoU on
    the split's edits among those that flag at most this share of its authentic images (round 31's rule;
    with a decoder that has no ReLU before its last conv, such a threshold still finds edits).
    """
    models = [Path(m) for m in models]
    if len(models) < 2:
        raise DeclipError("an ensemble needs at least two model folders")
    out = Path(out)
    check_new_out(out)
    if select is not None and select < 2:
        raise DeclipError(f"--select {select}: an ensemble has at least two members; give 2 or more")
    if authentic_budget is not None and (data is None or not include_real):
        raise DeclipError("--authentic-budget needs --data and --include-real (it counts the authentic "
                          "validation images a threshold flags)")
    if authentic_budget is not None and not 0 <= authentic_budget < 1:
        raise DeclipError(f"--authentic-budget {authentic_budget}: expected a share from 0 to below 1, e.g. 0.1")
    if (calibrate_scale or select) and data is None:
        raise DeclipError(f"--{'calibrate-scale' if calibrate_scale else 'select'} needs --data "
                          "(it is fitted on the validation images)")
    cards = [_member_card(m) for m in models]
    _check_one_form(models, cards)
    selection = None
    if select:
        models, cards, selection = _select(models, cards, Path(data), val_split, device, flip_average, select, log,
                                           include_real)
    first = cards[0]

    spec = {k: first.decoder[k] for k in _SHAPE_KEYS if k in first.decoder}
    loaded = [decoder_state_to_module(load_init_state(m), spec) for m in models]  # each file read once
    c_in = int(loaded[0][first_conv_key(spec)].shape[1])
    c_in = c_in // 2 if spec.get("context") else c_in
    cnn = is_cnn(first.backbone)
    member = build_decoder(spec, c_in, cnn)
    own = member.state_dict()
    states = []
    for m, st in zip(models, loaded):
        bad = first_mismatch(own, st)
        if bad:
            raise DeclipError(f"{m}: decoder weights do not match its card ({bad})")
        states.append({k: st[k].float() if st[k].is_floating_point() else st[k] for k in own})
    ens_spec = {**spec, "members": len(models)}
    dec = build_decoder(ens_spec, c_in, cnn)
    dec.load_state_dict(ensemble_state(states, member))
    dec.eval()

    shift, val_iou, scale, budget = 0.0, None, 1.0, None
    if data is not None:
        shift, val_iou, scale, budget = _calibrate(dec, first, ens_spec, Path(data), val_split, device, flip_average,
                                                   calibrate_scale, log, include_real, authentic_budget)
    out.mkdir(parents=True, exist_ok=True)
    files = [save_decoder(dec, ens_spec, out, f"ensemble of {len(models)}")]
    files += [dict(f) for f in first.files if f.get("role") != "decoder"]  # the backbone weights they share
    model_id = model_id or model_id_from(out.name, "trained-model")
    licences = sorted({c.license for c in cards})
    inp = {k: v for k, v in first.input.items() if k != "flip_average"}
    if flip_average:
        inp["flip_average"] = True
    data_notes = sorted({c.training_data for c in cards})
    card = ModelCard(
        id=model_id, name=name or f"{model_id} (mean of {len(models)} {first.decoder_name} decoders)",
        backbone=first.backbone, decoder=ens_spec, files=files, input=inp, license="; ".join(licences),
        training_data="; ".join(data_notes), intended_use=first.intended_use, limitations=first.limitations,
        metrics={"val_iou": round(val_iou, 4)} if val_iou is not None else {},
        source="declip ensemble", created_utc=utc_now())
    card.save(out)
    members = source_records(models, cards)
    add_card_field(out, "training", {
        "ensemble": {"members": members, "combine": "mean of the members' logits",
                     "data": str(Path(data).resolve()) if data else None, "val_split": val_split if data else None,
                     "flip_average": flip_average, "bias_shift": shift, "logit_scale": round(scale, 6),
                     "val_iou": round(val_iou, 4) if val_iou is not None else None,
                     "val_includes_authentic": bool(include_real and data),
                     **({"authentic_budget": budget} if budget else {}),
                     **({"selection": selection} if selection else {})},
        "finished_utc": utc_now(), "versions": software_versions()})
    return {"card": str(out / "card.json"), "model_id": model_id, "val_iou": val_iou, "bias_shift": shift,
            "logit_scale": scale, "members": len(models)}


def _check_one_form(models: list[Path], cards: list[ModelCard]) -> None:
    """Members share one backbone and one decoder form, and no decoder comes twice."""
    first = cards[0]
    for m, c in zip(models[1:], cards[1:]):
        if c.backbone != first.backbone:
            keys = sorted(k for k in set(c.backbone) | set(first.backbone) if c.backbone.get(k) != first.backbone.get(k))
            diff = "; ".join(f"{k} {c.backbone.get(k)!r} against {first.backbone.get(k)!r}" for k in keys)
            raise DeclipError(f"{m}: its backbone ({c.backbone_name}) differs from {models[0]}'s "
                              f"({first.backbone_name}) in {diff}; members must share one backbone")
        if any(c.decoder.get(k) != first.decoder.get(k) for k in _SHAPE_KEYS):
            raise DeclipError(f"{m}: its decoder ({c.decoder_name}) differs from {models[0]}'s "
                              f"({first.decoder_name}); members must have one form")
    refuse_same_weights(models, cards)


def _select(models: list[Path], cards: list[ModelCard], data: Path, split: str, device: str, flip_average: bool,
            max_members: int, log, include_real: bool = False) -> tuple[list[Path], list[ModelCard], dict]:
    """The candidates chosen by trainer.member_selection, and the record of how they were chosen."""
    spec = {k: cards[0].decoder[k] for k in _SHAPE_KEYS if k in cards[0].decoder}
    logits, masks = candidate_logits(models, cards, spec, data, split, device, flip_average, log, include_real)
    chosen, steps = forward_select(logits, masks, max_members, log)
    sha = [(c.file("decoder") or {}).get("sha256") for c in cards]
    record = {"method": "forward selection on validation IoU (mean logit at its best constant shift); "
                        "the best-scoring prefix is kept",
              "split": split, "max_members": max_members, "images": len(masks),
              "candidates": [{"id": c.id, "folder": str(m.resolve()), "decoder_sha256": h}
                             for m, c, h in zip(models, cards, sha)],
              "steps": [{**st, "added": cards[st["added"]].id, "decoder_sha256": sha[st["added"]]} for st in steps],
              "kept": len(chosen)}
    log(f"selected {len(chosen)} of {len(models)} candidates: " + ", ".join(cards[i].id for i in chosen))
    return [models[i] for i in chosen], [cards[i] for i in chosen], record


def refuse_same_weights(models: list[Path], cards: list[ModelCard]) -> None:
    """The same decoder twice would only weight it double: refuse it, naming both folders."""
    hashes = [(c.file("decoder") or {}).get("sha256") for c in cards]
    for i, h in enumerate(hashes):
        if h and h in hashes[:i]:
            raise DeclipError(f"{models[i]}: has the same decoder weights as {models[hashes.index(h)]}")


def source_records(models: list[Path], cards: list[ModelCard], extra=lambda card: {}) -> list[dict]:
    """What a combined model's card keeps of each model it was made from: id, folder, (extra), decoder
    SHA-256, metrics and that model's full training record."""
    records = []
    for m, c in zip(models, cards):
        entry = {"id": c.id, "folder": str(m.resolve()), **extra(c),
                 "decoder_sha256": (c.file("decoder") or {}).get("sha256"), "metrics": c.metrics}
        trained = read_card_field(m, "training")
        if trained:
            entry["training"] = trained
        records.append(entry)
    return records


def check_new_out(out: Path) -> None:
    """A combined model is written only into a new or empty folder (never over a user's files)."""
    if out.exists() and not out.is_dir():
        raise DeclipError(f"--out {out}: is a file; give a folder for the model")
    if (out / "card.json").exists():
        raise DeclipError(f"{out}: already holds a model (card.json); choose another --out")
    if out.is_dir() and any(out.iterdir()):
        raise DeclipError(f"{out}: is not empty; choose a new or empty folder for --out")


def _calibrate(dec, card: ModelCard, spec: dict, data: Path, split: str, device: str, flip_average: bool,
               scale: bool, log, include_real: bool = False,
               authentic_budget: float | None = None) -> tuple[float, float, float, dict | None]:
    """Fold the best constant logit shift (and with `scale`, the fitted logit scale) into dec, with the
    trainer's own validation code; returns (shift, mean val IoU at it, scale, the authentic-budget record
    or None). With authentic_budget the shift keeps that share of the authentic images clean and the IoU
    is the edits' (Validator.budget_iou). With flip_average it
    validates what the engine will run: both views' features, stacked on the channels, through
    engine.network.FlipAveraged."""
    v = Validator.for_card(card, spec, data, split, device, log, include_real)
    _, samples = v.load_split(split)
    val = v.features(samples, split)
    judged = dec
    if flip_average:
        val = with_mirrored_view(val, v.features(samples, split, mirrored=True))
        judged = FlipAveraged(dec)
    budget = None
    if authentic_budget is None:
        iou, shift = v.iou(judged.to(device), val)
    else:  # val_iou is then the edits' IoU at the threshold that keeps the authentic images within budget
        iou, shift, flagged, n_auth = v.budget_iou(judged.to(device), val, authentic_budget)
        budget = {"share": authentic_budget, "val_authentic_flagged": flagged, "val_authentic": n_auth,
                  "val_edits_iou": round(iou, 4)}
        log(f"authentic budget {authentic_budget:g}: {flagged} of {n_auth} {split} authentic images flagged")
    if shift:
        fold_logit_shift(dec, shift)
    factor = 1.0
    if scale:
        factor = v.calibrated_scale(judged, val)
        fold_logit_scale(dec, factor)
    dec.eval()
    log(f"calibrated on {len(val)} {split} images: shift {shift:+.2f}, IoU {iou:.2f}"
        + (f", logit scale {factor:.3f}" if scale else ""))
    return shift, iou, factor, budget

