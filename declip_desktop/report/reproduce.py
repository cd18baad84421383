"""'How to reproduce': per item, the `declip analyze` command that recomputes the learned map and each
pinned evidence layer from the evidence file alone, and the values its results.json must then show.

Everything here is derived from the metadata recorded with each stored result (model id, mode,
tiling, device, precision, the layers' requested parameters), never written by hand, so the
command is the one that made the maps. A second examiner compares pixels, not PNG files: the file's
own SHA-256 depends on the deflate library that wrote it (engine.mapio), the map's 16-bit values do not.
"""
from __future__ import annotations

import json
import re
import shlex
from pathlib import PurePath
from typing import Any

from engine.cpu import is_cpu
from engine.evidence import EvidenceError, explicit_params, param_value

from .blocks import X, esc

OUT = "reproduced"  # the output folder the commands name, one sub-folder per item


def tile_args(md: dict) -> tuple[list[str], str | None]:
    """(the --tile-stride/--tile-scale options that give the recorded working image, a problem or None).
    The automatic scale is left to the CLI when it gives the recorded working size (the stored scale is
    rounded to 6 decimals); otherwise the stored scale is passed and checked to give that size."""
    from engine.tiling import TilingError, default_stride, plan_tiles

    tiling = md.get("tiling") if isinstance(md.get("tiling"), dict) else {}
    img = md.get("image") if isinstance(md.get("image"), dict) else {}
    tile, stride, scale = tiling.get("tile_size"), tiling.get("stride"), tiling.get("scale")
    size, w, h = list(tiling.get("scaled_size") or []), img.get("width"), img.get("height")
    if not all(isinstance(v, int) for v in (tile, stride, w, h)) or len(size) != 2:
        return [], "the tile settings or the image size were not recorded with the result"
    args = [] if stride == default_stride(tile) else ["--tile-stride", str(stride)]
    try:
        auto = plan_tiles(w, h, tile=tile, stride=stride)
        if [auto.scaled_w, auto.scaled_h] == size:
            return args, None
        if isinstance(scale, (int, float)):
            given = plan_tiles(w, h, tile=tile, stride=stride, scale=float(scale))
            if [given.scaled_w, given.scaled_h] == size:
                return args + ["--tile-scale", repr(float(scale))], None
    except TilingError as exc:
        return args, f"the recorded tiling cannot be planned again ({exc})"
    return args, (f"no --tile-scale gives the recorded {size[0]}×{size[1]} px working image "
                  f"(recorded scale {scale!r})")


def param_token(layer: str, key: str, value: Any) -> str:
    """LAYER.KEY=VALUE as --evidence-param reads it back to the same value (a word stays bare)."""
    text = value if isinstance(value, str) and param_value(value) == value else json.dumps(value)
    return f"{layer}.{key}={text}"


def requested(layer: str, md: dict) -> dict | None:
    """The parameters the layer was run with beside its defaults (what --evidence-param must repeat);
    None when they cannot be told (a record without them whose parameters the layer no longer takes)."""
    req = md.get("requested_parameters")
    if isinstance(req, dict):
        return req
    try:
        return explicit_params(layer, dict(md.get("parameters") or {}))
    except EvidenceError:
        return None


def command(f: Any, layers: list) -> tuple[list[str], list[str]]:
    """(the argument list of `declip analyze` for this item, problems that keep it from being exact)."""
    md = f.metadata or {}
    problems: list[str] = []
    args = ["declip", "analyze"]
    if f.analysed:
        args += _model_args(f, md, problems)
    shown = [p for p in layers if not p.error]
    if shown:
        args += ["--evidence", ",".join(p.layer for p in shown)]
        for p in shown:
            req = requested(p.layer, p.metadata)
            if req is None:
                problems.append(f"the {p.layer} parameters were not recorded in a form --evidence-param takes")
                continue
            for key, value in req.items():
                args += ["--evidence-param", param_token(p.layer, key, value)]
    name = f.item.file_name
    args += ["--out", f"{OUT}/{f.item.item_id}", f"./{name}" if name.startswith("-") else name]
    return args, problems


def _model_args(f: Any, md: dict, problems: list[str]) -> list[str]:
    """The learned map's options, from its recorded metadata."""
    args: list[str] = []
    if md.get("model_id"):
        args += ["--model", str(md["model_id"])]
    else:
        problems.append("the model id was not recorded with the result")
    mode = str(md.get("mode") or "paper")
    args += ["--mode", mode]
    if mode == "tiled":
        extra, why = tile_args(md)
        args += extra
        if why:
            problems.append(why)
    precision = md.get("precision") or {"float32": "exact"}.get(str(md.get("dtype")))
    if precision in ("exact", "fast"):
        args += ["--precision", precision]
    else:
        problems.append("the precision was not recorded with the result")
    if md.get("device"):
        args += ["--device", str(md["device"])]
    if is_cpu(md.get("device")):
        # a CPU map's last bits depend on the thread count (engine/cli.py --threads); recorded in its name
        m = re.fullmatch(r"CPU \((\d+) threads?\)", str(md.get("device_name") or ""))
        if m:
            args += ["--threads", m.group(1)]
        else:
            problems.append("the CPU thread count was not recorded with the result (the map's last bits depend on it)")
    args += ["--threshold", repr(float(f.threshold))]
    return args


def command_markup(args: list[str]) -> str:
    """The command, an option and its value per line (the file with the output folder), each line but the
    last ending in ' \\' so that a copy from the PDF runs as one command in a POSIX shell."""
    lines: list[list[str]] = [args[:2]]
    for a in args[2:]:
        if a.startswith("--") or len(lines[-1]) > 1 and lines[-1][0] != "--out":
            lines.append([a])
        else:
            lines[-1].append(a)
    body = " \\<br/>&nbsp;&nbsp;".join(esc(" ".join(shlex.quote(a) for a in line)) for line in lines)
    return f"<font name='DeclipMono' size='7'>{body}</font>"


def expected(name: str, sha: str | None, score: float | None, flagged: dict | None, recorded: str = "") -> str:
    parts = [f"<b>{esc(name)}</b>"]
    if sha:
        parts.append(f"pixels SHA-256 <font name='DeclipMono' size='7'>{esc(sha)}</font>")
    if score is not None:
        parts.append(f"score {esc(repr(float(score)))}")
    if flagged:
        parts.append(f"{flagged['pixels']} of {flagged['of']} pixels above {esc(repr(flagged['threshold']))}")
    if recorded:
        parts.append(recorded)
    return " · ".join(parts)


def recorded(case_record: bool, stored: str | None, computed: str | None) -> str:
    """How the pixels SHA-256 stated (computed from the stored map now) stands to the one the case recorded
    when it stored the map. The case's audit log vouches for the map FILE's SHA-256 (checked by verify);
    a record stored before the case kept the pixel hash has none, and the report says so."""
    if not case_record or not computed:
        return ""
    if not stored:
        return ("pixels SHA-256 not recorded in the case (stored before the case kept it): computed from the "
                "stored map, whose file SHA-256 verify checks")
    if stored == computed:
        return "pixels SHA-256 as recorded in the case when the map was stored"
    return (f"<b>the case recorded pixels SHA-256 <font name='DeclipMono' size='7'>{esc(stored)}</font> when it "
            "stored the map: the stored map differs from it</b>")


def conditions(md: dict, layers: list) -> str:
    """What the re-run's software and numbers must be for equal maps, as `declip --version` and results.json
    state them (a CPU without native bfloat16 runs --precision fast in float32, for example)."""
    v = md.get("versions") if isinstance(md.get("versions"), dict) else {}
    parts = [f"declip --version: declip {v['app']}"] if v.get("app") else []
    run = [f"device_name {md['device_name']}" if md.get("device_name") else "",
           f"dtype {md['dtype']}" if md.get("dtype") else "",
           f"decoder_dtype {md['decoder_dtype']}" if md.get("decoder_dtype") else "",
           f"torch {v['torch']}" if v.get("torch") else ""]
    run += cpu_conditions(md, layers)
    if any(run):
        parts.append("in results.json: " + ", ".join(x for x in run if x))
    methods = [f"{p.layer} {p.metadata.get('method_version')}" for p in layers
               if not p.error and p.metadata.get("method_version")]
    if methods:
        parts.append("layer method_version: " + ", ".join(methods))
    return " · ".join(parts) or "not recorded with the result"


def _recorded_cpu(md: dict, layers: list) -> tuple[bool, dict | None, bool]:
    """(a CPU computed the learned map, the CPU recorded with the result or a pinned layer, any map at all)."""
    on_cpu = is_cpu(md.get("device"))
    shown = [p for p in layers if not p.error]
    cpu = md.get("cpu") if on_cpu else next((p.metadata.get("cpu") for p in shown), None)
    return on_cpu, cpu if isinstance(cpu, dict) else None, on_cpu or bool(shown)


def cpu_conditions(md: dict, layers: list) -> list[str]:
    """What of the CPU must match: torch's kernel set (engine/cpu.py), which picks the network's kernels. The
    other vector instructions are stated on their own row (`cpu_row`): they decide bit-equality, not whether
    a re-run is valid. A result made before the CPU was recorded says so."""
    on_cpu, cpu, any_map = _recorded_cpu(md, layers)
    if not any_map:
        return []
    if cpu is None:
        return ["the CPU's model and vector instructions: not recorded with the result"]
    return [f"cpu.torch_kernels {cpu['torch_kernels']}"] if on_cpu and cpu.get("torch_kernels") else []


def cpu_row(md: dict, layers: list) -> str | None:
    """The recorded CPU and what another one changes. OpenCV (the layers) and oneDNN (the network) choose their
    kernels by the vector instructions, so a CPU with others can change the last bits of a map: its pixel hash
    then differs though the analysis is the same. clones' keypoints can move more; `declip validate` allows
    0.25 there against 0.001-0.002 for the other maps."""
    _, cpu, any_map = _recorded_cpu(md, layers)
    if not any_map or cpu is None:
        return None
    ext = " ".join(str(x) for x in cpu.get("vector_extensions") or []) or "none known"
    model = f"{cpu['model']}; " if cpu.get("model") else ""
    return (f"{model}cpu.vector_extensions {ext}. The same extensions give bit-equal maps. With others a map's last "
            f"bits can change (its pixel hash then differs, its score and flagged pixels by little or nothing), and "
            f"clones' pairs can differ more; 'declip validate' on that machine shows by how much.")


def rows(f: Any, layers: list) -> list[tuple[str, Any]]:
    """The item's 'How to reproduce' rows: the command, then what each map must give."""
    args, problems = command(f, layers)
    stem = PurePath(f.item.file_name).stem or "image"
    out: list[tuple[str, Any]] = [("Command", X(command_markup(args), "cell"))]
    for why in problems:
        out.append(("Not exact", f"{why}: state it by hand before comparing"))
    md = f.metadata or {}
    if md.get("model_id"):
        out.append(("Model check", X(f"<font name='DeclipMono' size='7'>declip models verify "
                                     f"{esc(shlex.quote(str(md['model_id'])))}</font> re-hashes its weights; they must "
                                     "equal the weights SHA-256 above", "cell")))
    out.append(("Must match", conditions(md, layers)))
    cpu_text = cpu_row(md, layers)
    if cpu_text:
        out.append(("CPU recorded", cpu_text))
    if f.analysed:
        note = recorded(getattr(f.item, "case_record", False), getattr(f.item, "recorded_pixels_sha256", None),
                        f.pixels_sha256)
        out.append(("Learned map", X(expected(f"{OUT}/{f.item.item_id}/{stem}.prob.png", f.pixels_sha256, f.score,
                                              f.flagged_pixels, note), "cell")))
    else:  # the command still runs the default model beside the layers; the report states no map of it
        out.append(("Learned map", "none in this report for this item: the run's .prob.png is not compared"))
    for p in layers:
        if p.error:
            continue
        note = recorded(getattr(p, "case_record", False), getattr(p, "recorded_pixels_sha256", None), p.pixels_sha256)
        out.append((f"Layer {p.layer}", X(expected(f"{OUT}/{f.item.item_id}/{stem}.{p.layer}.png", p.pixels_sha256,
                                                   p.score, p.flagged_pixels, note), "cell")))
    out.append(("How to compare", "with results.json in that folder (map_pixels_sha256, score, flagged_pixels; the "
                                  "layers under outputs.evidence): see \"Independent verification\", after the "
                                  "items"))
    return out
