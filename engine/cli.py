"""`declip analyze` and `declip models ...`."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
import gc
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable

from .atomic import probe_writable
from .errors import DeclipError, ImageError
from .stamps import utc_now

# numpy, Pillow, torch and the model code are imported inside the commands that use them, so that
# `declip --help` and the commands that never touch a model start in a fraction of a second.

# The file names taken from a folder as images: by `declip analyze`, and by `declip evaluate`, `train` and
# `synth` (trainer.datasets, trainer.synth), so that a folder holds the same images for each of them.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".mpo", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif",
                            ".dib", ".ppm", ".pgm", ".pbm", ".tga", ".jp2", ".j2k", ".ico", ".pcx", ".sgi"})


# ---- argument types: bad values are usage errors (exit 2) before any model is loaded -------------
class Repeatable(argparse.Action):
    """A list option that, given again, adds to its list (without repeats). argparse keeps only the last use,
    which silently dropped the first of `--pin-layers dq --pin-layers ela` (or `--evidence ela --evidence dq`)."""

    def __call__(self, parser, namespace, values, option_string=None):
        old = getattr(namespace, self.dest, None)
        items = list(old) if isinstance(old, (list, tuple)) else []
        for value in values if isinstance(values, (list, tuple)) else [values]:
            if value not in items:
                items.append(value)
        setattr(namespace, self.dest, items)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels, found {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, found {value}")
    return value


def device_arg(text: str) -> str:
    """argparse type for --device: auto, cpu, cuda or cuda:N; anything else is a usage error (exit 2)."""
    if text in ("auto", "cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"unknown device {text!r}: use auto, cpu, cuda or cuda:N")


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
    if not math.isfinite(value):  # float() happily accepts "nan" and "inf"
        raise argparse.ArgumentTypeError(f"expected a finite number, found {text!r}")
    return value


def tile_scale(text: str) -> float:
    from .tiling import MAX_SCALE

    value = _finite_float(text)
    if not 0 < value <= MAX_SCALE:  # 0 or less cannot be planned; more only interpolates and costs memory
        raise argparse.ArgumentTypeError(f"must be above 0 and at most {MAX_SCALE:g}, found {text}")
    return value


def _evidence_layers(text: str) -> list[str]:
    from .evidence.outputs import layers_arg

    return layers_arg(text)


def _opacity(text: str) -> float:
    value = _finite_float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, found {text}")
    return value


def _outputs(text: str) -> tuple[str, ...]:
    from .outputs import parse_outputs

    return parse_outputs(text)


# ---- closed pipes (`declip models list | head -1`) ------------------------------------------------
def silence_stream(stream_name: str) -> None:
    """Point a closed stdout/stderr at devnull so later writes and the exit-time flush stay quiet."""
    stream = getattr(sys, stream_name)
    devnull = open(os.devnull, "w")
    try:
        os.dup2(devnull.fileno(), stream.fileno())
        devnull.close()
    except (AttributeError, OSError, ValueError):  # no real file descriptor (e.g. captured in tests)
        setattr(sys, stream_name, devnull)


def _say(message: str) -> None:
    """A progress/error line on stderr. A closed stderr must not abort an analysis half-way. File names
    reach it: control characters and undecodable bytes are shown as escapes, so a line stays one line."""
    from .text import printable

    try:
        print(printable(message), file=sys.stderr, flush=True)
    except BrokenPipeError:
        silence_stream("stderr")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="analyse images and write probability maps, overlays and results.json",
                       description="Analyse images. Exit 0 if every image was analysed, 1 if any failed "
                                   "(the rest are still written), 2 on a usage error.")
    src = p.add_argument_group("model (default: the default model of the store)")
    src.add_argument("--model", metavar="ID", help="model id from `declip models list`, or a model folder given as a path (./NAME)")
    src.add_argument("--checkpoint", metavar="PATH", help="an official DeCLIP .pth or an own model folder")
    src.add_argument("--backbone-weights", metavar="PATH", action="append", default=[],
                     help="CLIP weights for --checkpoint (ViT-L-14.pt; add RN50.pt for fusion models)")
    p.add_argument("--mode", choices=["paper", "tiled"], default="paper",
                   help="paper: the published method, the whole image squashed to the model's input size (448 px "
                        "for the default model, 224 for the CLIP models); tiled: overlapping windows over a working image")
    p.add_argument("--precision", choices=["auto", "exact", "fast"], default="auto",
                   help="exact = fp32; fast = bf16 on CPU / fp16 on GPU (auto: fast on GPU, exact on CPU)")
    p.add_argument("--device", default="auto", type=device_arg, help="auto, cpu, cuda or cuda:N")
    # the CPU's reductions are split over the threads, so the map's last bit depends on their number (the
    # GUI leaves one core free): a re-run of a recorded analysis gives the recorded count
    p.add_argument("--threads", type=positive_int, default=None, metavar="N",
                   help="CPU threads for the network (default: torch's, usually the number of cores); a CPU map's "
                        "last bits depend on it, so to reproduce a recorded map give its count ('CPU (N threads)')")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--outputs", type=_outputs, default=None, metavar="LIST", action=Repeatable,
                   help="what to write per image, comma-separated: map (16-bit .prob.png), overlay "
                        "(.overlay.png), raw (.raw.npy, paper mode); default map,overlay")
    p.add_argument("--raw", action="store_true", help="also write the raw 256x256 decoder map as .raw.npy")
    # 1 by default: on a CPU a batch of 8 is no faster per image, holds 8 decoded photos at once, and
    # leaves the outputs of the whole batch with no network pass to overlap them (docs/benchmarks.md).
    p.add_argument("--batch-size", type=int, default=1,
                   help="images per network pass in paper mode (default 1; recorded in results.json)")
    p.add_argument("--tile-stride", type=positive_int, default=None,
                   help="tiled mode: window stride in pixels (1 up to the window size)")
    p.add_argument("--tile-scale", type=tile_scale, default=None,
                   help="tiled mode: image scale, above 0 and at most 4 (default: auto)")
    p.add_argument("--cmap", default="inferno", help="overlay colour map")
    p.add_argument("--opacity", type=_opacity, default=0.5, help="overlay opacity 0..1")
    p.add_argument("--threshold", type=_opacity, default=0.5,
                   help="overlay threshold 0..1: values at or below it are faded and its outline drawn, "
                        "as in the desktop viewer and the report")
    p.add_argument("--trust-anchors", metavar="PATH", help="PEM file or folder of C2PA trust anchors (default: "
                   "the settings file's; with neither, signer trust is not judged)")
    p.add_argument("--evidence", type=_evidence_layers, default=[], metavar="LAYERS", action=Repeatable,
                   help="also write classical evidence layers as <stem>.<layer>.png: a comma list of "
                        "ela, ghost, noise, dq, clones, resampling, or all (docs/evidence.md)")
    p.add_argument("--evidence-param", action="append", default=[], metavar="LAYER.KEY=VALUE",
                   help="a parameter of one of the --evidence layers (JSON value; repeatable), e.g. "
                        "clones.method=dense for the dense clone detector; recorded in results.json")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR")
    p.set_defaults(func=cmd_analyze, _parser=p)

    from .models_cli import register_models_commands

    register_models_commands(sub)


# ---- analyze ----------------------------------------------------------------------------------
def expand_inputs(inputs: list[str], errors: list[tuple[str, str]], out: Path | None = None) -> list[Path]:
    """Named files are taken as given; folders contribute their image files, recursively, sorted, leaving
    out the folder `out` (the run's own outputs, and an earlier run's, are not evidence).

    A folder that cannot be read is a (folder, one-line message) in `errors` (Path.rglob used to
    skip it silently)."""
    found: list[Path] = []
    skip = os.path.realpath(out) if out is not None else None
    for item in inputs:
        p = Path(item)
        found.extend(_walk_images(p, errors, skip) if p.is_dir() else [p])
    return found


def _walk_images(top: Path, errors: list[tuple[str, str]], skip: str | None = None) -> list[Path]:
    def onerror(exc: OSError) -> None:
        folder = str(exc.filename or top)
        errors.append((folder, f"{folder}: cannot read folder ({exc.strerror or exc}); "
                               "images in it were not analysed"))

    found: list[Path] = []
    seen: set[str] = set()
    # followlinks: rglob followed linked folders too; `seen` stops a link loop from recursing forever.
    for dirpath, dirnames, filenames in os.walk(top, onerror=onerror, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen or real == skip:
            dirnames[:] = []
            continue
        seen.add(real)
        for name in filenames:
            f = Path(dirpath, name)
            # a dangling link named *.jpg is kept so that it is reported, not silently dropped;
            # FIFOs, sockets and devices are not images and are left out as before
            if f.suffix.lower() in IMAGE_SUFFIXES and (f.is_file() or not f.exists()):
                found.append(f)
    return sorted(found)


class _InputGuard:
    """Knows the input files, so that no output is ever written over one (evidence is read-only)."""

    def __init__(self, files: list[Path]):
        self.paths = {os.path.realpath(f) for f in files}
        self.inodes: set[tuple[int, int]] = set()
        for f in files:
            try:
                st = os.stat(f)
            except OSError:
                continue
            self.inodes.add((st.st_dev, st.st_ino))  # catches hard links and case-insensitive names

    def is_input(self, path: Path) -> bool:
        if os.path.realpath(path) in self.paths:
            return True
        try:
            st = os.stat(path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in self.inodes


OUTPUT_SUFFIXES = (".prob.png", ".overlay.png", ".raw.npy",
                   ".ela.png", ".ghost.png", ".noise.png", ".dq.png", ".clones.png", ".resampling.png")


def _unique_stem(path: Path, used: set[str], out: Path | None = None, guard: _InputGuard | None = None) -> str:
    """A stem not used yet in this run whose output files would not land on any input file."""
    stem = path.stem or "image"
    cand, n = stem, 2
    while cand in used or (guard is not None and out is not None
                           and any(guard.is_input(out / f"{cand}{sfx}") for sfx in OUTPUT_SUFFIXES)):
        cand, n = f"{stem}-{n}", n + 1
    used.add(cand)
    return cand


def _check_paths_exist(args) -> None:
    # A missing model file is a mistyped argument: say so before anything is created or loaded.
    named = [("--checkpoint", args.checkpoint)] if args.checkpoint else []
    named += [("--backbone-weights", b) for b in args.backbone_weights]
    for flag, value in named:
        if not Path(value).exists():
            args._parser.error(f"{flag} {value}: no such file or folder")


def prepare_out(out: Path, purpose: str = "the maps and results.json") -> None:
    """Create the output folder and prove it is writable before hours of work, not after (`declip analyze`,
    `declip validate`)."""
    if out.exists() and not out.is_dir():   # mkdir's "File exists" reads as if the folder were there
        raise DeclipError(f"--out {out}: is a file, not a folder; give a folder for {purpose}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeclipError(f"{out}: cannot create output folder ({exc.strerror or exc})") from None
    try:
        probe_writable(out)
    except OSError as exc:
        raise DeclipError(f"{out}: cannot write to output folder ({exc.strerror or exc})") from None


def _check_model_args(args) -> None:
    if args.model and args.checkpoint:
        args._parser.error("use either --model or --checkpoint, not both")
    if args.backbone_weights and not args.checkpoint:
        args._parser.error("--backbone-weights goes with --checkpoint")


def make_detector(args, on_card: Callable | None = None):
    """The Detector of --model / --checkpoint. on_card(card) is called as soon as a store model's card
    is read, before its network is built (the image reader then prepares the network's input)."""
    _check_model_args(args)
    if args.checkpoint:
        set_threads(args)
        from .detector import Detector

        return Detector.from_files(args.checkpoint, args.backbone_weights, device=args.device, precision=args.precision)
    from .store import find_card

    card = find_card(args.model)  # before torch is imported: on_card's work then overlaps the import
    if on_card is not None:
        on_card(card)
    set_threads(args)
    from .detector import Detector

    return Detector.from_model(card, device=args.device, precision=args.precision)


def set_threads(args) -> None:
    """--threads: torch's intra-op threads, before the network is built (recorded as 'CPU (N threads)')."""
    if getattr(args, "threads", None):
        import torch

        args._threads_before = torch.get_num_threads()  # given back after the run (in-process callers, tests)
        torch.set_num_threads(args.threads)


def restore_threads(args) -> None:
    """Give back the thread count set_threads changed (in-process callers, the GUI's process, tests)."""
    if getattr(args, "_threads_before", None):
        import torch

        torch.set_num_threads(args._threads_before)


def _load_quietly(load, *args):
    """load(*args) without Python's cyclic garbage collector, whose full passes over the ~10^5 objects
    that importing torch and building a model leave behind took 0.3-0.5 s of a one-photo run; then
    those objects are frozen (gc.freeze), so the collections during the analysis skip them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return load(*args)
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _input_size(card) -> int | None:
    try:
        return int(card.input["size"])
    except (KeyError, TypeError, ValueError):  # the Detector refuses such a card with its own message
        return None


def cmd_analyze(args) -> int:
    try:
        return _analyze(args)
    finally:  # after results.json, whose device name counts the threads
        restore_threads(args)


def _analyze(args) -> int:
    from .atomic import write_text_atomic
    from .images import load_image
    from .mapio import png_settings
    from .outputs import DEFAULT_OUTPUTS, ImageFeeder
    from .overlay import COLORMAPS
    from .text import utf8_tree

    if args.cmap not in COLORMAPS:
        args._parser.error(f"unknown colour map {args.cmap!r}; choose one of {', '.join(COLORMAPS)}")
    if args.batch_size < 1:
        args._parser.error("--batch-size must be at least 1")
    outputs = tuple(args.outputs or DEFAULT_OUTPUTS)
    if args.raw and "raw" not in outputs:
        outputs += ("raw",)
    if "raw" in outputs and args.mode == "tiled":  # a tiled map is blended from many windows: there is no one raw map
        args._parser.error("the raw output (--outputs raw or --raw) needs --mode paper (a tiled map has no single "
                           "256x256 decoder output)")
    _check_model_args(args)  # usage errors before anything is written
    args.evidence_params = {}
    if args.evidence_param:  # engine.evidence stays unimported on a run without layers
        from .evidence import EvidenceError, parse_layer_params

        try:
            args.evidence_params = parse_layer_params(args.evidence_param, args.evidence)
        except EvidenceError as exc:
            args._parser.error(str(exc))
    _check_paths_exist(args)
    from .provenance import resolve_trust_anchors

    anchors = resolve_trust_anchors(getattr(args, "trust_anchors", None))  # a bad path: one line, exit 1
    folder_errors: list[tuple[str, str]] = []
    out = Path(args.out)
    for item in args.inputs:
        if Path(item).is_dir() and os.path.realpath(item) == os.path.realpath(out):
            args._parser.error(f"--out {out}: is one of the input folders; its maps would be read as evidence by "
                               "the next run. Choose another folder (a subfolder of the input is fine)")
    files = expand_inputs(args.inputs, folder_errors, out)
    for _, msg in folder_errors:
        _say(f"declip: error: {msg}")
    if not files:
        _say("declip: error: no image files found in the given inputs")
        return 1
    guard = _InputGuard(files)
    if guard.is_input(out / "results.json"):
        args._parser.error(f"--out {out}: its results.json is one of the inputs; choose another output folder")
    prepare_out(out)
    t0 = time.perf_counter()
    # The first batch decodes while the model loads; in paper mode the reader also squashes each image
    # to the network's input size, once the model's card says what that is.
    feeder = ImageFeeder(files, args.batch_size, load_image, squash=args.mode == "paper",
                         pixels="overlay" in outputs or bool(args.evidence))
    try:
        try:
            det = _load_quietly(make_detector, args, lambda card: feeder.squash_to(_input_size(card)))
        except OSError as exc:  # e.g. a model file that exists but cannot be read, or a folder given for a file
            raise DeclipError(f"{exc.filename or args.checkpoint or args.model}: cannot read model "
                              f"({exc.strerror or exc})") from None
        feeder.squash_to(det.input_size)  # for a --checkpoint model, whose card comes with its weights
        if args.mode == "tiled" and args.tile_stride is not None and args.tile_stride > det.input_size:
            args._parser.error(f"--tile-stride must be at most the model's {det.input_size} px window, "
                               f"found {args.tile_stride}")
        _say(f"declip: model {det.card.id} on {det.device_name} ({str(det.dtype).replace('torch.', '')}), "
             f"{len(files)} image(s), mode {args.mode}")
        run = _analyze_files(args, det, files, feeder, folder_errors, out, guard, outputs,
                                          anchors)
    finally:
        feeder.close()
        gc.unfreeze()  # back to ordinary collection (matters when main() runs in-process, as in tests)
    summary = {
        "tool": "declip analyze",
        "created_utc": utc_now(),
        "model": det.describe(),
        "mode": args.mode,
        "parameters": {"precision": args.precision, "device": args.device, "threads": args.threads,
                       "batch_size": args.batch_size,
                       "tile_stride": args.tile_stride, "tile_scale": args.tile_scale, "cmap": args.cmap,
                       "opacity": args.opacity, "threshold": args.threshold, "evidence": args.evidence,
                       "evidence_params": args.evidence_params,
                       "trust_anchors": anchors.describe() if anchors else None},
        "outputs": {"written": list(outputs), "png": png_settings()},
        "model_load_s": det.load_seconds,
        "total_s": time.perf_counter() - t0,
        "analysed": len(run.items) - run.failures,
        "failed": run.failures,
        "evidence_layers_failed": run.layer_failures,
        **({"interrupted": True, "not_reached": run.not_reached} if run.not_reached is not None else {}),
        "items": run.items,
    }
    try:
        # utf8_tree: a file name that is not UTF-8 is recorded with \xNN escapes (the file itself keeps its name)
        write_text_atomic(out / "results.json", json.dumps(utf8_tree(summary), indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:  # e.g. the disk filled up during the run
        raise DeclipError(f"{out / 'results.json'}: cannot write ({exc.strerror or exc})") from None
    broke = f", {run.layer_failures} evidence layer run(s) FAILED" if run.layer_failures else ""
    done = f"{len(run.items) - run.failures} analysed, {run.failures} failed{broke}"
    if run.not_reached is not None:
        _say(f"declip: interrupted: {done}, {len(run.not_reached)} not reached; results in {out / 'results.json'}")
        return 130
    _say(f"declip: {done}; results in {out / 'results.json'}")
    return 1 if run.failures or run.layer_failures else 0


def _analyze_files(args, det, files, feeder, folder_errors, out, guard, outputs,
                   anchors=None) -> "_Outcome":
    """Analyse the feeder's batches; outputs are written behind (OutputWriter). Ctrl-C stops the run with
    what was done still recorded.
    anchors: C2PA trust anchors for each file's Content Credentials record (entry["provenance"])."""
    from .outputs import OutputWriter
    from .provenance import read_provenance

    used: set[str] = set()
    # unreadable folders are failures of this run too: listed in results.json, exit 1
    items: list[dict] = [{"file": folder, "sha256": None, "error": msg} for folder, msg in folder_errors]
    failures = len(items)
    layer_failures = 0
    position = 0  # among the image files

    def written(entry: dict, error: str | None) -> None:
        nonlocal failures
        notes = entry.pop("_notes", [])  # the item's layer lines, said under its own line
        if error is not None:
            failures += 1
            n = entry.pop("_n", None)
            kept = {"file": entry["file"], "sha256": entry.get("sha256"), "error": error,
                    "provenance": entry.get("provenance")}
            entry.clear()
            entry.update(kept)
            _say(f"declip: error: {f'[{n}/{len(files)}] ' if n else ''}{error}")
        else:
            prov = (entry.get("provenance") or {}).get("verdict", "none")
            _say(f"[{entry.pop('_n')}/{len(files)}] {Path(entry['file']).name}: score {entry['score']:.4f}"
                 + (f"; Content Credentials: {prov}" if prov != "none" else ""))
        for line in notes:
            _say(line)

    # Up to one batch of results may wait for their files, so the next batch's network runs meanwhile.
    writer = OutputWriter(out, outputs, args.cmap, args.opacity, written, max_pending=min(args.batch_size, 8),
                          threshold=args.threshold)
    tile_args = {"tile_stride": args.tile_stride, "tile_scale": args.tile_scale} if args.mode == "tiled" else {}
    interrupted = False
    try:
        for chunk, loaded in feeder.batches():
            good = [x for x in loaded if not isinstance(x, ImageError)]
            if args.mode == "tiled":
                results = (_tiled_one(det, x, tile_args) for x in good)
            else:
                results = iter(det.analyze_many(good, mode="paper", batch_size=args.batch_size))
            for f, x in zip(chunk, loaded):
                entry: dict = {"file": str(f)}
                entry["provenance"] = read_provenance(f, anchors=anchors)  # C2PA, offline; never raises
                res = x if isinstance(x, ImageError) else next(results)
                position += 1
                items.append(entry)
                if isinstance(res, ImageError):
                    # sha256 is set on the error when the file's bytes were read but not decoded; the line
                    # is said in the items' order (the items before it are still being written)
                    entry.update({"sha256": getattr(x, "sha256", None), "error": str(res), "_n": position})
                    writer.submit_failed(entry, str(res))
                    continue
                stem = _unique_stem(f, used, out, guard)
                # what reading the file changed (first frame of many, CMYK, 16-bit, transparency ...)
                extra, notes = {}, [f"  {f.name}: note: {n}" for n in x.notes]
                if args.evidence:  # a layer that cannot apply is recorded, it does not fail the image
                    from .evidence.outputs import write_layers

                    # said when the item's own line is (its files are written behind), not before
                    # the previous item's line
                    extra["evidence"] = write_layers(x, stem, out, args.evidence, notes.append, args.evidence_params)
                    layer_failures += sum(1 for r in extra["evidence"].values() if r.get("failed"))
                entry.update({"sha256": x.sha256, "width": x.width, "height": x.height, "score": res.score,
                              "flagged_fraction_at_0.5": res.flagged_fraction(0.5), "outputs": extra,
                              "metadata": res.metadata, "error": None, "_n": position, "_notes": notes})
                writer.submit(entry, stem, x, res)
            del loaded, good  # this batch's images go once their outputs are written
    except KeyboardInterrupt:  # Ctrl-C: what was analysed is still recorded (its files are finished below)
        interrupted = True
        if len(items) > len(folder_errors) and "error" not in items[-1]:  # stopped inside this image
            items[-1].update({"sha256": None, "error": "not finished: the run was interrupted", "outputs": {}})
            failures += 1
    finally:
        writer.close()
    not_reached = [str(f) for f in files[position:]] if interrupted else None
    return _Outcome(items, failures, layer_failures, not_reached)


@dataclass
class _Outcome:
    items: list[dict]
    failures: int
    layer_failures: int  # evidence layers that broke on an image (the image's own result stands)
    not_reached: list[str] | None  # set when the run was interrupted: the files it never analysed


def _tiled_one(det, loaded, tile_args):
    from .tiling import TilingError

    def progress(done, total, what):
        _say(f"  {loaded.name}: {what} {done}/{total}")

    try:
        return det.analyze(loaded, mode="tiled", progress=progress, **tile_args)
    except TilingError as exc:  # the planner does not know the file: name it in the one line
        return ImageError(f"{loaded.name}: {exc}")
    except ImageError as exc:
        return exc
