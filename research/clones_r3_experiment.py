"""Round 3 of the `clones` layer (issue #38): cached maps per setting, scored per kind and per condition.

    python research/clones_r3_experiment.py maps DATA NAME '{"method": "keypoints"}'   # build/r3cache/DATA/NAME/*.npy
    python research/clones_r3_experiment.py score DATA NAME [NAME2 ...] [--t 0.5]        # max of the named maps

DATA is a folder written by clones_synth_data.py. Copy-moves are scored against mask | source mask, the rest
against mask; authentic images count as flagged with more than 1 % above the threshold (docs/evidence.md).
`score` also splits the mean IoU by the manifest's conditions (flat region, 0.75 resize, JPEG quality),
and `fillshare` reports what share of each removal's pixels a map marks (recall) and its precision."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

CACHE = Path("build/r3cache")


def load(folder: Path):
    return json.loads((folder / "manifest.json").read_text())


def gt_mask(folder: Path, e: dict, size) -> np.ndarray:
    m = np.zeros(size[::-1], bool)
    for key in ("mask", "source_mask"):
        if e.get(key):
            m |= np.asarray(Image.open(folder / e[key]).convert("L").resize(size)) > 127
    return m


def maps(folder: Path, name: str, params: dict, kinds: str = "") -> None:
    from engine import evidence

    out = CACHE / folder.name / name
    out.mkdir(parents=True, exist_ok=True)
    log = []
    for e in load(folder):
        stem = Path(e["image"]).stem
        if (out / f"{stem}.npy").exists() or (kinds and e["kind"] not in kinds.split(",")):
            continue
        t0 = time.process_time()
        res = evidence.run("clones", str(folder / e["image"]), **params)
        cpu = time.process_time() - t0
        np.save(out / f"{stem}.npy", (res.probability * 255).round().astype(np.uint8))
        d = res.metadata["details"]
        log.append({"stem": stem, "cpu_s": round(cpu, 2), "pairs": len(d.get("pairs", [])),
                    "fills": len(d.get("fills", []))})
        print(stem, log[-1], flush=True)
    with open(out / "log.jsonl", "a") as f:
        for r in log:
            f.write(json.dumps(r) + "\n")
    (out / "params.json").write_text(json.dumps(params))


def combined(folder: Path, names: list[str], stem: str) -> np.ndarray:
    return np.maximum.reduce([np.load(CACHE / folder.name / n / f"{stem}.npy") for n in names]).astype(np.float32) / 255


def score(folder: Path, names: list[str], t: float) -> dict:
    rows = []
    for e in load(folder):
        stem = Path(e["image"]).stem
        prob = combined(folder, names, stem)
        pred = prob > t
        if e["kind"] == "authentic":
            rows.append({**e, "flagged": bool(pred.mean() > 0.01), "iou": None})
            continue
        gt = gt_mask(folder, e, (prob.shape[1], prob.shape[0]))
        union = (gt | pred).sum()
        rows.append({**e, "iou": float((gt & pred).sum() / union) if union else 1.0,
                     "recall": float((gt & pred).sum() / max(1, gt.sum()))})
    out = {"names": names, "t": t}
    for kind in ("copymove", "removal_patch"):
        r = [x for x in rows if x["kind"] == kind]
        if not r:
            continue
        out[kind] = round(100 * np.mean([x["iou"] for x in r]), 1)
        split = {}
        for label, test in (("flat", lambda x: x.get("flat")), ("textured", lambda x: not x.get("flat")),
                            ("resized", lambda x: "resize" in x["post"]), ("q75", lambda x: x["post"]["jpeg_quality"] == 75),
                            ("q85", lambda x: x["post"]["jpeg_quality"] == 85),
                            ("q95", lambda x: x["post"]["jpeg_quality"] == 95)):
            sub = [x["iou"] for x in r if test(x)]
            if sub:
                split[label] = f"{100 * np.mean(sub):.1f} (n={len(sub)}, found {sum(v > 0.1 for v in sub)})"
        out[kind + "_by"] = split
        out[kind + "_found"] = f"{sum(x['iou'] > 0.1 for x in r)} of {len(r)}"
    a = [x for x in rows if x["kind"] == "authentic"]
    out["authentic_flagged"] = f"{sum(x['flagged'] for x in a)} of {len(a)}"
    out["flagged_items"] = [Path(x["image"]).stem for x in a if x["flagged"]]
    out["per_item"] = {Path(x["image"]).stem: None if x["iou"] is None else round(100 * x["iou"], 1) for x in rows}
    return out


def main(argv: list[str]) -> int:
    cmd, folder = argv[0], Path(argv[1])
    if cmd == "maps":
        maps(folder, argv[2], json.loads(argv[3]), argv[4] if len(argv) > 4 else "")
    elif cmd == "score":
        t = 0.5
        names = [a for a in argv[2:] if not a.startswith("-")]
        t = float(next((a[4:] for a in argv[2:] if a.startswith("--t=")), t))
        res = score(folder, names, t)
        per = res.pop("per_item")
        print(json.dumps(res, indent=1))
        if "-v" in argv:
            print(per)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
