"""Files of a known format that this installation cannot decode are named, not called 'corrupt'.

An iPhone's HEIC photo, an AVIF, a JPEG XL, a PDF or an SVG given as evidence used to be refused as
"not an image that can be read (unknown or corrupt format)" (analyze) or "not an image (format not
recognised)" (case add), which reads as if the evidence were damaged. They are now named, with what to do."""
from __future__ import annotations

import json

import pytest

from declip_desktop.cli import main as declip
from engine.images import ImageError, load_image

HEADS = {
    "photo.heic": (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "HEIF/HEIC image"),
    "photo.avif": (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1" + b"\x00" * 64, "AVIF image"),
    "photo.jxl": (b"\xff\x0a" + b"\x00" * 64, "JPEG XL image"),
    "scan.pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"\x00" * 64, "PDF document"),
    "logo.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>', "SVG or XML document"),
}


@pytest.mark.parametrize("name", sorted(HEADS))
def test_the_engine_names_a_format_it_cannot_decode(tmp_path, name):
    data, what = HEADS[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImageError) as err:
        load_image(path)
    assert what in str(err.value) and "corrupt" not in str(err.value)
    assert "lossless" in str(err.value)          # what to do with it


def test_unknown_bytes_still_read_as_unknown_or_corrupt(tmp_path):
    path = tmp_path / "junk.jpg"
    path.write_bytes(b"\x00\x01\x02\x03" * 40)
    with pytest.raises(ImageError, match="unknown or corrupt format"):
        load_image(path)


def test_case_add_names_a_heic_it_cannot_take(tmp_path, capsys):
    data, what = HEADS["photo.heic"]
    src = tmp_path / "IMG_0001.HEIC"
    src.write_bytes(data)
    case = tmp_path / "c"
    assert declip(["case", "new", str(case), "--title", "t", "--number", "N1", "--examiner", "e"]) == 0
    capsys.readouterr()
    declip(["case", "add", str(case), str(src)])
    out = capsys.readouterr()
    assert what in out.out + out.err
    status = json.loads((case / "evidence.json").read_text()) if (case / "evidence.json").exists() else {}
    assert "IMG_0001.HEIC" not in json.dumps(status)    # refused, not taken in
