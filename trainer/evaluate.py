"""`declip evaluate`: the paper's metrics on a data set, a per-image CSV, and the Dolos ID/OOD table.

Maps come from any `trainer.producers.MapProducer` (image -> map at image size + score): a trained
model through the engine's Detector, the ELA baseline, or an evidence layer. Per-image metrics are
averaged over images; pixel AP and F1 skip authentic images (undefined there); detection AP and
accuracy use the image score when authentic images are present, and the chance level of AP (the
share of manipulated images) is stated beside it. Authentic images count as flagged when more than
1 % of their pixels are above the threshold. The ELA baseline is scored beside every model. An
evidence layer that does not apply to an image (dq on a PNG) scores it as an empty map, counted as
refused. `sweep` scores several thresholds from the same maps (choosing a layer's default threshold).
"""
from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from engine.errors import DeclipError
from engine.stamps import utc_now

from . import datasets as D
from . import metrics as M
from .producers import MapProducer, detector_producer, ela_producer
from .write_errors import writing

CSV_FIELDS = ["image", "group", "kind", "label", "width", "height", "score", "iou", "pixel_ap", "f1", "f1_best",
              "flagged_pct", "ela_score", "ela_iou", "error", "refused"]
# An authentic image counts as flagged when more than this share of its pixels is above the threshold.
FLAG_FRACTION = 0.01
AUTHENTIC_KINDS = ("authentic", "real")


def evaluate_dataset(producer: MapProducer, ds: D.Dataset, csv_path: Path | None = None,
                     progress: Callable[[int, int, str], None] | None = None,
                     threshold: float = M.THRESHOLD, sweep: Sequence[float] = ()) -> dict:
    """Score `producer` on every sample; the summary is what the JSON's `metrics` holds.

    Copy-moves are scored against `mask`, or against mask + source_mask when the producer is a
    clone detector (`against_sources`). `sweep`: more thresholds scored from the same maps
    (summary["sweep"]), e.g. to choose an evidence layer's default threshold on validation data."""
    summary, rows = _score(producer, ds, progress, threshold, sweep)
    if csv_path:
        write_csv(rows, Path(csv_path))
    return summary


def _score(producer: MapProducer, ds: D.Dataset, progress, threshold: float,
           sweep: Sequence[float] = ()) -> tuple[dict, list[dict]]:
    rows = []
    problems = list(ds.problems)
    reliability = M.Reliability()
    sweep = sorted({float(t) for t in sweep})
    t0 = time.perf_counter()
    for k, s in enumerate(ds.samples):
        row = {"image": str(s.image), "group": s.group, "kind": s.group or ("manipulated" if s.label else "authentic"),
               "label": s.label}
        try:
            try:
                prob, score = producer(s.image)
            except DeclipError as exc:
                if producer.refusal is None or not isinstance(exc, producer.refusal):
                    raise
                # the method does not apply to this image (dq on a PNG): an empty map, counted
                prob, score = _empty_map(s.image), 0.0
                row["refused"] = str(exc)
            size = (prob.shape[1], prob.shape[0])
            gt = D.read_mask(s, size, problems, resize=False)
            if producer.against_sources and s.source_mask is not None:
                gt = np.maximum(gt, D.read_mask(D.Sample(s.image, s.source_mask), size, problems, resize=False))
            row.update(width=size[0], height=size[1], score=round(score, 6),
                       flagged_pct=round(float((prob > threshold).mean()) * 100.0, 4))
            if s.label:
                row.update({k2: round(v, 4) for k2, v in M.localisation_metrics(prob, gt, threshold).items()})
            else:
                row["iou"] = round(M.iou(prob, gt, threshold), 4)  # authentic: IoU is 100 if nothing is flagged
            if sweep:
                row["sweep"] = {f"{t:g}": (M.iou(prob, gt, t), float((prob > t).mean()) * 100.0) for t in sweep}
            reliability.add(prob, gt)
        except DeclipError as exc:  # one bad image never stops the evaluation
            row["error"] = str(exc)
            problems.append(str(exc))
        rows.append(row)
        if progress:
            progress(k + 1, len(ds.samples), s.image.name)
    summary = summarise(rows, threshold)
    summary["skipped"] = len(ds.skipped)
    if sweep:
        summary["sweep"] = summarise_sweep(rows, sweep)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    if any("error" not in r for r in rows):
        summary["reliability"] = reliability.summary()
    summary["problems"] = problems
    return summary, rows


def _empty_map(path: Path) -> np.ndarray:
    """An all-zero map at the size every layer's map has: the image as the engine loads it (EXIF
    orientation applied). Loading fails with the engine's own one-line ImageError."""
    from engine.images import load_image

    img = load_image(path)
    return np.zeros((img.height, img.width), np.float32)


def summarise_sweep(rows: list[dict], thresholds: Sequence[float]) -> dict:
    """Per threshold: mean IoU over the manipulated images, overall and per kind, and authentic images
    flagged (> 1 % of pixels above it). The rows' maps are computed once for every threshold."""
    scored = [r for r in rows if "sweep" in r]
    fakes = [r for r in scored if r["label"] == 1]
    reals = [r for r in scored if r["label"] == 0]
    out = {}
    for t in thresholds:
        key = f"{float(t):g}"
        kinds: dict[str, list[float]] = {}
        for r in fakes:
            kinds.setdefault(r["group"], []).append(r["sweep"][key][0])
        out[key] = {"iou": M.mean_ignoring_nan(r["sweep"][key][0] for r in fakes) if fakes else float("nan"),
                    "per_kind": {g: M.mean_ignoring_nan(v) for g, v in sorted(kinds.items())} if len(kinds) > 1 else {},
                    "authentic_flagged_count": sum(r["sweep"][key][1] > FLAG_FRACTION * 100.0 for r in reals),
                    "authentic": len(reals)}
    return out


def _means(rows: list[dict]) -> dict:
    return {m: M.mean_ignoring_nan(r.get(m, float("nan")) for r in rows) for m in ("iou", "pixel_ap", "f1", "f1_best")}


def summarise(rows: list[dict], threshold: float = M.THRESHOLD) -> dict:
    """The figures a forensic user needs from per-image rows (see docs/trainer.md)."""
    fakes = [r for r in rows if r["label"] == 1 and "error" not in r]
    scored = [r for r in rows if "error" not in r]
    reals = [r for r in scored if r["label"] == 0]
    out = {"images": len(rows), "manipulated": len(fakes), "authentic": len(reals),
           "failed": len(rows) - len(scored), "refused": sum("refused" in r for r in rows),
           "threshold": threshold, **_means(fakes)}
    if reals:
        flagged = [r for r in reals if r["flagged_pct"] > FLAG_FRACTION * 100.0]
        out["authentic_flagged"] = len(flagged) / len(reals) * 100.0
        out["authentic_flagged_count"] = len(flagged)
    if reals and fakes:
        det = M.detection_metrics([r["score"] for r in scored], [r["label"] for r in scored], threshold)
        out["detection_ap"], out["detection_accuracy"] = det["ap"], det["accuracy"]
        # a detector that guesses has AP = the share of manipulated images: say what chance gives
        out["detection_ap_chance"] = len(fakes) / len(scored) * 100.0
    groups = sorted({r["group"] for r in fakes})
    if len(groups) > 1:
        out["per_group_iou"] = {g: M.mean_ignoring_nan(r["iou"] for r in fakes if r["group"] == g) for g in groups}
        out["per_kind"] = {g: dict(images=sum(1 for r in fakes if r["group"] == g),
                                   **_means([r for r in fakes if r["group"] == g])) for g in groups}
    return out


def write_csv(rows: list[dict], path: Path) -> None:
    """Per-image rows, written atomically (a killed run leaves the old file or none)."""
    from engine.atomic import write_atomic

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow(r)

    with writing(path):
        write_atomic(Path(path), write)


def dolos_table(models: dict[str, str], root: Path, split: str = "test", device: str = "cpu",
                progress=None) -> dict:
    """Cross-generator IoU table: rows = model trained on generator G, columns = test generator.

    ID = mean of the diagonal, OOD = mean of the off-diagonal cells (as in the paper).
    """
    gens = D.dolos_generators(root)
    unknown = [g for g in models if g not in gens]
    if unknown:  # its whole row would silently count as out-of-distribution
        raise DeclipError(f"{', '.join(unknown)}: not a generator of this Dolos set (found {', '.join(gens)})")
    table: dict[str, dict[str, float]] = {}
    for train_gen, model in models.items():
        producer = detector_producer(model, device)
        table[train_gen] = {}
        for g in gens:
            ds = D.load_dolos(root, split, [g], with_real=False)
            table[train_gen][g] = evaluate_dataset(producer, ds, progress=progress)["iou"]
    diag = [table[t][t] for t in table if t in table[t]]
    off = [v for t in table for g, v in table[t].items() if g != t]
    return {"generators": gens, "table": table, "id_iou": M.mean_ignoring_nan(diag) if diag else None,
            "ood_iou": M.mean_ignoring_nan(off) if off else None}


def format_table(res: dict) -> str:
    gens = res["generators"]
    lines = ["train \\ test".ljust(16) + "".join(g[:12].rjust(13) for g in gens)]
    for t, row in res["table"].items():
        lines.append(t[:16].ljust(16) + "".join(f"{row.get(g, float('nan')):13.2f}" for g in gens))
    if res.get("id_iou") is not None:
        lines.append(f"ID {res['id_iou']:.2f}" + (f"  OOD {res['ood_iou']:.2f}" if res.get("ood_iou") is not None else ""))
    return "\n".join(lines)


def run_evaluation(model: str | None, data: Path, split: str | None = None, baseline: str | None = None,
                   device: str = "cpu", csv_path: Path | None = None, generators: list[str] | None = None,
                   progress=None, with_ela: bool = True, producer: MapProducer | None = None,
                   threshold: float = M.THRESHOLD, sweep: Sequence[float] = ()) -> dict:
    """Evaluate a model (or `producer`, or the ELA baseline alone) and, beside it, the ELA baseline.

    split None: the test split, or the whole set where it has no splits (datasets.load_dataset)."""
    ds = D.load_dataset(Path(data), split, generators)
    if baseline == "ela":
        producer, with_ela = ela_producer(), False
    elif baseline:
        raise DeclipError(f"--baseline {baseline}: the only baseline is 'ela'")
    elif producer is None:
        producer = detector_producer(model, device)
    summary, rows = _score(producer, ds, progress, threshold, sweep)
    res = {"model": producer.meta or {"model_id": producer.name}, "data": str(Path(data).resolve()),
           "layout": ds.layout, "split": ds.split,
           "created_utc": utc_now(), "metrics": summary}
    if with_ela:
        ela_summary, ela_rows = _score(ela_producer(), ds, None, threshold)
        ela_summary.pop("problems", None)  # the same files: their problems are listed once, above
        res["baseline_ela"] = ela_summary
        for r, e in zip(rows, ela_rows):
            r.update(ela_score=e.get("score"), ela_iou=e.get("iou"))
    if csv_path:
        write_csv(rows, Path(csv_path))
    return res


def validation_entry(res: dict, set_info: dict, date: str | None = None) -> dict:
    """A model card `validation` entry (engine/validation_text.py) from a run_evaluation result.

    set_info: {id, name, description, same_generator}; image counts are filled in from the run."""
    from engine.versions import software_versions

    m, ela = res["metrics"], res.get("baseline_ela") or {}
    keys = ("iou", "pixel_ap", "f1", "f1_best")

    def r(x):
        return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else round(float(x), 2)

    figures = {k: r(m.get(k)) for k in keys}
    figures.update(image_ap=r(m.get("detection_ap")), image_ap_chance=r(m.get("detection_ap_chance")),
                   authentic_flagged=r(m.get("authentic_flagged")),
                   authentic_flagged_count=m.get("authentic_flagged_count"),
                   per_kind={k: {x: r(v.get(x)) for x in keys} for k, v in (m.get("per_kind") or {}).items()})
    if ela:
        figures["ela"] = {"iou": r(ela.get("iou")), "image_ap": r(ela.get("detection_ap")),
                          "authentic_flagged": r(ela.get("authentic_flagged")),
                          "per_kind": {k: r(v.get("iou")) for k, v in (ela.get("per_kind") or {}).items()}}
    return {"set": dict(set_info, images=m["images"], manipulated=m["manipulated"], authentic=m["authentic"]),
            "date": date or res["created_utc"][:10], "software": software_versions(),
            "mode": res["model"].get("mode", "paper"), "threshold": m.get("threshold", M.THRESHOLD),
            "figures": figures}


def format_summary(res: dict) -> str:
    """The console table: overall and per kind, image AP beside chance, authentic images flagged."""
    m, ela = res["metrics"], res.get("baseline_ela") or {}
    thr = m.get("threshold", M.THRESHOLD)
    head = (f"{res['model'].get('model_id')} on {res['data']} [{res['layout']}, {res['split']}]: "
            f"{m['manipulated']} manipulated, {m['authentic']} authentic" + (f", {m['failed']} failed" if m["failed"] else "")
            + (f", {m['skipped']} skipped (see the warnings)" if m.get("skipped") else ""))
    lines = [head]
    if res["layout"] == "generic" and res["split"] == "all":
        lines.append("the whole folder was scored: it has no train/ val/ test/ subfolders, so these images "
                     "are not known to be held out from training")
    lines += [f"{'kind':<22}{'images':>7}{'IoU':>8}{'pixel AP':>10}{'F1':>8}{'best F1':>9}"
             + (f"{'ELA IoU':>9}" if ela else "")]

    undefined = []   # metrics with no scorable image in a row, printed as "-" and explained below

    def cell(value, width: int, what: str) -> str:
        if value is None or not math.isfinite(value):
            undefined.append(what)
            return f"{'-':>{width}}"
        return f"{value:>{width}.1f}"

    def row(name, n, d, e):
        return (f"{name[:22]:<22}{n:>7}" + "".join(cell(d.get(k), w, k) for k, w in
                (("iou", 8), ("pixel_ap", 10), ("f1", 8), ("f1_best", 9)))
                + (cell(e.get("iou"), 9, "ela") if ela else ""))

    lines.append(row("all manipulated", m["manipulated"], m, ela))
    for kind, d in (m.get("per_kind") or {}).items():
        lines.append(row(kind, d["images"], d, (ela.get("per_kind") or {}).get(kind, {})))
    if not m["manipulated"]:
        lines.append("-: no manipulated image was scored (the split holds authentic images only, or every "
                     "manipulated one failed)")
    elif {"f1", "f1_best"} & set(undefined):
        lines.append("-: not defined; F1 is scored outside the TruFor band around each mask's edge, and every "
                     "edit of that kind is thinner than the band")
    if "detection_ap" in m:
        lines.append(f"image AP {m['detection_ap']:.1f} (chance {m['detection_ap_chance']:.1f}: the share of "
                     f"manipulated images)  accuracy at {thr:g}: {m['detection_accuracy']:.1f}"
                     + (f"; ELA image AP {ela['detection_ap']:.1f}" if "detection_ap" in ela else ""))
    if m.get("authentic"):
        lines.append(f"authentic images flagged (> {FLAG_FRACTION * 100:g} % of pixels above {thr:g}): "
                     f"{m['authentic_flagged_count']} of {m['authentic']} ({m['authentic_flagged']:.0f} %)"
                     + (f"; ELA {ela['authentic_flagged_count']} of {ela['authentic']}" if "authentic_flagged" in ela else ""))
    if m.get("refused"):
        lines.append(f"refused (the method does not apply; scored as an empty map): {m['refused']} image{'' if m['refused'] == 1 else 's'}")
    for t, v in (m.get("sweep") or {}).items():
        kinds = "  ".join(f"{k} {x:.1f}" for k, x in v["per_kind"].items())
        lines.append(f"at {t}: IoU {v['iou']:.1f}" + (f" ({kinds})" if kinds else "")
                     + (f"; authentic flagged {v['authentic_flagged_count']} of {v['authentic']}" if v["authentic"] else ""))
    return "\n".join(lines)


def dump_json(obj: dict, path: Path) -> None:
    """Strict JSON, written atomically: an undefined metric (NaN, e.g. no scorable image) is written as null."""
    from engine.atomic import write_text_atomic

    with writing(path):
        write_text_atomic(Path(path), json.dumps(_nan_to_none(obj), indent=2, default=float, allow_nan=False) + "\n")


def _nan_to_none(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (np.floating,)) and not np.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _nan_to_none(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_nan_to_none(x) for x in v]
    return v
