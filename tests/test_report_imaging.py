import numpy as np
import pytest
from PIL import Image

from declip_desktop.report import imaging
from declip_desktop.report.regions import Region


def test_evidence_is_shown_upright_like_the_map(tmp_path):
    p = tmp_path / "rot.jpg"
    ex = Image.Exif()
    ex[0x0112] = 6  # rotate 90° clockwise for display
    Image.new("RGB", (300, 200), (200, 10, 10)).save(p, exif=ex.tobytes())
    img = imaging.load_evidence(p)
    assert img.size == (200, 300)


def test_missing_and_corrupt_evidence_raise_unreadable(tmp_path):
    with pytest.raises(imaging.Unreadable, match="not found"):
        imaging.load_evidence(tmp_path / "none.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8not a jpeg")
    with pytest.raises(imaging.Unreadable, match="cannot decode"):
        imaging.load_evidence(bad)


def test_overlay_is_the_viewers_heat_map_and_mask_is_binary():
    from engine.overlay import FADE, THRESHOLD_COLOUR, lut

    rgb = Image.new("RGB", (40, 20), (128, 128, 128))
    prob = np.zeros((20, 40), np.float32)
    prob[:, 10:20] = 0.3   # weak evidence below the threshold: faded, as on screen
    prob[:, 20:] = 0.9
    ov = np.asarray(imaging.overlay(rgb, prob, "inferno", 0.5, 0.5))
    table = lut("inferno").astype(np.float32)
    for x, p, a in ((5, 0.0, 0.5 * FADE), (15, 0.3, 0.5 * FADE), (30, 0.9, 0.5)):
        want = np.rint(128 * (1 - a) + table[int(np.rint(p * 255))] * a)
        assert np.abs(ov[10, x].astype(np.float32) - want).max() <= 1, x
    assert not (ov[:, 15] == ov[:, 5]).all() and not (ov[:, 30] == ov[:, 15]).all()
    # the threshold's outline runs along the flagged region's edge, in the viewer's colour
    assert (ov[5:15, 20] == THRESHOLD_COLOUR).all() and not (ov[5:15, 25] == THRESHOLD_COLOUR).all()
    # moving the threshold changes the picture (it did not in the heat display before)
    assert not np.array_equal(ov, np.asarray(imaging.overlay(rgb, prob, "inferno", 0.5, 0.2)))
    # a colour map this version lacks (hand-edited case) prints as inferno instead of failing
    assert (np.asarray(imaging.overlay(rgb, prob, "no-such-map", 0.5, 0.5)) == ov).all()
    m = np.asarray(imaging.mask_image(prob, (40, 20), 0.5))
    assert set(np.unique(m)) == {0, 255} and m[:, 25:].min() == 255 and m[:, :15].max() == 0


def test_boxes_and_crops_follow_map_coordinates():
    work = Image.new("RGB", (400, 200), (0, 0, 0))
    r = Region(rank=1, box=(50, 25, 100, 50), area_fraction=0.1, mean_probability=0.9, max_probability=1.0)
    boxed = np.asarray(imaging.draw_boxes(work, [r], (200, 100)))   # map at half the work size
    assert boxed[50, 150].any() and not boxed[100, 300].any()      # outline at x=100..200, y=50..100
    c = imaging.crop(work, r, (200, 100))
    # 100x50 work pixels plus a 20 px margin each side, enlarged by a whole factor (2) to fit 300 px
    assert c.size == (280, 180)


def test_jpeg_bytes_go_into_the_pdf_unchanged():
    enc = imaging.encode(Image.new("RGB", (64, 32), (1, 2, 3)))
    assert enc.data[:2] == b"\xff\xd8" and (enc.width, enc.height) == (64, 32)
    fl = imaging.flowable(enc, 32, 100)
    assert (round(fl.drawWidth), round(fl.drawHeight)) == (32, 16)


def test_16_bit_grey_evidence_is_shown_as_analysed(tmp_path):
    # Pillow's own convert("RGB") clips I;16 values above 255 to white; the report must show the
    # picture the analysis saw (65535 -> 255), not a black-and-white stencil of it.
    from engine.images import load_image

    p = tmp_path / "grey16.png"
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (32, 1))
    Image.fromarray(ramp).save(p)
    assert Image.open(p).mode.startswith("I")
    shown = np.asarray(imaging.load_evidence(p), dtype=np.int16)
    analysed = load_image(p).pixels().astype(np.int16)
    assert shown.shape == analysed.shape
    assert np.abs(shown - analysed).max() <= 1
    assert 100 < shown[0, 32, 0] < 160   # mid-ramp stays mid-grey
