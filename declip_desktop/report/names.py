"""File names in narrow table cells, broken only where a reader expects it. No Qt.

Why: reportlab splits a word that does not fit at any character, so "Wine_by_Jakkub_Mede.jpg"
became "Wine_by_Jakkub_Mede.jp" / "g". Here a name breaks after '_', '-', '.' or a space, and its
extension always stays with the last part."""
from __future__ import annotations

import os
import re
from typing import Callable

from reportlab.pdfbase.pdfmetrics import stringWidth

from . import fonts
from .blocks import esc
from .styles import sheet


def name_lines(name: str, width: float, style: str = "cell") -> list[str]:
    """`name` cut into lines no wider than `width` at separators (a part wider than a line is cut
    where it must)."""
    st = sheet()[style]
    stem, ext = os.path.splitext(name)
    parts = [p for p in re.split(r"(?<=[_\-. ])", stem) if p] or [""]
    parts[-1] += ext
    return fit_lines(parts, lambda s: stringWidth(s, st.fontName, st.fontSize) <= width)


def fit_lines(pieces: list[str], fits: Callable[[str], bool]) -> list[str]:
    """The pieces joined into lines that `fits` accepts, a line ending only between pieces, except where
    one piece alone does not fit: that piece is cut where it must (one character at least per line)."""
    lines, cur = [], ""
    for piece in pieces:
        if fits(cur + piece):
            cur += piece
            continue
        if cur:
            lines.append(cur)
        cur = ""
        for ch in piece:
            if cur and not fits(cur + ch):
                lines.append(cur)
                cur = ""
            cur += ch
    lines.append(cur)
    return lines


def name_markup(name: str, width: float, style: str = "cell") -> str:
    """Paragraph markup of `name` with its line breaks; names in other scripts wrap as before."""
    if not fonts.is_plain(name) or fonts.clean(name) != name:   # esc() writes what the fonts lack
        return esc(name)
    return "<br/>".join(esc(line) for line in name_lines(name, width, style))
