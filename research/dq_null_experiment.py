#!/usr/bin/env python3
"""`dq` round 2: does a comb have to explain the histogram's fine structure, not its envelope?

    python research/dq_null_experiment.py PHOTOS_DIR SETS_DIR [--variants 1.1,S]

dq 1.1 scores a first step q1 by how much its comb r(c) raises the stored values' likelihood against
'single compression', with the comb's mean over the value range as the normaliser: a flat density.
A real histogram is peaked and, on smooth content, ragged; a comb whose dense teeth fall where the
mass happens to lie then "explains" a file saved once. Variant S normalises by the comb's mean
weighted by a smoothed copy of the histogram (Gaussian, sigma = max(1.5, q1/q2) bins, the zero bin
bridged by its neighbours): by Jensen's inequality a histogram equal to its own envelope then gains
nothing, and only teeth and gaps at the comb's own period count.

This script scores every variant at threshold 0.8 (the threshold of 1.1 and 1.2); dq 1.3's rounding model and its
threshold 0.9 come from `dq_r3b_rounding.py`.

Sets: (1) single-compressed views: each pool photo reduced by 0.5-0.8 (INTER_AREA; no earlier grid
survives) and saved once at q75, q85 and q95: every 'saved twice' claim is false; (2) SETS_DIR/dev and
SETS_DIR/check from `evidence_val_data.py --ghosts` (pastes, regions recompressed on the grid,
authentic): IoU on the edits and authentic images flagged at the layer's threshold 0.8.
"""
from __future__ import annotations

import argparse
import glob
import io
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import evidence  # noqa: E402
from engine.evidence import dq  # noqa: E402



def histogram_start(hist: np.ndarray, q2: int, cmax: int):
    """What every fit starts from, as dq does: the non-zero values seen, their counts, their total, and
    'no comb' (q1 = q2, gain 0)."""
    vals = np.arange(-cmax, cmax + 1)
    use = (vals != 0) & (hist > 0)
    h = hist[use].astype(np.float64)
    return use, h, h.sum(), (q2, 0.0, 0.0, np.ones_like(hist, np.float64))


def fit_against(hist, q2, cmax, max_q1, floor, envelope=None):
    """The first step q1 whose comb gains most over 'single compression'. The comb's normaliser is its mean
    over the values seen (1.1's, envelope None) or its mean weighted by envelope(hist, q1 / q2)."""
    use, h, total, best = histogram_start(hist, q2, cmax)
    if total < 50:
        return best
    for q1 in range(q2 + 1, max_q1 + 1):
        r = dq.comb(q1, q2, cmax)
        if np.allclose(r[use], r[use].mean()):
            continue
        rr = np.clip(r[use], floor, None)
        a, mix = em_share(h, rr, total)
        if envelope is None:
            norm = np.mean(mix)
        else:
            env = envelope(hist, q1 / q2)
            norm = ((env[use] / env[use].sum()) * mix).sum()
        gain = float((h * np.log(mix)).sum() / total - np.log(norm))
        if gain > best[2]:
            best = (q1, a, gain, np.clip(r, floor, None))
    return best


def fit_11(hist, q2, cmax, max_q1, floor, rounding=0.0):
    """dq 1.1's choice of the first step, as it was (the product's `_fit` is 1.3 now)."""
    return fit_against(hist, q2, cmax, max_q1, floor)


ORIGINAL_FIT = fit_11
DOUBLE: dict = {}



def em_share(h: np.ndarray, rr: np.ndarray, total: float) -> tuple[float, np.ndarray]:
    """The share a of once-compressed values by EM (15 rounds, as dq does) and the mixture (1 - a) r + a."""
    a = 0.2
    for _ in range(15):
        post = a / (a + (1 - a) * rr)
        a = float(np.clip((h * post).sum() / total, 1e-3, 0.999))
    return a, (1 - a) * rr + a


def gaussian_envelope(hist: np.ndarray, period: float) -> np.ndarray:
    """`S`: the counts smoothed by a Gaussian of max(1.5, period) bins, the zero bin bridged by its neighbours."""
    cmax = len(hist) // 2
    bridged = hist.astype(np.float64).copy()
    bridged[cmax] = 0.5 * (bridged[cmax - 1] + bridged[cmax + 1])   # the zero bin is left out of the fit
    return cv2.GaussianBlur(bridged.reshape(1, -1), (0, 0), sigmaX=max(1.5, period),
                            borderType=cv2.BORDER_REPLICATE).ravel()


def smooth_fit(hist, q2, cmax, max_q1, floor, rounding=0.0):
    return fit_against(hist, q2, cmax, max_q1, floor, gaussian_envelope)



def log_envelope(hist: np.ndarray, cmax: int, period: float) -> np.ndarray:
    """Each side's counts (|c| >= 1) by a local straight line in log counts (Savitzky-Golay, order 1, a window
    of at least two comb periods): a Laplacian's exponential fall is kept, and a comb's teeth and gaps,
    shorter than the window, are not."""
    from scipy.signal import savgol_filter

    win = max(5, 2 * int(np.ceil(period)) + 1)
    env = np.zeros(hist.shape, np.float64)
    pos = np.log(hist[cmax + 1:].astype(np.float64) + 0.5)
    neg = np.log(hist[:cmax][::-1].astype(np.float64) + 0.5)
    env[cmax + 1:] = np.exp(savgol_filter(pos, min(win, len(pos) - (1 - len(pos) % 2)), 1, mode="interp"))
    env[:cmax] = np.exp(savgol_filter(neg, min(win, len(neg) - (1 - len(neg) % 2)), 1, mode="interp"))[::-1]
    return env


def log_fit(hist, q2, cmax, max_q1, floor, rounding=0.0):
    return fit_against(hist, q2, cmax, max_q1, floor, lambda hist, period: log_envelope(hist, len(hist) // 2, period))



def envelope_gain(hist, q1, q2, cmax, a, floor) -> float:
    """The gain of comb q1 (share a) against the histogram's own log envelope (as `log_fit`)."""
    vals = np.arange(-cmax, cmax + 1)
    use = (vals != 0) & (hist > 0)
    h = hist[use].astype(np.float64)
    env = log_envelope(hist, cmax, q1 / q2)
    w = env[use] / env[use].sum()
    mix = (1 - a) * np.clip(dq.comb(q1, q2, cmax)[use], floor, None) + a
    return float((h * np.log(mix)).sum() / h.sum() - np.log((w * mix).sum()))


def guarded_fit(hist, q2, cmax, max_q1, floor, rounding=0.0):
    """1.1's choice of q1, kept only as far as the comb also explains the histogram against its envelope."""
    q1, a, gain, r = ORIGINAL_FIT(hist, q2, cmax, max_q1, floor)
    if gain <= 0:
        return q1, a, gain, r
    return q1, a, min(gain, envelope_gain(hist, q1, q2, cmax, a, floor)), r


def fit_12(hist, q2, cmax, max_q1, floor, rounding=0.0):
    """dq 1.2: G with a count-weighted envelope; the product's fit without 1.3's rounding model."""
    return dq._fit(hist, q2, cmax, max_q1, floor, rounding=0.0)


# the variants before 1.3 ignore `rounding` (the bare comb); "1.3" is the product's fit with its default
VARIANTS = {"1.1": ORIGINAL_FIT, "S": smooth_fit, "L": log_fit, "G": guarded_fit, "1.2": fit_12, "1.3": dq._fit}


def single_views(photos_dir: str, seed: int = 5):
    rng = np.random.default_rng(seed)
    photos = sorted(glob.glob(f"{photos_dir}/*.jpg") + glob.glob(f"{photos_dir}/*.png"))
    for p in photos:
        rgb = np.asarray(Image.open(p).convert("RGB"))
        h, w = rgb.shape[:2]
        f = rng.uniform(0.5, 0.8)
        v = cv2.resize(rgb, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        for q in (75, 85, 95):
            buf = io.BytesIO()
            Image.fromarray(v).save(buf, "JPEG", quality=q)
            yield Path(p).name, q, buf.getvalue()


def _jpeg(rgb: np.ndarray, q: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(q))
    return buf.getvalue()


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def double_set(photos_dir: str, half: str, seed: int, n: int = 40):
    """dq's own case: a view saved at q1 in 60-80 (the first save), then either nothing or a polygon from
    another photo (reduced by 0.5-0.8 first, so it carries no grid) pasted with a hard edge, then the last
    save at q2 in 85-95. Yields (name, kind, bytes, mask or None). Photos split as evidence_val_data.py."""
    from evidence_val_data import _polygon, _view, halves

    rng = np.random.default_rng(seed)
    photos = halves(photos_dir)[half]
    for i in range(n):
        host = _view(np.asarray(Image.open(photos[i % len(photos)]).convert("RGB")), rng)
        h, w = host.shape[:2]
        first = _decode(_jpeg(host, int(rng.integers(60, 81))))
        q2 = int(rng.choice([85, 90, 95]))
        if i % 2:
            yield f"{i:03d}", "authentic_double", _jpeg(first, q2), None
            continue
        donor = np.asarray(Image.open(photos[(i + 7) % len(photos)]).convert("RGB"))
        f = rng.uniform(0.5, 0.8)
        donor = cv2.resize(donor, (round(donor.shape[1] * f), round(donor.shape[0] * f)), interpolation=cv2.INTER_AREA)
        mask = _polygon(h, w, rng, (0.02, 0.08))
        ys, xs = np.nonzero(mask)
        y0, x0 = ys.min(), xs.min()
        bh, bw = ys.max() - y0 + 1, xs.max() - x0 + 1
        if donor.shape[0] < bh or donor.shape[1] < bw:
            donor = cv2.resize(donor, (max(bw, donor.shape[1]), max(bh, donor.shape[0])))
        dy, dx = int(rng.integers(0, donor.shape[0] - bh + 1)), int(rng.integers(0, donor.shape[1] - bw + 1))
        edited = first.copy()
        sub = edited[y0:y0 + bh, x0:x0 + bw]
        m = mask[y0:y0 + bh, x0:x0 + bw]
        sub[m] = donor[dy:dy + bh, dx:dx + bw][m]
        yield f"{i:03d}", "single_paste", _jpeg(edited, q2), mask


def score_double(items) -> str:
    ious, flagged, detected, auth = [], 0, 0, 0
    for _, kind, data, mask in items:
        res = evidence.run("dq", Image.open(io.BytesIO(data)), data=data)
        flag = res.probability > 0.8
        if mask is None:
            auth += 1
            flagged += bool(flag.mean() > 0.01)
            detected += bool(res.metadata["details"]["informative_frequencies"])
        else:
            ious.append(100 * (flag & mask).sum() / max(1, (flag | mask).sum()))
    return (f"paste IoU {np.mean(ious):.1f} ({len(ious)}), double compression found on {detected} of {auth} "
            f"authentic, authentic flagged {flagged}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("photos")
    ap.add_argument("sets")
    ap.add_argument("--variants", default="1.1,S")
    a = ap.parse_args()
    views = list(single_views(a.photos))
    global DOUBLE
    DOUBLE = {half: list(double_set(a.photos, half, seed)) for half, seed in (("dev", 81), ("check", 82))}
    from trainer import datasets as D
    from trainer.evaluate import evaluate_dataset
    from trainer.producers import evidence_producer

    for name in a.variants.split(","):
        dq._fit = VARIANTS[name]
        claims, flagged = [], 0
        for photo, q, data in views:
            res = evidence.run("dq", Image.open(io.BytesIO(data)), data=data)
            if res.metadata["details"]["informative_frequencies"]:
                claims.append(f"{photo} q{q}")
            flagged += bool((res.probability > 0.8).mean() > 0.01)
        print(f"[{name}] single-compressed views: 'saved twice' claimed on {len(claims)} of {len(views)}, "
              f"flagged on {flagged}: {', '.join(claims)}", flush=True)
        for half in ("dev", "check"):
            print(f"[{name}] double-JPEG {half}: {score_double(DOUBLE[half])}", flush=True)
        for split in ("dev", "check"):
            ds = D.load_dataset(Path(a.sets) / split, None)
            m = evaluate_dataset(evidence_producer("dq"), ds, threshold=0.8)
            kinds = {k: round(v["iou"], 1) for k, v in m["per_kind"].items()}
            print(f"[{name}] {split}: IoU {m['iou']:.1f} {kinds}; authentic flagged "
                  f"{m['authentic_flagged_count']} of {m['authentic']}", flush=True)


if __name__ == "__main__":
    main()
