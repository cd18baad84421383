"""Evidence layers in the report: the layers an examiner pinned to an item's finding, each with
its map, parameters and how-to-read text on the item's page, and an appendix describing every
method used with its reference and parameters. No Qt.

The pictures are rendered in the report's worker threads (`layer_pictures`, from pictures.py);
the layout (`pinned_section`, `methods_appendix`) only places them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from reportlab.platypus import CondPageBreak, Flowable, PageBreak, KeepTogether, Spacer, Table, TableStyle

from declip_desktop.case.util import readable_utc
from engine import evidence
from engine.evidence.clone_regions import pair_text
from engine.mapio import write_map

from . import imaging
from .blocks import P, X, box, esc, fmt_score, fmt_threshold, kv_table
from .references import with_titles
from .styles import FRAME_W

PANEL_W = (FRAME_W - 12) / 2
PANEL_H = 170


@dataclass
class LayerPicture:
    layer: str
    metadata: dict[str, Any]
    score: float | None = None
    stored_utc: str = ""
    threshold: float = 0.5
    flagged: float | None = None
    overlay: imaging.Encoded | None = None
    mask: imaging.Encoded | None = None
    flat: bool = False                 # clones: the mask greys the cells too flat to check
    error: str | None = None            # why the pinned layer cannot be shown (not stored, not verified)
    pixels_sha256: str | None = None    # the stored map's 16-bit values hashed (report/reproduce.py)
    flagged_pixels: dict[str, Any] | None = None
    case_record: bool = False           # from a case record, which may hold the pixel hash it stored
    recorded_pixels_sha256: str | None = None


def layer_pictures(item: Any, panel) -> list[LayerPicture]:
    """Each pinned layer's map over the evidence panel and its mask at the layer's default threshold."""
    out = []
    for pin in getattr(item, "pinned_layers", None) or []:
        md = dict(pin.get("metadata") or {})
        pic = LayerPicture(pin["layer"], md, pin.get("score"), pin.get("stored_utc") or "",
                           float(md.get("default_threshold", 0.5)), error=pin.get("error"),
                           case_record="recorded_pixels_sha256" in pin,
                           recorded_pixels_sha256=pin.get("recorded_pixels_sha256"))
        out.append(pic)
        if pic.error or pin.get("load") is None:
            pic.error = pic.error or "not stored in the case"
            continue
        try:
            res = pin["load"]()
        except Exception as exc:  # one unreadable map must not stop the report; the page says so
            pic.error = f"its stored map cannot be read ({exc})"
            continue
        prob = res.probability
        pic.flagged = float((prob > pic.threshold).mean())
        described = write_map(None, prob, pic.threshold)   # the stored map's pixel hash and flagged pixels
        pic.pixels_sha256, pic.flagged_pixels = described["map_pixels_sha256"], described["flagged_pixels"]
        p_disp = imaging.prob_at(prob, panel.size)
        over = imaging.overlay(panel, p_disp, item.cmap, item.opacity, pic.threshold)
        _draw_pairs(over, (md.get("details") or {}).get("pairs") or [], (prob.shape[1], prob.shape[0]))
        pic.overlay = imaging.encode(over)
        mask = imaging.mask_image(p_disp, panel.size, pic.threshold)
        pic.flat = _grey_flat_cells(mask, md.get("details") or {})
        pic.mask = imaging.encode(mask, lossless=True)
    return out


def _grey_flat_cells(mask, details: dict) -> bool:
    """Clones: the cells too flat for a copy to be confirmed, grey where nothing is flagged (in place).
    True when there were any."""
    from engine.evidence.clone_coverage import flat_mask

    flat = flat_mask(details, mask.size[1], mask.size[0])
    if flat is None or not flat.any():
        return False
    arr = np.asarray(mask).copy()
    arr[flat & (arr == 0)] = 96
    mask.paste(Image.fromarray(arr, mode="L"))
    return True


def _draw_pairs(img, pairs: list[dict], map_size: tuple[int, int]) -> None:
    """Clone pairs: source box (cyan), target box (magenta), a line between their centres."""
    if not pairs:
        return
    sx, sy = img.size[0] / map_size[0], img.size[1] / map_size[1]
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(11, round(img.size[0] / 36)))  # about 4 mm on the page
    for k, p in enumerate(pairs, 1):
        s, t = p.get("source_bbox"), p.get("target_bbox")
        if not (s and t):
            continue
        sb = [s[0] * sx, s[1] * sy, s[2] * sx, s[3] * sy]
        tb = [t[0] * sx, t[1] * sy, t[2] * sx, t[3] * sy]
        d.rectangle(sb, outline=(0, 220, 255), width=2)
        d.rectangle(tb, outline=(255, 0, 200), width=2)
        d.line([((sb[0] + sb[2]) / 2, (sb[1] + sb[3]) / 2), ((tb[0] + tb[2]) / 2, (tb[1] + tb[3]) / 2)],
               fill=(255, 255, 0), width=2)
        for corner, tag, colour, ink in ((sb, f"S{k}", (0, 220, 255), (0, 0, 0)),
                                         (tb, f"T{k}", (255, 0, 200), (255, 255, 255))):
            _tag(d, corner, tag, colour, ink, font)


def _tag(d, corner, text: str, colour, ink, font) -> None:
    """A pair's label in a filled patch at its box's top-left corner, as the viewer draws it: Pillow's
    small bitmap text in the box colour was unreadable on a light photo once printed."""
    x0, y0, x1, y1 = d.textbbox((0, 0), text, font=font)
    pad = max(2, (y1 - y0) // 5)
    w, h = x1 - x0 + 2 * pad, y1 - y0 + 2 * pad
    d.rectangle([corner[0], corner[1], corner[0] + w, corner[1] + h], fill=colour)
    d.text((corner[0] + pad - x0, corner[1] + pad - y0), text, fill=ink, font=font)


def _params(md: dict) -> str:
    return ", ".join(f"{k} = {v}" for k, v in (md.get("parameters") or {}).items()) or "defaults"


# The libraries the classical layers compute with, as their results record them (names as their projects write them).
_LIBRARIES = (("opencv", "OpenCV"), ("scipy", "SciPy"), ("jpeglib", "jpeglib"), ("numpy", "NumPy"),
              ("pillow", "Pillow"), ("app", "DeCLIP Desktop"))


def library_text(md: dict) -> str:
    """The library versions a layer's result was computed with: a re-run needs the same ones."""
    v = md.get("versions") if isinstance(md.get("versions"), dict) else {}
    text = " · ".join(f"{name} {v[k]}" for k, name in _LIBRARIES if v.get(k)) or "not recorded with the result"
    threads = (md.get("threads") or {}).get("opencv") if isinstance(md.get("threads"), dict) else None
    if isinstance(threads, int) and not isinstance(threads, bool):  # recorded since the layers say it
        text += f" (OpenCV with {threads} thread{'s' if threads != 1 else ''})"
    return text


def _title(layer: str) -> str:
    try:
        return evidence.info(layer).title
    except evidence.EvidenceError:   # a layer this version does not know (a case from a newer release)
        return layer


def pinned_section(pictures: list[LayerPicture]) -> list[Flowable]:
    if not pictures:
        return []
    out: list[Flowable] = [CondPageBreak(300), Spacer(1, 6)]
    # the section's heading and introduction go with the first layer's block, never alone at a page's foot
    intro: list[Flowable] = [P("Evidence layers pinned to this finding", "h2"),
                             P("Classical forensic analyses the examiner pinned to the finding. Each is independent "
                               "of the learned map and has its own failure modes; its mask is drawn at the layer's "
                               "own default threshold. The methods are described in the appendix.")]
    for pic in pictures:
        out.append(KeepTogether(intro + _layer_block(pic)))
        out.append(Spacer(1, 6))
        intro = []
    return out


def _layer_block(pic: LayerPicture) -> list[Flowable]:
    """One pinned layer: heading, map and mask, parameter table and how-to-read box. Kept together on one
    page (the pictures were left at a page's foot with their table on the next); a block taller than a
    page flows from a fresh page, its heading kept with the pictures (h3 keepWithNext)."""
    title = pic.metadata.get("model_name") or _title(pic.layer)
    head = P(f"{esc(pic.layer)} — {esc(title)}", "h3")
    if pic.error:
        return [head, box([P(f"Pinned, but not shown: {esc(pic.error)}.")], "note")]
    row = Table([[[imaging.flowable(pic.overlay, PANEL_W, PANEL_H), Spacer(1, 2),
                   P(f"{esc(pic.layer)} map over the image" + (" (S = source, T = target)" if pic.layer == "clones"
                                                              else ""), "caption")],
                  [imaging.flowable(pic.mask, PANEL_W, PANEL_H, lossless=True), Spacer(1, 2),
                   P(f"Mask: white = {esc(pic.layer)} above {fmt_threshold(pic.threshold)}"
                     + ("; grey = too flat to check" if pic.flat else ""), "caption")]]],
                colWidths=[PANEL_W + 6, PANEL_W + 6])
    row.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                             ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    md = pic.metadata
    rows = [("Score", f"{fmt_score(pic.score)} ({evidence.info(pic.layer).score_meaning})"),
            ("Flagged", f"{100 * (pic.flagged or 0):.1f} % of the image above {fmt_threshold(pic.threshold)}"),
            ("Parameters", _params(md)),
            ("Method version", str(md.get("method_version", "?"))),
            ("Libraries", library_text(md)),
            ("Computed", readable_utc(str(md.get("created_utc") or pic.stored_utc)))]
    pairs = (md.get("details") or {}).get("pairs") or []
    if pairs:
        rows.append(("Clone pairs", "; ".join(pair_text(k, p)
                                              for k, p in enumerate(pairs[:8], 1))
                     + (f"; and {len(pairs) - 8} more" if len(pairs) > 8 else "")))
    rows += [("This image", str(note)) for note in md.get("notes") or []]
    return [head, row, kv_table(rows, continued=f"{pic.layer} — parameters (continued)"),
            box([X(f"<b>How to read this.</b> {esc(md.get('how_to_read', ''))}"),
                 X(f"<b>Limits.</b> {esc(md.get('limits', ''))}")], "note")]


def methods_appendix(findings: list) -> list[Flowable]:
    """Every evidence-layer method pinned anywhere in the report: reference, version, parameters used."""
    used: dict[str, dict] = {}
    params: dict[str, set[str]] = {}
    libs: dict[str, set[str]] = {}
    for f in findings:
        for pin in getattr(f.item, "pinned_layers", None) or []:
            md = pin.get("metadata") or {}
            if md:
                used.setdefault(pin["layer"], md)
                params.setdefault(pin["layer"], set()).add(_params(md))
                libs.setdefault(pin["layer"], set()).add(library_text(md))
    if not used:
        return []
    out: list[Flowable] = [PageBreak(), P("Appendix F — Evidence-layer methods", "h1"),
                           P("The classical analyses pinned to findings in this report, as implemented in this "
                             "software (written from the cited papers).")]
    for name in sorted(used, key=lambda n: list(used).index(n)):
        md = used[name]
        rows = [("Reference", with_titles(str(md.get("reference", "")))),
                ("Method version", str(md.get("method_version", "?"))),
                ("Parameters used", " | ".join(sorted(params[name]))),
                ("Libraries", " | ".join(sorted(libs[name]))),
                ("Default threshold", f"{fmt_threshold(float(md.get('default_threshold', 0.5)))} (fixed on the "
                                      "project's own synthetic validation split)"),
                ("What it shows", str(md.get("how_to_read", ""))),
                ("Limits", str(md.get("limits", "")))]
        out.append(KeepTogether([P(f"{esc(name)} — {esc(md.get('model_name') or name)}", "h2"), kv_table(rows)]))
    return out
