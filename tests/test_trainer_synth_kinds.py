"""`declip synth` kind set v2: every new edit's mask is exactly where pixels changed; double JPEG and the
kinds are recorded; photos reserved for evaluation (external-v1's sources) are refused."""
import json

import numpy as np
import pytest
from PIL import Image

from declip_desktop.cli import main as declip
from trainer.synth import KIND_SETS, SynthError, grid_shift, load_photo_list, make_item, random_view
from trainer.synth_edits import clone_stamp, line_removal, poisson_splice, resampled_paste, retouch

skd = pytest.importorskip("skimage.data")
NEW_KINDS = [k for k in KIND_SETS["v2"] if k not in KIND_SETS["v1"]]


@pytest.fixture(scope="module")
def views():
    rng = np.random.default_rng(0)
    return [random_view(getattr(skd, n)(), rng, (160, 200)) for n in ("chelsea", "coffee", "astronaut")]


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_each_new_kind_marks_exactly_the_changed_pixels(views, kind):
    changed_any = 0
    for i in range(6):
        rng = np.random.default_rng([i, 17])
        host, donor = views[i % 3], views[(i + 1) % 3]
        img, mask = make_item(kind, host, donor, rng)
        assert img.shape == host.shape and img.dtype == np.uint8 and mask.shape == host.shape[:2]
        assert np.array_equal(mask, np.any(img != host, axis=-1)), f"{kind}: mask is not the changed pixels"
        changed_any += int(mask.any())
    assert changed_any >= 5  # the edit really edits (a flat region may leave one item unchanged)


def test_new_kinds_have_their_own_character(views):
    host, donor = views[0], views[1]
    # thin strokes: line removal changes a small, thin area; retouch keeps the structure but moves colours
    _, m = line_removal(host, np.random.default_rng(3))
    assert 0 < m.mean() < 0.1
    from scipy import ndimage
    assert ndimage.binary_erosion(m, iterations=4).sum() < 0.2 * m.sum()  # mostly thinner than 9 px
    img, m = retouch(host, np.random.default_rng(4))
    assert m.sum() > 100
    for fn in (poisson_splice, resampled_paste):
        img, m = fn(host, donor, np.random.default_rng(5))
        assert m.sum() > 100
    img, m = clone_stamp(host, np.random.default_rng(6))
    assert m.sum() > 50


def test_grid_shift_crops_image_and_mask_alike():
    img = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    mask = np.zeros((20, 30), bool)
    mask[10, 12] = True
    info = {}
    out, m = grid_shift(img, mask, np.random.default_rng(2), info)
    dy, dx = info["grid_shift"]
    assert out.shape[:2] == m.shape == (20 - dy, 30 - dx)
    assert np.array_equal(out, img[dy:, dx:]) and m[10 - dy, 12 - dx] and m.sum() == 1


def test_v2_data_set_records_kinds_and_double_jpeg(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea", "coffee", "astronaut", "rocket"):
        Image.fromarray(getattr(skd, name)()).convert("RGB").resize((160, 120)).save(photos / f"{name}.png")
    out = tmp_path / "ds"
    assert declip(["synth", "--photos", str(photos), "--out", str(out), "--count", "30", "--seed", "2",
                   "--size", "96,128", "--real-fraction", "0.5"]) == 0
    man = json.loads((out / "manifest.json").read_text())
    assert man["kind_set"] == "v2" and man["kinds"] == KIND_SETS["v2"] and man["double_jpeg"] is True
    items = man["items"]
    assert {i["kind"] for i in items} - set(KIND_SETS["v2"]) == {"real"}
    assert len({i["kind"] for i in items}) >= 5
    pre = [i for i in items if "prior_jpeg_quality" in i]
    assert pre and all(50 <= i["prior_jpeg_quality"] <= 95 for i in pre)
    assert any(i["kind"] == "real" for i in pre)  # authentic items get the same double compression
    for it in items:
        if "mask" in it:
            m = np.asarray(Image.open(out / it["mask"]))
            assert m.shape == Image.open(out / it["image"]).size[::-1] and (m == 255).any()
    v1 = tmp_path / "v1"
    assert declip(["synth", "--photos", str(photos), "--out", str(v1), "--count", "6", "--seed", "2",
                   "--size", "96,128", "--kinds", "v1"]) == 0
    man1 = json.loads((v1 / "manifest.json").read_text())
    assert man1["kind_set"] == "v1" and not man1["double_jpeg"]
    assert {i["kind"] for i in man1["items"]} <= set(KIND_SETS["v1"]) | {"real"}
    assert not any("prior_jpeg_quality" in i for i in man1["items"])


@pytest.mark.parametrize("entry", [
    {"origin": "/usr/share/wallpapers/Flow/contents/images/5120x2880.jpg"},
    {"licence": "GPL-2+ (Debian plasma-workspace-wallpapers 5.27.5)"},
    {"licence": "CC-BY-4.0 (Debian lomiri-wallpapers-16.04, /usr/share/doc/lomiri-wallpapers-16.04/copyright)"},
])
def test_photos_reserved_for_evaluation_are_refused(tmp_path, entry, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea", "coffee", "astronaut"):
        Image.fromarray(getattr(skd, name)()).convert("RGB").resize((96, 72)).save(photos / f"{name}.png")
    (photos / "LICENSES.json").write_text(json.dumps([{"file": "coffee.png", **entry}]))
    with pytest.raises(SynthError, match="reserved for evaluation"):
        load_photo_list(photos)
    assert declip(["synth", "--photos", str(photos), "--out", str(tmp_path / "ds"), "--count", "6"]) != 0
    assert "reserved for evaluation" in capsys.readouterr().err
    assert not (tmp_path / "ds" / "manifest.json").exists()


def test_synth_reads_photos_as_the_engine_does(tmp_path, capsys):
    """synth decoded photos with Pillow's convert("RGB"): a portrait photo stored on its side with EXIF
    orientation 6 (as phones save them) gave edits lying on their side, and a 16-bit grey PNG was clipped
    to white. It now reads them through the engine's loader, as the app and `evaluate` do."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("chelsea", "coffee", "astronaut"):
        stored = Image.fromarray(getattr(skd, name)()).convert("RGB").resize((160, 96))  # landscape as stored
        exif = Image.Exif()
        exif[0x0112] = 6
        stored.save(photos / f"{name}.jpg", quality=95, exif=exif.tobytes())
    grey16 = (np.asarray(Image.fromarray(skd.camera()).resize((96, 160)), np.uint16) * 257)
    Image.fromarray(grey16).save(photos / "camera16.png")
    assert Image.open(photos / "camera16.png").mode.startswith("I")
    (photos / "broken.jpg").write_bytes(b"not a photo")
    out = tmp_path / "ds"
    assert declip(["synth", "--photos", str(photos), "--out", str(out), "--count", "12", "--seed", "4",
                   "--size", "96,128", "--real-fraction", "0.5", "--split", "0.5,0.25,0.25"]) == 0
    items = json.loads((out / "manifest.json").read_text())["items"]
    for it in items:
        with Image.open(out / it["image"]) as im:
            w, h = im.size
            grey = np.asarray(im.convert("L"), np.float64)
        assert h > w, it                                # every photo is portrait as displayed
        if it["host"] == "camera16.png":
            assert grey.mean() < 200 and grey.std() > 20, it   # the picture, not a white sheet
    assert any(it["host"] == "camera16.png" for it in items)
    # a photo that cannot be read is named with the loader's reason, not an exception's class name
    err = capsys.readouterr().err
    assert f"{photos / 'broken.jpg'}: skipped, not a readable image (not an image that can be read" in err
