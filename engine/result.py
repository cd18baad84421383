"""The one detector result type that flows from engine to viewer, case and report."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class AnalysisResult:
    """Outcome of analysing one image.

    probability: float32 HxW in [0, 1] at the analysed image's size (EXIF orientation applied).
    raw: float32 256x256 decoder sigmoid in paper mode; None in tiled mode.
    score: image-level score = mean of the decoder probability map (the paper's definition).
    metadata: everything needed to reproduce the result (model id, weights SHA-256, mode,
        tiling, device, dtype, software versions, timings, image SHA-256 ...). JSON-serialisable.
    """

    probability: np.ndarray
    raw: np.ndarray | None
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.probability.shape[0])

    @property
    def width(self) -> int:
        return int(self.probability.shape[1])

    def flagged_fraction(self, threshold: float = 0.5) -> float:
        """Share of pixels whose probability exceeds the threshold."""
        return float((self.probability > threshold).mean())

    def to_json(self) -> dict[str, Any]:
        """Scalar part of the result (maps are stored separately, losslessly)."""
        return {
            "score": float(self.score),
            "width": self.width,
            "height": self.height,
            "metadata": self.metadata,
        }
