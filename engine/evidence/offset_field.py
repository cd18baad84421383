"""A vectorised PatchMatch (Barnes et al. 2009) over per-pixel feature vectors: for every pixel, an
offset to a far pixel with similar features. Shared by the dense clone detector (rotation-invariant
features, affine hypotheses) and its fill stage (raw patches, translations only)."""
from __future__ import annotations

import numpy as np


class OffsetField:
    """The PatchMatch state: offsets (dy, dx) and their costs, for every pixel."""

    def __init__(self, feats: np.ndarray, min_distance: float, rng: np.random.Generator):
        self.f = feats.reshape(-1, feats.shape[2])
        self.h, self.w = feats.shape[:2]
        self.min_d2 = float(min_distance) ** 2
        self.yy, self.xx = np.mgrid[0:self.h, 0:self.w].astype(np.int32)
        self.rng = rng
        dy = rng.integers(-self.h + 1, self.h, size=(self.h, self.w)).astype(np.int32)
        dx = rng.integers(-self.w + 1, self.w, size=(self.h, self.w)).astype(np.int32)
        self.dy, self.dx = dy, dx
        self.cost = self.evaluate(dy, dx)

    def evaluate(self, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
        ty, tx = self.yy + dy, self.xx + dx
        ok = (ty >= 0) & (ty < self.h) & (tx >= 0) & (tx < self.w)
        ok &= (dy * dy + dx * dx) >= self.min_d2
        idx = ty * self.w + tx
        idx[~ok] = 0
        diff = np.take(self.f, idx.ravel(), axis=0)
        diff -= self.f
        cost = np.einsum("ij,ij->i", diff, diff).reshape(self.h, self.w)
        cost[~ok] = np.inf
        return cost

    def offer(self, dy: np.ndarray, dx: np.ndarray) -> None:
        c = self.evaluate(dy, dx)
        better = c < self.cost
        np.copyto(self.dy, dy, where=better)
        np.copyto(self.dx, dx, where=better)
        np.copyto(self.cost, c, where=better)

    @staticmethod
    def shifted(a: np.ndarray, sy: int, sx: int) -> np.ndarray:
        """a taken from the neighbour at (y - sy, x - sx), edges repeated."""
        h, w = a.shape
        ys = np.clip(np.arange(h) - sy, 0, h - 1)
        xs = np.clip(np.arange(w) - sx, 0, w - 1)
        return a[ys][:, xs]

    def propagate(self, sign: int) -> None:
        for k in (1, 4, 16):
            for sy, sx in ((sign * k, 0), (0, sign * k)):
                self.offer(self.shifted(self.dy, sy, sx), self.shifted(self.dx, sy, sx))
        for sy, sx in ((sign, 0), (0, sign)):   # first order: d(p-e) + (d(p-e) - d(p-2e))
            d1y, d1x = self.shifted(self.dy, sy, sx), self.shifted(self.dx, sy, sx)
            d2y, d2x = self.shifted(self.dy, 2 * sy, 2 * sx), self.shifted(self.dx, 2 * sy, 2 * sx)
            self.offer(2 * d1y - d2y, 2 * d1x - d2x)

    def random_search(self) -> None:
        radius = max(self.h, self.w)
        while radius >= 1:
            ry = self.rng.integers(-radius, radius + 1, size=(self.h, self.w)).astype(np.int32)
            rx = self.rng.integers(-radius, radius + 1, size=(self.h, self.w)).astype(np.int32)
            self.offer(self.dy + ry, self.dx + rx)
            radius //= 2
