"""The summary table: one row per evidence item."""
from __future__ import annotations

from reportlab.platypus import Flowable

from .blocks import P, X, esc, fmt_pct, fmt_score, fmt_threshold, grid_table
from .findings import Findings
from .integrity import VERIFIED
from .provenance_block import name_with_badge
from .styles import FRAME_W, WARN_BG


def summary(findings: list[Findings], thumbs: dict[int, Flowable]) -> list[Flowable]:
    widths = [20, 52, 104, 146, 50, 50]  # leaves the status column room for "manipulation" unbroken
    widths.append(FRAME_W - sum(widths))
    rows, extra = [], []
    for f in findings:
        sha = (f.item.sha256_ingest or "not recorded").lower()
        sha_cell = X(f"{sha[:32]}<br/>{sha[32:]}", "mono_small") if len(sha) == 64 else P(sha, "mono_small")
        if f.analysed:
            score = P(fmt_score(f.score), "cell")
            flagged = X(f"{fmt_pct(f.flagged)}<br/><font size='6'>at {fmt_threshold(f.threshold)}</font>", "cell")
        else:
            score = P("analysis failed" if f.item.failure else "not analysed", "cell_b")
            flagged = P("—", "cell")
        status = esc(f.item.status or "—")
        if f.integrity.status != VERIFIED:
            status += f"<br/><font color='#9b1c1c'><b>⚠ {esc(f.integrity.status)}</b></font>"
        rows.append([P(str(f.index), "cell"), thumbs.get(f.index) or P("—", "cell"), name_with_badge(f.item),
                     sha_cell, score, flagged, X(status, "cell")])
        if f.integrity.status != VERIFIED:
            extra.append(("BACKGROUND", (0, len(rows)), (-1, len(rows)), WARN_BG))
    head = ["#", "Image", "File name", "SHA-256 (at ingest)", "Score", "Flagged area", "Analyst status"]
    return [P("Summary of evidence items", "h1"),
            P("Score = mean manipulation probability over the image. Flagged area = share of pixels whose "
              "probability exceeds the threshold. Neither is a verdict; see \"Method and limitations\".", "muted"),
            grid_table(head, rows, widths, row_styles=extra)]
