"""Reading localisation data sets: Dolos, AutoSplice (test only) and the generic layout.

Everything becomes a list of `Sample`s (image path, mask path or None for authentic images,
whether the mask is inverted). Problems with single files (missing mask, unreadable image,
mask of another size) become one-line `problems` and the sample is skipped or fixed; only an
empty split stops the caller, because nothing can be done with it.

Layouts
  generic     DS/[<split>/]images/*, DS/[<split>/]masks/<same stem>.*, optional DS/[<split>/]real/*
              (white = manipulated; masks of any size are resized to their image).
  dolos       [root/]celebahq/fake/<generator>/{images,masks}/{train,valid,test}/, celebahq/real/<split>/
              (mask 0 = manipulated: inverted on reading; mask name = image stem + .png).
  autosplice  Forged_JPEG{75,90,100}/, Mask/ (same stem, optionally with a _mask suffix), Authentic/.
  benchmark   DS/manifest.json: a JSON list of {image, mask (null: authentic), source_mask (copy-moves:
              the copied region, for clone detectors), kind, ...}, paths relative to DS
              (the layout of ../shared/benchmarks/external-v1). The whole set is one split.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from engine.cli import IMAGE_SUFFIXES
from engine.errors import DeclipError

IMAGE_EXTS = IMAGE_SUFFIXES  # what `declip analyze` takes from a folder (a .jfif or .ppm was left out here)
DOLOS_GENERATORS = ("pluralistic", "lama", "repaint-p2-9k", "ldm")
SPLIT_ALIASES = {"val": ("val", "valid", "validation"), "valid": ("valid", "val", "validation"),
                 "train": ("train",), "test": ("test",)}


class DatasetError(DeclipError):
    """A data set that cannot be used at all (wrong layout, empty split)."""


@dataclass
class Sample:
    image: Path
    mask: Path | None  # None: authentic image
    invert_mask: bool = False
    group: str = ""  # generator (Dolos), sub-folder or benchmark kind; used for per-group tables
    source_mask: Path | None = None  # copy-moves in a benchmark: where the pasted region came from

    @property
    def label(self) -> int:
        return 0 if self.mask is None else 1

    @property
    def key(self) -> str:
        return self.image.name


@dataclass
class Dataset:
    name: str
    layout: str
    split: str
    samples: list[Sample]
    problems: list[str] = field(default_factory=list)
    # files left out while reading (an image without its mask, a mask without its image): evaluation
    # counts them as failed, since its figures would otherwise silently cover fewer items
    skipped: list[Path] = field(default_factory=list)

    @property
    def fakes(self) -> list[Sample]:
        return [s for s in self.samples if s.mask is not None]

    @property
    def reals(self) -> list[Sample]:
        return [s for s in self.samples if s.mask is None]


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)


def _find_split_dir(parent: Path, split: str) -> Path | None:
    for name in SPLIT_ALIASES.get(split, (split,)):
        if (parent / name).is_dir():
            return parent / name
    return None


# ---------------------------------------------------------------------------------------
# layout detection

def _dolos_root(root: Path) -> Path | None:
    for cand in (root, root / "celebahq"):
        if (cand / "fake").is_dir() and any((g / "images").is_dir() for g in (cand / "fake").iterdir() if g.is_dir()):
            return cand
    return None


def detect_layout(root: Path) -> str:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: data set folder not found")
    if _dolos_root(root):
        return "dolos"
    if _benchmark_entries(root) is not None:
        return "benchmark"
    if (root / "Mask").is_dir() and any(p.name.lower().startswith("forged") for p in root.iterdir()):
        return "autosplice"
    if (root / "images").is_dir() or any((root / s / "images").is_dir() for s in ("train", "val", "valid", "test")):
        return "generic"
    raise DatasetError(f"{root}: expected a Dolos, AutoSplice or generic (images/ + masks/) layout, or a benchmark "
                       "folder with a manifest.json list, found none")


def dolos_generators(root: Path) -> list[str]:
    d = _dolos_root(Path(root))
    if d is None:
        raise DatasetError(f"{root}: expected a Dolos layout (celebahq/fake/<generator>/images), found none")
    return sorted(g.name for g in (d / "fake").iterdir() if (g / "images").is_dir())


# ---------------------------------------------------------------------------------------
# loaders

def _pair_masks(images: list[Path], mask_dir: Path, invert: bool, group: str, problems: list[str],
                suffixes: tuple[str, ...] = ("",), skipped: list[Path] | None = None) -> list[Sample]:
    by_stem: dict[str, Path] = {}
    for m in sorted(_images(mask_dir), key=lambda p: (p.suffix.lower() != ".png", p.name)):
        if m.stem in by_stem:  # x.png and x.jpg: use the lossless one, and say so
            problems.append(f"{m}: ignored, {by_stem[m.stem].name} is used as the mask for {m.stem}")
            continue
        by_stem[m.stem] = m
    out = []
    for img in images:
        mask = next((by_stem[img.stem + s] for s in suffixes if img.stem + s in by_stem), None)
        if mask is None:
            problems.append(f"{img}: skipped, no mask named {img.stem}.* in {mask_dir}")
            if skipped is not None:
                skipped.append(img)
            continue
        out.append(Sample(img, mask, invert, group))
    return out


def _orphan_masks(images: list[Path], mask_dir: Path, problems: list[str], skipped: list[Path]) -> None:
    """Masks whose image is missing: the edit they mark cannot be scored, and a pair was lost somewhere."""
    stems = {p.stem for p in images}
    for m in _images(mask_dir):
        if m.stem not in stems:
            problems.append(f"{m}: a mask without its image (no {m.stem}.* in {mask_dir.parent / 'images'}); not used")
            skipped.append(m)


SPLIT_FOLDERS = ("train", "val", "valid", "validation", "test")


def is_flat_generic(root: Path) -> bool:
    """A generic folder with images/ at its top and no train/ val/ test/ level: one pool of images."""
    root = Path(root)
    return (root / "images").is_dir() and not any((root / s / "images").is_dir() for s in SPLIT_FOLDERS)


def flat_layout_error(root: Path, split: str) -> DatasetError:
    """Why a flat folder has no split: each split would be the same images (training would validate on
    its own training images), and how to lay it out instead."""
    return DatasetError(f"{root}: has no train/ val/ test/ subfolders, so the '{split}' split would be the "
                        f"same images as every other split; lay it out as {root}/train/images, {root}/train/masks, "
                        f"{root}/val/images, {root}/val/masks (test/ and real/ optional)")


def load_generic(root: Path, split: str | None = None) -> Dataset:
    """One split of a generic folder, or (split None) a flat folder's images as a whole."""
    root = Path(root)
    base = root
    if split is not None:
        d = _find_split_dir(root, split)
        if d is None or not (d / "images").is_dir():
            if is_flat_generic(root):
                raise flat_layout_error(root, split)
            raise DatasetError(f"{root}: no '{split}' split (expected {root / split / 'images'})")
        base = d
    elif not is_flat_generic(root):
        raise DatasetError(f"{root}: has train/ val/ test/ subfolders; name the split to read")
    problems: list[str] = []
    skipped: list[Path] = []
    images = _images(base / "images")
    samples = _pair_masks(images, base / "masks", False, "", problems, skipped=skipped)
    _orphan_masks(images, base / "masks", problems, skipped)
    kinds = _manifest_kinds(root)
    for smp in samples:  # a synth manifest's kinds give evaluate its per-kind table
        smp.group = kinds.get(smp.image.relative_to(root).as_posix(), "")
    samples += [Sample(p, None, False, "real") for p in _images(base / "real")]
    return Dataset(root.name, "generic", split or "all", samples, problems, skipped)


def _manifest_kinds(root: Path) -> dict[str, str]:
    """{image path relative to root: kind} from a synth manifest.json (an object with `items`), else {}."""
    import json

    try:
        data = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
        return {it["image"]: str(it["kind"]) for it in data["items"] if it.get("image") and it.get("kind")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # no manifest, or not a synth one
        return {}


def load_dolos(root: Path, split: str, generators: list[str] | None = None, with_real: bool = True) -> Dataset:
    d = _dolos_root(Path(root))
    if d is None:
        raise DatasetError(f"{root}: expected a Dolos layout (celebahq/fake/<generator>/images), found none")
    gens = generators or dolos_generators(root)
    problems: list[str] = []
    samples: list[Sample] = []
    skipped: list[Path] = []
    for g in gens:
        gdir = d / "fake" / g
        if not gdir.is_dir():
            raise DatasetError(f"{root}: no Dolos generator {g!r}; found {', '.join(dolos_generators(root))}")
        img_dir = _find_split_dir(gdir / "images", split)
        mask_dir = _find_split_dir(gdir / "masks", split)
        if img_dir is None:
            problems.append(f"{gdir / 'images'}: no '{split}' split")
            continue
        if mask_dir is None:
            problems.append(f"{gdir / 'masks'}: no '{split}' split; its images are skipped")
            continue
        samples += _pair_masks(_images(img_dir), mask_dir, True, g, problems, skipped=skipped)
    if with_real:
        real_dir = _find_split_dir(d / "real", split)
        if real_dir is not None:
            samples += [Sample(p, None, False, "real") for p in _images(real_dir)]
    return Dataset(f"dolos:{'+'.join(gens)}", "dolos", split, samples, problems, skipped)


def load_autosplice(root: Path) -> Dataset:
    root = Path(root)
    problems: list[str] = []
    samples: list[Sample] = []
    skipped: list[Path] = []
    for forged in sorted(p for p in root.iterdir() if p.is_dir() and p.name.lower().startswith("forged")):
        samples += _pair_masks(_images(forged), root / "Mask", False, forged.name, problems,
                               suffixes=("", "_mask", "_Mask"), skipped=skipped)
    for real_name in ("Authentic", "authentic", "real"):
        samples += [Sample(p, None, False, "real") for p in _images(root / real_name)]
    return Dataset(root.name, "autosplice", "test", samples, problems, skipped)


def _benchmark_entries(root: Path) -> list | None:
    """The manifest's entries when root/manifest.json is a benchmark list (a synth manifest is an object)."""
    import json

    p = root / "manifest.json"
    if not p.is_file():
        return None
    try:
        # utf-8-sig: Windows tools (PowerShell, Notepad) start a UTF-8 file with a byte-order mark
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{p}: not readable JSON ({type(exc).__name__})") from None
    return data if isinstance(data, list) else None


def _inside(root: Path, rel, what: str, problems: list[str]) -> Path | None:
    """root/rel when rel is a relative path that stays inside root, else None with a problem line."""
    if isinstance(rel, str) and "\\" in rel and not (root / rel).exists():
        rel = rel.replace("\\", "/")    # a manifest written on Windows (images\a.jpg)
    if not isinstance(rel, str) or not rel or Path(rel).is_absolute() or ".." in Path(rel).parts:
        problems.append(f"{root / 'manifest.json'}: {what} {rel!r} is not a path inside the benchmark folder")
        return None
    return root / rel


def load_benchmark(root: Path) -> Dataset:
    """A benchmark folder with a manifest.json list (external-v1 layout); bad entries become problems."""
    root = Path(root)
    entries = _benchmark_entries(root)
    if entries is None:
        raise DatasetError(f"{root}: no benchmark manifest.json (a JSON list of images) found")
    problems: list[str] = []
    samples: list[Sample] = []
    skipped: list[Path] = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            problems.append(f"{root / 'manifest.json'}: entry {i} is not an object; skipped")
            continue
        img = _inside(root, e.get("image"), "image", problems)
        if img is None:
            continue
        if not img.is_file():
            problems.append(f"{img}: listed in the manifest but not found; skipped")
            skipped.append(img)
            continue
        mask = source = None
        if e.get("mask") not in (None, ""):    # "" as "no mask": what some tools write for null
            mask = _inside(root, e["mask"], "mask", problems)
            if mask is None or not mask.is_file():
                problems.append(f"{img}: its mask {e['mask']!r} is missing; skipped")
                skipped.append(img)
                continue
        elif e.get("manipulated"):
            problems.append(f"{img}: marked manipulated but has no mask; skipped")
            skipped.append(img)
            continue
        if e.get("source_mask") not in (None, ""):
            source = _inside(root, e["source_mask"], "source_mask", problems)
            if source is not None and not source.is_file():
                problems.append(f"{img}: its source mask {e['source_mask']!r} is missing; scored without it")
                source = None
        kind = str(e.get("kind") or ("authentic" if mask is None else "manipulated"))
        samples.append(Sample(img, mask, False, kind, source))
    return Dataset(root.name, "benchmark", "all", samples, problems, skipped)


def load_dataset(root: Path, split: str | None, generators: list[str] | None = None, training: bool = False) -> Dataset:
    """Load one split of any supported layout; raise DatasetError if nothing usable is left.

    split None: the whole set where it has no splits (a benchmark, AutoSplice, a flat generic folder),
    else its test split."""
    root = Path(root)
    layout = detect_layout(root)
    if split is None and not (layout == "generic" and is_flat_generic(root)):
        split = "test"
    if layout == "autosplice":
        if training:
            raise DatasetError(f"{root}: AutoSplice is a test-only data set; train on Dolos, generic or synth data")
        ds = load_autosplice(root)
    elif layout == "benchmark":
        if training:
            raise DatasetError(f"{root}: a benchmark folder is for evaluation only; train on Dolos, generic or synth data")
        ds = load_benchmark(root)
    elif layout == "dolos":
        ds = load_dolos(root, split, generators)
    else:
        ds = load_generic(root, split)
    if not ds.fakes and (training or not ds.reals):
        raise DatasetError(f"{root}: the '{ds.split}' split has no usable manipulated images"
                           + (f" ({len(ds.problems)} problems, first: {ds.problems[0]})" if ds.problems else ""))
    return ds


def refuse_shared_images(train: list[Sample], val: list[Sample], train_split: str, val_split: str,
                         sha_of: Callable[[Path], str] | None = None) -> None:
    """Validation on training images would report the fit to those images as held-out IoU: refused.
    sha_of: the same image under another name or folder counts too (by content)."""
    shared = {s.image.resolve() for s in train} & {s.image.resolve() for s in val}
    if not shared and sha_of is not None:
        train_shas = {sha_of(s.image) for s in train}
        shared = {s.image for s in val if sha_of(s.image) in train_shas}
    if shared:
        raise DatasetError(f"--train-split {train_split} and --val-split {val_split}: {len(shared)} of the "
                           f"{len(val)} validation images are training images (first: {min(shared)}); "
                           "validate on a split of its own (DS/val/images, DS/val/masks)")


# ---------------------------------------------------------------------------------------
# reading one sample

def read_rgb(path: Path) -> Image.Image:
    """The image as RGB with EXIF orientation applied (engine loader: clear errors)."""
    from engine.images import load_image

    return load_image(path).rgb


def read_mask(sample: Sample, size: tuple[int, int], problems: list[str] | None = None,
              resize: bool = True) -> np.ndarray:
    """Mask as float32 HxW in [0,1] (1 = manipulated) at `size` (width, height) of its image.

    A mask of another size is resized bilinearly (generic layouts accept any size); the
    mismatch is noted once in `problems`; with resize=False (evaluation) it is a DatasetError.
    Authentic samples give an all-zero mask.
    """
    w, h = size
    if sample.mask is None:
        return np.zeros((h, w), np.float32)
    try:
        with Image.open(sample.mask) as m:
            m.load()
            colour = m.mode in ("RGB", "RGBA", "P", "CMYK")
            if colour:
                rgb = np.asarray(m.convert("RGB"), np.uint8)
                colour = bool((rgb.max(axis=2) != rgb.min(axis=2)).any())
            # a coloured mask (red on black) is read by its brightest channel: by lightness, red is
            # 76/255 and the whole edit silently counted as authentic
            mask = Image.fromarray(rgb.max(axis=2)) if colour else m.convert("L")
    except Exception as exc:
        raise DatasetError(f"{sample.mask}: unreadable mask ({type(exc).__name__})") from None
    if colour and problems is not None:
        problems.append(f"{sample.mask}: colour mask; any bright colour is read as manipulated")
    if mask.getextrema() == (0, 1):
        # a label image (0 = authentic, 1 = manipulated), as several public data sets store masks: read as
        # grey levels it marked nothing, and every edit counted as authentic
        mask = mask.point(lambda v: 255 if v else 0)
        if problems is not None:
            problems.append(f"{sample.mask}: mask values are 0 and 1; 1 is read as manipulated")
    if mask.size != (w, h):
        if not resize:  # scoring: a stretched mask would mark other pixels than the edit
            raise DatasetError(f"{sample.mask}: mask is {mask.size[0]}x{mask.size[1]}, image is {w}x{h}; skipped")
        if problems is not None:
            problems.append(f"{sample.mask}: mask is {mask.size[0]}x{mask.size[1]}, image is {w}x{h}; "
                            f"mask resized to the image")
        mask = mask.resize((w, h), Image.BILINEAR)
    arr = np.asarray(mask, np.float32) / 255.0
    arr = 1.0 - arr if sample.invert_mask else arr
    if problems is not None and not (arr > 0.5).any():
        problems.append(f"{sample.mask}: the mask marks no manipulated pixel (all {'white' if sample.invert_mask else 'black'})")
    return arr
