"""Colour maps for the viewer: the engine's tables (`engine.overlay`), so the GUI, the CLI and
the report share one look. Pure numpy, no Qt."""
from __future__ import annotations

import numpy as np

from engine import overlay as _overlay

MASK_COLOUR = tuple(_overlay.MASK_COLOUR)


def names() -> list[str]:
    return list(_overlay.COLORMAPS)


def known(name: str) -> str:
    """`name`, or inferno for a colour map this version lacks (an older or hand-edited case), so
    the viewer and the report show such a case alike instead of failing."""
    return name if name in _overlay.COLORMAPS else "inferno"


def lut(name: str) -> np.ndarray:
    """(256, 3) uint8 table of `known(name)`."""
    return _overlay.lut(known(name))


def is_color_blind_safe(name: str) -> bool:
    return name in _overlay.COLORBLIND_SAFE
