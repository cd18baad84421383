"""The heavy, per-item picture work, done in worker threads before layout.

Decoding the evidence and the 16-bit map, resampling, colouring and JPEG encoding all release
the GIL (Pillow, zlib, numpy), so items are prepared in parallel; only plain bytes and numbers
come back, and the (single-threaded) layout turns them into flowables.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import exif, imaging
from .evidence_pages import layer_pictures
from .findings import Findings


@dataclass
class Pictures:
    error: str | None = None                       # why the evidence cannot be shown
    thumb: imaging.Encoded | None = None
    original: imaging.Encoded | None = None
    overlay: imaging.Encoded | None = None
    colorbar: object | None = None                 # PIL image (tiny)
    mask: imaging.Encoded | None = None
    boxed: imaging.Encoded | None = None
    crops: list[imaging.Encoded] = field(default_factory=list)
    layers: list = field(default_factory=list)     # evidence_pages.LayerPicture per pinned layer


def prepare(f: Findings) -> Pictures:
    pics = Pictures()
    exif.ensure_metadata(f.item)
    try:
        work = imaging.load_evidence(f.item.path)
    except imaging.Unreadable as exc:
        pics.error = str(exc)
        return pics
    panel = imaging.fit(work, imaging.PANEL_LONG_SIDE)
    pics.thumb = imaging.encode(imaging.fit(panel, imaging.THUMB_LONG_SIDE))
    pics.original = imaging.encode(panel)
    pics.layers = layer_pictures(f.item, panel)
    if f.result is None:
        return pics
    it, prob = f.item, f.result.probability
    map_size = (prob.shape[1], prob.shape[0])
    p_disp = imaging.prob_at(f.small_map if f.small_map is not None else prob, panel.size)
    pics.overlay = imaging.encode(imaging.overlay(panel, p_disp, it.cmap, it.opacity, f.threshold))
    pics.colorbar = imaging.colorbar(it.cmap)
    pics.mask = imaging.encode(imaging.mask_image(p_disp, panel.size, f.threshold), lossless=True)
    pics.boxed = imaging.encode(imaging.draw_boxes(panel, f.regions, map_size))
    pics.crops = [imaging.encode(imaging.crop(work, r, map_size)) for r in f.regions]
    return pics
