"""What a drop (or a file dialog) hands to ingest: local file and folder paths."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData


def local_paths(mime: QMimeData | None) -> list[str]:
    """Local files and folders in a drag's URLs, in order, without duplicates."""
    if mime is None or not mime.hasUrls():
        return []
    out: list[str] = []
    for url in mime.urls():
        if not url.isLocalFile():
            continue
        p = url.toLocalFile()
        if p and p not in out and Path(p).exists():
            out.append(p)
    return out
