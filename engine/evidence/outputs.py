"""Writing evidence layers next to the learned map's outputs (`declip analyze --evidence`)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from ..errors import DeclipError


def layers_arg(text: str) -> list[str]:
    """argparse type for --evidence: 'ela,ghost' or 'all'; an unknown name is a usage error (exit 2)."""
    from . import parse_layers

    try:
        return parse_layers(text)
    except DeclipError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def output_suffixes() -> tuple[str, ...]:
    from . import LAYER_NAMES

    return tuple(f".{n}.png" for n in LAYER_NAMES)


def without_name(message: str, name: str | None) -> str:
    """A layer's refusal without the file name it starts with, for a line that already names the file."""
    prefix = f"{name}: " if name else None
    return message[len(prefix):] if prefix and message.startswith(prefix) else message


def write_layers(loaded, stem: str, out: Path, names: list[str], say: Callable[[str], None],
                 params: dict[str, dict] | None = None) -> dict:
    """Run each named layer on one loaded image and write `<stem>.<layer>.png` (16-bit map).
    params: {layer: {key: value}} beside each layer's defaults (`--evidence-param`).

    Returns {layer: {"map": file name, "score", "threshold", "map_pixels_sha256", "flagged_pixels", "parameters",
    "metadata"}} or
    {layer: {"error": one line}} for a layer that cannot apply (it does not fail the image), with
    "failed": true when the layer broke on the image (LayerFailed: the run's exit status says so)."""
    from . import run_many
    from ..mapio import write_map

    record: dict[str, dict] = {}
    for name, res in run_many(names, loaded, params=params).items():
        if isinstance(res, DeclipError):
            from . import LayerFailed

            record[name] = {"error": str(res), **({"failed": True} if isinstance(res, LayerFailed) else {})}
            said = "FAILED" if isinstance(res, LayerFailed) else "not applicable"
            say(f"  {loaded.name}: {name}: {said}: {without_name(str(res), loaded.name)}")
            continue
        file_name = f"{stem}.{name}.png"
        try:
            # quantised once, for the file, its pixel hash and its flagged pixels
            described = write_map(out / file_name, res.probability, res.metadata["default_threshold"])
        except OSError as exc:
            record[name] = {"error": f"{out / file_name}: cannot write ({exc.strerror or exc})"}
            say(f"declip: error: {record[name]['error']}")
            continue
        md = res.metadata
        record[name] = {"map": file_name, "score": res.score, "threshold": md["default_threshold"],
                        "flagged_fraction": res.flagged_fraction(md["default_threshold"]),
                        # what a report states of a stored layer map, whatever PNG compressor wrote it
                        **described,
                        "parameters": md["parameters"], "metadata": md}
    return record
