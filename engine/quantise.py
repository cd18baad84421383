"""Probabilities 0..1 -> integer levels, a band of rows at a time (the 16-bit stored map, the 8-bit
display map). On a 12 MP map whole-image float temporaries (48-96 MB each) cost more in page faults
and memory traffic than in arithmetic; a band's temporaries stay in the CPU cache. The steps and the
working precision are those of the whole-image formula clip(rint(prob * top), 0, top), so the result
is the same to the bit."""
from __future__ import annotations

import numpy as np

from .bands import in_bands

BAND_ROWS = 64


def quantise(prob, top: int, work: type, out: type) -> np.ndarray:
    """clip(rint(prob * top), 0, top) computed in the float type `work`, returned as `out`."""
    prob = np.asarray(prob)
    scale = work(top)
    if prob.ndim != 2:
        return np.clip(np.rint(np.asarray(prob, work) * scale), 0, top).astype(out)
    result = np.empty(prob.shape, out)
    in_bands(lambda y0, y1: _rows(prob, scale, top, work, result, y0, y1), prob.shape[0])  # two cores
    return result


def _rows(prob: np.ndarray, scale, top: int, work: type, result: np.ndarray, y0: int, y1: int) -> None:
    buf = np.empty((min(BAND_ROWS, y1 - y0), prob.shape[1]), work)
    for y in range(y0, y1, BAND_ROWS):
        rows = slice(y, min(y + BAND_ROWS, y1))
        f = buf[: rows.stop - y]
        np.multiply(prob[rows], scale, out=f, dtype=work)  # the input is cast to `work` first
        np.rint(f, out=f)
        np.clip(f, 0, top, out=f)
        np.copyto(result[rows], f, casting="unsafe")
