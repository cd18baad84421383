"""Paragraph styles, colours and measures shared by every part of the report."""
from __future__ import annotations

from functools import lru_cache

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm

from . import fonts

PAGE = A4
MARGIN_X = 17 * mm
MARGIN_TOP = 22 * mm
MARGIN_BOTTOM = 18 * mm
FRAME_W = PAGE[0] - 2 * MARGIN_X - 12   # platypus frames pad 6 pt on each side
FRAME_H = PAGE[1] - MARGIN_TOP - MARGIN_BOTTOM - 12

INK = colors.HexColor("#1b1f24")
MUTED = colors.HexColor("#5b6470")
RULE = colors.HexColor("#c9ced6")
BAND = colors.HexColor("#eef1f5")
ACCENT = colors.HexColor("#1f4e79")
WARN_BG = colors.HexColor("#fde8e8")
WARN_INK = colors.HexColor("#9b1c1c")
OK_INK = colors.HexColor("#1e6b34")
NOTE_BG = colors.HexColor("#fff7e0")


@lru_cache(maxsize=1)
def sheet() -> dict[str, ParagraphStyle]:
    fonts.register()
    base = ParagraphStyle("body", fontName=fonts.SANS, fontSize=8.6, leading=11.4, textColor=INK,
                          alignment=TA_LEFT, splitLongWords=1)
    s: dict[str, ParagraphStyle] = {"body": base}

    def add(name, parent="body", **kw):
        s[name] = ParagraphStyle(name, parent=s[parent], **kw)

    add("small", fontSize=7.4, leading=9.4)
    add("tiny", fontSize=6.4, leading=8.0, textColor=MUTED)
    add("muted", textColor=MUTED)
    add("cell", fontSize=7.6, leading=9.4)
    add("cell_b", parent="cell", fontName=fonts.SANS_BOLD)
    add("cell_head", parent="cell", fontName=fonts.SANS_BOLD, textColor=colors.white)
    add("label", fontSize=7.6, leading=9.4, fontName=fonts.SANS_BOLD, textColor=MUTED)
    add("mono", fontName=fonts.MONO, fontSize=7.0, leading=9.0)
    add("mono_small", fontName=fonts.MONO, fontSize=6.2, leading=7.8)
    add("h1", fontName=fonts.SANS_BOLD, fontSize=15, leading=19, textColor=ACCENT, spaceBefore=0, spaceAfter=6,
        keepWithNext=1)
    add("h2", fontName=fonts.SANS_BOLD, fontSize=11, leading=14, textColor=ACCENT, spaceBefore=8, spaceAfter=4,
        keepWithNext=1)
    add("h3", fontName=fonts.SANS_BOLD, fontSize=9, leading=12, textColor=INK, spaceBefore=6, spaceAfter=3,
        keepWithNext=1)   # headings stay with what follows (flow.py)
    add("caption", fontSize=7.0, leading=8.8, textColor=MUTED, alignment=TA_CENTER)
    add("cover_kicker", fontName=fonts.SANS_BOLD, fontSize=9.5, leading=12, textColor=MUTED)
    add("cover_title", fontName=fonts.SANS_BOLD, fontSize=24, leading=30, textColor=ACCENT, spaceAfter=4)
    add("cover_title_small", parent="cover_title", fontSize=17, leading=21)   # a long title on a full cover
    add("cover_sub", fontSize=13, leading=17, textColor=INK)
    add("warn", fontName=fonts.SANS_BOLD, fontSize=9, leading=12, textColor=WARN_INK)
    add("bullet", leftIndent=10, bulletIndent=0, spaceAfter=2)
    return s


def para_style(name: str, text: str) -> ParagraphStyle:
    """The named style, switched to character-level wrapping when the text contains CJK."""
    st = sheet()[name]
    if fonts.has_cjk(text):
        return ParagraphStyle(f"{name}_cjk", parent=st, wordWrap="CJK")
    return st
