"""Reading evidence images safely into RGB.

Every way an image can be bad ends in an ImageError with one line that names the file.
Files are only ever opened for reading.
"""
from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .errors import ImageError
from .hashing import bytes_sha256


def _env_max_pixels(default: int = 200_000_000) -> int:
    # A malformed DECLIP_MAX_PIXELS must not make every import of the engine crash.
    try:
        value = int(os.environ.get("DECLIP_MAX_PIXELS", default))
    except ValueError:
        return default
    return value if value > 0 else default


# Pillow's own bomb limit (~89 MP, a warning up to 2x and an error past that) would refuse genuine
# 108 MP phone photos; we want one clear rule: images up to MAX_PIXELS open, bigger ones are refused.
MAX_PIXELS = _env_max_pixels()
MAX_FILE_BYTES = 2 * 1024**3


def sync_pillow_limit() -> int:
    """Make Pillow's decompression-bomb check follow MAX_PIXELS; returns the limit.

    Called before every open (not only at import) so that a changed MAX_PIXELS, or another
    module resetting Pillow's global, cannot bring back Pillow's lower default."""
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    return MAX_PIXELS


def _mp(pixels: float) -> str:
    """Megapixels to three significant digits: a small DECLIP_MAX_PIXELS must not read as '0 MP'."""
    return f"{pixels / 1e6:.3g}"


def bomb_message(name: str, exc: BaseException | None = None) -> str:
    """The one line for an image past the limit that Pillow refused itself (past twice the limit)."""
    # Pillow says "Image size (N pixels) exceeds limit ..."; show N if it is there
    m = re.search(r"\((\d+) pixels\)", str(exc or ""))
    size = f"image is {_mp(int(m.group(1)))} MP" if m else "image dimensions exceed the limit"
    text = f"{size}, above the {_mp(MAX_PIXELS)} MP limit (possible decompression bomb)"
    return f"{name}: {text}" if name else text


sync_pillow_limit()

ImageSource = Union[str, os.PathLike, bytes, Image.Image, np.ndarray]


@dataclass
class LoadedImage:
    """An image ready for analysis: 8-bit RGB with EXIF orientation applied."""

    rgb: Image.Image
    name: str
    sha256: str | None
    format: str | None
    original_mode: str
    orientation: int = 1
    frames: int = 1
    notes: list[str] = field(default_factory=list)
    _squashed: dict = field(default_factory=dict, repr=False, compare=False)
    _pixels: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def width(self) -> int:
        return self.rgb.width

    @property
    def height(self) -> int:
        return self.rgb.height

    def squashed(self, size: int) -> Image.Image:
        """The image resized to size x size, bilinear, no crop: the published preprocessing's resize
        (engine.preprocess). Kept once made, so the reader thread can make it ahead of the network."""
        if self.rgb.size == (size, size):
            return self.rgb
        if size not in self._squashed:
            self._squashed[size] = self.rgb.resize((size, size), Image.BILINEAR)
        return self._squashed[size]

    def pixels(self) -> np.ndarray:
        """The image as a read-only HxWx3 uint8 array, made once (a 36 MB copy for 12 MP) and kept, so
        the reader thread can make it ahead and the overlay, evidence layers and viewer share it."""
        if self._pixels is None:
            arr = np.asarray(self.rgb, dtype=np.uint8)
            arr.setflags(write=False)
            self._pixels = arr
        return self._pixels

    def info(self) -> dict:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "format": self.format,
            "original_mode": self.original_mode,
            "width": self.width,
            "height": self.height,
            "exif_orientation": self.orientation,
            "frames": self.frames,
            "notes": list(self.notes),
        }


def load_image(source: ImageSource) -> LoadedImage:
    """Load a path, a file's bytes, PIL image or HxWx3 uint8 array as RGB. Raises ImageError."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        # a file's bytes get the same decoding as the file itself (orientation, 16-bit, CMYK, limits)
        data = bytes(source)
        return _decode(data, "<bytes>", bytes_sha256(data))
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, Image.Image):
        return _from_pil(source, name="<image>", sha=None)
    if isinstance(source, (str, os.PathLike)):
        return _from_path(Path(source))
    raise ImageError(f"cannot analyse an object of type {type(source).__name__}: expected a path, bytes, PIL image or HxWx3 uint8 array")


def _from_array(arr: np.ndarray) -> LoadedImage:
    if arr.dtype != np.uint8:
        raise ImageError(f"array image: expected dtype uint8, found {arr.dtype}")
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"array image: expected shape HxWx3, found {arr.shape}")
    img = Image.fromarray(np.ascontiguousarray(arr[..., :3]), "RGB")
    sha = bytes_sha256(np.ascontiguousarray(arr[..., :3]).tobytes())
    return LoadedImage(rgb=img, name="<array>", sha256=sha, format=None, original_mode="RGB")


def _from_path(path: Path) -> LoadedImage:
    name = str(path)
    if not path.exists():
        raise ImageError(f"{name}: file not found")
    if path.is_dir():
        raise ImageError(f"{name}: is a folder, expected an image file")
    size = path.stat().st_size
    if size == 0:
        exc = ImageError(f"{name}: file is empty (0 bytes), expected an image")
        exc.sha256 = bytes_sha256(b"")  # an empty file has a hash too: the record still identifies it
        raise exc
    if size > MAX_FILE_BYTES:
        raise ImageError(f"{name}: file is {size / 1e9:.1f} GB, larger than the {MAX_FILE_BYTES / 1e9:.0f} GB limit")
    try:
        data = path.read_bytes()  # read once: hash and decode the same bytes
    except OSError as exc:
        raise ImageError(f"{name}: cannot read file ({exc.strerror or exc})") from None
    sha = bytes_sha256(data)
    try:
        return _decode(data, name, sha)
    except ImageError as exc:
        exc.sha256 = sha  # the bytes were read: reports can still identify the failed file
        raise


def _decode(data: bytes, name: str, sha: str) -> LoadedImage:
    sync_pillow_limit()
    with warnings.catch_warnings():
        # Pillow warns past MAX_PIXELS (now its limit too); _from_pil refuses those right after
        # reading the header, naming the exact size. Past twice the limit Pillow refuses itself.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            what = unsupported_format(data[:32])
            if what:
                raise ImageError(f"{name}: {what}; {UNSUPPORTED_ADVICE}") from None
            raise ImageError(f"{name}: not an image that can be read (unknown or corrupt format)") from None
        except Image.DecompressionBombError as exc:
            raise ImageError(bomb_message(name, exc)) from None
        except Exception as exc:  # Pillow plugins raise assorted errors on hostile headers
            raise ImageError(f"{name}: corrupt image header ({_short(exc)})") from None
    with warnings.catch_warnings():
        # while decoding (later GIF frames, TIFF tiles) a warning does mean "over our limit"
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _from_pil(img, name=name, sha=sha)
        except MemoryError:  # one image too large for this machine's memory: its failure, not the batch's
            raise ImageError(f"{name}: not enough memory to decode this {img.width} x {img.height} image") from None
        except ImageError as exc:
            if str(exc).endswith("image file is truncated"):
                raise ImageError(f"{exc}{truncation_extent(data)}") from None
            raise


# Formats an examiner meets that Pillow here cannot decode, by their first bytes: naming them beats "unknown or
# corrupt format", which reads as if the evidence were damaged.
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}


def unsupported_format(head: bytes) -> str | None:
    """What a file that Pillow cannot identify is, from its first 32 bytes, when it is a known format this
    installation cannot decode; None otherwise."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "an AVIF image, which this installation cannot decode"
        if brand in _HEIF_BRANDS:
            return "a HEIF/HEIC image (as iPhones save), which this installation cannot decode"
    if head[:2] == b"\xff\x0a" or head[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n":
        return "a JPEG XL image, which this installation cannot decode"
    if head[:5] == b"%PDF-":
        return "a PDF document, not an image"
    text = head.lstrip()[:5].lower()
    if text.startswith(b"<svg") or text.startswith(b"<?xml"):
        return "an SVG or XML document, not a raster image"
    return None


UNSUPPORTED_ADVICE = ("export it to a lossless format (PNG or TIFF) with a tool you can name, record the "
                      "original's SHA-256 beside the export, and analyse the export")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def truncation_extent(data: bytes) -> str:
    """', only the top R of H rows (P %) hold image data; the file has N bytes' for a file whose
    data ends early, or '' when that cannot be told (Pillow's own message counts only the bytes
    left in its buffer, e.g. "3 bytes not processed" when two thirds of the picture are missing).

    Decodes into a fresh buffer with the file's own decoder, never with Pillow's global
    LOAD_TRUNCATED_IMAGES switch, which would let other threads accept truncated evidence."""
    try:
        probe = Image.open(io.BytesIO(data))
        probe.load_prepare()
        name, extents, offset, args = probe.tile[0][:4]
        decoder = Image._getdecoder(probe.mode, name, args, probe.decoderconfig)
        decoder.setimage(probe.im, extents)
        decoder.decode(data[offset:])
        decoder.cleanup()
        arr = np.asarray(probe._new(probe.im))
        size = len(data)
    except Exception:  # another format or decoder: the plain message is all that can be said
        return ""
    h = arr.shape[0]
    filled = np.flatnonzero(arr.reshape(h, -1).any(axis=1))
    rows = int(filled[-1]) + 1 if filled.size else 0
    if rows >= h:
        return f"; the file has {size:,} bytes"
    return f": only the top {rows} of {h} rows ({100 * rows / h:.0f} %) hold image data; the file has {size:,} bytes"


def _from_pil(img: Image.Image, name: str, sha: str | None) -> LoadedImage:
    fmt = img.format
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageError(f"{name}: image has no pixels ({w}x{h})")
    if w * h > MAX_PIXELS:
        raise ImageError(
            f"{name}: image is {w}x{h} ({_mp(w * h)} MP), above the {_mp(MAX_PIXELS)} MP limit "
            "(possible decompression bomb)"
        )
    frames = int(getattr(img, "n_frames", 1) or 1)
    notes: list[str] = []
    try:
        if frames > 1:
            img.seek(0)
            notes.append(f"multi-frame file ({frames} frames): first frame analysed")
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # a later frame or tile (GIF, TIFF) can be bigger than the header's first size
        raise ImageError(bomb_message(name, exc)) from None
    except Exception as exc:
        msg = _short(exc)
        if "truncated" in msg.lower() or isinstance(exc, (EOFError,)):
            raise ImageError(f"{name}: image file is truncated") from None
        raise ImageError(f"{name}: image data is corrupt ({msg})") from None
    original_mode = img.mode
    if min(w, h) < TINY_SIDE:  # the network still squashes it to its input size: say how little there is
        notes.append(f"the image is only {w} x {h} pixels: too small for the map and score to mean much "
                     f"(the evidence layers need at least 16-32 px)")
    if fmt in JPEG_FORMATS:
        fill = decoder_fill_rows(img)
        if fill:
            notes.append(f"the bottom {fill} of {h} rows are flat mid-grey (128), which is what the JPEG decoder "
                         "puts where it could not decode the data: the file is probably damaged, and any marks in "
                         "or next to that area are not evidence of editing")
    orientation, note = read_orientation(img)
    if note:
        notes.append(note)
    try:
        rgb = _to_rgb(img, notes)
        if orientation != 1:
            rgb = ImageOps.exif_transpose(_with_orientation(rgb, orientation))
            notes.append(f"EXIF orientation {orientation} applied")
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"{name}: cannot convert {original_mode} image to RGB ({_short(exc)})") from None
    return LoadedImage(rgb=rgb, name=name, sha256=sha, format=fmt, original_mode=original_mode,
                       orientation=orientation, frames=frames, notes=notes)


# Below this side an image holds too few pixels for a map to mean anything (a thumbnail, a favicon).
TINY_SIDE = 32

# Pillow's format names for a file that is a JPEG stream from its first byte. "MPO" is a JPEG with a
# Multi-Picture (MPF) segment, as phones write for an HDR gain map and cameras for a stereo pair: its
# first picture, the one analysed, is the file's own JPEG (same 8x8 grid, tables and coefficients).
JPEG_FORMATS = frozenset({"JPEG", "MPO"})

# Rows checked per step, from the bottom up: at least one MCU row (8 or 16 px) is needed for a finding.
_FILL_STEP = 16


def decoder_fill_rows(img: Image.Image) -> int:
    """How many rows at the bottom of a decoded JPEG are exactly 128 in every channel: libjpeg fills the
    blocks after data it cannot decode (corrupt or missing entropy-coded data) with zero coefficients,
    which decode to mid-grey, and says so only on stderr. 0 when fewer than _FILL_STEP rows are, or when
    the whole image is (a flat grey image, not damage)."""
    if img.mode not in ("RGB", "L"):
        return 0
    w, h = img.size
    grey = 0
    while grey < h:
        top = max(0, h - grey - _FILL_STEP)
        rows = np.asarray(img.crop((0, top, w, h - grey)))
        flat = (rows == 128).reshape(rows.shape[0], -1).all(axis=1)
        if flat.all():
            grey = h - top
            continue
        grey += int(np.argmin(flat[::-1]))  # the grey rows at the bottom of this step
        break
    return grey if _FILL_STEP <= grey < h else 0


def read_orientation(img: Image.Image) -> tuple[int, str | None]:
    """(the EXIF orientation the engine applies, a note or None): 1 when the tag is absent, and 1
    with a note when the EXIF block is unreadable or the value is not 1-8. The one reader of the tag,
    so that the case, the report and the trainer size an image as the engine's maps are sized."""
    try:
        value = int(img.getexif().get(0x0112, 1) or 1)
    except Exception:
        return 1, "EXIF block unreadable: orientation not applied"
    if value not in range(1, 9):
        return 1, f"invalid EXIF orientation {value} ignored"
    return value, None


def oriented_size(img: Image.Image) -> tuple[int, int]:
    """(width, height) as analysed: orientations 5-8 turn the picture a quarter."""
    return (img.size[1], img.size[0]) if read_orientation(img)[0] in (5, 6, 7, 8) else img.size


def _with_orientation(img: Image.Image, orientation: int) -> Image.Image:
    # exif_transpose reads the tag from the image; the converted copy lost its EXIF, so set it.
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.info["exif"] = exif.tobytes()
    return img


def as_rgb(img: Image.Image, notes: list[str] | None = None) -> Image.Image:
    """8-bit RGB exactly as the analysis sees the picture (16-bit and float scaled, CMYK through its ICC
    profile, transparency over white): thumbnails and report pictures must show the same pixels."""
    return _to_rgb(img, [] if notes is None else notes)


def _to_rgb(img: Image.Image, notes: list[str]) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img.copy() if img.format else img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16") or (mode == "I" and arr.max(initial=0) > 255):
            arr = arr / 257.0  # 16-bit -> 8-bit, 65535 maps to 255
            notes.append(f"{mode} high-bit-depth grey reduced to 8 bits")
        elif mode == "F":
            hi = float(np.nanmax(arr)) if arr.size else 0.0
            arr = arr * (255.0 if hi <= 1.0 else 255.0 / max(hi, 1e-12))
            notes.append("floating-point image scaled to 8 bits")
        grey = np.clip(np.nan_to_num(arr), 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "CMYK":
        icc = img.info.get("icc_profile")
        if icc:
            try:
                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                out = ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
                notes.append("CMYK converted to sRGB with the embedded ICC profile")
                return out
            except Exception:
                notes.append("embedded CMYK ICC profile unusable: naive CMYK conversion")
        notes.append("CMYK converted to RGB")
        return img.convert("RGB")
    if mode in ("P", "PA"):
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "La", "RGBa", "RGBX"):
        rgba = img.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"))
        if alpha.min(initial=255) < 255:
            notes.append("transparency composited over white")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    if mode == "LAB":
        try:
            lab = ImageCms.createProfile("LAB")
            return ImageCms.profileToProfile(img, lab, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except Exception:
            pass
    return img.convert("RGB")


def to_array(img: LoadedImage | Image.Image) -> np.ndarray:
    if isinstance(img, LoadedImage):
        return img.pixels()
    return np.asarray(img.convert("RGB"), dtype=np.uint8)
