"""Lazy thumbnails, cached in thumbs/ (derived data: never verified, safe to delete)."""
from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageOps

from engine.images import as_rgb

from .atomic import write_bytes_atomic
from .errors import CaseError
from .records import EvidenceItem

if TYPE_CHECKING:
    from .case_folder import Case


def thumbnail(case: "Case", item: EvidenceItem, size: int) -> Path:
    if size < 16 or size > 4096:
        raise CaseError(f"thumbnail size must be 16..4096 pixels, got {size}")
    out = case.thumbs_dir / f"{item.id}_{size}.jpg"
    if out.exists():
        return out
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(item.path) as img:  # read-only: Pillow opens files with "rb"
                img.draft("RGB", (size, size))  # JPEG: decode at reduced scale, far faster
                img = as_rgb(ImageOps.exif_transpose(img))  # 16-bit, CMYK, alpha: as the analysis sees it
                img.thumbnail((size, size))
                buf = io.BytesIO()
                img.save(buf, "JPEG", quality=85)
    except Exception as exc:
        raise CaseError(f"{item.id} ({item.file_name}): cannot make a thumbnail ({str(exc)[:160] or type(exc).__name__})") from None
    try:
        case.thumbs_dir.mkdir(exist_ok=True)
        write_bytes_atomic(out, buf.getvalue())
    except OSError:
        # Case on read-only media (e.g. an archived disc): cache outside it instead.
        out = Path(tempfile.gettempdir()) / "declip-thumbs" / case.uuid / out.name
        out.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(out, buf.getvalue())
    return out
