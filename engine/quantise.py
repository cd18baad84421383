"""Probabilities 0..1 -> integer levels, a band of rows at a time (the 16-bit stored map, the 8-bit
display map). On a 12 MP map whole-image float temporaries (48-96 MB each) cost more in page faults
and memory traffic than in arithmetic; a band's temporaries stay in the CPU cache. The steps and the
working precision are those of the whole-image formula clip(rint(prob * top), 0, top), so the result
is the same to the bit."""
from __future__ import annotations

import numpy as np

BAND_ROWS = 64


def quantise(prob, top: int, work: type, out: type) -> np.ndarray:
    """clip(rint(prob * top), 0, top) computed in the float type `work`, returned as `out`."""
    prob = np.asarray(prob)
    scale = work(top)
    if prob.ndim != 2:
        return np.clip(np.rint(np.asarray(prob, work) * scale), 0, top).astype(out)
    result = np.empty(prob.shape, out)
    buf = np.empty((min(BAND_ROWS, prob.shape[0]), prob.shape[1]), work)
    for y in range(0, prob.shape[0], BAND_ROWS):
        f = buf[: min(BAND_ROWS, prob.shape[0] - y)]
        np.multiply(prob[y:y + BAND_ROWS], scale, out=f, dtype=work)  # the input is cast to `work` first
        np.rint(f, out=f)
        np.clip(f, 0, top, out=f)
        np.copyto(result[y:y + BAND_ROWS], f, casting="unsafe")
    return result
