"""Right-to-left runs (Arabic, Hebrew, ...) put into visual order for reportlab.

reportlab lays text out left to right. Without this, an Arabic or Hebrew name would be drawn
backwards. Each run of right-to-left text (with the spaces and punctuation between its words)
is reversed as a whole, which also reverses the order of its words; digits inside stay left to
right. A text whose first strong letter is right-to-left (a note written in Hebrew or Arabic) is
an RTL paragraph: the whole line is reversed and the left-to-right runs inside it (a case number,
an English word) keep their own order. This is the common case of the Unicode bidi algorithm
(rules P2-P3 for the paragraph's direction, one level of embedding), not the full algorithm.
Wrapping happens on the logical text, one line at a time (`rtl_paragraph.py`), because a
paragraph reordered as a whole and then wrapped would show its last words on its first line.
PDF text extractors (pypdf, poppler) reorder right-to-left runs back, so the text layer reads in
logical order.

Limitation: letters are not joined into their contextual forms (that needs a shaping engine such
as HarfBuzz); Arabic shows in isolated letter forms, still legible and exactly searchable.
"""
from __future__ import annotations

import unicodedata


def _is_rtl(ch: str) -> bool:
    return unicodedata.bidirectional(ch) in ("R", "AL")


def _is_neutral(ch: str) -> bool:
    return unicodedata.bidirectional(ch) in ("WS", "ON", "CS", "ES", "ET", "NSM", "BN", "S")


def _is_number(ch: str) -> bool:
    return unicodedata.bidirectional(ch) in ("EN", "AN")


def has_rtl(text: str) -> bool:
    return any(_is_rtl(c) for c in text)


def is_rtl_paragraph(text: str) -> bool:
    """True when the first strong letter is right-to-left (Unicode rules P2-P3)."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


def visual(text: str, rtl: bool | None = None) -> str:
    """`text` in the order reportlab draws it (left to right), for one line. rtl: the direction of the
    paragraph the line belongs to (None: this line is the paragraph). A wrapped line must be given
    its paragraph's direction: a line of an English note that happens to start with a Hebrew name is
    still a left-to-right line."""
    if not has_rtl(text):
        return text
    if is_rtl_paragraph(text) if rtl is None else rtl:
        return _visual_rtl(text)
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if not _is_rtl(text[i]):
            out.append(text[i])
            i += 1
            continue
        # A run: RTL letters, plus neutrals and numbers that are followed by more RTL letters.
        j = i
        last_rtl = i
        while j < n and (_is_rtl(text[j]) or _is_neutral(text[j]) or _is_number(text[j])):
            if _is_rtl(text[j]):
                last_rtl = j
            j += 1
        run = text[i:last_rtl + 1]
        out.append(_reverse_run(run))
        i = last_rtl + 1
    return "".join(out)


def _visual_rtl(text: str) -> str:
    # An RTL line: its segments in reverse order. A left-to-right run (letters and the digits,
    # spaces and punctuation among and after them) keeps its order; the rest is reversed as a run.
    parts: list[str] = []
    i, n = 0, len(text)
    while i < n:
        j = i
        if unicodedata.bidirectional(text[i]) == "L":
            # digits after a left-to-right letter belong to its run (bidi rule W7: "IC-2026-114"),
            # and so does an accent after its last letter
            last_l = i
            while j < n and not _is_rtl(text[j]):
                if unicodedata.bidirectional(text[j]) == "L" or _is_number(text[j]) or unicodedata.combining(text[j]):
                    last_l = j
                j += 1
            parts.append(text[i:last_l + 1])
            i = last_l + 1
        else:
            while j < n and unicodedata.bidirectional(text[j]) != "L":
                j += 1
            parts.append(_reverse_run(text[i:j]))
            i = j
    return "".join(reversed(parts))


def _reverse_run(run: str) -> str:
    # Reverse the run but keep digit groups (and combining marks after their base) in order.
    groups: list[str] = []
    for ch in run:
        if groups and ((_is_number(ch) and _is_number(groups[-1][-1])) or unicodedata.combining(ch)):
            groups[-1] += ch
        else:
            groups.append(ch)
    return "".join(_mirror(g) for g in reversed(groups))


_MIRROR = {"(": ")", ")": "(", "[": "]", "]": "[", "{": "}", "}": "{", "<": ">", ">": "<", "«": "»", "»": "«"}


def _mirror(g: str) -> str:
    return _MIRROR.get(g, g) if len(g) == 1 else g
