"""Small building blocks: paragraphs with font fallback, key/value tables, boxes, colour bar."""
from __future__ import annotations

import io
from typing import Iterable, Sequence

from PIL import Image
from reportlab.lib import colors
from reportlab.platypus import Flowable, Paragraph, Table, TableStyle
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase.pdfmetrics import stringWidth

from . import bidi, fonts
from .flow import KeptTable
from .rtl_paragraph import RtlParagraph
from .styles import BAND, FRAME_W, INK, MUTED, NOTE_BG, OK_INK, RULE, WARN_BG, WARN_INK, ACCENT, para_style, sheet


def P(text: object, style: str = "body", newlines: bool = False, rtl: bool | None = None) -> Flowable:
    """Paragraph of plain text (escaped, CJK fallback, wraps long words, right-to-left lines in order).
    rtl: the direction of the paragraph this text is a piece of (None: its own first strong letter)."""
    s = "" if text is None else str(text)
    if bidi.has_rtl(s):
        return RtlParagraph(s, para_style(style, s), newlines, rtl)
    return Paragraph(fonts.markup(s, keep_newlines=newlines), para_style(style, s))


def X(xml: str, style: str = "body") -> Paragraph:
    """Paragraph of trusted markup built by the report itself (user text must go through esc())."""
    return Paragraph(xml, sheet()[style])


def esc(text: object) -> str:
    return fonts.markup("" if text is None else str(text))


def cell(v: object, style: str = "cell") -> Flowable:
    return v if isinstance(v, Flowable) else P(v, style)


def fast(v: object, style: str, width: float) -> "str | Flowable":
    """A plain string when it fits on one line in `width` (much cheaper to lay out), else a Paragraph.

    Tables using this must set FONT/TEXTCOLOR for their cells to match `style`.
    """
    if isinstance(v, (Flowable, list)):   # a list: flowables stacked in one cell
        return v
    s = "" if v is None else str(v)
    st = sheet()[style]
    # a character the fonts lack goes through P, which writes it as its code point (fonts.clean)
    if fonts.is_plain(s) and fonts.clean(s) == s and stringWidth(s, st.fontName, st.fontSize) <= width - 8:
        return s
    return P(s, style)


def kv_table(rows: Sequence[tuple[str, object]], label_w: float = 118, width: float = FRAME_W,
             continued: str | None = None) -> Table:
    """Two-column table: muted bold labels, wrapped values, light banding. It moves whole rather than
    leave a row or two alone on a page; `continued` heads its rest on the next page."""
    vw = width - label_w
    data = [[fast(k, "label", label_w), fast(v, "cell", vw)] for k, v in rows]
    t = KeptTable(data, colWidths=[label_w, vw], hAlign="LEFT")
    t.continued = (lambda: P(continued, "h3")) if continued else None
    lab, val = sheet()["label"], sheet()["cell"]
    style = [
        ("FONT", (0, 0), (0, -1), lab.fontName, lab.fontSize, lab.leading),
        ("TEXTCOLOR", (0, 0), (0, -1), lab.textColor),
        ("FONT", (1, 0), (1, -1), val.fontName, val.fontSize, val.leading),
        ("TEXTCOLOR", (1, 0), (1, -1), val.textColor),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("TOPPADDING", (0, 0), (-1, -1), 2.2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.2),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
    ]
    style += [("BACKGROUND", (0, i), (-1, i), BAND) for i in range(0, len(data), 2)]
    t.setStyle(TableStyle(style))
    return t


def grid_table(header: Sequence[str], rows: list[list[object]], widths: Sequence[float], repeat: int = 1,
               row_styles: Iterable[tuple] = ()) -> Table:
    """Table with a dark header row (repeated on each page) and banded rows."""
    data = [[P(h, "cell_head") for h in header]] + [[fast(v, "cell", w) for v, w in zip(r, widths)] for r in rows]
    t = KeptTable(data, colWidths=list(widths), repeatRows=repeat, hAlign="LEFT")
    t.keep = 2
    val = sheet()["cell"]
    style = [
        ("FONT", (0, 1), (-1, -1), val.fontName, val.fontSize, val.leading),
        ("TEXTCOLOR", (0, 1), (-1, -1), val.textColor),
        ("BACKGROUND", (0, 0), (-1, 0), ACCENT),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
    ]
    style += [("BACKGROUND", (0, i), (-1, i), BAND) for i in range(2, len(data), 2)]
    style += list(row_styles)
    t.setStyle(TableStyle(style))
    return t


def box(paragraphs: list[Flowable], kind: str = "warn", width: float = FRAME_W, tight: bool = False) -> Table:
    """A coloured, ruled box: 'warn' (red), 'ok' (green rule) or 'note' (amber).

    tight: the rows are the lines of one text (text_rows), so no padding between them."""
    bg, edge = {"warn": (WARN_BG, WARN_INK), "ok": (colors.HexColor("#e9f5ec"), OK_INK),
                "note": (NOTE_BG, colors.HexColor("#b7791f"))}[kind]
    t = Table([[p] for p in paragraphs], colWidths=[width], hAlign="LEFT")
    pad = 0 if tight else 3
    t.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, -1), bg),
        ("BOX", (0, 0), (-1, -1), 1.4 if kind == "warn" else 0.8, edge),
        ("LINEBEFORE", (0, 0), (0, -1), 4, edge),
        ("LEFTPADDING", (0, 0), (-1, -1), 8),
        ("RIGHTPADDING", (0, 0), (-1, -1), 6),
        ("TOPPADDING", (0, 0), (-1, -1), pad),
        ("BOTTOMPADDING", (0, 0), (-1, -1), pad),
        ("TOPPADDING", (0, 0), (-1, 0), 3),
        ("BOTTOMPADDING", (0, -1), (-1, -1), 3),
    ]))
    return t


def text_rows(text: str, style: str = "body", chunk: int = 600) -> list[Paragraph]:
    """User text as one paragraph per line (long lines cut at a space), for a box that must be able
    to break across pages: a table splits only between rows, and a note taller than a page in one
    cell stopped the whole report."""
    rows: list[Paragraph] = []
    for line in str(text).split("\n"):
        rtl = bidi.is_rtl_paragraph(line)   # every piece of a cut line keeps the line's direction
        while len(line) > chunk:
            cut = line.rfind(" ", chunk // 2, chunk)
            cut = chunk if cut < 0 else cut + 1
            rows.append(P(line[:cut], style, rtl=rtl))
            line = line[cut:]
        rows.append(P(line if line.strip() else "\u00a0", style, rtl=rtl))
    return rows


class ColourBar(Flowable):
    """The overlay's colour scale 0..1 with tick labels and the threshold marked."""

    def __init__(self, bar: Image.Image, threshold: float, width: float, height: float = 8, label: str = "probability"):
        super().__init__()
        buf = io.BytesIO()
        bar.convert("RGB").save(buf, format="PNG")
        buf.seek(0)
        self._img = ImageReader(buf)
        self.threshold = threshold
        self.bw, self.bh, self.label = width, height, label

    def wrap(self, aw, ah):
        return self.bw, self.bh + 20

    def draw(self):
        c = self.canv
        y0 = 11
        c.drawImage(self._img, 0, y0, width=self.bw, height=self.bh)
        c.setStrokeColor(RULE)
        c.setLineWidth(0.4)
        c.rect(0, y0, self.bw, self.bh)
        c.setFillColor(MUTED)
        c.setFont(fonts.SANS, 6.2)
        for v in (0.0, 0.25, 0.5, 0.75, 1.0):
            x = v * self.bw
            c.line(x, y0 - 2, x, y0)
            c.drawCentredString(min(max(x, 6), self.bw - 6), y0 - 8.5, f"{v:g}")
        tx = self.threshold * self.bw
        c.setStrokeColor(INK)
        c.setFillColor(INK)
        c.setLineWidth(1.1)
        c.line(tx, y0 - 1, tx, y0 + self.bh + 2)
        p = c.beginPath()
        p.moveTo(tx - 3, y0 + self.bh + 7)
        p.lineTo(tx + 3, y0 + self.bh + 7)
        p.lineTo(tx, y0 + self.bh + 2.5)
        p.close()
        c.drawPath(p, fill=1, stroke=0)
        c.setFont(fonts.SANS_BOLD, 6.2)
        text = f"threshold {fmt_threshold(self.threshold)}"
        w = c.stringWidth(text, fonts.SANS_BOLD, 6.2)
        x = tx + 5 if tx + 5 + w < self.bw else tx - 5 - w
        c.drawString(x, y0 + self.bh + 2.5, text)
        if self.label:
            c.setFont(fonts.SANS, 6.2)
            c.setFillColor(MUTED)
            lx = self.bw - c.stringWidth(self.label, fonts.SANS, 6.2) if tx < self.bw / 2 else 0
            c.drawString(lx, y0 + self.bh + 2.5, self.label)


# ---- number formats (one place, so every page says the same) ---------------------------------
def fmt_threshold(t: float) -> str:
    """0.50, 0.35; a threshold with more digits is printed whole (0.33333 as 0.3333 would flag other pixels
    in a re-run given the printed value)."""
    if round(t, 2) == t:
        return f"{t:.2f}"
    short = f"{t:.4g}"
    return short if float(short) == t else repr(float(t))


def fmt_score(s: float | None) -> str:
    return "—" if s is None else f"{s:.4f}"


def fmt_pct(frac: float | None) -> str:
    return "—" if frac is None else f"{100.0 * frac:.2f} %"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    if n < 1024:
        return f"{n:,} bytes"
    for unit, div in (("KiB", 1024), ("MiB", 1024 ** 2), ("GiB", 1024 ** 3)):
        if n < div * 1024 or unit == "GiB":
            return f"{n / div:,.1f} {unit} ({n:,} bytes)"
    return str(n)


class LinesTable(Flowable):
    """A long label/value list drawn line by line: hundreds of EXIF tags lay out ~10x faster than as
    a Table of Paragraphs. Values wrap at character level; it splits across pages between rows."""

    def __init__(self, rows: Sequence[tuple[str, str]], label_w: float = 170, width: float = FRAME_W,
                 size: float = 7.0, leading: float = 9.0):
        super().__init__()
        self.rows = [(fonts.clean(k), fonts.clean(v)) for k, v in rows]
        self.label_w, self.width, self.size, self.leading = label_w, width, size, leading
        self._lines: list[list[tuple[str, str]]] | None = None

    def _layout(self) -> list[list[tuple[str, str]]]:
        if self._lines is None:
            from .pages import text_width

            vw = self.width - self.label_w - 8
            self._lines = []
            for k, v in self.rows:
                parts, cur, w = [], "", 0.0
                for ch in v:
                    cw = text_width(ch, fonts.SANS, self.size)
                    if cur and w + cw > vw:
                        cut = cur.rfind(" ")
                        if cut > len(cur) // 2:
                            parts.append(cur[:cut])
                            cur = cur[cut + 1:]
                        else:
                            parts.append(cur)
                            cur = ""
                        w = text_width(cur, fonts.SANS, self.size)
                    cur += ch
                    w += cw
                parts.append(cur)
                self._lines.append([(k if i == 0 else "", p) for i, p in enumerate(parts)])
        return self._lines

    def wrap(self, aw, ah):
        return self.width, sum(len(r) for r in self._layout()) * self.leading + 2

    def split(self, aw, ah):
        rows = self._layout()
        used, n = 0.0, 0
        for r in rows:
            if used + len(r) * self.leading + 2 > ah:
                break
            used += len(r) * self.leading
            n += 1
        if n == 0 or n == len(rows):
            return [] if n == 0 else [self]
        a = LinesTable(self.rows[:n], self.label_w, self.width, self.size, self.leading)
        b = LinesTable(self.rows[n:], self.label_w, self.width, self.size, self.leading)
        a._lines, b._lines = rows[:n], rows[n:]
        return [a, b]

    def draw(self):
        from .pages import draw_text

        c = self.canv
        y = sum(len(r) for r in self._layout()) * self.leading + 2
        for i, r in enumerate(self._layout()):
            h = len(r) * self.leading
            if i % 2 == 0:
                c.setFillColor(BAND)
                c.rect(0, y - h - 1, self.width, h, stroke=0, fill=1)
            for k, v in r:
                y -= self.leading
                if k:
                    c.setFillColor(MUTED)
                    draw_text(c, 4, y + 1.5, k, fonts.SANS_BOLD, self.size, max_w=self.label_w - 8)
                c.setFillColor(INK)
                draw_text(c, self.label_w + 4, y + 1.5, v, fonts.SANS, self.size)


def item_ranges(idx: list[int]) -> str:
    """Item numbers as runs: [1, 2, 3, 5] -> "1–3, 5"."""
    parts, start, prev = [], None, None
    for i in idx + [None]:
        if start is None:
            start = prev = i
        elif i is not None and i == prev + 1:
            prev = i
        else:
            parts.append(str(start) if start == prev else f"{start}–{prev}")
            start = prev = i
    return ", ".join(parts)
