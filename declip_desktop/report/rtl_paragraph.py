"""A paragraph holding right-to-left text, wrapped in logical order and then reordered per line.

reportlab wraps the string it is given from left to right. Reordered as a whole first (bidi.visual),
a Hebrew or Arabic note of three lines would read bottom line first; so the logical text is broken
into lines here, at the width reportlab offers, and each line is reordered on its own. An RTL
paragraph (its first strong letter is RTL) is right-aligned, as its readers expect.
"""
from __future__ import annotations

from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Flowable, Paragraph

from . import bidi, fonts
from .pages import text_width


def wrap_logical(text: str, width: float, font: str, size: float) -> list[str]:
    """Greedy word wrap of one line of logical text; a word wider than the line is cut by characters."""
    lines: list[str] = []
    cur = ""
    for word in text.split(" "):
        trial = f"{cur} {word}" if cur else word
        if text_width(trial, font, size) <= width:
            cur = trial
            continue
        if cur:
            lines.append(cur)
        cur = ""
        for ch in word:  # the word alone may still not fit
            if cur and text_width(cur + ch, font, size) > width:
                lines.append(cur)
                cur = ""
            cur += ch
    lines.append(cur)
    return lines


class RtlParagraph(Flowable):
    """Stands in for Paragraph(markup(text), style) when `text` holds right-to-left letters."""

    def __init__(self, text: str, style: ParagraphStyle, newlines: bool = False):
        super().__init__()
        # hard lines as fonts.markup(keep_newlines=True) makes them; clean() turns others into spaces
        hard = text.replace("\r\n", "\n").split("\n") if newlines else [text]
        self.hard_lines = [fonts.clean(x) for x in hard]
        align = TA_RIGHT if bidi.is_rtl_paragraph(" ".join(self.hard_lines)) else style.alignment
        self.style = ParagraphStyle(f"{style.name}_rtl", parent=style, alignment=align)
        self._para: Paragraph | None = None
        self._para_w: float | None = None

    def _layout(self, avail_w: float) -> Paragraph:
        if self._para is None or self._para_w != avail_w:  # wrap() then split() at one width: once
            st = self.style
            # 1 pt of slack: reportlab measures the reordered line and must not wrap it again
            width = avail_w - st.leftIndent - st.rightIndent - max(st.firstLineIndent, 0) - 1
            lines = [ln for hard in self.hard_lines for ln in wrap_logical(hard, width, st.fontName, st.fontSize)]
            self._para = Paragraph("<br/>".join(fonts.markup(ln) for ln in lines), st)
            self._para_w = avail_w
        return self._para

    def wrap(self, avail_w, avail_h):
        return self._layout(avail_w).wrap(avail_w, avail_h)

    def split(self, avail_w, avail_h):
        return self._layout(avail_w).split(avail_w, avail_h)

    def draw(self):
        self._para.drawOn(self.canv, 0, 0)

    def getSpaceBefore(self):
        return self.style.spaceBefore

    def getSpaceAfter(self):
        return self.style.spaceAfter
