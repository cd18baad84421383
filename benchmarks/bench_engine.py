"""Engine benchmark: paper mode with ViT-L/14 conv-20 (random weights, official layout).

Prints a table: s/image at exact and fast precision, batch 1 and 8; tiled mode on a 12 MP image;
model load time; peak RSS (measured in a fresh process); the agreement of fast with exact
(mask IoU at 0.5) on real photos; and a reference-style forward pass (full 24-block CLIP tower,
unfused BatchNorm, torchvision preprocessing, fp32) timed in the same run for the speed ratio.

    python benchmarks/bench_engine.py [--quick] [--work DIR] [--devices cpu,cuda]

--devices cuda (on a GPU machine) skips the CPU timings, the reference and the RSS probes; the
CUDA maps are then compared with CPU exact maps computed once, untimed.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.detector import Detector  # noqa: E402
from engine.loading import clear_network_cache  # noqa: E402
from engine.testing import make_official_checkpoint  # noqa: E402


def photos() -> list[Image.Image]:
    """Real photographs shipped inside installed wheels (see docs), else the bundled samples."""
    out = []
    try:
        import skimage.data as sd

        for name in ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left"):
            try:
                out.append(Image.fromarray(getattr(sd, name)()).convert("RGB"))
            except Exception:
                pass
    except ImportError:
        pass
    samples = ROOT / "resources" / "samples"
    for p in sorted(samples.glob("*.jpg"))[:5]:
        out.append(Image.open(p).convert("RGB"))
    return out or [Image.fromarray((np.random.RandomState(0).rand(480, 640, 3) * 255).astype(np.uint8))]


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def make_files(work: Path) -> tuple[Path, Path]:
    ckpt, clip = work / "ViT_layer20_conv-20_bench.pth", work / "ViT-L-14-bench.pt"
    if not ckpt.exists() or not clip.exists():
        print("building random ViT-L/14 conv-20 weights in the official layout ...", file=sys.stderr)
        make_official_checkpoint(ckpt, arch="vit", layer=20, depth=20, clip_path=clip, full_decoder=True)
    return ckpt, clip


def reference_forward(ckpt: Path, clip: Path):
    """The published pipeline's shape: whole CLIP tower, hooks at block 20, BN unfused, fp32."""
    import open_clip
    from open_clip.model import CLIPVisionCfg, _build_vision_tower
    from torchvision import transforms

    from engine.decoders import conv_decoder
    from engine.weights import load_state_file

    cfg = open_clip.get_model_config("ViT-L-14-quickgelu")
    visual = _build_vision_tower(cfg["embed_dim"], CLIPVisionCfg(**cfg["vision_cfg"]), quick_gelu=True).eval()
    sd = {k[len("visual."):]: v.float() for k, v in load_state_file(clip).items()}
    visual.load_state_dict(sd, strict=False)
    dec = conv_decoder(1024, 20).eval()
    fc = {k[3:]: v for k, v in load_state_file(ckpt)["model"].items() if k.startswith("fc.")}
    dec.load_state_dict(fc)
    tf = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor(),
                             transforms.Normalize((0.48145466, 0.4578275, 0.40821073),
                                                  (0.26862954, 0.26130258, 0.27577711))])

    def run(img):
        with torch.no_grad():
            x = tf(img)[None]
            # The reference runs the whole tower (24 blocks, ln_post, proj) and hooks block 20.
            feats = visual.forward_intermediates(x, indices=[20])["image_intermediates"][0]
            return torch.sigmoid(dec(feats))
    return run


def rss_probe(ckpt: Path, clip: Path, precision: str) -> dict:
    code = f"""
import resource, sys, time, json
sys.path.insert(0, {str(ROOT)!r})
import numpy as np
t = time.perf_counter()
from engine.detector import Detector
import open_clip  # library import (about 2-3 s, torchvision included): paid once per process
imports = time.perf_counter() - t
det = Detector.from_files({str(ckpt)!r}, {str(clip)!r}, device="cpu", precision={precision!r})
load = time.perf_counter() - t
det.analyze((np.random.rand(480, 640, 3) * 255).astype(np.uint8))
# VmHWM, not getrusage: ru_maxrss survives exec, so it would report the (large) parent's peak.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
peak = int(hwm[0].split()[1]) / 1024**2 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
print(json.dumps({{"load_s_with_imports": load, "imports_s": imports, "load_s": det.load_seconds, "peak_rss_gb": peak}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    pa, pb = a > 0.5, b > 0.5
    union = (pa | pb).sum()
    return 1.0 if union == 0 else float((pa & pb).sum() / union)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "declip-bench"))
    ap.add_argument("--devices", default="cpu,cuda", help="comma-separated; cuda rows only where CUDA is available")
    args = ap.parse_args()
    wanted = [d.strip() for d in args.devices.split(",") if d.strip()]
    devices = [d for d in wanted if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]
    if not devices:
        sys.exit(f"bench_engine: none of the devices {args.devices!r} is available here")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rep = 2 if args.quick else 4
    ckpt, clip = make_files(work)
    imgs = photos()
    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CUDA: {torch.cuda.is_available()}")

    exact_maps: list = []
    t_ref = exact_batch1 = float("nan")
    if "cpu" in devices:
        # The reference and the engine's exact CPU path alternate, so load changes on a shared machine
        # hit both alike and the ratio is fair.
        ref = reference_forward(ckpt, clip)
        exact = Detector.from_files(ckpt, clip, device="cpu", precision="exact")
        direct = Detector.from_files(ckpt, clip, device="cpu", precision="exact", conv="direct")
        pairs = {"ref": [], "exact": [], "direct": []}
        fns = {"ref": lambda: ref(imgs[0]), "exact": lambda: exact.analyze(imgs[0]),
               "direct": lambda: direct.analyze(imgs[0])}
        for fn in fns.values():
            fn()  # warm-up
        for _ in range(rep + 1):
            for name, fn in fns.items():
                t = time.perf_counter()
                fn()
                pairs[name].append(time.perf_counter() - t)
        t_ref = statistics.median(pairs["ref"])
        rows.append(("reference forward (published pipeline), batch 1", t_ref, ""))
        t_direct = statistics.median(pairs["direct"])
        rows.append(("paper cpu exact, direct convs (no Winograd), batch 1", t_direct, f"{t_ref / t_direct:.2f}x reference"))
        exact_batch1 = statistics.median(pairs["exact"])
        del ref, exact, direct
    else:
        cpu = Detector.from_files(ckpt, clip, device="cpu", precision="exact")
        exact_maps = [cpu.analyze(im).raw for im in imgs]  # untimed: the yardstick for the CUDA maps
        del cpu
    for device in devices:
        for precision in ("exact", "fast"):
            if device == "cuda":
                clear_network_cache()  # else the peak below would include the previous model, still cached
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            det = Detector.from_files(ckpt, clip, device=device, precision=precision)
            same = device == "cpu" and precision == "exact"
            t1 = exact_batch1 if same else timed(lambda: det.analyze(imgs[0]), rep)
            batch = [imgs[i % len(imgs)] for i in range(8)]
            t8 = timed(lambda: list(det.analyze_many(batch, batch_size=8)), max(1, rep // 2)) / 8
            note = ""
            maps = [det.analyze(im).raw for im in imgs]
            if precision == "exact" and device == "cpu":
                exact_maps = maps
            elif exact_maps:
                ious = [iou(a, b) for a, b in zip(exact_maps, maps)]
                diff = max(float(np.abs(a - b).max()) for a, b in zip(exact_maps, maps))
                note = f"mask IoU vs cpu exact {min(ious):.3f} (min over {len(ious)} photos), max |dp| {diff:.4f}"
            ratio = f"{t_ref / t1:.2f}x reference; " if t_ref == t_ref else ""
            dt = str(det.dtype).replace("torch.", "")
            ddt = str(det.decoder_dtype).replace("torch.", "")
            dts = dt if ddt == dt else f"{dt} backbone, {ddt} decoder"
            rows.append((f"paper {device} {precision} ({dts}), batch 1", t1,
                         f"{ratio}decoder convs: {det.net.conv_kernel}"))
            rows.append((f"paper {device} {precision}, batch 8 (per image)", t8, note))
            if precision == "exact":
                big = Image.fromarray(np.asarray(imgs[0].resize((4000, 3000))))
                t_tiled = timed(lambda: det.analyze(big, mode="tiled"), 1)
                plan = det.analyze(big, mode="tiled").metadata["tiling"]
                rows.append((f"tiled {device} {precision}, 12 MP image", t_tiled,
                             f"{plan['tiles']} tiles of {plan['tile_size']} at scale {plan['scale']}"))
            if device == "cuda":
                rows.append((f"model load (cuda {precision}, from files, incl. SHA-256)", det.load_seconds, ""))
                rows.append((f"peak GPU memory (cuda {precision}, all of the above)",
                             torch.cuda.max_memory_allocated() / 1024**3, "GB"))
            del det
    for precision in ("exact", "fast") if "cpu" in devices else ():
        probe = rss_probe(ckpt, clip, precision)
        if "error" in probe:
            rows.append((f"load + peak RSS ({precision})", float("nan"), probe["error"]))
            continue
        rows.append((f"model load ({precision}, from files, incl. SHA-256)", probe["load_s"],
                     f"{probe['load_s_with_imports']:.2f} s with the library imports ({probe['imports_s']:.2f} s)"))
        rows.append((f"peak RSS ({precision}, load + one image)", probe["peak_rss_gb"], "GB"))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measurement':{width}}  {'value':>8}  notes")
    for name, value, note in rows:
        unit = "" if note == "GB" else " s"
        print(f"{name:{width}}  {value:8.3f}{unit}  {'' if note == 'GB' else note}")


if __name__ == "__main__":
    main()
