"""A model card's `validation` list, put in plain words for examiners.

Each entry of `card.validation` is one measurement of the model on one evaluation set:
  set       {id, name, description, same_generator (true: the model's own training generator made
            these edits, so the figures are an upper bound), images, manipulated, authentic}
  date      YYYY-MM-DD the figures were measured
  software  {app, torch, ...} versions that measured them
  mode, threshold    how the maps were made and cut (paper mode, 0.5)
  figures   {iou, pixel_ap, f1, f1_best (percent, mean over manipulated images), image_ap and
            image_ap_chance (percent; chance = the share of manipulated images), authentic_flagged
            (percent of authentic images with more than 1 % of their pixels above the threshold),
            authentic_flagged_count, per_kind {kind: {iou, ...}}, ela {iou, ...} (the ELA baseline)}
`trainer.benchmark.validation_entry` makes one from a `declip evaluate` result.

Why words first: a court or a client reads "finds about 30 % of the edited area and flags 38 % of
authentic photos", not "IoU 29.5". The independent set (made by another generator) comes first,
because the model's own test split overstates what it does on real cases.
"""
from __future__ import annotations

from typing import Any


def _num(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def ordered(validation: list[dict] | None) -> list[dict]:
    """Independent sets first (then the model's own generator's), each group newest first."""
    entries = sorted((v for v in (validation or []) if isinstance(v, dict)),
                     key=lambda v: str(v.get("date", "")), reverse=True)
    return sorted(entries, key=lambda v: bool(_set(v).get("same_generator")))  # stable: keeps newest first


def _set(v: dict) -> dict:
    s = v.get("set")
    return s if isinstance(s, dict) else {}


def independent(validation: list[dict] | None) -> dict | None:
    """The newest entry on a set the model's own generator did not make, or None."""
    return next((v for v in ordered(validation) if not _set(v).get("same_generator")), None)


def sentence(entry: dict) -> str:
    """One entry in words (the figures as measured, rounded as an examiner would quote them)."""
    s, f = _set(entry), entry.get("figures") if isinstance(entry.get("figures"), dict) else {}
    name = s.get("name") or s.get("id") or "an evaluation set"
    n = s.get("images")
    where = f"{name}" + (f", {n} images" if n else "") + (f", {entry['date']}" if entry.get("date") else "")
    if s.get("same_generator"):
        lead = f"On held-out edits made by its own training generator ({where})"
    else:
        lead = f"On edits made by another generator ({where})"
    parts = []
    iou = _num(f.get("iou"))
    if iou is not None:
        parts.append(f"it finds about {iou:.0f} % of the edited area (IoU {iou:.1f})")
    flagged = _num(f.get("authentic_flagged"))
    if flagged is not None:
        cnt, tot = f.get("authentic_flagged_count"), s.get("authentic")
        parts.append(f"flags {flagged:.0f} % of authentic photos" + (f" ({cnt} of {tot})" if cnt is not None and tot else ""))
    text = lead + ", " + " and ".join(parts) if parts else lead + ": no figures recorded"
    ap, chance = _num(f.get("image_ap")), _num(f.get("image_ap_chance"))
    if ap is not None:
        text += f"; image AP {ap:.1f}" + (f" where guessing gives {chance:.1f}" if chance is not None else "")
    ela = f.get("ela") if isinstance(f.get("ela"), dict) else {}
    if _num(ela.get("iou")) is not None:
        text += f"; the ELA baseline finds {float(ela['iou']):.0f} %"
    text += "."
    if s.get("same_generator"):
        text += " These are the same kinds of edit it was trained on: an upper bound, not what to expect on real cases."
    return text


def lines(validation: list[dict] | None) -> list[str]:
    return [sentence(v) for v in ordered(validation)]


def false_alarm_text(validation: list[dict] | None) -> str | None:
    """The measured false-alarm rate, for the place where an item's map is shown."""
    v = independent(validation)
    if v is None:
        return None
    f = v.get("figures") if isinstance(v.get("figures"), dict) else {}
    flagged = _num(f.get("authentic_flagged"))
    if flagged is None:
        return None
    s = _set(v)
    thr = _num(v.get("threshold"))
    cnt, tot = f.get("authentic_flagged_count"), s.get("authentic")
    return (f"Measured false-alarm rate: on {s.get('name') or s.get('id')} ({v.get('date', 'undated')}) this model "
            f"marked more than 1 % of the pixels" + (f" at {thr:g}" if thr is not None else "")
            + f" on {flagged:.0f} % of authentic photos" + (f" ({cnt} of {tot})" if cnt is not None and tot else "")
            + "; a marked region is a lead to check, not proof.")


def training_summary(training: dict[str, Any] | None) -> str:
    """The card's training record in one line (the full record is in the card's JSON)."""
    if not isinstance(training, dict) or not training:
        return ""
    bits = []
    if training.get("data_manifest_sha256"):
        bits.append(f"data manifest sha256 {training['data_manifest_sha256']}")
    if training.get("train_images") is not None:
        bits.append(f"{training['train_images']} training / {training.get('val_images', '?')} validation images")
    rec = training.get("recipe") if isinstance(training.get("recipe"), dict) else {}
    if rec.get("seed") is not None:
        bits.append(f"seed {rec['seed']}")
    if training.get("epochs") is not None:
        bits.append(f"{training['epochs']} epochs (best {training.get('best_epoch', '?')})")
    init = training.get("init") if isinstance(training.get("init"), dict) else None
    if init and init.get("sha256"):
        bits.append(f"started from weights sha256 {init['sha256'][:16]}...")
    ens = training.get("ensemble") if isinstance(training.get("ensemble"), dict) else None
    if ens and isinstance(ens.get("members"), list):
        bits.append(f"ensemble of {len(ens['members'])} trained decoders")
    if training.get("finished_utc"):
        bits.append(f"finished {training['finished_utc']}")
    return "; ".join(bits) or "recorded (see the card's JSON)"
