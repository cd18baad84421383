"""The values the evidence layers' parameters may take, checked before any image is read.

Why: a value outside what a method means (ELA at quality 500, a noise block of 7 px, a working side of
100,000 px) fails on every image, allocates gigabytes, or gives a map that looks clean and means
nothing. The examiner should hear that once, as a usage error naming the allowed values, not as a
refusal per image or a silent empty map. The types are checked from each layer's annotations
(engine.evidence); these are the ranges. A parameter not listed here takes any value of its type.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    low: float
    high: float
    multiple_of: int = 1  # whole numbers only: a block size that the method halves or quarters
    odd: bool = False     # a filter window with a centre pixel

    def problem(self, value) -> str | None:
        if not self.low <= value <= self.high:
            return f"must be {_num(self.low)} to {_num(self.high)}"
        if self.multiple_of > 1 and value % self.multiple_of:
            return f"must be a multiple of {self.multiple_of} ({_num(self.low)} to {_num(self.high)})"
        if self.odd and value % 2 == 0:
            return f"must be odd ({_num(self.low)} to {_num(self.high)})"
        return None


def _num(x: float) -> str:
    return f"{x:g}"


_SIDE = Span(64, 8192)  # working sides in pixels: below, nothing is left to match; above, gigabytes
_SMOOTH = Span(1, 31)   # box smoothing in blocks or cells
_Z = Span(0.1, 50.0)    # robust z-score at which a map reaches 0.5

LIMITS: dict[str, dict[str, Span | tuple]] = {
    "ela": {"quality": Span(1, 100), "region": Span(1, 63), "z_half": _Z},
    "ghost": {"q_min": Span(1, 99), "q_step": Span(1, 50), "window": Span(4, 512), "eps": Span(1e-6, 1e3),
              "dip_half": Span(0.01, 100.0), "min_detail": Span(0.0, 1e4)},
    # the noise level is measured on two wavelet levels of the block: half and a quarter of its side
    "noise": {"block": Span(8, 256, multiple_of=4), "smooth": _SMOOTH, "z_half": _Z,
              "direction": ("both", "higher", "lower")},
    "dq": {"frequencies": Span(1, 63), "max_value": Span(1, 1024), "smooth": _SMOOTH, "min_gain": Span(0.0, 10.0),
           "min_positions": Span(1, 63), "floor": Span(0.0, 1.0)},
    "resampling": {"block": Span(16, 256, multiple_of=8), "sigma": Span(0.05, 50.0), "z_half": _Z, "smooth": _SMOOTH,
                   "cue": ("pmap", "pmap+band")},
    # clones: both methods' parameters (a name is checked when the chosen method takes it)
    "clones": {"max_side": _SIDE, "enlarge_side": _SIDE, "fill_side": _SIDE, "ratio": Span(0.05, 1.0),
               "knn": Span(2, 64), "min_distance": Span(0, 10000), "ransac_px": Span(0.1, 100.0),
               "min_inliers": Span(3, 10000), "max_transforms": Span(1, 64), "correlation": Span(0.0, 1.0),
               "min_area": Span(1, 10 ** 8), "contrast": Span(0.0, 1.0), "low_contrast": Span(0.0, 1.0),
               "max_keypoints": Span(10, 10 ** 6), "low_max_keypoints": Span(10, 10 ** 6),
               "grow_low": Span(0.0, 1.0), "grow_reach": Span(0, 512), "fill_density": Span(0.0, 1.0),
               "fill_area": Span(1, 10 ** 8), "hull_margin": Span(0, 1024),
               # 0 turns a guard off (the way earlier versions ran: research/README.md)
               "max_aniso": Span(0.0, 10.0), "max_overlap": Span(0.0, 1.0), "flat_inliers": Span(0, 10000),
               "flat_aniso": Span(1.0, 10.0),
               "radius": Span(2, 64), "iterations": Span(1, 200),
               # OpenCV's median filter of a float field takes only 3 or 5
               "median": (3, 5), "fit_window": Span(3, 63, odd=True), "max_fit_error": Span(0.0, 100.0),
               "min_seed": Span(1, 10 ** 6), "max_hypotheses": Span(1, 200), "refit": Span(0, 20),
               "refit_tolerance": Span(0.0, 100.0), "diff_k": Span(0.0, 10.0), "max_residual": Span(0.0, 10.0),
               "residual_sigma": Span(0.0, 20.0), "overlap_on": ("core", "grown")},
}


def limit_problem(layer: str, key: str, value) -> str | None:
    """Why `value` is outside what `layer`'s parameter `key` may take, or None (also for None where the
    layer takes None: that is its 'off')."""
    spec = LIMITS.get(layer, {}).get(key)
    if spec is None or value is None or isinstance(value, bool):
        return None
    if isinstance(spec, tuple):
        if value in spec:
            return None
        return f"{key} must be one of {', '.join(map(str, spec))}, found {value!r}"
    problem = spec.problem(value)
    return f"{key} {problem}, found {value:g}" if problem else None
