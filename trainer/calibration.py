"""Calibration of a decoder's output logit on validation images, folded into its final layer.

A constant shift (--calibrate-bias) puts the best-IoU threshold at p = 0.5; a scale
(--calibrate-scale, temperature scaling with logit 0 fixed) makes the probabilities match how
often pixels at that probability are manipulated. Both are folded into the last conv or linear
layer, so the engine needs nothing extra to run a calibrated model.
"""
from __future__ import annotations

import torch


def fold_logit_shift(dec: torch.nn.Module, shift: float) -> None:
    """Add a constant to the decoder's output logit (its last conv or linear bias), in place."""
    final = [m for m in dec.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))][-1]
    with torch.no_grad():
        final.bias += shift


def fold_logit_scale(dec: torch.nn.Module, scale: float) -> None:
    """Multiply the decoder's output logit by `scale`, in place (its last conv or linear layer; what
    follows it, bilinear upsampling, is linear)."""
    final = [m for m in dec.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))][-1]
    with torch.no_grad():
        final.weight *= scale
        final.bias *= scale


CALIBRATION_SHIFTS = torch.arange(-6.0, 6.01, 0.25)  # constant logit shifts tried by --calibrate-bias
CLEAN_FRACTION = 0.01  # an authentic image with at most this share of pixels predicted counts as clean


def authentic_rows(masks: torch.Tensor) -> torch.Tensor:
    """(N,) True where a mask (N, H, W, uint8) marks nothing (> 127 nowhere): an authentic image."""
    return (masks > 127).flatten(1).sum(1) == 0


def iou_by_shift(logits: torch.Tensor, masks: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """(N, len(shifts)) IoU x 100 of each (256x256) logit map + shift > 0 against its uint8 mask > 127:
    the trainer's validation IoU at each constant shift. An empty mask (an authentic image) scores 100
    when at most CLEAN_FRACTION of its pixels are predicted, else 0: the rule `declip evaluate` uses to
    count an authentic image as flagged, so one stray pixel does not count as a false alarm.

    Counted in one pass, not one pass per shift (member selection scores hundreds of pools): each
    pixel is binned by how many thresholds -shift lie strictly below its logit (logit + shift > 0
    exactly when logit > -shift), and the counts above each threshold are suffix sums of the bins.
    """
    x = logits.flatten(1).float()
    gt = (masks > 127).flatten(1)
    empty = authentic_rows(masks).unsqueeze(1)
    n, s = x.shape[0], len(shifts)
    thresholds, order = torch.sort(-shifts.float())
    bins = torch.bucketize(x, thresholds) + torch.arange(n).unsqueeze(1) * (s + 1)  # bin b: above b thresholds

    def above(sel: torch.Tensor) -> torch.Tensor:  # (n, s): pixels above each sorted threshold
        hist = torch.bincount(sel, minlength=n * (s + 1)).view(n, s + 1)
        return hist.flip(1).cumsum(1).flip(1)[:, 1:]

    pred, inter = above(bins.flatten()), above(bins[gt])
    union = (pred + gt.sum(1, keepdim=True) - inter).float()
    iou = torch.where(union > 0, inter.float() / union.clamp(min=1) * 100, torch.full_like(union, 100.0))
    clean = (pred.float() <= CLEAN_FRACTION * x.shape[1]).float() * 100
    iou = torch.where(empty, clean, iou)
    out = torch.empty_like(iou)
    out[:, order] = iou
    return out


# A finer grid for a threshold held to an authentic-image budget: near a decoder's largest logits a
# quarter of a logit can flag a fifth of the authentic images (research/default-model-log.md, round 31).
BUDGET_SHIFTS = torch.arange(-6.0, 6.001, 0.05)


def budget_shift(ious: torch.Tensor, authentic: torch.Tensor, budget: float) -> tuple[int, float, int]:
    """Round 31's rule: among the shifts (columns of iou_by_shift's (N, S) table) that flag at most
    `budget` of the authentic rows, the one with the highest mean IoU on the other rows; a tie (e.g.
    nothing found anywhere) goes to the lowest shift. Returns (column, that IoU, authentic images flagged).
    Raises ValueError when there are no authentic rows, or no manipulated ones."""
    authentic = authentic.bool()
    n_auth = int(authentic.sum())
    if n_auth == 0 or n_auth == len(authentic):
        raise ValueError("an authentic-image budget needs authentic and manipulated validation images")
    flagged = (ious[authentic] < 50).sum(0)  # an authentic row scores 100 when clean, else 0
    allowed = flagged <= int(budget * n_auth + 1e-9)
    edits = ious[~authentic].mean(0)
    score = torch.where(allowed, edits, torch.full_like(edits, -1.0))
    best = int(torch.nonzero(score == score.max())[0])  # the first (lowest) of the best shifts
    return best, float(edits[best]), int(flagged[best])


def fit_logit_scale(logits: torch.Tensor, targets: torch.Tensor, iterations: int = 50) -> float:
    """The factor a with the least mean BCE of sigmoid(a * logits) against targets in [0, 1]:
    temperature scaling with the decision boundary (logit 0) fixed, so masks at 0.5 do not change.
    The loss is convex in a; Newton's method from a = 1."""
    x, y = logits.double().flatten(), targets.double().flatten()
    a = 1.0
    for _ in range(iterations):
        p = torch.sigmoid(a * x)
        grad = float(((p - y) * x).mean())
        hess = float((p * (1 - p) * x * x).mean())
        if hess <= 1e-12:
            break
        step = grad / hess
        a = min(max(a - step, 0.05), 20.0)
        if abs(step) < 1e-6:
            break
    return a
