#!/usr/bin/env python3
"""The table of external-v1's images that trainer/reserved_images.py ships, and the measurements behind
its perceptual threshold.

    python scripts/reserved_phashes.py                # print EXTERNAL_V1 (name: (SHA-256, perceptual hash))
    python scripts/reserved_phashes.py --measure [FOLDER ...]

--measure hashes each benchmark image's re-encoded, resized, EXIF-rotated and mirrored copies (made in
memory, never written) and prints their distance to the image's own hash, the distance of each edited
version to its authentic one, and the smallest distance from any image under the FOLDERs (default: the
training photos, /usr/share/backgrounds, resources/samples, build/evidence-synth, build/r21; unrelated
to the benchmark) to any benchmark hash. The benchmark is only hashed here, never trained on.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.hashing import file_sha256  # noqa: E402
from trainer.perceptual_hash import BITS, distance, image_hash, variants  # noqa: E402
from trainer.reserved_images import BENCHMARK_DIR, MATCH_DISTANCE  # noqa: E402

UNRELATED = ["build/photos", "/usr/share/backgrounds", "resources/samples", "build/evidence-synth", "build/r21"]
SUFFIXES = {".jpg", ".jpeg", ".png"}
# (name, scale, JPEG quality or None for PNG, transpose or None, EXIF orientation 6 or not, enhancer or None)
COPIES = [("q50", 1, 50, None, False, None), ("q75", 1, 75, None, False, None), ("q95", 1, 95, None, False, None),
          ("x0.5 png", 0.5, None, None, False, None), ("x0.75 png", 0.75, None, None, False, None),
          ("x1.5 png", 1.5, None, None, False, None), ("x0.25 q75", 0.25, 75, None, False, None),
          ("x0.25 q50", 0.25, 50, None, False, None), ("x0.5 q50", 0.5, 50, None, False, None),
          ("x0.75 q75", 0.75, 75, None, False, None), ("x1.5 q50", 1.5, 50, None, False, None),
          ("x2 q50", 2, 50, None, False, None), ("x2 q95", 2, 95, None, False, None),
          ("EXIF orientation 6, q90", 1, 90, None, True, None),
          ("mirrored q90", 1, 90, Image.Transpose.FLIP_LEFT_RIGHT, False, None),
          ("half turn x0.5 q75", 0.5, 75, Image.Transpose.ROTATE_180, False, None),
          ("upside-down mirror q90", 1, 90, Image.Transpose.FLIP_TOP_BOTTOM, False, None),
          ("brightness 1.2 q85", 1, 85, None, False, (ImageEnhance.Brightness, 1.2)),
          ("contrast 1.3 q85", 1, 85, None, False, (ImageEnhance.Contrast, 1.3)),
          ("greyscale q85", 1, 85, None, False, (ImageEnhance.Color, 0.0))]


def benchmark_images() -> list[Path]:
    return sorted(p for p in (BENCHMARK_DIR / "images").iterdir() if p.suffix.lower() in SUFFIXES)


def print_table() -> None:
    print("EXTERNAL_V1 = {")
    for p in benchmark_images():
        print(f'    "{p.name}": ("{file_sha256(p)}", "{image_hash(p)}"),')
    print("}")


def copy_of(path: Path, scale: float, quality: int | None, transpose, exif6: bool, enhance) -> io.BytesIO:
    im = Image.open(path).convert("RGB")
    if enhance is not None:
        im = enhance[0](im).enhance(enhance[1])
    if scale != 1:
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    if transpose is not None:
        im = im.transpose(transpose)
    kwargs = {"quality": quality} if quality else {}
    if exif6:  # pixels stored a quarter turn off, the tag says how to show them upright
        im = im.transpose(Image.Transpose.ROTATE_90)
        exif = Image.Exif()
        exif[0x0112] = 6
        kwargs["exif"] = exif
    buf = io.BytesIO()
    im.save(buf, "JPEG" if quality else "PNG", **kwargs)
    buf.seek(0)
    return buf


def nearest(candidate: tuple[str, ...], reserved: dict[str, str]) -> tuple[int, str]:
    return min((distance(v, h), name) for name, h in reserved.items() for v in candidate)


def measure(folders: list[str]) -> None:
    images = benchmark_images()
    own = {p.name: image_hash(p) for p in images}
    print(f"hash: {BITS} bits; match when distance <= {MATCH_DISTANCE}")
    for name, *how in COPIES:
        d = [min(distance(v, own[p.name]) for v in variants(copy_of(p, *how))) for p in images]
        print(f"copies {name:24s} distance to own hash: min {min(d):3d} max {max(d):3d}")
    photo = {p.name: p.name.rsplit("_", 2 if "_removal_" in p.name or "_splice_" in p.name else 1)[0] for p in images}
    authentic = {photo[n]: h for n, h in own.items() if n.endswith("_authentic.jpg")}
    d = [distance(h, authentic[photo[n]]) for n, h in own.items() if not n.endswith("_authentic.jpg")]
    print(f"edited versions vs their authentic:   min {min(d):3d} max {max(d):3d}")
    d = [distance(a, b) for na, a in own.items() for nb, b in own.items() if photo[na] != photo[nb]]
    print(f"between different benchmark photos:   min {min(d):3d}")
    for folder in folders:
        root = Path(folder) if Path(folder).is_absolute() else ROOT / folder
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES and "mask" not in str(p))
        if not files:
            print(f"unrelated {folder}: no images")
            continue
        best = min((nearest(variants(f), own), str(f)) for f in files)
        upright = min(min(distance(variants(f)[0], h) for h in own.values()) for f in files)
        print(f"unrelated {folder} ({len(files)} images): min {best[0][0]} in any orientation "
              f"({Path(best[1]).name} ~ {best[0][1]}), {upright} upright")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--measure", nargs="*", metavar="FOLDER", help="measure distances (default folders if none)")
    args = ap.parse_args()
    if not (BENCHMARK_DIR / "images").is_dir():
        print(f"{BENCHMARK_DIR}: not found", file=sys.stderr)
        return 1
    if args.measure is None:
        print_table()
    else:
        measure(args.measure or UNRELATED)
    return 0


if __name__ == "__main__":
    sys.exit(main())
