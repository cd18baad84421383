"""The numbers the report states for one item, computed once and used on every page."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from . import integrity
import numpy as np

from engine.mapio import write_map
from engine.result import AnalysisResult

from .model import ReportCase, ReportItem
from .regions import SEARCH_LONG_SIDE, Region, flagged_regions, shrink

MAX_REGIONS = 4


@dataclass
class Findings:
    index: int                       # 1-based position in the report
    item: ReportItem
    threshold: float
    integrity: integrity.Integrity
    analysed: bool
    score: float | None = None
    flagged: float | None = None     # share of pixels above the threshold
    map_max: float | None = None     # the highest value of the map: thresholds above it flag nothing
    regions: list[Region] = field(default_factory=list)
    card: dict[str, Any] | None = None
    analysed_file_matches: bool | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # the result's metadata
    result: AnalysisResult | None = None   # held only while the item is laid out
    small_map: np.ndarray | None = None    # area-averaged map (<= 768 px), likewise transient
    # what a re-run's results.json must show (report/reproduce.py): the stored map's 16-bit values hashed,
    # and its pixels above the threshold counted on them
    pixels_sha256: str | None = None
    flagged_pixels: dict[str, Any] | None = None


def compute(case: ReportCase, item: ReportItem, index: int, threshold: float | None) -> Findings:
    t = threshold if threshold is not None else (item.threshold if item.threshold is not None else case.default_threshold)
    t = float(min(max(t, 0.0), 1.0))
    res = item.result if item.result is not None else (item.load_result() if item.load_result else None)
    f = Findings(index=index, item=item, threshold=t, integrity=integrity.verify(item), analysed=res is not None)
    if res is not None:
        f.result = res
        f.metadata = dict(res.metadata or {})
        f.score = float(res.score)
        f.flagged = res.flagged_fraction(t)
        described = write_map(None, res.probability, t)   # the stored map's pixel hash and flagged pixels
        f.pixels_sha256, f.flagged_pixels = described["map_pixels_sha256"], described["flagged_pixels"]
        f.map_max = float(res.probability.max()) if res.probability.size else 0.0
        f.small_map = shrink(res.probability, SEARCH_LONG_SIDE)
        f.regions = flagged_regions(res.probability, t, max_regions=MAX_REGIONS, small=f.small_map)
        f.card = item.model_card or model_card_for(res.metadata)
        f.analysed_file_matches = integrity.analysed_file_matches(item, res)
    return f


def model_card_for(md: dict[str, Any]) -> dict[str, Any] | None:
    """Model card summary for a result: from its metadata, else from the model store by id."""
    for key in ("model_card", "model"):
        if isinstance(md.get(key), dict):
            return md[key]
    mid = md.get("model_id")
    return _card_from_store(mid) if mid else None


@lru_cache(maxsize=16)
def _card_from_store(model_id: str) -> dict[str, Any] | None:
    try:
        from engine.store import ModelStore

        return ModelStore().get(model_id).summary()
    except Exception:
        return None
