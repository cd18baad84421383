"""`dq`: aligned double-JPEG compression, per 8x8 block, from the file's quantised DCT coefficients.

After Z. Lin, J. He, X. Tang, C.-K. Tang, 'Fast, automatic and fine-grained tampered JPEG image
detection via DCT coefficient analysis', Pattern Recognition 42(11), 2009, and T. Bianchi, A. Piva,
'Image forgery localization via block-grained analysis of JPEG artifacts', IEEE TIFS 7(3), 2012.

A coefficient quantised first with step Q1 and then with step Q2 can only land on some values:
value c is reached by n(c) = #{u : round(u*Q1/Q2) = c} first-quantised values, so relative to a
single compression its probability is multiplied by r(c) = n(c) * Q1 / Q2 (a periodic comb).
For each low-frequency DCT position we read the histogram of the stored coefficients, choose
the Q1 whose comb explains it best against 'single compression' (a mixture fitted by EM), and keep
the positions where that gain is significant. Pixel rounding and clipping between the two saves also move
values, by about one step at a fine last quantisation: version 1.3 models that as Gaussian noise of
`rounding` (0.8 coefficient units) on each first-quantised value, which fills the comb's gaps next to
its teeth. Without it, a flat block of an untouched double-saved photo, whose few non-zero values are
that rounding's +-1, read as compressed once. A value the comb still cannot reach is strong but not
absolute evidence, so r is floored at `floor`. Each block's log-likelihood ratio, summed over those
positions (and 3x3 neighbouring blocks), gives the posterior that the block was compressed ONCE,
i.e. did not share the image's first compression: a pasted or re-rendered region.
"""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from .base import EvidenceError, EvidenceInput, LayerOutput, orient, upsample_blocks, image_score

VERSION = "1.3"
TITLE = "Double JPEG quantisation (aligned)"
REFERENCE = ("Z. Lin, J. He, X. Tang, C.-K. Tang, 'Fast, automatic and fine-grained tampered JPEG image detection via "
             "DCT coefficient analysis', Pattern Recognition 42(11), 2009; T. Bianchi, A. Piva, 'Image forgery "
             "localization via block-grained analysis of JPEG artifacts', IEEE Trans. Inf. Forensics Security 7(3), 2012.")
HOW_TO_READ = ("Bright 8x8 blocks did not go through the first JPEG compression that the rest of the image shows: "
               "they were compressed only once, typically because they were pasted or repainted before the last save. "
               "An all-dark map in which no frequency carried a double-compression trace (the stored result records "
               "none as informative) means no double compression was found, so the layer says nothing about this "
               "image.")
LIMITS = ("Needs a JPEG whose previous compression was coarser than (or different from) the last one, on the same "
          "8x8 grid: a crop, resize or rotation after the first save, or a first quality much higher than the last, "
          "erases the trace. Flat blocks carry no evidence. Untouched photos saved twice still show scattered bright "
          "blocks or small patches (more than 1 % of the image in 5-8 of 30 such photos in our own tests): "
          "a finding needs a bright region with the shape of an object. An extreme one-way stretch before the last "
          "save (found: 15x across, 2.5x shrunk down) can give periodic coefficient statistics that it reads as "
          "double compression.")
DEFAULTS = {"frequencies": 15, "max_value": 40, "smooth": 3, "min_gain": 0.1, "min_positions": 3, "floor": 0.25,
            "rounding": 0.8}

# zigzag order of the 8x8 DCT positions (row, column), DC first
_ZIGZAG = sorted(((i, j) for i in range(8) for j in range(8)),
                 key=lambda p: (p[0] + p[1], p[1] if (p[0] + p[1]) % 2 == 0 else p[0]))


def _round(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def comb(q1: int, q2: int, cmax: int, rounding: float = 0.0) -> np.ndarray:
    """r(c) for c in -cmax..cmax: how much double quantisation (q1 then q2) multiplies P(c).

    rounding: the standard deviation (in coefficient units) of what happens to a first-quantised value
    u * q1 between the two saves: the decoder's rounding of pixels to integers and clipping (after Bianchi &
    Piva's model). 0 gives the bare comb, whose gaps are exact."""
    if rounding <= 0:
        umax = int(np.ceil((cmax + 1) * q2 / q1)) + 1
        u = np.arange(-umax, umax + 1)
        c = _round(u * q1 / q2).astype(int)
        keep = np.abs(c) <= cmax
        n = np.bincount(c[keep] + cmax, minlength=2 * cmax + 1).astype(np.float64)
        return n * q1 / q2
    from scipy.special import ndtr

    umax = int(np.ceil((cmax + 1) * q2 / q1)) + 2
    u = np.arange(-umax, umax + 1)[:, None] * float(q1)
    c = np.arange(-cmax, cmax + 1)[None, :] * float(q2)
    # P(the second quantisation gives c | first value u*q1), summed over u: each value's share of the
    # first-quantised values that land on it, now with the rounding's spread
    lands = ndtr((c + 0.5 * q2 - u) / rounding) - ndtr((c - 0.5 * q2 - u) / rounding)
    return lands.sum(axis=0) * q1 / q2


def _fit(hist: np.ndarray, q2: int, cmax: int, max_q1: int, floor: float,
         rounding: float = 0.0) -> tuple[int, float, float, np.ndarray]:
    """Best first step for one DCT position: (q1, alpha, gain in nats per coefficient, r)."""
    vals = np.arange(-cmax, cmax + 1)
    use = (vals != 0) & (hist > 0)        # the zero bin is too peaked for the smooth-density model
    h = hist[use].astype(np.float64)
    total = h.sum()
    best = (q2, 0.0, 0.0, np.ones_like(hist, np.float64))
    if total < 50:
        return best
    # only a coarser first step (q1 > q2) leaves a comb that the stored values can show reliably;
    # finer first steps fit the peaked shape of the histogram by chance as well as any comb
    for q1 in range(q2 + 1, max_q1 + 1):
        r = comb(q1, q2, cmax, rounding)
        if np.allclose(r[use], r[use].mean()):
            continue
        rr = np.clip(r[use], floor, None)
        a = 0.2
        for _ in range(15):                # EM on the share `a` of once-compressed coefficients
            post = a / (a + (1 - a) * rr)
            a = float(np.clip((h * post).sum() / total, 1e-3, 0.999))
        mix = (1 - a) * rr + a
        # mean log-likelihood gain over 'single'; dividing by the comb's mean keeps a comb that
        # inflates every bin on this finite range from winning
        gain = float((h * np.log(mix)).sum() / total - np.log(np.mean(mix)))
        if gain > best[2]:
            best = (q1, a, gain, np.clip(r, floor, None))
    if best[2] > 0:
        # 1.2: the normaliser above is the comb's plain mean over the values seen, as if they were equally
        # likely. On a narrow or ragged histogram (smooth content, a single save) a comb whose teeth fall
        # where the mass lies then "explained" a file saved once (8 of 123 single-saved views). The chosen
        # comb must also explain the histogram against its own smooth envelope: by Jensen's inequality a
        # histogram equal to its envelope gains nothing there, so only teeth and gaps at the comb's period count.
        q1, a = best[0], best[1]
        best = (q1, a, min(best[2], _envelope_gain(hist, use, best[3], q1 / q2, a)), best[3])
    return best


def _log_envelope(hist: np.ndarray, period: float) -> np.ndarray | None:
    """Each side's counts (|c| >= 1) followed by a local straight line in log counts, fitted over at least two
    comb periods (a window shifted inward at the ends) and weighted by the counts (the variance of a log count
    is about 1/count): a Laplacian's exponential fall is kept, however steep, and a comb's teeth and gaps are
    not. None when the range is too short for such a window."""
    cmax = len(hist) // 2
    win = min(max(5, 2 * int(np.ceil(period)) + 1), cmax)
    if win < 3:
        return None
    env = np.zeros(hist.shape, np.float64)
    x = np.arange(cmax, dtype=np.float64)
    for side, put in ((hist[cmax + 1:], slice(cmax + 1, None)), (hist[:cmax][::-1], None)):
        counts = side.astype(np.float64) + 0.5          # +0.5: empty bins have a finite log and a small weight
        y, w = np.log(counts), counts
        fit = np.empty(cmax)
        for t in range(cmax):
            lo = min(max(0, t - win // 2), cmax - win)
            xs, ys, ws = x[lo:lo + win], y[lo:lo + win], w[lo:lo + win]
            sw, sx, sy = ws.sum(), (ws * xs).sum(), (ws * ys).sum()
            sxx, sxy = (ws * xs * xs).sum(), (ws * xs * ys).sum()
            den = sw * sxx - sx * sx
            slope = (sw * sxy - sx * sy) / den if den > 1e-12 else 0.0
            fit[t] = (sy - slope * sx) / sw + slope * x[t]
        if put is None:
            env[:cmax] = np.exp(fit)[::-1]
        else:
            env[put] = np.exp(fit)
    return env


def _envelope_gain(hist: np.ndarray, use: np.ndarray, r: np.ndarray, period: float, a: float) -> float:
    """Mean log-likelihood gain of comb r (floored, as _fit keeps it; share a once-compressed) against the
    histogram's log envelope."""
    env = _log_envelope(hist, period)
    if env is None:
        return np.inf          # no envelope to test against: 1.1's gain stands
    h = hist[use].astype(np.float64)
    w = env[use] / env[use].sum()
    mix = (1 - a) * r[use] + a
    return float((h * np.log(mix)).sum() / h.sum() - np.log((w * mix).sum()))


# The file's first component, which dq reads, by the colour space libjpeg reports: luma for the usual files,
# but a colour channel for JPEGs coded in RGB or CMYK. Each component is quantised on its own, so the
# analysis holds for any of them; the record says which one it was.
_FIRST_COMPONENT = {"JCS_YCbCr": "Y (luma)", "JCS_GRAYSCALE": "Y (grey)", "JCS_YCCK": "Y (luma of a YCCK file)",
                    "JCS_RGB": "R (the file is coded in RGB, not YCbCr)",
                    "JCS_CMYK": "C (the file is coded in CMYK)"}


def first_component(color_space) -> str:
    """What dq's component is, in words, from libjpeg's colour space name."""
    name = str(color_space).rsplit(".", 1)[-1]
    return _FIRST_COMPONENT.get(name, f"the first component (colour space {name})")


def read_coefficients(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray, tuple[int, int], str]:
    """The first component's DCT coefficients (blocks_h, blocks_w, 8, 8), its 8x8 quantisation table, as stored,
    (sy, sx) and that component in words. The first component is the luma except in a JPEG coded in RGB or
    CMYK. One coefficient block covers 8*sy x 8*sx pixels, (1, 1) unless the file samples its first component
    more coarsely than another (a luma stored at half width beside full-width chroma)."""
    import jpeglib

    fd, tmp = tempfile.mkstemp(suffix=".jpg")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        jpeg = jpeglib.read_dct(tmp)
        coef = np.asarray(jpeg.Y)
        tables = np.asarray(jpeg.qt)
        which = int(np.asarray(jpeg.quant_tbl_no)[0]) if getattr(jpeg, "quant_tbl_no", None) is not None else 0
        # jpeglib gives each component's sampling factors as (vertical, horizontal)
        samp = np.asarray(jpeg.samp_factor, dtype=np.int64).reshape(-1, 2)
        component = first_component(getattr(jpeg, "jpeg_color_space", "unknown"))
    except Exception as exc:  # libjpeg raises plain exceptions on damaged streams
        raise EvidenceError(f"{name}: cannot read the JPEG's DCT coefficients ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    finally:
        os.unlink(tmp)
    top = samp.max(axis=0)
    if np.any(top % samp[0]):   # libjpeg decodes whole ratios only; a file that does not is not one it read
        raise EvidenceError(f"{name}: cannot read the JPEG's DCT coefficients (sampling factors "
                            f"{samp.tolist()} are not whole multiples of the first component's)")
    return coef, tables[which], (int(top[0] // samp[0][0]), int(top[1] // samp[0][1])), component


def compute(src: EvidenceInput, frequencies: int = 15, max_value: int = 40, smooth: int = 3,
            min_gain: float = 0.1, min_positions: int = 3, floor: float = 0.25, rounding: float = 0.8) -> LayerOutput:
    if not 0 <= float(rounding) <= 5:
        raise ValueError(f"rounding must be 0..5 (coefficient units), found {rounding}")
    data = src.require_jpeg("dq")
    src.require_size("dq", 8)
    t0 = time.perf_counter()
    coef, qt, (sy, sx), component = read_coefficients(data, src.name)
    t1 = time.perf_counter()
    bh, bw = coef.shape[:2]
    cmax = int(max_value)
    llr = np.zeros((bh, bw), np.float64)    # log P(double) / P(single), summed over positions
    alphas, used = [], []
    for (i, j) in _ZIGZAG[1: 1 + int(frequencies)]:
        c = coef[:, :, i, j].astype(np.int64)
        q2 = int(qt[i, j])
        # values beyond the range are left out, not clipped onto its end bins: at a fine last step
        # (q95: q2 = 1) half the coefficients lie beyond it, and piled on +-max_value they made a
        # comb with a tooth there (q1 = 10) explain every untouched photo as double-compressed (1.0)
        in_range = np.abs(c) <= cmax
        hist = np.bincount(c[in_range] + cmax, minlength=2 * cmax + 1)
        q1, a, gain, r = _fit(hist, q2, cmax, max_q1=min(3 * q2 + 8, 100), floor=float(floor),
                              rounding=float(rounding))
        if gain < float(min_gain):
            continue
        # zero coefficients and values beyond the fitted range carry no evidence
        inside = (c != 0) & (np.abs(c) <= cmax)
        llr += np.where(inside, np.log(r[np.clip(c, -cmax, cmax) + cmax] / np.mean(r)), 0.0)
        alphas.append(a)
        used.append({"position": [i, j], "q2": q2, "q1": int(q1), "gain": round(gain, 4)})
    if len(used) < int(min_positions):     # a stray position or two is chance, not a double compression
        used, alphas, llr = [], [], np.zeros((bh, bw))
    if smooth > 1:
        import cv2

        llr = cv2.boxFilter(llr, -1, (int(smooth), int(smooth)), normalize=False, borderType=cv2.BORDER_REFLECT)
    if used:
        # the share of once-compressed coefficients, as fitted; capped so that a block without
        # evidence (flat, all zeros) stays below one half
        prior = float(np.clip(np.median(alphas), 0.02, 0.3))
        grid = prior / (prior + (1 - prior) * np.exp(np.clip(llr, -50, 50)))
    else:
        prior, grid = None, np.zeros((bh, bw))
    y_h, y_w = (src.width, src.height) if src.orientation in (5, 6, 7, 8) else (src.height, src.width)
    # one coefficient block covers 8x8 pixels, or 8*sy x 8*sx where the file stores its luma subsampled
    prob = upsample_blocks(grid.astype(np.float32), (8 * sy, 8 * sx), bh * 8 * sy, bw * 8 * sx,
                           smooth=False)[:y_h, :y_w]
    prob = orient(prob, src.orientation)
    t2 = time.perf_counter()
    return LayerOutput(map=prob, score=image_score(prob) if used else 0.0,
                       parameters={"frequencies": int(frequencies), "max_value": cmax, "smooth": int(smooth),
                                   "min_gain": float(min_gain), "min_positions": int(min_positions),
                                   "floor": float(floor), "rounding": float(rounding)},
                       details={"informative_frequencies": len(used), "positions": used, "prior_single": prior,
                                "component": component},
                       timings={"read_coefficients_s": t1 - t0, "score_s": t2 - t1},
                       notes=[evidence_note(len(used), int(frequencies))] + component_note(component))


def evidence_note(informative: int, frequencies: int) -> str:
    """Whether this file shows the double compression the layer needs, in words."""
    if not informative:
        return (f"No sign of an earlier, coarser JPEG compression on this file's 8x8 grid (none of the {frequencies} "
                f"frequencies examined shows one): the map is empty, and dq cannot tell here whether any region was "
                f"compressed only once. A single save, a crop or resize after the first save, or a first save at a "
                f"higher quality all look like this.")
    return (f"{informative} of the {frequencies} frequencies examined show an earlier, coarser JPEG compression on this "
            f"file's 8x8 grid: the file was probably saved as JPEG at least twice. Bright blocks lack that earlier "
            f"compression.")


def component_note(component: str) -> list[str]:
    """A note when the component read is not the luma, so that no one reads the map as the usual luma analysis."""
    if component.startswith("Y "):
        return []
    return [f"This JPEG is not coded as luma and chroma: dq read its first component, {component}. The "
            f"double-compression analysis holds for that component; a region retouched in the other components "
            f"alone would not show."]
