"""Scoring any map producer (an evidence layer, or anything that maps an image to a [0, 1] map) on a
benchmark folder, with the figures of `../shared/benchmarks/external-v1/README.md`.

```python
from trainer.layer_scoring import score_map_producer, layer_producer
report = score_map_producer("/path/to/benchmark", layer_producer("clones"), thresholds=[0.5])
report["thresholds"]["0.5"]["iou_by_kind"]["copymove"]
```
or, without the declip command line: `python -m trainer.layer_scoring DIR --layer ela [--json OUT]`.

A benchmark folder is either one with `manifest.json` (entries with image, mask, source_mask, kind,
manipulated) or a generic `images/ masks/ [real/]` folder (as `declip synth` writes per split;
kind "manipulated"/"authentic"). For a clone detector (`clones`) copy-moves are scored against the
union of mask and source_mask (it finds both ends); every other map against mask alone. A producer that refuses an
image (a DeclipError, e.g. `dq` on a PNG) counts as an empty map with score 0 and is counted.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from PIL import Image

from .metrics import average_precision, iou

FLAG_SHARE = 0.01   # an authentic image counts as flagged when more than 1 % of it is above the threshold


def load_entries(folder: str | Path) -> list[dict]:
    """The benchmark's entries (image, mask, source_mask, kind, manipulated; paths relative to the
    folder), read by the trainer's one reader of data sets: a manifest.json list, or a generic
    images/ masks/ real/ folder."""
    return _read(folder)[0]


def _read(folder: str | Path) -> tuple[list[dict], list[str]]:
    from .datasets import load_dataset

    folder = Path(folder)
    ds = load_dataset(folder, None)  # a benchmark manifest, or images/ masks/ real/ in the folder itself

    def rel(p: Path | None) -> str | None:
        return None if p is None else p.relative_to(folder).as_posix()

    entries = [{"image": rel(s.image), "mask": rel(s.mask), "source_mask": rel(s.source_mask),
                "kind": s.group if s.group and s.group != "real" else ("manipulated" if s.label else "authentic"),
                "manipulated": bool(s.label)} for s in ds.samples]
    return entries, list(ds.problems)


def _truth(folder: Path, e: dict, shape: tuple[int, int], against_sources: bool) -> np.ndarray:
    gt = np.zeros(shape, bool)
    for key in ("mask", "source_mask") if against_sources else ("mask",):
        if e.get(key):
            with Image.open(folder / e[key]) as im:
                m = np.asarray(im.convert("L")) > 127
            if m.shape != shape:
                raise ValueError(f"{e[key]}: mask {m.shape} does not match the map {shape}")
            gt |= m
    return gt


def layer_producer(name: str, **params) -> Callable[[Path], tuple[np.ndarray, float]]:
    """A producer running one evidence layer with the given parameters."""
    from engine import evidence

    def produce(path: Path):
        res = evidence.run(name, path, **params)
        return res.probability, res.score

    produce.__name__ = f"evidence-{name}"
    produce.against_sources = name == "clones"   # a clone detector marks both ends of a copy
    return produce


def evidence_producer(name: str, **params):
    """The same layer as a `trainer.producers.MapProducer`, for `trainer.evaluate` (declip evaluate --layer)."""
    from .producers import MapProducer

    from engine import evidence

    def fn(image):
        if isinstance(image, bytes):       # the file's bytes: decoded here, kept for the JPEG layers
            import io

            from PIL import Image

            with Image.open(io.BytesIO(image)) as im:
                im.load()
                res = evidence.run(name, im, data=image, **params)
        else:
            res = evidence.run(name, image, **params)
        return res.probability, res.score

    info = evidence.info(name)
    return MapProducer(f"layer:{name}", fn, {"model_id": f"layer:{name}", "layer": name, "method_version": info.version, "parameters": params,
                                             "threshold": info.threshold}, against_sources=name == "clones")


def score_map_producer(manifest_dir: str | Path, producer: Callable[[Path], tuple[np.ndarray, float]],
                       thresholds: Iterable[float] = (0.5,), kinds: Iterable[str] | None = None,
                       progress: Callable[[int, int, str], None] | None = None,
                       against_sources: bool | None = None) -> dict:
    """Score `producer(path) -> (map HxW in [0,1], image score)` on every image of the folder.

    Returns {"producer", "images", "refused", "seconds", "image_ap", "chance_ap",
    "thresholds": {"0.5": {"iou_all", "iou_by_kind", "authentic_flagged", "authentic"}}, "per_image": [...]}.
    IoU is the paper's per-image IoU x 100 averaged over the manipulated images. `against_sources`
    (default: the producer's own `against_sources` attribute, else False): score copy-moves against
    mask | source_mask, as for a clone detector; otherwise against mask alone."""
    from engine.errors import DeclipError

    folder = Path(manifest_dir)
    if against_sources is None:
        against_sources = bool(getattr(producer, "against_sources", False))
    entries, problems = _read(folder)
    entries = [e for e in entries if kinds is None or e["kind"] in set(kinds)]
    thresholds = [float(t) for t in thresholds]
    rows: list[dict] = []
    t0 = time.perf_counter()
    for n, e in enumerate(entries, 1):
        path = folder / e["image"]
        refused = None
        try:
            prob, score = producer(path)
        except DeclipError as exc:
            with Image.open(path) as im:
                w, h = im.size
            prob, score, refused = np.zeros((h, w), np.float32), 0.0, str(exc)
        gt = _truth(folder, e, prob.shape, against_sources)
        row = {"image": e["image"], "kind": e["kind"], "manipulated": bool(e.get("manipulated", gt.any())),
               "score": float(score), "refused": refused,
               "iou": {f"{t:g}": iou(prob, gt, t) for t in thresholds},
               "flagged_share": {f"{t:g}": float((prob > t).mean()) for t in thresholds}}
        rows.append(row)
        if progress:
            progress(n, len(entries), e["image"])
    scores = np.array([r["score"] for r in rows])
    labels = np.array([r["manipulated"] for r in rows])
    out = {"producer": getattr(producer, "__name__", "producer"), "folder": str(folder), "images": len(rows),
           "against_sources": against_sources, "problems": problems,
           "refused": sum(r["refused"] is not None for r in rows), "seconds": time.perf_counter() - t0,
           "image_ap": average_precision(scores, labels) if labels.any() and (~labels).any() else float("nan"),
           "chance_ap": float(labels.mean() * 100) if len(labels) else float("nan"), "thresholds": {}}
    for t in thresholds:
        key = f"{t:g}"
        manip = [r for r in rows if r["manipulated"]]
        by_kind: dict[str, list[float]] = {}
        for r in manip:
            by_kind.setdefault(r["kind"], []).append(r["iou"][key])
        auth = [r for r in rows if not r["manipulated"]]
        out["thresholds"][key] = {
            "iou_all": float(np.mean([r["iou"][key] for r in manip])) if manip else float("nan"),
            "iou_by_kind": {k: float(np.mean(v)) for k, v in sorted(by_kind.items())},
            "authentic_flagged": sum(r["flagged_share"][key] > FLAG_SHARE for r in auth),
            "authentic": len(auth)}
    out["per_image"] = rows
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m trainer.layer_scoring", description=__doc__.split("\n")[0])
    p.add_argument("folder")
    p.add_argument("--layer", required=True)
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="layer parameter (JSON value)")
    p.add_argument("--threshold", action="append", type=float, default=[])
    p.add_argument("--json", metavar="OUT")
    a = p.parse_args(argv)
    params = {}
    for kv in a.param:
        k, _, v = kv.partition("=")
        try:
            params[k] = json.loads(v)
        except json.JSONDecodeError:
            params[k] = v
    from engine import evidence

    ths = a.threshold or [evidence.info(a.layer).threshold]
    rep = score_map_producer(a.folder, layer_producer(a.layer, **params), thresholds=ths,
                             progress=lambda n, t, m: print(f"[{n}/{t}] {m}", file=sys.stderr, flush=True))
    rep["layer"], rep["parameters"] = a.layer, params
    if a.json:
        Path(a.json).write_text(json.dumps(rep, indent=1) + "\n")
    for key, v in rep["thresholds"].items():
        kinds = " ".join(f"{k}={x:.1f}" for k, x in v["iou_by_kind"].items())
        print(f"{a.layer} t={key}: IoU all {v['iou_all']:.1f} | {kinds} | authentic flagged "
              f"{v['authentic_flagged']}/{v['authentic']} | image AP {rep['image_ap']:.1f} (chance "
              f"{rep['chance_ap']:.1f}) | refused {rep['refused']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
