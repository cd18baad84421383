"""Text that came from file names, shown or stored safely.

POSIX file names are bytes: one that is not UTF-8 (an old camera, a Windows-1252 archive) reaches
Python with lone surrogates, which no UTF-8 file (results.json, a case's JSON, the audit log) can hold.
And a name may hold control characters that move the cursor or recolour an examiner's terminal."""
from __future__ import annotations

import json
import os
import re


def utf8_text(text) -> str:
    """A path or name as valid UTF-8 text: bytes that are not UTF-8 become \\xNN escapes."""
    text = os.fspath(text)
    if isinstance(text, bytes):
        return text.decode("utf-8", "backslashreplace")
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")


def printable(line) -> str:
    """One terminal line: control characters (and undecodable bytes) shown as escapes."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in utf8_text(str(line)))


def utf8_tree(value):
    """A JSON-able structure with every string made valid UTF-8 (utf8_text), keys included."""
    if isinstance(value, str):
        return utf8_text(value)
    if isinstance(value, dict):
        return {utf8_tree(k): utf8_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [utf8_tree(v) for v in value]
    return value


# C1 controls (a terminal may act on them) and the bidirectional overrides that reorder what is shown
_HIDDEN = re.compile("[\u0080-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def json_text(value, **kw) -> str:
    """JSON for a terminal: readable non-ASCII text kept, but every character that could act on the
    terminal or reorder the line is written as a \\uXXXX escape (json already escapes C0 controls)."""
    return _HIDDEN.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False, **kw))
