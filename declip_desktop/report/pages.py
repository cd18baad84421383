"""Page furniture: a header and footer on every page with the case number and "Page X of Y".

The total page count is only known once layout is finished, so the canvas keeps each page's
state and draws the furniture on all pages when the document is saved.
"""
from __future__ import annotations

from dataclasses import dataclass

from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from . import bidi, fonts
from .styles import ACCENT, MARGIN_X, MUTED, PAGE, RULE


@dataclass
class Furniture:
    case_number: str
    case_title: str
    report_id: str
    generated_utc: str
    product: str = "DeCLIP Desktop forensic image analysis report"
    pages: int = 0


def draw_text(c: Canvas, x: float, y: float, text: str, font: str, size: float, max_w: float | None = None,
              align: str = "left") -> None:
    """Draw one line with per-character CJK fallback, cut with an ellipsis to fit `max_w`."""
    text = bidi.visual(fonts.clean(text))
    if max_w is not None:
        text = fit(text, font, size, max_w)
    if align == "right":
        x -= text_width(text, font, size)
    for run, cjk in _runs(text):
        f = fonts.CJK if cjk else font
        c.setFont(f, size)
        c.drawString(x, y, run)
        x += stringWidth(run, f, size)


def fit(text: str, font: str, size: float, max_w: float) -> str:
    """`text`, cut with an ellipsis to fit `max_w`."""
    if text_width(text, font, size) <= max_w:
        return text
    while text and text_width(text + "…", font, size) > max_w:
        text = text[:-1]
    return text + "…"


def text_width(text: str, font: str, size: float) -> float:
    return sum(stringWidth(run, fonts.CJK if cjk else font, size) for run, cjk in _runs(text))


def _runs(text: str):
    run, flag = [], None
    for ch in text:
        f = fonts.needs_fallback(ch)
        if run and f != flag:
            yield "".join(run), flag
            run = []
        run.append(ch)
        flag = f
    if run:
        yield "".join(run), flag


def canvas_class(furn: Furniture):
    """A Canvas subclass that stamps `furn` on every page once the page count is known."""

    class ReportCanvas(Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []
            self.item_open: str | None = None     # set by flow.ItemMark as an item's pages are drawn
            self._item_at_start: str | None = None

        def showPage(self):  # noqa: N802 (reportlab API)
            # a page that began inside an item continues it, and says so in its header
            self._pages.append(dict(self.__dict__, continued_item=self._item_at_start))
            self._startPage()
            self._item_at_start = self.item_open

        def save(self):
            total = len(self._pages)
            furn.pages = total
            for state in self._pages:
                self.__dict__.update(state)
                _stamp(self, furn, self._pageNumber, total)
                super().showPage()
            super().save()

    return ReportCanvas


def _stamp(c: Canvas, furn: Furniture, page: int, total: int) -> None:
    w, h = PAGE
    c.saveState()
    top = h - 12 * 2.8346
    right = w - MARGIN_X
    c.setFillColor(ACCENT)
    draw_text(c, MARGIN_X, top, f"Case {furn.case_number}", fonts.SANS_BOLD, 8.5, max_w=200)
    c.setFillColor(MUTED)
    draw_text(c, right, top, furn.case_title, fonts.SANS, 7.5, max_w=(right - MARGIN_X) - 210, align="right")
    c.setStrokeColor(RULE)
    c.setLineWidth(0.6)
    c.line(MARGIN_X, top - 4, right, top - 4)
    item = getattr(c, "continued_item", None)
    if item:
        c.setFillColor(ACCENT)
        tail = " (continued)"   # a long file name is cut, never the word saying what this page is
        room = right - MARGIN_X - text_width(tail, fonts.SANS_BOLD, 7.8)
        draw_text(c, MARGIN_X, top - 15, fit(item, fonts.SANS_BOLD, 7.8, room) + tail, fonts.SANS_BOLD, 7.8)
    bottom = 10 * 2.8346
    c.line(MARGIN_X, bottom + 9, right, bottom + 9)
    c.setFillColor(MUTED)
    draw_text(c, MARGIN_X, bottom, f"DeCLIP Desktop report {furn.report_id} · generated {furn.generated_utc}",
              fonts.SANS, 6.6, max_w=(right - MARGIN_X) - 90)
    c.setFillColor(ACCENT)
    draw_text(c, right, bottom, f"Page {page} of {total}", fonts.SANS_BOLD, 7.5, align="right")
    c.restoreState()
