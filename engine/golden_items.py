"""The pieces of a golden-set comparison that the learned maps and the evidence layers share: the
compact 64x64 map a reference stores, its float16 text form, and one PASS/FAIL row."""
from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

MAP_SIDE = 64


def compact_map(prob: np.ndarray, side: int = MAP_SIDE) -> np.ndarray:
    """The map area-averaged to side x side (float32), what the references store as float16."""
    from PIL import Image

    img = Image.fromarray(np.asarray(prob, np.float32), mode="F")
    return np.asarray(img.resize((side, side), Image.BOX), np.float32)


def encode_map(a: np.ndarray) -> str:
    return base64.b64encode(np.asarray(a, "<f2").tobytes()).decode("ascii")


def decode_map(text: str, side: int = MAP_SIDE) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), "<f2").astype(np.float32).reshape(side, side)


# The references are float16: a difference within a tolerance may also carry their rounding (half a
# unit in the last place near 1).
REFERENCE_ROUNDING = 5e-4


def difference(got_map: np.ndarray, score: float, ref: dict) -> float:
    """The largest difference of a compact map cell or the score from a recorded reference."""
    return max(float(np.abs(got_map - decode_map(ref["map"])).max()), abs(float(score) - float(ref["score"])))


@dataclass
class ItemResult:
    name: str
    ok: bool
    max_diff: float | None = None
    tolerance: float | None = None
    score: float | None = None
    reference_score: float | None = None
    problem: str = ""

    def line(self) -> str:
        state = "PASS" if self.ok else "FAIL"
        diff = f"largest difference {self.max_diff:.2e} (tolerance {self.tolerance:g})" if self.max_diff is not None else ""
        return f"{state}  {self.name:<28} {diff}{'  ' + self.problem if self.problem else ''}".rstrip()
