"""Embedded Unicode fonts for the report, and per-character font fallback.

DejaVu Sans (Bitstream Vera licence) covers Latin, Greek, Cyrillic, Arabic, Hebrew and many
symbols; Droid Sans Fallback (Apache-2.0) covers Chinese, Japanese and Korean. Both are
TrueType files under resources/fonts/ with their licence texts, embedded (subset) in every PDF,
so the report renders the same on any machine. reportlab does not fall back between fonts by
itself, so `markup()` wraps each run of characters DejaVu lacks in the CJK font.
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache
from xml.sax.saxutils import escape

from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFont

import resources

from . import bidi

SANS = "DeclipSans"
SANS_BOLD = "DeclipSans-Bold"
MONO = "DeclipMono"
CJK = "DeclipCJK"

_FILES = {
    SANS: "DejaVuSans.ttf",
    SANS_BOLD: "DejaVuSans-Bold.ttf",
    MONO: "DejaVuSansMono.ttf",
    CJK: "DroidSansFallback.ttf",
}


@lru_cache(maxsize=None)
def _register_one(name: str) -> None:
    path = resources.path("fonts", _FILES[name])
    if not path.is_file():
        raise FileNotFoundError(f"report font missing: {path} (the resources/fonts folder is incomplete)")
    pdfmetrics.registerFont(TTFont(name, str(path)))


@lru_cache(maxsize=1)
def register() -> None:
    """Register the embedded fonts with reportlab (once per process). The CJK font (3.4 MB, slow to
    parse) is registered on first use, when some text needs it."""
    for name in (SANS, SANS_BOLD, MONO):
        _register_one(name)
    _fix_to_unicode()
    # <b> inside a paragraph maps to the bold face; CJK text has no bold face, so it stays regular.
    addMapping(SANS, 0, 0, SANS)
    addMapping(SANS, 1, 0, SANS_BOLD)
    addMapping(SANS, 0, 1, SANS)
    addMapping(SANS, 1, 1, SANS_BOLD)
    addMapping(CJK, 0, 0, CJK)
    addMapping(CJK, 1, 0, CJK)
    addMapping(CJK, 0, 1, CJK)
    addMapping(CJK, 1, 1, CJK)
    addMapping(MONO, 0, 0, MONO)
    addMapping(MONO, 1, 0, MONO)
    addMapping(MONO, 0, 1, MONO)
    addMapping(MONO, 1, 1, MONO)


@lru_cache(maxsize=8)
def _cmap(name: str) -> frozenset[int]:
    register()
    _register_one(name)
    return frozenset(pdfmetrics.getFont(name).face.charToGlyph)


def covers(font: str, ch: str) -> bool:
    return ord(ch) in _cmap(font)


def drawable(ch: str) -> bool:
    """True when the report can draw `ch`: regular and bold text (a file name is a bold heading on its
    item's page) both have it, or the CJK font, which stands in for both, does."""
    o = ord(ch)
    return (o in _cmap(SANS) and o in _cmap(SANS_BOLD)) or o in _cmap(CJK)


def _fix_to_unicode() -> None:
    """reportlab 5.1 writes a character above U+FFFF into a subset's ToUnicode map as 5 hex digits
    ("<1F600>"), so a PDF reader extracts U+1F60 "ὠ" for the 😀 that DejaVu draws. PDF wants UTF-16
    there: the map's lines for such characters are rewritten as surrogate pairs. A reportlab that
    writes them right leaves nothing to rewrite."""
    make = ttfonts.makeToUnicodeCMap
    if getattr(make, "declip_utf16", False):
        return

    def to_unicode(fontname, subset):
        text = make(fontname, subset)
        for i, v in enumerate(subset):
            if v > 0xFFFF:
                utf16 = chr(v).encode("utf-16-be").hex().upper()
                text = text.replace(f"<{i:02X}> <{v:04X}>", f"<{i:02X}> <{utf16}>")
        return text

    to_unicode.declip_utf16 = True
    ttfonts.makeToUnicodeCMap = to_unicode


def needs_fallback(ch: str) -> bool:
    """True for a printable character the main font lacks but the CJK font has."""
    o = ord(ch)
    return o not in _cmap(SANS) and o in _cmap(CJK)


def has_cjk(text: str) -> bool:
    return not is_plain(text) and any(needs_fallback(c) for c in text)


def is_plain(text: str) -> bool:
    """Latin, Greek and Cyrillic only (below U+0590): no font fallback, no right-to-left run."""
    return not text or max(text) < "\u0590"


def clean(text: object) -> str:
    """Text safe to lay out: a str without control characters (tabs and newlines become spaces), and
    with each character the embedded fonts cannot draw (an emoji, a rare script, a combining mark,
    a private-use or unassigned code point) written as its code point, "[U+1F50D]": reportlab draws
    a missing glyph as an empty box, which would silently drop what the examiner wrote."""
    s = "" if text is None else str(text)
    if s.isascii() and s.isprintable():
        return s
    out = []
    for c in s:
        if c in "\t\r\n":
            out.append(" ")
        elif unicodedata.category(c) in ("Cc", "Cs") or c in "\ufffe\uffff":
            out.append("\ufffd")
        elif drawable(c):
            out.append(c)
        else:
            out.append(f"[U+{ord(c):04X}]")
    return "".join(out)


def markup(text: object, keep_newlines: bool = False, rtl: bool | None = None) -> str:
    """Escape `text` for a reportlab Paragraph and switch to the CJK font where needed. rtl: the
    direction of the paragraph a wrapped line belongs to (bidi.visual)."""
    s = "" if text is None else str(text)
    if keep_newlines:
        return "<br/>".join(markup(line) for line in s.replace("\r\n", "\n").split("\n"))
    s = clean(s)
    if is_plain(s):
        return escape(s)
    s = bidi.visual(s, rtl)
    parts: list[str] = []
    run: list[str] = []
    run_cjk = False
    for c in s:
        c_cjk = needs_fallback(c)
        if run and c_cjk != run_cjk:
            parts.append(_emit("".join(run), run_cjk))
            run = []
        run.append(c)
        run_cjk = c_cjk
    if run:
        parts.append(_emit("".join(run), run_cjk))
    return "".join(parts)


def _emit(s: str, cjk: bool) -> str:
    e = escape(s)
    if cjk:
        _register_one(CJK)
        return f'<font name="{CJK}">{e}</font>'
    return e
