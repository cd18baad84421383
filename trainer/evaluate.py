"""`declip evaluate`: the paper's metrics on a data set, a per-image CSV, and the Dolos ID/OOD table.

Predictions come from any `predict(PIL RGB) -> (prob HxW at image size, score)`: a trained
model through the engine's Detector, or the ELA baseline. Per-image metrics are averaged over
images; pixel AP and F1 skip authentic images (undefined there); detection AP/accuracy use the
image score (mean probability) when authentic images are present.
"""
from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np

from engine.errors import DeclipError
from engine.stamps import utc_now

from . import datasets as D
from . import metrics as M

Predict = Callable[[object], tuple[np.ndarray, float]]
CSV_FIELDS = ["image", "group", "label", "width", "height", "score", "iou", "pixel_ap", "f1", "f1_best", "error"]


def detector_predict(model: str, device: str = "cpu", mode: str = "paper") -> tuple[Predict, dict]:
    from engine import Detector

    det = Detector.from_model(model, device=device)

    def predict(pil):
        res = det.analyze(pil, mode=mode)
        return res.probability, float(res.score)

    return predict, det.describe()


def ela_map(pil, quality: int = 90, sigma: float = 3.0) -> np.ndarray:
    """Error Level Analysis: |image - JPEG(image)|, smoothed, scaled so its 99th percentile is 1."""
    import io

    import cv2
    from PIL import Image

    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    re = np.asarray(Image.open(buf).convert("RGB"), np.float32)
    diff = np.abs(np.asarray(pil, np.float32) - re).mean(-1)
    diff = cv2.GaussianBlur(diff, (0, 0), sigma)
    scale = float(np.percentile(diff, 99)) or 1.0
    return np.clip(diff / scale, 0, 1).astype(np.float32)


def ela_predict(pil):
    prob = ela_map(pil)
    return prob, float(prob.mean())


def evaluate_dataset(predict: Predict, ds: D.Dataset, csv_path: Path | None = None,
                     progress: Callable[[int, int, str], None] | None = None) -> dict:
    rows = []
    problems = list(ds.problems)
    reliability = M.Reliability()
    t0 = time.perf_counter()
    for k, s in enumerate(ds.samples):
        row = {"image": str(s.image), "group": s.group, "label": s.label}
        try:
            pil = D.read_rgb(s.image)
            gt = D.read_mask(s, pil.size, problems)
            prob, score = predict(pil)
            row.update(width=pil.size[0], height=pil.size[1], score=round(score, 6))
            if s.label:
                row.update({k2: round(v, 4) for k2, v in M.localisation_metrics(prob, gt).items()})
            else:
                row["iou"] = round(M.iou(prob, gt), 4)  # authentic: empty gt, IoU is 100 if nothing is flagged
            reliability.add(prob, gt)
        except DeclipError as exc:  # one bad image never stops the evaluation
            row["error"] = str(exc)
            problems.append(str(exc))
        rows.append(row)
        if progress:
            progress(k + 1, len(ds.samples), s.image.name)
    fakes = [r for r in rows if r["label"] == 1 and "error" not in r]
    scored = [r for r in rows if "error" not in r]
    summary = {
        "images": len(rows), "manipulated": len(fakes), "authentic": sum(1 for r in scored if r["label"] == 0),
        "failed": len(rows) - len(scored),
        "iou": M.mean_ignoring_nan(r["iou"] for r in fakes),
        "pixel_ap": M.mean_ignoring_nan(r["pixel_ap"] for r in fakes),
        "f1": M.mean_ignoring_nan(r["f1"] for r in fakes),
        "f1_best": M.mean_ignoring_nan(r["f1_best"] for r in fakes),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if scored:
        summary["reliability"] = reliability.summary()
    if summary["authentic"] and fakes:
        det = M.detection_metrics([r["score"] for r in scored], [r["label"] for r in scored])
        summary["detection_ap"], summary["detection_accuracy"] = det["ap"], det["accuracy"]
    groups = sorted({r["group"] for r in fakes})
    if len(groups) > 1:
        summary["per_group_iou"] = {g: M.mean_ignoring_nan(r["iou"] for r in fakes if r["group"] == g) for g in groups}
    if csv_path:
        write_csv(rows, Path(csv_path))
    summary["problems"] = problems
    return summary


def write_csv(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(r)


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
        predict, _ = detector_predict(model, device)
        table[train_gen] = {}
        for g in gens:
            ds = D.load_dolos(root, split, [g], with_real=False)
            table[train_gen][g] = evaluate_dataset(predict, ds, progress=progress)["iou"]
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


def run_evaluation(model: str | None, data: Path, split: str = "test", baseline: str | None = None,
                   device: str = "cpu", csv_path: Path | None = None, generators: list[str] | None = None,
                   progress=None) -> dict:
    ds = D.load_dataset(Path(data), split, generators)
    if baseline == "ela":
        predict, meta = ela_predict, {"model_id": "baseline:ela", "method": "ELA q90, blur 3, /p99"}
    elif baseline:
        raise DeclipError(f"--baseline {baseline}: the only baseline is 'ela'")
    else:
        predict, meta = detector_predict(model, device)
    summary = evaluate_dataset(predict, ds, csv_path, progress)
    return {"model": meta, "data": str(Path(data).resolve()), "layout": ds.layout, "split": ds.split,
            "created_utc": utc_now(), "metrics": summary}


def dump_json(obj: dict, path: Path) -> None:
    """Strict JSON: an undefined metric (NaN, e.g. no scorable image) is written as null."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(_nan_to_none(obj), indent=2, default=float, allow_nan=False) + "\n")


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
