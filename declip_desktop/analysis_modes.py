"""The analysis modes the GUI offers, named for what they do, and the working resolution each
gives an image (with a time estimate for full resolution). Pure Python, no Qt.

`tiled` lets the engine pick a working scale that keeps the long side at most 1024 px and the
short side at least one window (a 24 MP photo is analysed at about a sixth of its size, a 451 x 300
one is enlarged 1.5x); `tiled-full` runs the same windows at the photo's own pixels (scale 1), stored
as its own analysis so both can be kept and compared. The names say "working size" and "original
pixels", not "reduced" and "full resolution": the working size enlarges small photos, so for them
the original-pixels mode is the smaller of the two.
"""
from __future__ import annotations

from engine.tiling import plan_tiles

MODES = [
    ("paper", "Whole image, resized (paper)"),
    ("tiled", "Tiled, working size (long side ≤ 1024 px)"),
    ("tiled-full", "Tiled, original pixels (slow on large photos)"),
]
LABELS = dict(MODES)
# What each mode does, in full (the combo's item tooltips: the dock is too narrow for this)
DESCRIPTIONS = {
    "paper": "The whole image resized to the model's square input (448 x 448 for DeCLIP), as in the paper: "
             "fast, and coarse on large photos.",
    "tiled": "Overlapping windows over a working copy whose long side is at most 1024 px and whose short side is "
             "at least one window (448 px): large photos are reduced, small ones are enlarged.",
    "tiled-full": "Overlapping windows over the photo at its own pixels (scale 1): the finest map of a large photo, "
                  "and the slowest. A photo smaller than the working size is analysed at fewer pixels here than "
                  "in the working-size mode.",
}


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
    how = ("enlarged to" if plan.scale > 1.0005 else "reduced to" if plan.scale < 0.9995 else "analysed at")
    text = f"{width} x {height} {how} {plan.scaled_w} x {plan.scaled_h} (scale {plan.scale:.2f}), {n} windows"
    if mode == "tiled-full":
        factor = n / max(1, len(reduced.boxes))
        if factor >= 1.5:
            text += f", about {factor:.0f}x the working-size tiled time"
        if seconds_per_window:
            text += f" (≈ {_duration(n * seconds_per_window)} on this machine)"
        if reduced.scale > 1.0005:  # the working size enlarges this photo: its own pixels are fewer
            text += f"; the working-size mode enlarges it to {reduced.scaled_w} x {reduced.scaled_h}"
    return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"
