"""The missing high band of an enlarged area, per window (a cue of the `resampling` layer).

An area enlarged by s holds nothing above 1/s of Nyquist before the final save (x1.1-1.5: above
0.67-0.91 of Nyquist), while the camera original around it does. Unlike the periodic interpolation
pattern, this survives a final JPEG at q75-95, because JPEG also keeps a textured block's strong high
frequencies. Content explains most of a window's high band, so each window's high-band level is
measured against the level that the image's own windows of the same upper-mid-band level show (a robust
line, log high vs log upper-mid), and only the shortfall counts. The upper-mid band (0.38-0.56 of
Nyquist) lies below every cutoff in that range, so an enlargement keeps it while a natural blur
(bokeh, focus) lowers it together with the high band: a smooth fall-off is read as content, a sharp
knee as resampling. Bins on JPEG's 8-pixel grid are left out (blocking puts its energy there).
"""
from __future__ import annotations

import numpy as np

from .base import robust_line

# band edges in bins of a 32-point spectrum (bin 16 = Nyquist), as max(|ky|, |kx|) (a rescale cuts both
# axes); a window of another size uses the same fractions of Nyquist
MID_BINS = (6, 9)
HIGH_BINS = (11, 15)


def _band_masks(n: int) -> tuple[np.ndarray, np.ndarray]:
    ky = np.abs(np.fft.fftfreq(n) * n).round().astype(int)
    kx = np.arange(n // 2 + 1)
    iy, ix = np.meshgrid(ky, kx, indexing="ij")
    ring = np.maximum(iy, ix) * (32 / n)
    grid = ((iy % (n // 8) == 0) & (iy > 0)) | ((ix % (n // 8) == 0) & (ix > 0))
    mid = (ring >= MID_BINS[0]) & (ring <= MID_BINS[1]) & ~grid
    high = (ring >= HIGH_BINS[0]) & (ring <= HIGH_BINS[1]) & ~grid
    return mid, high


def band_levels(y: np.ndarray, window: int, step: int, ny: int, nx: int, rows_per_pass: int = 24):
    """Log power (+1) of the upper-mid and the high band, and the mean level, of every window x window
    window starting at multiples of `step` (ny x nx windows), by Hann-windowed 2-D FFTs in strips."""
    from scipy import fft as sfft   # single precision and ~4x numpy's FFT on many small windows

    win = np.outer(np.hanning(window), np.hanning(window)).astype(np.float32)
    win_f = sfft.rfft2(win)          # the window's own spectrum: FFT((v - m) win) = FFT(v win) - m FFT(win)
    mid_m, high_m = _band_masks(window)
    # band means as one matrix product over the flattened spectrum
    weights = np.stack([mid_m.ravel() / mid_m.sum(), high_m.ravel() / high_m.sum()], 1).astype(np.float32)
    out = np.empty((ny, nx, 2), np.float32)
    lum = np.empty((ny, nx), np.float32)
    views = np.lib.stride_tricks.sliding_window_view(y, (window, window))
    for r0 in range(0, ny, rows_per_pass):
        r1 = min(ny, r0 + rows_per_pass)
        v = views[r0 * step:(r1 - 1) * step + 1:step, : (nx - 1) * step + 1:step]
        m = v.mean(axis=(-1, -2), dtype=np.float32)
        f = sfft.rfft2(v * win) - m[..., None, None] * win_f
        power = f.real ** 2 + f.imag ** 2
        out[r0:r1] = power.reshape(r1 - r0, nx, -1) @ weights
        lum[r0:r1] = m
    levels = np.log(out + 1.0)
    return levels[..., 0], levels[..., 1], lum


def shortfall(y: np.ndarray, window: int, step: int, ny: int, nx: int, min_detail: float = 20.0):
    """Per window: how far its high band falls below what the image's windows of the same upper-mid-band
    level show (log units, positive = missing), and which windows could be measured (textured enough
    that their high band is not just JPEG's zeros, not clipped)."""
    mid, high, lum = band_levels(y, window, step, ny, nx)
    ok = (lum > 8) & (lum < 247) & (mid > np.log1p(min_detail))
    stat = np.zeros((ny, nx), np.float32)
    if ok.sum() > 8:
        stat = (robust_line(mid[ok], high[ok])(mid) - high).astype(np.float32)
        stat[~ok] = 0.0
    return stat, ok
