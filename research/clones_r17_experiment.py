"""Clones round 17 (issue #38): a converged offset field for `dense`, and keypoints and dense together.

`run OUT DATA...`: on every copy-move, removal and untouched view of each set, the map of `clones` as today
(keypoints), `dense` as today (4 PatchMatch iterations) and `dense` with `iterations=K` for each K given in
--iterations; the maps above 0.5 are cached in OUT/<set>.npz. `score OUT DATA...`: per set and method,
copymove IoU (against mask | source mask) and copies found (IoU > 0.1), removal_patch IoU, untouched views
flagged (more than 1 % above 0.5), and `kp+dK`: keypoints' and dense's flagged pixels together (the union of
what the two methods mark, as a method running both would show it).

    python research/clones_r17_experiment.py run build/r17/out build/clones-real --iterations 12
    python research/clones_r17_experiment.py score build/r17/out build/clones-real
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from clones_scoring import entries  # noqa: E402  (research/ is the script folder)

KINDS = ("copymove", "removal_patch", "authentic")


def run(out: Path, folder: Path, iterations: list[int], fill_iterations: int | None = None) -> None:
    from engine import evidence

    out.mkdir(parents=True, exist_ok=True)
    cache = out / f"{folder.name}.npz"
    have = dict(np.load(cache)) if cache.exists() else {}
    methods = {"kp": {}, "d4": {"method": "dense"}, **{f"d{k}": {"method": "dense", "iterations": k} for k in iterations}}
    if fill_iterations:  # the fill stage's own PatchMatch iterations too (research patch: not a layer parameter)
        import functools

        import engine.evidence.clones_dense as cd

        cd.detect_fills = functools.partial(cd.detect_fills, iterations=fill_iterations)
        methods = {f"d{k}f{fill_iterations}": {"method": "dense", "iterations": k} for k in iterations}
    for e in entries(folder, KINDS):
        stem = Path(e["image"]).stem
        for name, params in methods.items():
            key = f"{stem}|{name}"
            if key in have:
                continue
            t = time.perf_counter()
            res = evidence.run("clones", str(folder / e["image"]), **params)
            have[key] = np.packbits(res.probability > 0.5)
            have[f"{key}|shape"] = np.array(res.probability.shape)
            have[f"{key}|s"] = np.array(time.perf_counter() - t)
        np.savez_compressed(cache, **have)
        print(stem, flush=True)


def _flag(have: dict, key: str) -> np.ndarray:
    shape = tuple(have[f"{key}|shape"])
    return np.unpackbits(have[key])[: shape[0] * shape[1]].reshape(shape).astype(bool)


def score(out: Path, folder: Path) -> None:
    have = dict(np.load(out / f"{folder.name}.npz"))
    names = sorted({k.split("|")[1] for k in have if k.count("|") == 1}, key=lambda n: (n != "kp", len(n), n))
    stems = {Path(e["image"]).stem for e in entries(folder, KINDS)}
    names = [n for n in names if all(f"{s}|{n}" in have for s in stems)]  # methods run on the whole set
    combos = names + [f"kp+{n}" for n in names if n != "kp"]
    rows = {c: {k: [] for k in KINDS} for c in combos}
    secs = {n: 0.0 for n in names}
    for e in entries(folder, KINDS):
        stem = Path(e["image"]).stem
        gt = None
        if e["kind"] != "authentic":
            gt = np.asarray(Image.open(folder / e["mask"]).convert("L")) > 127
            if e.get("source_mask"):
                gt |= np.asarray(Image.open(folder / e["source_mask"]).convert("L")) > 127
        flags = {n: _flag(have, f"{stem}|{n}") for n in names}
        for n in names:
            secs[n] += float(have[f"{stem}|{n}|s"])
        for c in combos:
            f = flags["kp"] | flags[c[3:]] if c.startswith("kp+") else flags[c]
            if gt is None:
                rows[c]["authentic"].append(float(f.mean() > 0.01))
            else:
                union = (f | gt).sum()
                rows[c][e["kind"]].append(float((f & gt).sum() / union) if union else 0.0)
    print(folder.name)
    for c in combos:
        r = rows[c]
        cm = r["copymove"]
        line = f"  {c:8s} copymove {100 * np.mean(cm):5.1f} (found {sum(v > 0.1 for v in cm)} of {len(cm)})"
        if r["removal_patch"]:
            line += f"  removal_patch {100 * np.mean(r['removal_patch']):5.1f}"
        if r["authentic"]:
            line += f"  untouched flagged {int(sum(r['authentic']))} of {len(r['authentic'])}"
        if c in secs:
            line += f"  ({secs[c]:.0f} s)"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("run", "score"))
    ap.add_argument("out", type=Path)
    ap.add_argument("data", type=Path, nargs="+")
    ap.add_argument("--iterations", default="12")
    ap.add_argument("--fill-iterations", type=int, default=None,
                    help="run only dense K (methods dK fF), its fill stage with F iterations")
    a = ap.parse_args()
    for folder in a.data:
        if a.what == "run":
            run(a.out, folder, [int(k) for k in a.iterations.split(",")], a.fill_iterations)
        else:
            score(a.out, folder)


if __name__ == "__main__":
    main()
