"""What `declip evaluate` scores: anything that turns an image into a map and a score.

A `MapProducer` wraps `fn(image path or bytes) -> (float32 HxW map in [0, 1] at the image's
displayed size, image score)`. The model (through the engine's Detector) and the ELA baseline are
two; an evidence layer plugs in the same way: build a MapProducer around it and pass it to
`trainer.evaluate.evaluate_dataset` (the hook for `declip evaluate --layer NAME`).
`against_sources`: a clone detector marks both the pasted region and the one it was copied from,
so on copy-moves it is scored against the union of the benchmark's `mask` and `source_mask`;
a learned map is scored against `mask` alone. `evidence_producer(name)` is an evidence layer
(`declip evaluate --layer NAME`).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Union

import numpy as np

ImageSource = Union[str, Path, bytes]
MapFn = Callable[[ImageSource], tuple[np.ndarray, float]]


@dataclass
class MapProducer:
    name: str                       # e.g. the model id, "baseline:ela", "layer:clones"
    fn: MapFn
    meta: dict = field(default_factory=dict)   # recorded in the evaluation JSON (model card, method)
    against_sources: bool = False
    # an exception type meaning "does not apply to this image" (an evidence layer's NotApplicable):
    # scored as an empty map with score 0 and counted as refused, not as a failed image
    refusal: type | None = None

    def __call__(self, image: ImageSource) -> tuple[np.ndarray, float]:
        prob, score = self.fn(image)
        prob = np.asarray(prob, dtype=np.float32)
        if prob.ndim != 2:
            raise ValueError(f"{self.name}: a map must be 2-D, got shape {prob.shape}")
        return prob, float(score)


def _rgb(image: ImageSource):
    from engine.images import load_image

    # a path or the file's bytes: one loader, so bytes decode as the file would (16-bit, CMYK, limits)
    return load_image(image).rgb


def detector_producer(model: str | None, device: str = "cpu", mode: str = "paper") -> MapProducer:
    from engine import Detector

    det = Detector.from_model(model, device=device)

    def fn(image: ImageSource):
        res = det.analyze(image if isinstance(image, bytes) else str(image), mode=mode)
        return res.probability, float(res.score)

    return MapProducer(det.card.id, fn, dict(det.describe(), mode=mode))


def ela_map(pil, quality: int = 90, sigma: float = 3.0) -> np.ndarray:
    """Error Level Analysis: |image - JPEG(image)|, smoothed, scaled so its 99th percentile is 1."""
    import cv2
    from PIL import Image

    buf = io.BytesIO()
    pil.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    re = np.asarray(Image.open(buf).convert("RGB"), np.float32)
    diff = np.abs(np.asarray(pil, np.float32) - re).mean(-1)
    diff = cv2.GaussianBlur(diff, (0, 0), sigma)
    scale = float(np.percentile(diff, 99)) or 1.0
    return np.clip(diff / scale, 0, 1).astype(np.float32)


def _ela(image: ImageSource):
    prob = ela_map(_rgb(image))
    return prob, float(prob.mean())


def ela_producer() -> MapProducer:
    return MapProducer("baseline:ela", _ela, {"model_id": "baseline:ela", "method": "ELA q90, blur 3, /p99"})


def evidence_producer(name: str, **params) -> MapProducer:
    """An evidence layer with the given parameters (an unknown layer or parameter fails here, once)."""
    from engine import evidence

    evidence.check_params(name, params)

    def fn(image: ImageSource):
        res = evidence.run(name, image, **params)   # a path or the file's bytes (kept for the JPEG layers)
        return res.probability, res.score

    info = evidence.info(name)
    return MapProducer(f"layer:{name}", fn, {"model_id": f"layer:{name}", "layer": name, "method_version": info.version,
                                             "parameters": params, "threshold": info.threshold},
                       against_sources=name == "clones", refusal=evidence.NotApplicable)
