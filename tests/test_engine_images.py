"""Image reading: every format, every conversion, and every kind of bad file."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from engine import ImageError, load_image
from engine import images as images_mod


def _photo(w=64, h=48):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 4 % 256, yy * 5 % 256, (xx + yy) * 3 % 256], -1).astype(np.uint8)


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("PNG", "png"), ("TIFF", "tif"), ("WEBP", "webp"),
                                     ("BMP", "bmp")])
def test_common_formats(tmp_path, fmt, ext):
    p = tmp_path / f"x.{ext}"
    Image.fromarray(_photo()).save(p, format=fmt)
    img = load_image(p)
    assert img.rgb.mode == "RGB" and (img.width, img.height) == (64, 48)
    assert img.format == fmt and len(img.sha256) == 64


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (30, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:])
    img = load_image(p)
    assert img.frames == 2
    r, g, b = np.asarray(img.rgb)[10, 10]
    assert r > 200 and b < 50  # the first (red) frame
    assert any("first frame" in n for n in img.notes)


def test_cmyk_16bit_palette_alpha_grey(tmp_path):
    cmyk = tmp_path / "cmyk.jpg"
    Image.fromarray(_photo()).convert("CMYK").save(cmyk)
    assert load_image(cmyk).original_mode == "CMYK"
    assert np.abs(np.asarray(load_image(cmyk).rgb, int) - _photo()).mean() < 20

    grey16 = tmp_path / "grey16.png"
    Image.fromarray((np.arange(64 * 48).reshape(48, 64) * 20).astype(np.uint16)).save(grey16)
    g = load_image(grey16)
    arr = np.asarray(g.rgb)
    assert arr.dtype == np.uint8 and arr.max() > 200 and arr[0, 0, 0] == 0  # full range kept, not clipped

    pal = tmp_path / "pal.png"
    p_img = Image.fromarray(_photo()).convert("P")
    p_img.info["transparency"] = 0
    p_img.save(pal, transparency=0)
    assert load_image(pal).rgb.mode == "RGB"

    rgba = tmp_path / "rgba.png"
    a = np.dstack([_photo(), np.full((48, 64), 0, np.uint8)])
    Image.fromarray(a, "RGBA").save(rgba)
    out = np.asarray(load_image(rgba).rgb)
    assert (out == 255).all()  # fully transparent composited over white

    la = tmp_path / "la.png"
    Image.fromarray(_photo()[..., 0]).convert("LA").save(la)
    assert load_image(la).rgb.mode == "RGB"


def test_exif_orientation_applied(tmp_path):
    arr = np.zeros((40, 80, 3), np.uint8)
    arr[:, :40] = (255, 0, 0)  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    p = tmp_path / "rot.jpg"
    Image.fromarray(arr).save(p, exif=exif.tobytes(), quality=95)
    img = load_image(p)
    assert (img.width, img.height) == (40, 80)
    top = np.asarray(img.rgb)[5, 20]
    assert top[0] > 200 and top[2] < 60  # the red half is now on top
    assert img.orientation == 6


@pytest.mark.parametrize("tag, applied, note", [(None, 1, None), (6, 6, None), (3, 3, None), (9, 1, "invalid EXIF orientation 9")])
def test_one_orientation_reader_for_engine_case_report_and_trainer(tmp_path, tag, applied, note):
    """engine.images.read_orientation is the only reader of the tag: the case's metadata and the
    trainer's validator size an image as the engine's maps are sized (an invalid tag means 1)."""
    from declip_desktop.case.metadata import extract_metadata
    from engine.images import oriented_size, read_orientation

    exif = Image.Exif()
    if tag is not None:
        exif[0x0112] = tag
    p = tmp_path / "o.jpg"
    Image.fromarray(np.zeros((40, 80, 3), np.uint8)).save(p, exif=exif.tobytes(), quality=90)
    with Image.open(p) as im:
        got, why = read_orientation(im)
        size = oriented_size(im)
    assert got == applied and (why is None) == (note is None) and (note is None or note in why)
    loaded = load_image(p)
    assert size == (loaded.width, loaded.height) == ((40, 80) if applied in (5, 6, 7, 8) else (80, 40))
    md = extract_metadata(p.read_bytes())
    assert md["exif_orientation"] == applied and (md["display_width"], md["display_height"]) == size


def test_array_and_pil_inputs():
    assert load_image(_photo()).width == 64
    assert load_image(Image.fromarray(_photo()).convert("L")).rgb.mode == "RGB"
    with pytest.raises(ImageError, match="uint8"):
        load_image(_photo().astype(np.float32))
    with pytest.raises(ImageError, match="HxWx3"):
        load_image(np.zeros((4, 4, 7), np.uint8))


def _one_line(exc):
    assert "\n" not in str(exc) and "Traceback" not in str(exc)
    return str(exc)


def test_bad_files_get_clear_messages(tmp_path, monkeypatch):
    buf = io.BytesIO()
    Image.fromarray(_photo(400, 300)).save(buf, format="JPEG")
    cases = {}
    (tmp_path / "trunc.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    cases["trunc.jpg"] = "truncated"
    png = io.BytesIO()
    Image.fromarray(_photo(400, 300)).save(png, format="PNG")
    (tmp_path / "trunc.png").write_bytes(png.getvalue()[:-200])
    cases["trunc.png"] = "truncated|corrupt"
    (tmp_path / "notes.txt").write_text("hello, not an image")
    cases["notes.txt"] = "not an image"
    (tmp_path / "empty.png").write_bytes(b"")
    cases["empty.png"] = "empty"
    (tmp_path / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    cases["garbage.jpg"] = "corrupt|not an image|truncated"
    (tmp_path / "folder").mkdir()
    cases["folder"] = "folder"
    cases["missing.png"] = "not found"
    for name, pattern in cases.items():
        with pytest.raises(ImageError, match=pattern) as err:
            load_image(tmp_path / name)
        assert name in _one_line(err.value)


def test_decompression_bomb_refused_before_decoding(tmp_path, monkeypatch):
    p = tmp_path / "big.png"
    Image.new("L", (3000, 3000)).save(p)
    monkeypatch.setattr(images_mod, "MAX_PIXELS", 1_000_000)
    with pytest.raises(ImageError, match="9 MP.*limit") as err:
        load_image(p)
    _one_line(err.value)


def test_pillow_bomb_header_refused(tmp_path):
    # A tiny PNG whose header claims 100000 x 100000 pixels.
    import struct
    import zlib

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")
    p = tmp_path / "bomb.png"
    p.write_bytes(data)
    with pytest.raises(ImageError, match="bomb") as err:
        load_image(p)
    _one_line(err.value)


def test_originals_are_not_modified(tmp_path):
    p = tmp_path / "x.jpg"
    Image.fromarray(_photo()).save(p)
    before = (p.read_bytes(), p.stat().st_mtime_ns)
    load_image(p)
    assert (p.read_bytes(), p.stat().st_mtime_ns) == before


def test_a_jpeg_damaged_in_the_middle_gets_a_note_about_the_decoders_grey_fill(tmp_path):
    """libjpeg decodes a JPEG whose middle is damaged without an error: the blocks after the damage come out
    flat mid-grey (said only on stderr). That area must not pass for evidence of editing."""
    import io

    from PIL import Image

    from engine.images import load_image

    import resources

    good = resources.path("samples", "astronaut.jpg").read_bytes()  # a photo: random noise breaks the decoder outright
    bad = bytearray(good)
    mid = len(bad) // 2
    bad[mid:mid + 2000] = bytes((b * 7 + 13) & 0xFF for b in bad[mid:mid + 2000])
    (tmp_path / "good.jpg").write_bytes(good)
    (tmp_path / "bad.jpg").write_bytes(bytes(bad))
    assert load_image(tmp_path / "good.jpg").notes == []
    [note] = load_image(tmp_path / "bad.jpg").notes
    assert note.startswith("the bottom ") and "of 512 rows are flat mid-grey (128)" in note and "damaged" in note
    # a flat grey picture is not damage
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (128, 128, 128)).save(buf, "JPEG", quality=95)
    (tmp_path / "grey.jpg").write_bytes(buf.getvalue())
    assert load_image(tmp_path / "grey.jpg").notes == []


def test_a_tiny_image_says_how_little_there_is_to_analyse(tmp_path):
    from PIL import Image

    from engine.images import load_image

    Image.new("RGB", (1, 1), (200, 10, 10)).save(tmp_path / "dot.png")
    Image.new("RGB", (32, 32), (200, 10, 10)).save(tmp_path / "icon.png")
    assert load_image(tmp_path / "dot.png").notes == [
        "the image is only 1 x 1 pixels: too small for the map and score to mean much "
        "(the evidence layers need at least 16-32 px)"]
    assert load_image(tmp_path / "icon.png").notes == []
