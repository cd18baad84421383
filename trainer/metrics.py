"""Localisation and detection metrics, exactly as DeCLIP reports them.

All localisation metrics are computed per image and then averaged over images (the paper's
protocol), on maps already brought to the ground-truth size. Percentages (0..100) throughout.
"""
from __future__ import annotations

import numpy as np

THRESHOLD = 0.5


def _binary(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float32) > THRESHOLD


def iou(pred: np.ndarray, gt: np.ndarray, threshold: float = THRESHOLD) -> float:
    """IoU x 100 of pred > t against gt > 0.5; both empty counts as a perfect 100."""
    p = np.asarray(pred, dtype=np.float32) > threshold
    g = _binary(gt)
    union = np.logical_or(p, g).sum()
    if union == 0:
        return 100.0
    return float(np.logical_and(p, g).sum() / union * 100.0)


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """AP x 100 (area under the step precision-recall curve, as sklearn's average_precision_score).

    Ties are handled by grouping equal scores, so the value does not depend on pixel order.
    NaN when there is no positive (AP is undefined then; callers skip such images).
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    npos = int(y.sum())
    if npos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    # keep only the last index of each run of equal scores (one threshold per distinct score)
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tp, fp = tp[last], fp[last]
    precision = tp / (tp + fp)
    recall = tp / npos
    recall_prev = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - recall_prev) * precision) * 100.0)


def pixel_ap(pred: np.ndarray, gt: np.ndarray) -> float:
    """Per-image pixel AP x 100 (NaN if the image has no manipulated pixel)."""
    return average_precision(pred, _binary(gt))


def _square_morph(mask: np.ndarray, size: int, op: str) -> np.ndarray:
    """Binary erosion/dilation with a size x size square (separable max/min filters)."""
    from scipy import ndimage

    fn = ndimage.binary_erosion if op == "erode" else ndimage.binary_dilation
    # erosion: pixels outside the image count as background (border_value=0), like cv2's default
    return fn(mask, structure=np.ones((size, size), bool), border_value=0)


def ignore_band(gt: np.ndarray, erode: int = 15, dilate: int = 11) -> np.ndarray:
    """TruFor protocol: pixels between the eroded and the dilated gt are not scored (True = scored)."""
    g = _binary(gt)
    inner = _square_morph(g, erode, "erode")
    outer = _square_morph(g, dilate, "dilate")
    band = outer & ~inner
    return ~band


def _f1(p: np.ndarray, g: np.ndarray) -> float:
    tp = np.logical_and(p, g).sum()
    denom = p.sum() + g.sum()
    if denom == 0:
        return 100.0  # nothing predicted, nothing to find
    return float(2.0 * tp / denom * 100.0)


def f1_fixed(pred: np.ndarray, gt: np.ndarray, threshold: float = THRESHOLD, band: bool = True) -> float:
    """F1 x 100 at a fixed threshold, TruFor ignore band applied when band=True."""
    keep = ignore_band(gt) if band else np.ones(np.shape(gt), bool)
    p = np.asarray(pred, dtype=np.float32)[keep] > threshold
    return _f1(p, _binary(gt)[keep])


def f1_best(pred: np.ndarray, gt: np.ndarray, band: bool = True) -> float:
    """Best F1 x 100 over all thresholds (each distinct predicted value), with the ignore band."""
    keep = ignore_band(gt) if band else np.ones(np.shape(gt), bool)
    s = np.asarray(pred, dtype=np.float64)[keep].ravel()
    y = _binary(gt)[keep].ravel()
    npos = int(y.sum())
    if npos == 0:
        # best threshold predicts nothing above it -> perfect, as in _f1 for two empty sets
        return 100.0
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    tp = np.cumsum(y)
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]
    tp = tp[last]
    npred = last + 1
    f1 = 2.0 * tp / (npred + npos)
    return float(f1.max() * 100.0)


def localisation_metrics(pred: np.ndarray, gt: np.ndarray, threshold: float = THRESHOLD) -> dict[str, float]:
    """All per-image localisation metrics for one image (maps at the same size)."""
    if np.shape(pred) != np.shape(gt):
        raise ValueError(f"prediction {np.shape(pred)} and mask {np.shape(gt)} differ in size")
    out = {"iou": iou(pred, gt, threshold), "pixel_ap": pixel_ap(pred, gt),
           "f1": f1_fixed(pred, gt, threshold), "f1_best": f1_best(pred, gt)}
    if not _binary(gt)[ignore_band(gt)].any():
        # an edit thinner than the ignore band (or an empty mask) leaves no pixel to find: F1 is
        # undefined there (NaN, skipped in the means like pixel AP), not a perfect 100
        out["f1"] = out["f1_best"] = float("nan")
    return out


def detection_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float = THRESHOLD) -> dict[str, float]:
    """Image-level AP x 100 and accuracy x 100 at `threshold` (labels: 1 = manipulated, 0 = real)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    out = {"accuracy": float(((s > threshold) == y).mean() * 100.0) if s.size else float("nan")}
    out["ap"] = average_precision(s, y) if y.any() and (~y).any() else float("nan")
    return out


RELIABILITY_EDGES = tuple(round(0.1 * k, 1) for k in range(11))


class Reliability:
    """What a map probability means on held-out data: pixels and manipulated pixels per probability
    bin, pooled over all images (manipulated and authentic), and the highest probability seen.

    Why: a model card must say how to read the heat map (a calibrated 0.6 should be right about 60 %
    of the time); the examiner's threshold and the report's colours rest on it. Not a paper metric.
    """

    def __init__(self, edges=RELIABILITY_EDGES):
        self.edges = np.asarray(edges, dtype=np.float64)
        self.pixels = np.zeros(len(edges) - 1, dtype=np.int64)
        self.manipulated = np.zeros(len(edges) - 1, dtype=np.int64)
        self.max_probability = float("nan")

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        p = np.clip(np.asarray(pred, dtype=np.float64).ravel(), self.edges[0], self.edges[-1])
        g = _binary(gt).ravel()
        if p.shape != g.shape:
            raise ValueError(f"prediction {np.shape(pred)} and mask {np.shape(gt)} differ in size")
        # bin k holds edges[k] <= p < edges[k+1]; the last bin also holds p == edges[-1]
        k = np.clip(np.searchsorted(self.edges, p, side="right") - 1, 0, len(self.pixels) - 1)
        self.pixels += np.bincount(k, minlength=len(self.pixels))
        self.manipulated += np.bincount(k[g], minlength=len(self.pixels))
        if p.size:
            self.max_probability = float(np.nanmax([self.max_probability, p.max()]))

    @classmethod
    def from_summary(cls, d: dict) -> "Reliability":
        """Back from summary() (an evaluation JSON's metrics.reliability)."""
        rel = cls(d["edges"])
        rel.pixels[:] = d["pixels"]
        rel.manipulated[:] = d["manipulated"]
        rel.max_probability = float(d["max_probability"])
        return rel

    def precision_between(self, lo: float, hi: float = 1.0) -> float:
        """Percent of the pixels in the bins from edge lo up to edge hi that are manipulated."""
        sel = (self.edges[:-1] >= lo - 1e-9) & (self.edges[1:] <= hi + 1e-9)
        n = self.pixels[sel].sum()
        return float(self.manipulated[sel].sum() / n * 100.0) if n else float("nan")

    def precision_above(self, threshold: float) -> float:
        """Percent of the pixels at probability >= threshold (a bin edge) that are manipulated."""
        return self.precision_between(threshold, float(self.edges[-1]))

    def summary(self) -> dict:
        return {"edges": [float(e) for e in self.edges], "pixels": self.pixels.tolist(),
                "manipulated": self.manipulated.tolist(),
                "precision": [float(m / n * 100.0) if n else float("nan")
                              for m, n in zip(self.manipulated, self.pixels)],
                "max_probability": self.max_probability}


def mean_ignoring_nan(values) -> float:
    """Average of per-image values; images where a metric is undefined (NaN) are skipped."""
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else float("nan")
