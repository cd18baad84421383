#!/usr/bin/env python3
"""Copy the licensed photographs available offline into one folder, with their licences.

    python scripts/collect_photos.py OUT_DIR

Sources (see docs from offline-resources): scikit-image and scikit-learn wheels, matplotlib's
sample data when installed, and Debian's opencv-doc example data (`apt-get install -y opencv-doc`):
the 41 photos the default model is built from. The Debian wallpaper photos (lomiri-wallpapers,
plasma-workspace-wallpapers) are not collected: the team reserves them for evaluation
(../shared/benchmarks/external-v1 is made from them), and `declip synth` refuses them. Round 8 had
tried 9 lomiri-wallpapers-16.04 photos as extra training photos (no clear gain).
Writes OUT_DIR/<source>__<name>.<ext> plus OUT_DIR/LICENSES.json, which `declip synth` copies
into its manifest. Photos of one scene (stereo pairs, video frames) share a `group`, so the
synthesiser keeps them in the same split. Missing sources are reported and skipped.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

OPENCV_DOC = Path("/usr/share/doc/opencv-doc/examples/data")
OPENCV_LICENCE = "Apache-2.0 AND BSD-3-Clause (Debian opencv-doc, /usr/share/doc/opencv-doc/copyright)"

# (file, licence, attribution). Only natural photographs; drawings, renders, charts, the
# chessboard calibration series, paintings and the ELA demo pair are left out on purpose.
SKIMAGE = [
    ("astronaut.png", "Public domain (NASA)", "NASA; skimage.data.astronaut"),
    ("camera.png", "CC0-1.0", "Lav Varshney; skimage.data.camera"),
    ("chelsea.png", "CC0-1.0", "Stefan van der Walt; skimage.data.chelsea"),
    ("coffee.png", "CC0-1.0", "Rachel Michetti; skimage.data.coffee"),
    ("coins.png", "No known copyright restrictions (Brooklyn Museum)", "skimage.data.coins"),
    ("hubble_deep_field.jpg", "Public domain (NASA)", "NASA; skimage.data.hubble_deep_field"),
    ("rocket.jpg", "Public domain (SpaceX)", "SpaceX; skimage.data.rocket"),
    ("retina.jpg", "CC0-1.0", "skimage.data.retina"),
    ("brick.png", "CC0-1.0 (CC0Textures)", "skimage.data.brick"),
    ("grass.png", "CC0-1.0 (CC0Textures)", "skimage.data.grass"),
    ("gravel.png", "CC0-1.0 (CC0Textures)", "skimage.data.gravel"),
]
SKLEARN = [
    ("china.jpg", "CC-BY-2.0", "danielbuechele (Flickr), via scikit-learn"),
    ("flower.jpg", "CC-BY-2.0", "vultilion (Flickr), via scikit-learn"),
]
OPENCV = ["aero1.jpg", "aero3.jpg", "apple.jpg", "baboon.jpg", "building.jpg", "butterfly.jpg", "fruits.jpg",
          "home.jpg", "messi5.jpg", "orange.jpg", "squirrel_cls.jpg", "chicky_512.png", "HappyFish.jpg",
          "stuff.jpg", "smarties.png", "board.jpg", "basketball1.png", "basketball2.png", "leuvenA.jpg",
          "leuvenB.jpg", "graf1.png", "graf3.png", "aloeL.jpg", "aloeR.jpg", "rubberwhale1.png",
          "rubberwhale2.png", "box_in_scene.png"]
# Same scene: must never be split between train and test.
GROUPS = {"basketball": ("basketball1", "basketball2"), "leuven": ("leuvenA", "leuvenB"),
          "graf": ("graf1", "graf3"), "aloe": ("aloeL", "aloeR"), "rubberwhale": ("rubberwhale1", "rubberwhale2"),
          "aero": ("aero1", "aero3")}


def _group(stem: str) -> str:
    for group, members in GROUPS.items():
        if stem in members:
            return group
    return stem


def _sources() -> list[tuple[Path, str, str, str]]:
    """(path, source, licence, attribution) for every photo that exists on this machine."""
    out = []
    try:
        import skimage
        d = Path(skimage.__file__).parent / "data"
        out += [(d / f, "skimage", lic, att) for f, lic, att in SKIMAGE]
    except ImportError:
        print("skip: scikit-image not installed", file=sys.stderr)
    try:
        import sklearn
        d = Path(sklearn.__file__).parent / "datasets" / "images"
        out += [(d / f, "sklearn", lic, att) for f, lic, att in SKLEARN]
    except ImportError:
        print("skip: scikit-learn not installed", file=sys.stderr)
    try:
        import matplotlib
        out.append((Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg", "matplotlib",
                    "Public domain (US Navy)", "US Navy; matplotlib sample data"))
    except ImportError:
        print("skip: matplotlib not installed (grace_hopper.jpg)", file=sys.stderr)
    if not OPENCV_DOC.is_dir():
        print(f"skip: {OPENCV_DOC} missing (apt-get install -y opencv-doc)", file=sys.stderr)
    out += [(OPENCV_DOC / f, "opencv-doc", OPENCV_LICENCE, "OpenCV sample data") for f in OPENCV]
    return out


def collect(out_dir: Path) -> list[dict]:
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for path, source, licence, attribution in _sources():
        if not path.is_file():
            print(f"skip: {path} not found", file=sys.stderr)
            continue
        name = f"{source}__{path.name}"
        shutil.copyfile(path, out_dir / name)
        entries.append({"file": name, "source": source, "origin": str(path), "licence": licence,
                        "attribution": attribution, "group": f"{source}:{_group(path.stem)}",
                        "sha256": hashlib.sha256(path.read_bytes()).hexdigest()})
    (out_dir / "LICENSES.json").write_text(json.dumps(entries, indent=1))
    return entries


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    entries = collect(args.out)
    print(f"{len(entries)} photos -> {args.out} (licences in LICENSES.json)")
    return 0 if entries else 1


if __name__ == "__main__":
    sys.exit(main())
