"""One evidence item: images, numbers, how it was analysed, integrity and context."""
from __future__ import annotations

import json
from typing import Any

from reportlab.platypus import CondPageBreak, Flowable, KeepTogether, Spacer, Table, TableStyle

from declip_desktop.case.util import readable_utc
from engine.cards import FLIP_AVERAGE_TEXT
from engine.cpu import cpu_text_if_cpu

from . import exif, imaging, provenance_block, reproduce, validation
from .blocks import ColourBar, P, X, box, esc, fmt_bytes, fmt_pct, fmt_score, fmt_threshold, kv_table, text_rows
from .evidence_pages import pinned_section
from .findings import Findings
from .flow import ItemMark
from .integrity import MISMATCH, MISSING, UNRECORDED
from .pictures import Pictures
from .styles import FRAME_W, RULE

GAP = 10
PANEL_W = (FRAME_W - GAP) / 2
PANEL_H = 190


def precision_text(md: dict) -> str:
    """'exact · float32', or 'fast · backbone bfloat16, decoder float32' where the two differ."""
    prec = md.get("precision") or md.get("dtype") or "?"
    dt, ddt = md.get("dtype"), md.get("decoder_dtype")
    if dt and ddt and ddt != dt:
        return f"{prec} · backbone {dt}, decoder {ddt}"
    return f"{prec} · dtype {dt}" if dt and dt != prec else prec


def item_section(f: Findings, pics: Pictures) -> list[Flowable]:
    it = f.item
    label = item_label(f)
    # the mark lets every later page of this item name it in its header ("... (continued)")
    out: list[Flowable] = [ItemMark(label), P(label, "h1")]

    # Warnings first: an investigator must not miss them.
    if f.integrity.status in (MISMATCH, MISSING):
        out.append(box([P(f"INTEGRITY WARNING — {f.integrity.status}", "warn"), P(f.integrity.message)], "warn"))
        out.append(Spacer(1, 6))
    if it.case_problems:
        out.append(box([P("CASE VERIFICATION PROBLEM", "warn")] + [P(m) for m in it.case_problems[:10]], "warn"))
        out.append(Spacer(1, 6))
    if f.analysed_file_matches is False:
        out.append(box([P("ANALYSIS / EVIDENCE MISMATCH", "warn"),
                        P("The analysis metadata records a different file SHA-256 than the ingest record: the "
                          "analysis may not have been run on this evidence file.")], "warn"))
        out.append(Spacer(1, 6))

    out.extend(provenance_block.alert(it))  # Content Credentials before any map
    out.append(_findings_table(f))
    out.append(Spacer(1, 8))
    out.extend(_note(it))
    fail = it.failure
    if fail:
        when = readable_utc(fail.get("time_utc"))
        what = f"{fail.get('model_id') or 'default model'}, {fail.get('mode') or '?'} mode, {when}"
        if not f.analysed:
            out.append(box([P("ANALYSIS FAILED", "warn"),
                            P(f"The last analysis attempt ({what}) failed: {fail.get('error') or 'no reason recorded'}. "
                              "No result exists for this item, and no finding is stated from one.")], "warn"))
        else:
            out.append(box([P(f"A later analysis attempt ({what}) failed: {fail.get('error') or 'no reason recorded'}. "
                              "The result shown is the stored one from before.")], "note"))
        out.append(Spacer(1, 8))
    elif not f.analysed:
        out.append(box([P("NOT ANALYSED", "warn"),
                        P("This item has no analysis result in the case. It is listed for completeness; no finding "
                          "is stated for it.")], "note"))
        out.append(Spacer(1, 8))
    if pics.error:
        out.append(box([P("Images unavailable", "h3"), P(pics.error)], "note"))
    elif not f.analysed:
        out.append(_panel_row([(pics.original, "Original (EXIF orientation applied)")]))
    else:
        out.extend(_images(f, pics))

    out.extend(pinned_section(pics.layers))
    out.append(CondPageBreak(150))
    if f.analysed:
        out.append(P("How it was analysed", "h2"))
        out.append(kv_table(_method_rows(f), continued="How it was analysed (continued)"))
    if f.analysed or any(not p.error for p in pics.layers):
        # what a second examiner runs, from the evidence file alone, and what it must give
        out.append(P("How to reproduce", "h2"))
        out.append(kv_table(reproduce.rows(f, pics.layers), continued="How to reproduce (continued)"))
    out.append(P("Integrity", "h2"))
    out.append(kv_table(_integrity_rows(f), continued="Integrity (continued)"))
    out.extend(provenance_block.details(it))
    out.append(P("Context", "h2"))
    rows = [("Analyst status", it.status or "—")]
    if it.finding_by or it.finding_utc:
        rows.append(("Recorded by", " · ".join(x for x in (it.finding_by, readable_utc(it.finding_utc)) if x)))
    if it.threshold is not None or it.finding_analysis:
        # what the examiner looked at, even when the report's threshold overrides it
        rows.append(("Finding recorded at", " · ".join(x for x in (
            # threshold and opacity are recorded together (the opacity alone may be the report's default)
            f"threshold {fmt_threshold(it.threshold)} · opacity {it.opacity:.0%}" if it.threshold is not None else "",
            f"on the {it.finding_analysis} analysis" if it.finding_analysis else "") if x)))
    if it.ingest_utc:
        rows.append(("Ingested", readable_utc(it.ingest_utc)))
    rows += exif.key_rows(it.metadata or {})
    out.append(kv_table(rows, continued="Context (continued)"))
    out.append(ItemMark(None))   # pages after this one belong to the next section
    return out


def item_label(f: Findings) -> str:
    """'Item 3 · E0004 · name.jpg': the case's evidence id beside the report-local number ("Item 1"
    alone cannot be found in the case); the item's heading and its continuation pages say the same."""
    return f"Item {f.index} · {f.item.item_id} · {f.item.file_name}"


def _note(it) -> list[Flowable]:
    # The examiner's words go with the status, before the pictures: a reader who sees "manipulation
    # confirmed" must not have to turn pages of method tables to find why.
    rows = text_rows(it.note or "(no note)")
    note = [P("Analyst's note", "h3"), box(rows, "note", tight=True)]
    return ([KeepTogether(note)] if len(rows) <= 12 else note) + [Spacer(1, 8)]  # a long note flows on over pages


def _findings_table(f: Findings) -> Table:
    if f.analysed:
        cells = [("Score", fmt_score(f.score)), ("Threshold", fmt_threshold(f.threshold)),
                 ("Flagged area", fmt_pct(f.flagged)), ("Regions shown", str(len(f.regions))),
                 ("Analyst status", f.item.status or "—")]
    else:
        cells = [("Score", "not analysed"), ("Threshold", fmt_threshold(f.threshold)), ("Flagged area", "—"),
                 ("Regions shown", "—"), ("Analyst status", f.item.status or "—")]
    w = FRAME_W / len(cells)
    rows = [[P(k, "label") for k, _ in cells], [P(v, "h2") for _, v in cells]]
    style = [("BOX", (0, 0), (-1, -1), 0.6, RULE), ("INNERGRID", (0, 0), (-1, -1), 0.3, RULE),
             ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
             ("LEFTPADDING", (0, 0), (-1, -1), 6)]
    if f.analysed and f.map_max is not None:
        rows.append([X(range_text(f), "cell")] + [""] * (len(cells) - 1))
        style.append(("SPAN", (0, 2), (-1, 2)))
    t = Table(rows, colWidths=[w] * len(cells))
    t.setStyle(TableStyle(style))
    return t


def range_text(f: Findings) -> str:
    """The map's reachable range, and what it means for the threshold (as the viewer warns)."""
    text = (f"Map range: 0 to {f.map_max:.3f} (the highest value this map reaches; the model's calibration may "
            f"keep its maps below 1).")
    if f.threshold >= f.map_max:
        text += (f" <b>The threshold {fmt_threshold(f.threshold)} is at or above it: no pixel can be flagged "
                 f"at this threshold.</b>")
    return text


def _images(f: Findings, pics: Pictures) -> list[Flowable]:
    it = f.item
    t = fmt_threshold(f.threshold)
    bar = ColourBar(pics.colorbar, f.threshold, width=PANEL_W - 8, label=f"probability ({it.cmap})")
    out: list[Flowable] = [
        _panel_row([(pics.original, "Original (EXIF orientation applied)"),
                    (pics.overlay, f"Heat map, opacity {it.opacity:.0%}, faded at or below the threshold {t} "
                                   f"and outlined at it (as in the viewer)")], extra={1: bar}),
        *validation.false_alarm(f),  # the model's measured false-alarm rate, next to its map
        Spacer(1, 6),
    ]
    n = len(f.regions)
    out.append(_panel_row([(pics.mask, f"Thresholded mask: white = probability > {t}"),
                           (pics.boxed, f"Most strongly flagged regions ({n})" if n else "No region above the threshold")]))
    if f.regions:
        out.append(Spacer(1, 6))
        out.append(_crops(f, pics))
    return out


def _panel_row(panels: list[tuple], extra: dict[int, Flowable] | None = None) -> Table:
    cells = []
    for i, (img, caption) in enumerate(panels):
        col = [imaging.flowable(img, PANEL_W, PANEL_H), Spacer(1, 2), P(caption, "caption")]
        if extra and i in extra:
            col += [Spacer(1, 3), extra[i]]
        cells.append(col)
    while len(cells) < 2:
        cells.append("")
    t = Table([cells], colWidths=[PANEL_W + GAP / 2, PANEL_W + GAP / 2])
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                           ("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return t


def _crops(f: Findings, pics: Pictures) -> Flowable:
    n = imaging.BOX_COLOURS
    w = FRAME_W / 4
    cells = []
    for r, c in zip(f.regions, pics.crops):
        x0, y0, x1, y1 = r.box
        col = "#%02x%02x%02x" % n[(r.rank - 1) % len(n)]
        cap = X(f"<font color='{col}'>■</font> <b>Region {r.rank}</b><br/>"
                f"{fmt_pct(r.area_fraction)} of image · mean p {r.mean_probability:.2f} · max {r.max_probability:.2f}<br/>"
                f"box x {x0}–{x1}, y {y0}–{y1} px", "caption")
        cells.append([imaging.flowable(c, w - 8, 100), Spacer(1, 2), cap])
    while len(cells) < 4:
        cells.append("")
    t = Table([cells], colWidths=[w] * 4)
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                           ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2)]))
    return KeepTogether([P("Crops of the flagged regions (from the original, with context margin)", "h3"), t])


def _method_rows(f: Findings) -> list[tuple[str, Any]]:
    md = f.metadata
    card = f.card or {}
    rows: list[tuple[str, Any]] = []
    mode = str(md.get("mode", "?"))
    tiling = md.get("tiling") if isinstance(md.get("tiling"), dict) else {}
    if mode == "tiled" and tiling:
        mode_txt = tiling_text(tiling, md.get("image") or {})
    elif mode == "paper":
        mode_txt = "paper (whole image resized to the model's input size)"
    else:
        mode_txt = mode
    rows.append(("Analysis mode", mode_txt))
    rows.append(("Model", f"{md.get('model_name') or card.get('name', '?')} (id {md.get('model_id') or card.get('id', '?')}"
                          f"{', version ' + str(card['version']) if card.get('version') else ''}); backbone, decoder, "
                          f"licence and training data in Appendix A, Models"))
    rows.append(("Weights SHA-256", weights_cell(md.get("weights") or [])))
    rows.append(("Device / precision", f"{device_text(md)} · {precision_text(md)}"))
    v = md.get("versions") or {}
    rows.append(("Software versions", " · ".join(f"{k} {v[k]}" for k in ("app", "torch", "open_clip", "pillow", "timm", "numpy", "python")
                                                 if k in v) or "not recorded"))
    timings = md.get("timings")
    if isinstance(timings, dict) and timings:
        rows.append(("Timings", timings_text(timings)))
    if md.get("created_utc"):
        rows.append(("Analysed", readable_utc(str(md["created_utc"]))))
    img = md.get("image") or {}
    if img.get("sha256"):
        rows.append(("Analysed file SHA-256", P(img["sha256"], "mono")))
    if img.get("width"):
        rows.append(("Analysed size", f"{img.get('width')}×{img.get('height')} px"
                                      + (f" · {img.get('format')}" if img.get("format") else "")))
    for note in img.get("notes") or []:
        rows.append(("Engine note", str(note)))
    rows.append(("Overlay", f"colour map {f.item.cmap}, opacity {f.item.opacity:.0%}, threshold {fmt_threshold(f.threshold)}"))
    if f.item.other_analyses:   # one per line: a run-on list of ids and dates was hard to read
        rows.append(("Other analyses in the case", X("<br/>".join(esc(a) for a in f.item.other_analyses), "cell")))
    return rows


def device_text(md: dict) -> str:
    """The device once: 'CPU (2 threads)', not 'CPU (2 threads) (cpu)'; the kind only when the name lacks it.
    A CPU also by its model and vector instructions, where recorded (engine/cpu.py)."""
    name, kind = md.get("device_name"), md.get("device")
    if not name:
        return str(kind or "not recorded")
    text = str(name) if not kind or str(kind).lower() in str(name).lower() else f"{name} ({kind})"
    cpu = cpu_text_if_cpu(kind, md.get("cpu"))
    if cpu:
        text += f" · {cpu}"
    return text


def timings_text(timings: dict) -> str:
    """'preprocess < 0.01 s, backbone 0.08 s, decoder 0.11 s; batch size 1': the unit said once per
    figure, not left in a key suffix ('backbone_s 0.07662')."""
    times, other = [], []
    for k, v in timings.items():
        name = str(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and name.endswith(("_s", "_ms")):
            sec = v / 1000 if name.endswith("_ms") else v
            label = name.rsplit("_", 1)[0].replace("_", " ")
            times.append(f"{label} {'< 0.01' if 0 < sec < 0.005 else f'{sec:.2f}'} s")
        else:
            other.append(f"{name.replace('_', ' ')} {_compact(v)}")
    return "; ".join(x for x in (", ".join(times), ", ".join(other)) if x)


def tiling_text(tiling: dict, image: dict) -> str:
    """The tiled mode's settings as stored, exactly (a re-run needs the stride and the scale, not 0.75).
    The working image is said to be enlarged, reduced or at the image's own pixels: 'full resolution' for
    any scale of 1 or more read as the original-pixels mode (scale 1) for an enlarged small photo."""
    w, h = (tiling.get("scaled_size") or ["?", "?"])[:2]
    scale, stride = tiling.get("scale"), tiling.get("stride")
    known = isinstance(scale, (int, float))
    how = ("working image" if not known else "at the image's own scale" if scale == 1.0
           else "enlarged working image" if scale > 1.0 else "reduced working image")
    scale_txt = repr(scale) if known else "not recorded"   # repr: every stored digit
    stride_txt = f"{stride} px" if stride is not None else "not recorded"
    of = f" of the {image['width']}×{image['height']} px image" if image.get("width") and image.get("height") else ""
    auto = "; the automatic scale" if known and _automatic(tiling, image) else ""
    return (f"tiled, {how}: {tiling.get('tiles', '?')} overlapping windows of "
            f"{tiling.get('tile_size', '?')} px, stride {stride_txt}, over a {w}×{h} px working image "
            f"(scale {scale_txt}{of}{auto})")


def _automatic(tiling: dict, image: dict) -> bool:
    """True when the automatic working size (long side at most 1024 px, short side at least one window) is
    the recorded one, i.e. a re-run needs no --tile-scale."""
    args, why = reproduce.tile_args({"tiling": tiling, "image": image})
    return why is None and "--tile-scale" not in args


def weights_cell(weights: list) -> Flowable:
    """Each weights file and its full SHA-256 on a line of its own, so a copy yields the whole hash."""
    lines = [f"{esc(w.get('role') or '?')}: {esc(w.get('file') or w.get('name') or '?')}<br/>"
             f"<font name='DeclipMono' size='7'>{esc(w.get('sha256') or 'not recorded')}</font>"
             for w in weights if isinstance(w, dict)]
    return X("<br/>".join(lines) or "not recorded with the result", "cell")


def _integrity_rows(f: Findings) -> list[tuple[str, Any]]:
    it, ig = f.item, f.integrity
    colour = {"verified": "#1e6b34", MISMATCH: "#9b1c1c", MISSING: "#9b1c1c", UNRECORDED: "#b7791f"}.get(ig.status, "#1b1f24")
    rows: list[tuple[str, Any]] = [
        ("SHA-256 at ingest", P(it.sha256_ingest or "not recorded", "mono")),
        ("SHA-256 at report time", P(ig.sha256_now or "could not be computed", "mono")),
        ("Result", X(f"<font color='{colour}'><b>{esc(ig.status.upper())}</b></font> — {esc(ig.message)}", "cell")),
    ]
    for k, v in sorted(it.extra_hashes.items()):
        rows.append((k.upper() if len(k) <= 6 else k, P(v, "mono")))
    rows.append(("File size", fmt_bytes(it.size_bytes if it.size_bytes is not None else _size(it))))
    rows.append(("Item id", it.item_id))
    return rows


def _size(it) -> int | None:
    try:
        return it.path.stat().st_size if it.path else None
    except OSError:
        return None


def input_text(inp: dict) -> str:
    """The card's input spec in words; flip averaging is said, not shown as a bare flag."""
    rest = {k: v for k, v in inp.items() if k != "flip_average"}
    return _compact(rest) + (f"; {FLIP_AVERAGE_TEXT}" if inp.get("flip_average") else "")


def _compact(d: Any) -> str:
    if isinstance(d, dict):
        return ", ".join(f"{k} {_compact(v)}" for k, v in d.items())
    if isinstance(d, (list, tuple)):
        return "[" + ", ".join(_compact(v) for v in d) + "]"
    if isinstance(d, float):
        return f"{d:.4g}"
    return json.dumps(d, ensure_ascii=False) if not isinstance(d, (str, int)) else str(d)
