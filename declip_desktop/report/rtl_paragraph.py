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

    def __init__(self, text: str, style: ParagraphStyle, newlines: bool = False, rtl: bool | None = None):
        """rtl: the direction of the paragraph `text` is a piece of (a long note cut into rows);
        None: each hard line's own (Unicode P2-P3)."""
        super().__init__()
        # hard lines as fonts.markup(keep_newlines=True) makes them; clean() turns others into spaces
        hard = text.replace("\r\n", "\n").split("\n") if newlines else [text]
        self.hard_lines = [fonts.clean(x) for x in hard]
        self.directions = [bidi.is_rtl_paragraph(x) if rtl is None else rtl for x in self.hard_lines]
        align = TA_RIGHT if (bidi.is_rtl_paragraph(" ".join(self.hard_lines)) if rtl is None else rtl) \
            else style.alignment
        self.style = ParagraphStyle(f"{style.name}_rtl", parent=style, alignment=align)
        self._para: Paragraph | None = None
        self._para_w: float | None = None

    def _layout(self, avail_w: float) -> Paragraph:
        if self._para is None or self._para_w != avail_w:  # wrap() then split() at one width: once
            st = self.style
            # 1 pt of slack: reportlab measures the reordered line and must not wrap it again
            width = avail_w - st.leftIndent - st.rightIndent - max(st.firstLineIndent, 0) - 1
            # each hard line is a paragraph of its own direction (Unicode P1-P3); its wrapped lines keep it
            lines = [fonts.markup(ln, rtl=rtl) for hard, rtl in zip(self.hard_lines, self.directions)
                     for ln in wrap_logical(hard, width, st.fontName, st.fontSize)]
            self._para = Paragraph("<br/>".join(lines), st)
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
