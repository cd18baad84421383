"""Appendix B's Details cell: an audit entry's facts in words.

Hashes are printed whole (a reader checks them against the files; 'record sha25…' could not be
checked), each on its own line; a list or table of values is summarised in words, not as '[7]';
long free text is cut at a word, saying how long it is; and a path or id too long for the column
is wrapped after a '/', '-', '_' or '.', never mid-token and never losing a character.
"""
from __future__ import annotations

import re

from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Paragraph

from .blocks import X, esc
from .names import fit_lines
from .styles import sheet

HASH_FONT, HASH_SIZE = "DeclipMono", 6.2
_PLAIN = (str, int, float, bool, type(None))
_LIST_CHARS = 300      # a list or table of plain values longer than this is cut at an element
_TEXT_CHARS = 120      # free text longer than this is cut at a word (the log file has it whole)
_SEP = re.compile(r"(?<=[/\\\-_.:,=])")   # break opportunities: after these characters


def is_digest(v: object) -> bool:
    return isinstance(v, str) and len(v) in (32, 40, 64, 128) and all(c in "0123456789abcdef" for c in v.lower())


def facts(details: dict, skip: set[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """(the entry's facts as short phrases, [(label, whole hash)]) for the keys not in `skip`."""
    out: list[str] = []
    hashes: list[tuple[str, str]] = []
    for k, v in details.items():
        if k in skip or v in (None, "", [], {}):
            continue
        label = k.replace("_", " ")
        if is_digest(v):
            hashes.append((label, v))
        elif isinstance(v, float):
            out.append(f"{label} {v:.4g}")
        elif isinstance(v, dict):
            out.append(f"{label} {_table(v)}")
        elif isinstance(v, list):
            out.append(f"{label} {_list(v, label, hashes)}")
        elif isinstance(v, str) and len(v) > _TEXT_CHARS and not _is_path(k, v):
            where = "; in full on the item page" if k == "note" else "; in full in the log file"
            out.append(f"{label} {_cut(v)}… ({len(v)} characters{where})")
        else:
            out.append(f"{label} {v}")
    return out, hashes


def _is_path(key: str, v: str) -> bool:
    return key.endswith(("path", "file", "sidecar", "folder")) and len(v) <= 1000


def _cut(text: str) -> str:
    head = text[:_TEXT_CHARS - 20]
    space = head.rfind(" ")
    return head[:space] if space > len(head) // 2 else head


def _bounded(parts: list[str], total: int, unit: str) -> str:
    text, shown = "", 0
    for p in parts:
        if len(text) + len(p) > _LIST_CHARS and shown:
            return f"({text}, … {total} {unit} in all)"
        text = f"{text}, {p}" if text else p
        shown += 1
    return f"({text})"


def _table(d: dict) -> str:
    """A table of plain values as itself ('software (app=0.1.0, torch=2.4.0, …)'), else its size in words."""
    if all(isinstance(x, _PLAIN) for x in d.values()):
        return _bounded([f"{k}={x}" for k, x in d.items()], len(d), "entries")
    return f"({len(d)} fields; in the log file)"


def _list(items: list, label: str, hashes: list[tuple[str, str]]) -> str:
    """Plain values as themselves; records (weights, problems) by name, their hashes added whole."""
    if all(isinstance(x, _PLAIN) for x in items):
        return _bounded([str(x) for x in items], len(items), "in all")
    names = []
    for i, x in enumerate(items, 1):
        if not isinstance(x, dict):
            names.append(type(x).__name__)
            continue
        name = " ".join(str(x[k]) for k in ("role", "file", "name", "id", "kind", "layer") if x.get(k)) or f"#{i}"
        if x.get("message"):
            name += f": {_cut(str(x['message']))}"
        names.append(name)
        if len(hashes) < 24:   # a run of hundreds stays in the log file
            who = x.get("role") or x.get("file") or x.get("name") or f"{label} #{i}"
            hashes += [(f"{who} {k.replace('_', ' ')}", h) for k, h in x.items() if is_digest(h)]
    return f"{len(items)} " + ("entry " if len(items) == 1 else "entries ") + _bounded(names, len(items), "in all")


def summary(details: dict, skip: set[str]) -> str:
    """The cell as plain text (what the tests and a text extract read)."""
    short, hashes = facts(details, skip)
    return "; ".join(short + [f"{label} {h}" for label, h in hashes])


def cell(details: dict, skip: set[str], width: float) -> Paragraph:
    """The Details cell: facts separated by ';', then each hash whole on a line of its own."""
    short, hashes = facts(details, skip)
    st = sheet()["cell"]
    words = "; ".join(short).split(" ")
    text = " ".join(wrap_token(w, st.fontName, st.fontSize, width) for w in words if w)
    lines = [text] if text else []
    lines += [f"{esc(label)} <font name='{HASH_FONT}' size='{HASH_SIZE}'>{h}</font>" for label, h in hashes]
    return X("<br/>".join(lines) or "—", "cell")


def wrap_token(token: str, font: str, size: float, width: float) -> str:
    """`token` as markup; when wider than `width`, broken onto lines after a separator (a path after
    '/', an id after '-' or '_'), or at the width only where a piece has none."""
    if stringWidth(token, font, size) <= width:
        return esc(token)
    lines = fit_lines(_SEP.split(token), lambda s: stringWidth(s, font, size) <= width)
    return "<br/>".join(esc(x) for x in lines if x)
