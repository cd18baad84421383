"""The summary table: two rows per evidence item, its figures and, under them, its full SHA-256."""
from __future__ import annotations

from reportlab.lib import colors
from reportlab.platypus import Flowable

from .blocks import P, X, esc, fmt_pct, fmt_score, fmt_threshold, grid_table
from .findings import Findings
from .integrity import VERIFIED
from .provenance_block import name_with_badge
from .styles import BAND, FRAME_W, WARN_BG

# '#' (number and evidence id), image, file name, mode, score, flagged area; status takes the rest
# (room for "manipulation" unbroken)
WIDTHS = [36, 52, 128, 62, 46, 56]


def summary(findings: list[Findings], thumbs: dict[int, Flowable]) -> list[Flowable]:
    widths = WIDTHS + [FRAME_W - sum(WIDTHS)]
    models = {str(f.metadata.get("model_id") or "?") for f in findings if f.analysed}
    rows, extra = [], []
    for k, f in enumerate(findings):
        r = 1 + 2 * k  # the item's first table row (row 0 is the header)
        sha = (f.item.sha256_ingest or "not recorded").lower()
        if f.analysed:
            score = P(fmt_score(f.score), "cell")
            flagged = X(f"{fmt_pct(f.flagged)}<br/><font size='6'>at {fmt_threshold(f.threshold)}</font>", "cell")
            mode = esc(f.metadata.get("mode") or "?")
            if len(models) > 1:  # which model made the score, when they differ
                mode += f"<br/><font size='6'>{esc(f.metadata.get('model_id') or '?')}</font>"
            mode_cell = X(mode, "cell")
        else:
            score = P("analysis failed" if f.item.failure else "not analysed", "cell_b")
            flagged = mode_cell = P("—", "cell")
        status = esc(f.item.status or "—")
        if f.integrity.status != VERIFIED:
            status += f"<br/><font color='#9b1c1c'><b>⚠ {esc(f.integrity.status)}</b></font>"
        rows.append([X(f"{f.index}<br/><font size='6.4'>{esc(f.item.item_id)}</font>", "cell"),
                     thumbs.get(f.index) or P("—", "cell"), name_with_badge(f.item, widths[2] - 6),
                     mode_cell, score, flagged, X(status, "cell")])
        # the hash whole on one line, so copying or extracting the text yields all 64 digits
        rows.append(["", "", X(f"SHA-256 at ingest&nbsp;&nbsp;<font name='DeclipMono' size='6.4'>{esc(sha)}</font>",
                               "cell"), "", "", "", ""])
        bg = WARN_BG if f.integrity.status != VERIFIED else (BAND if k % 2 else colors.white)
        extra += [("SPAN", (0, r), (0, r + 1)), ("SPAN", (1, r), (1, r + 1)), ("SPAN", (2, r + 1), (-1, r + 1)),
                  ("BACKGROUND", (0, r), (-1, r + 1), bg),
                  ("LINEBELOW", (2, r), (-1, r), 0.25, bg),  # one item, one band: no rule inside it
                  ("TOPPADDING", (2, r + 1), (-1, r + 1), 0)]
    head = ["# / id", "Image", "File name", "Mode" + (" / model" if len(models) > 1 else ""), "Score",
            "Flagged area", "Analyst status"]
    return [P("Summary of evidence items", "h1"),
            P("Score = mean manipulation probability over the image. Flagged area = share of pixels whose "
              "probability exceeds the threshold. Neither is a verdict; see \"Method and limitations\". Mode: "
              "paper (the whole image resized to the model's input) or tiled (overlapping windows); scores made "
              "in the two modes can differ for the same image.", "muted"),
            grid_table(head, rows, widths, row_styles=extra)]
