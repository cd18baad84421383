"""Colour maps for the viewer: the engine's tables (`engine.overlay`), so the GUI, the CLI and
the report share one look. Pure numpy, no Qt."""
from __future__ import annotations

import numpy as np

from engine import overlay as _overlay

MASK_COLOUR = tuple(_overlay.MASK_COLOUR)


def names() -> list[str]:
    return list(_overlay.COLORMAPS)


def lut(name: str) -> np.ndarray:
    """(256, 3) uint8 table; unknown names fall back to inferno."""
    try:
        return _overlay.lut(name)
    except ValueError:
        return _overlay.lut("inferno")


def is_color_blind_safe(name: str) -> bool:
    return name in _overlay.COLORBLIND_SAFE
