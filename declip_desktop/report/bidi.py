"""Right-to-left runs (Arabic, Hebrew, ...) put into visual order for reportlab.

reportlab lays text out left to right. Without this, an Arabic or Hebrew name would be drawn
backwards. Each run of right-to-left text (with the spaces and punctuation between its words)
is reversed as a whole, which also reverses the order of its words; digits inside stay left to
right. This is the common case of the Unicode bidi algorithm (left-to-right paragraphs with
embedded right-to-left names and phrases), not the full algorithm. PDF text extractors (pypdf,
poppler) reorder right-to-left runs back, so the text layer reads in logical order.

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


def visual(text: str) -> str:
    """`text` with each right-to-left run reversed for left-to-right drawing."""
    if not has_rtl(text):
        return text
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
