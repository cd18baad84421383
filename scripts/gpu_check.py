#!/usr/bin/env python3
"""One prepared check of the CUDA paths, for a machine with an NVIDIA GPU.

    python scripts/gpu_check.py [--steps analyze,case,train] [--data SYNTH_DIR] [--out DIR]

Every step runs the real `declip` command line in a subprocess and goes on after a failure; the
summary (PASS/FAIL per step, with figures) is printed and written to OUT/gpu_check.json.

- analyze: the embedded default model on the bundled samples, CPU exact against CUDA exact and
  CUDA fast (fp16): the largest probability difference and the mask IoU at 0.5; tiled mode too.
- case: a case analysed with --device cuda and its PDF report (copied to OUT).
- train (needs --data): the same short recipe on CPU and on CUDA (losses and validation IoU per
  epoch side by side), a second CUDA seed, --augment on CUDA (backbone run per batch on the GPU),
  `declip ensemble --device cuda`, `evaluate --device cuda`, `models import` and `analyze
  --device cuda` of the result.
Speed figures come from benchmarks/bench_engine.py --devices cuda, run separately.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "resources" / "samples").glob("*.jpg"))
RECIPE = ["--backbone", "lite0", "--stages", "3,4", "--grid", "32", "--input-size", "448", "--decoder", "conv-4",
          "--widths", "64,32,16,8", "--image-context", "--batch-size", "16", "--calibrate-bias",
          "--feature-dropout", "0.5", "--ema", "0.99"]


class Check:
    def __init__(self, work: Path):
        self.env = dict(os.environ, DECLIP_HOME=str(work / "home"), PYTHONUNBUFFERED="1")
        self.steps: list[dict] = []

    def declip(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "declip_desktop.cli", *map(str, args)]
        t = time.perf_counter()
        res = subprocess.run(cmd, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout)
        res.seconds = time.perf_counter() - t
        print(f"$ declip {' '.join(map(str, args))}  -> rc {res.returncode} in {res.seconds:.1f} s", flush=True)
        if res.returncode:
            print(res.stderr[-2000:], flush=True)
        return res

    def step(self, name: str, fn) -> None:
        t = time.perf_counter()
        try:
            figures = fn() or {}
            ok = figures.pop("ok", True)
        except Exception as exc:  # one broken step must not hide the others
            figures, ok = {"error": f"{type(exc).__name__}: {exc}"}, False
        entry = {"step": name, "ok": bool(ok), "seconds": round(time.perf_counter() - t, 1), **figures}
        self.steps.append(entry)
        print(f"[{'PASS' if ok else 'FAIL'}] {name}: {json.dumps(figures)}", flush=True)


def maps_of(folder: Path) -> dict[str, np.ndarray]:
    """The raw decoder maps (paper mode), else the full-size probability PNGs (tiled mode has no raw
    map; the PNG holds p in 16 bits)."""
    raw = {p.name: np.load(p) for p in sorted(folder.glob("*.raw.npy"))}
    if raw:
        return raw
    from PIL import Image

    out = {}
    for p in sorted(folder.glob("*.prob.png")):
        a = np.asarray(Image.open(p))
        out[p.name] = a.astype(np.float64) / (65535.0 if a.dtype == np.uint16 else 255.0)
    return out


def agreement(a: dict, b: dict) -> dict:
    if set(a) != set(b) or not a:
        raise RuntimeError(f"different outputs: {sorted(a)} vs {sorted(b)}")
    ious, diffs = [], []
    for k in a:
        pa, pb = a[k] > 0.5, b[k] > 0.5
        union = (pa | pb).sum()
        ious.append(1.0 if union == 0 else float((pa & pb).sum() / union))
        diffs.append(float(np.abs(a[k].astype(np.float64) - b[k]).max()))
    return {"min_mask_iou": round(min(ious), 4), "max_abs_dp": round(max(diffs), 5)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="a small `declip synth` set (for the train steps)")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", tempfile.gettempdir())) / "gpu-check")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--as-device", default="cuda", help="cpu: a dry run of this script's plumbing without a GPU")
    ap.add_argument("--steps", default="analyze,case,train", help="which groups of steps to run (comma-separated)")
    args = ap.parse_args()
    import torch

    gpu = args.as_device
    if "train" in args.steps.split(",") and not args.data:
        ap.error("the train steps need --data")
    if gpu == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU here", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="declip-gpu-"))
    c = Check(work)
    name = torch.cuda.get_device_name(0) if gpu == "cuda" else "no GPU (dry run)"
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), {name}; work {work}", flush=True)

    # ---- analyze: default model, CPU exact vs CUDA exact / fast -------------------------------
    def analyze(device: str, precision: str, mode: str, tag: str) -> dict:
        dest = work / f"an-{tag}-{precision}-{mode}"
        raw = ["--raw"] if mode == "paper" else []  # a tiled map has no single decoder output to save
        r = c.declip("analyze", *SAMPLES, "--device", device, "--precision", precision, "--mode", mode,
                     *raw, "--out", dest)
        if r.returncode:
            raise RuntimeError(r.stderr.strip().splitlines()[-1])
        res = json.loads((dest / "results.json").read_text())
        return {"dir": dest, "res": res, "maps": maps_of(dest), "seconds": r.seconds}

    def analyze_pair(mode: str) -> dict:
        cpu = analyze("cpu", "exact", mode, "cpu")
        out = {"cpu_seconds": round(cpu["seconds"], 1)}
        for precision in ("exact", "fast"):
            run = analyze(gpu, precision, mode, "gpu")
            agree = agreement(cpu["maps"], run["maps"])
            meta = run["res"]["items"][0]["metadata"]
            out[precision] = {**agree, "seconds": round(run["seconds"], 1), "dtype": meta.get("dtype"), "decoder_dtype": meta.get("decoder_dtype"),
                              "device_name": meta.get("device_name"),
                              "max_score_diff": round(max(abs(a["score"] - b["score"]) for a, b in
                                                          zip(cpu["res"]["items"], run["res"]["items"])), 5)}
        # exact must match CPU exact closely; fast (fp16) is reported, not judged: where a map hovers
        # near 0.5 a few pixels crossing it move the IoU of a small mask a lot
        out["ok"] = out["exact"]["max_abs_dp"] < 1e-3 and out["exact"]["min_mask_iou"] > 0.99
        return out

    steps = set(args.steps.split(","))
    if "analyze" in steps:
        c.step("analyze default model, paper mode: CPU exact vs CUDA exact/fast", lambda: analyze_pair("paper"))
        c.step("analyze default model, tiled mode: CPU exact vs CUDA exact/fast", lambda: analyze_pair("tiled"))

    # ---- case + PDF on CUDA ------------------------------------------------------------------
    def case() -> dict:
        cdir = work / "case"
        for args_ in (("case", "new", cdir, "--title", "GPU check", "--number", "GPU-1", "--examiner", "gpu_check"),
                      ("case", "add", cdir, *SAMPLES[:2]), ("case", "analyze", cdir, "--device", gpu),
                      ("case", "report", cdir, "--out", args.out / "gpu_case_report.pdf")):
            r = c.declip(*args_)
            if r.returncode:
                raise RuntimeError(f"{args_[1]}: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
        pdf = args.out / "gpu_case_report.pdf"
        return {"pdf_bytes": pdf.stat().st_size, "ok": pdf.stat().st_size > 10000}

    if "case" in steps:
        c.step("case analysed on CUDA, PDF report", case)

    # ---- trainer on CUDA -----------------------------------------------------------------------
    def train(device: str, seed: int, tag: str, *extra: str, epochs: int = args.epochs) -> dict:
        dest = work / f"m-{tag}-s{seed}{'-aug' if extra else ''}"
        r = c.declip("train", "--data", args.data, *RECIPE, "--max-epochs", str(epochs), "--seed", str(seed),
                     "--device", device, "--id", dest.name, "--out", dest, *extra, timeout=600)
        if r.returncode:
            raise RuntimeError(r.stderr.strip().splitlines()[-1])
        card = json.loads((dest / "card.json").read_text())
        hist = card["training"]["history"] if "history" in card.get("training", {}) else None
        return {"dir": dest, "card": card, "history": hist, "seconds": r.seconds}

    trained: dict = {}

    def train_cpu_vs_cuda() -> dict:
        trained["cpu"] = cpu = train("cpu", 0, "cpu")
        trained["gpu0"] = run = train(gpu, 0, "gpu")
        vi = lambda h: [e["val_iou"] for e in h]  # noqa: E731
        lo = lambda h: [round(e["train_loss"], 5) for e in h]  # noqa: E731
        # the same seed gives the same batches and initial weights: the losses must track each other
        # (not bit-equal: cuDNN/TF32 on the GPU and Winograd convs on the CPU round differently)
        rel = max(abs(a - b) / max(abs(a), 1e-9) for a, b in zip(lo(cpu["history"]), lo(run["history"])))
        return {"cpu_train_loss": lo(cpu["history"]), "cuda_train_loss": lo(run["history"]),
                "max_rel_loss_diff": round(rel, 5), "cpu_val_iou": vi(cpu["history"]),
                "cuda_val_iou": vi(run["history"]), "cpu_seconds": round(cpu["seconds"], 1),
                "cuda_seconds": round(run["seconds"], 1),
                "ok": len(run["history"]) == len(cpu["history"]) > 0 and rel < 0.02}

    if "train" in steps:
        c.step(f"train {args.epochs} epochs, same seed, CPU vs CUDA", train_cpu_vs_cuda)

    def train_augment() -> dict:
        m = train(gpu, 0, "gpu", "--augment", epochs=1)
        return {"val_iou": [e["val_iou"] for e in m["history"]], "seconds": round(m["seconds"], 1)}

    if "train" in steps:
        c.step("train --augment on CUDA (backbone per batch on the GPU), 1 epoch", train_augment)

    def ensemble_eval_import_analyze() -> dict:
        trained["gpu1"] = train(gpu, 1, "gpu")
        ens = work / "m-ens"
        r = c.declip("ensemble", trained["gpu0"]["dir"], trained["gpu1"]["dir"], "--data", args.data,
                     "--device", gpu, "--id", "gpu-check-ens", "--out", ens)
        if r.returncode:
            raise RuntimeError(r.stderr.strip().splitlines()[-1])
        ev = work / "ens-test.json"
        r = c.declip("evaluate", "--model", ens, "--data", args.data, "--split", "test", "--device", gpu,
                     "--json", ev)
        if r.returncode:
            raise RuntimeError(r.stderr.strip().splitlines()[-1])
        metrics = json.loads(ev.read_text())
        r = c.declip("models", "import", ens)
        if r.returncode:
            raise RuntimeError(r.stderr.strip().splitlines()[-1])
        dest = work / "an-ens"
        r = c.declip("analyze", "--model", "gpu-check-ens", "--device", gpu, "--out", dest, *SAMPLES[:2])
        res = json.loads((dest / "results.json").read_text())
        keep = {k: round(v, 2) for k, v in metrics["metrics"].items() if isinstance(v, (int, float))}
        return {"test_metrics": keep, "analysed": res.get("analysed"),
                "decoder": res["items"][0]["metadata"]["model"]["decoder"], "ok": r.returncode == 0}

    if "train" in steps:
        c.step("ensemble --device cuda, evaluate --device cuda, import, analyze", ensemble_eval_import_analyze)

    summary = {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu": name,
               "steps": c.steps}
    (args.out / "gpu_check.json").write_text(json.dumps(summary, indent=1, default=str))
    failed = [s["step"] for s in c.steps if not s["ok"]]
    print(f"\n{len(c.steps) - len(failed)}/{len(c.steps)} steps passed" + (f"; failed: {failed}" if failed else ""))
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
