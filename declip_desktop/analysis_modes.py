"""The analysis modes the GUI offers, named for what they do, and the working resolution each
gives an image (with a time estimate for full resolution). Pure Python, no Qt.

`tiled` lets the engine pick a working scale that keeps the long side at most 1024 px (a 24 MP
photo is analysed at about a sixth of its size); `tiled-full` runs the same windows at the
photo's own resolution, stored as its own analysis so both can be kept and compared.
"""
from __future__ import annotations

from engine.tiling import plan_tiles

MODES = [
    ("paper", "Whole image, resized (paper)"),
    ("tiled", "Tiled, reduced (long side ≤ 1024 px)"),
    ("tiled-full", "Tiled, full resolution (slow)"),
]
LABELS = dict(MODES)


def engine_args(mode: str) -> tuple[str, dict]:
    """(the engine's mode, extra analyze() arguments) for a GUI mode."""
    if mode == "tiled-full":
        return "tiled", {"tile_scale": 1.0}
    return mode, {}


def label(mode: str | None) -> str:
    return LABELS.get(mode or "", mode or "—")


def working_resolution(width: int | None, height: int | None, mode: str, input_size: int = 448,
                       seconds_per_window: float | None = None) -> str:
    """One line: the size the model sees in `mode` for a width x height image, and the cost."""
    if not width or not height:
        return ""
    if mode == "paper":
        return f"{width} x {height} analysed as one {input_size} x {input_size} image"
    try:
        reduced = plan_tiles(width, height, tile=input_size)
        plan = plan_tiles(width, height, tile=input_size, scale=1.0) if mode == "tiled-full" else reduced
    except Exception as exc:  # too large or too elongated: the engine refuses it the same way
        return f"{width} x {height}: {exc}"
    n = len(plan.boxes)
    text = (f"{width} x {height} analysed at {plan.scaled_w} x {plan.scaled_h} "
            f"(scale {plan.scale:.2f}), {n} windows")
    if mode == "tiled-full":
        factor = n / max(1, len(reduced.boxes))
        text += f", about {factor:.0f}x the reduced tiled time"
        if seconds_per_window:
            text += f" (≈ {_duration(n * seconds_per_window)} on this machine)"
    return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"
