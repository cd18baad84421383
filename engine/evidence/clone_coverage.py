"""Where `clones` can look: the parts of an image too flat for a copy to be confirmed.

Research round 8 (research/README.md): on 76 copy-moves of four own sets, no copy whose source had fine
detail below DETAIL_FLOOR was found (0 of 16), and 59 of the 60 above it were. After JPEG, a copy of content
that flat (sky, walls, gradients, clipped highlights) is no different from the flat content around it, so
"no copy found" there says nothing. Each `clones` result records those cells (details.flat_cells), their
share of the image and a sentence for the examiner; the viewer hatches them and the report's mask greys them.
"""
from __future__ import annotations

import numpy as np

# mean |luma - its Gaussian blur (sigma 2 px)| in grey levels, at the detector's working scale
DETAIL_FLOOR = 0.8
FLAT_CELL = 32   # px at the working scale: about the smallest copy the detectors confirm (min_area 300)


def flat_cells(gray: np.ndarray, cell: int = FLAT_CELL, floor: float = DETAIL_FLOOR) -> tuple[np.ndarray, float]:
    """(rows x cols bool grid of the cells whose fine detail is below `floor`, the share of the image's
    area they cover). Edge cells smaller than `cell` count by their own area."""
    import cv2

    g = gray.astype(np.float32)
    hp = np.abs(g - cv2.GaussianBlur(g, (0, 0), 2))
    h, w = hp.shape
    ys, xs = np.arange(0, h, cell), np.arange(0, w, cell)
    sums = np.add.reduceat(np.add.reduceat(hp, ys, axis=0), xs, axis=1)
    area = np.outer(np.diff(np.append(ys, h)), np.diff(np.append(xs, w)))
    flat = sums < floor * area
    return flat, float(area[flat].sum() / (h * w))


def coverage(gray: np.ndarray, method: str = "keypoints") -> tuple[dict, list[str]]:
    """The details entries and the note of a clones result, from its working image."""
    grid, share = flat_cells(gray)
    cells = {"cell": FLAT_CELL, "working_shape": [int(gray.shape[0]), int(gray.shape[1])],
             "grid_shape": [int(grid.shape[0]), int(grid.shape[1])], "bits": np.packbits(grid.ravel()).tobytes().hex()}
    return {"flat_share": round(share, 4), "detail_floor": DETAIL_FLOOR, "flat_cells": cells}, [flat_note(share, method=method)]


def _grid(details: dict) -> tuple[np.ndarray, int, int, int] | None:
    """(grid, cell, working height, working width) of a result's flat cells, or None."""
    cells = (details or {}).get("flat_cells")
    try:
        rows, cols = (int(v) for v in cells["grid_shape"])
        wh, ww = (int(v) for v in cells["working_shape"])
        cell = int(cells["cell"])
        bits = np.unpackbits(np.frombuffer(bytes.fromhex(cells["bits"]), np.uint8))[: rows * cols]
        if rows < 1 or cols < 1 or cell < 1 or wh < 1 or ww < 1:
            return None
        return bits.reshape(rows, cols).astype(bool), cell, wh, ww
    except (TypeError, KeyError, ValueError, AttributeError):   # stored before coverage was recorded, or damaged
        return None


def flat_mask(details: dict, height: int, width: int) -> np.ndarray | None:
    """The flat cells as a bool HxW mask at the image's size, or None when the result has none."""
    got = _grid(details)
    if got is None:
        return None
    grid, cell, wh, ww = got
    yi = np.minimum((np.arange(height) * wh // max(height, 1)) // cell, grid.shape[0] - 1)
    xi = np.minimum((np.arange(width) * ww // max(width, 1)) // cell, grid.shape[1] - 1)
    return grid[yi][:, xi]


def flat_rects(details: dict, height: int, width: int) -> list[tuple[float, float, float, float]]:
    """The flat cells as image-pixel rectangles (x0, y0, x1, y1), each row's runs of cells merged."""
    got = _grid(details)
    if got is None:
        return []
    grid, cell, wh, ww = got
    sy, sx = height / max(wh, 1), width / max(ww, 1)
    rects = []
    for r in range(grid.shape[0]):
        row = np.concatenate([[False], grid[r], [False]])
        edges = np.flatnonzero(row[1:] != row[:-1])
        for c0, c1 in zip(edges[0::2], edges[1::2]):
            rects.append((c0 * cell * sx, r * cell * sy, min(c1 * cell, ww) * sx, min((r + 1) * cell, wh) * sy))
    return rects


def flat_note(share: float, floor: float = DETAIL_FLOOR, method: str = "keypoints") -> str:
    """The per-image sentence for the examiner (metadata notes, the viewer, the report). Only `keypoints`
    can confirm a flat copy (by pixel values, when many matches agree); `dense` cannot."""
    if share < 0.005:
        return (f"No part of this image is too flat for a copy to be confirmed (fine detail at least {floor:g} grey "
                f"levels everywhere).")
    return (f"{100 * share:.0f} % of this image (hatched in the viewer, grey in the report's mask) is too flat for a "
            f"copy to be confirmed by correlation (fine detail below {floor:g} grey levels: smooth sky, walls, gradients, "
            f"clipped highlights); "
            + ("a copy there is found only when many keypoint matches agree on it (such a pair is 'confirmed by "
               "equal pixel values')" if method == "keypoints" else
               "the dense method finds no copy there (the keypoints method can, when many of its matches agree)")
            + ", so finding no copy there is no evidence that none was made.")
