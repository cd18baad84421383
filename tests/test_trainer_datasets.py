"""Data set layouts: Dolos (inverted masks), generic, AutoSplice, and bad input."""
import numpy as np
import pytest
from PIL import Image

from engine.errors import DeclipError
from trainer import datasets as D


def _img(path, size=(32, 24), colour=(120, 30, 200)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _mask(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)


def _dolos(root):
    base = root / "celebahq"
    for gen in ("lama", "ldm"):
        for split in ("train", "valid", "test"):
            for i in range(2):
                _img(base / "fake" / gen / "images" / split / f"{gen}{i}.jpg")
                m = np.full((24, 32), 255)  # Dolos: 255 = real ...
                m[:, :8] = 0  # ... 0 = manipulated (left quarter)
                _mask(base / "fake" / gen / "masks" / split / f"{gen}{i}.png", m)
    for split in ("train", "valid", "test"):
        _img(base / "real" / split / "r0.jpg")
    return root


def test_dolos_layout_and_mask_inversion(tmp_path):
    root = _dolos(tmp_path / "dolos")
    assert D.detect_layout(root) == "dolos"
    assert D.dolos_generators(root) == ["lama", "ldm"]
    ds = D.load_dataset(root, "val", ["lama"])  # "val" finds Dolos' "valid"
    assert [s.image.name for s in ds.fakes] == ["lama0.jpg", "lama1.jpg"]
    assert len(ds.reals) == 1 and ds.reals[0].label == 0
    m = D.read_mask(ds.fakes[0], (32, 24))
    assert m.shape == (24, 32)
    assert m[:, :8].min() == 1.0 and m[:, 8:].max() == 0.0  # inverted: white = manipulated now
    assert {s.group for s in D.load_dataset(root, "test").fakes} == {"lama", "ldm"}


def test_dolos_unknown_generator_is_named(tmp_path):
    root = _dolos(tmp_path / "dolos")
    with pytest.raises(D.DatasetError, match="repaint"):
        D.load_dolos(root, "test", ["repaint-p2-9k"])


def test_generic_missing_mask_size_mismatch_and_real(tmp_path):
    root = tmp_path / "g"
    _img(root / "images" / "a.jpg", (40, 20))
    _img(root / "images" / "b.jpg")  # no mask
    _mask(root / "masks" / "a.png", np.pad(np.full((5, 10), 255), ((0, 5), (0, 10))))  # 20x10, half size
    _img(root / "real" / "r.png")
    ds = D.load_dataset(root, None)  # a flat folder is read as a whole only when no split is asked for
    assert [s.image.name for s in ds.fakes] == ["a.jpg"]
    assert any("b.jpg" in p and "no mask" in p for p in ds.problems)
    problems = []
    m = D.read_mask(ds.fakes[0], (40, 20), problems)
    assert m.shape == (20, 40) and m[2, 2] > 0.9 and m[18, 38] < 0.1
    assert problems and "resized" in problems[0]
    assert len(ds.reals) == 1


def test_generic_splits_and_empty_split(tmp_path):
    root = tmp_path / "g"
    _img(root / "train" / "images" / "a.jpg")
    _mask(root / "train" / "masks" / "a.png", np.zeros((24, 32)))
    (root / "val" / "images").mkdir(parents=True)
    assert len(D.load_dataset(root, "train", training=True).fakes) == 1
    with pytest.raises(D.DatasetError, match="'val' split has no usable"):
        D.load_dataset(root, "val", training=True)


def test_autosplice_is_test_only(tmp_path):
    root = tmp_path / "as"
    _img(root / "Forged_JPEG90" / "x1.jpg")
    _mask(root / "Mask" / "x1_mask.png", np.zeros((24, 32)))
    _img(root / "Authentic" / "y.jpg")
    assert D.detect_layout(root) == "autosplice"
    ds = D.load_dataset(root, "test")
    assert len(ds.fakes) == 1 and len(ds.reals) == 1
    with pytest.raises(D.DatasetError, match="test-only"):
        D.load_dataset(root, "train", training=True)


def test_not_a_dataset(tmp_path):
    with pytest.raises(D.DatasetError, match="expected a Dolos, AutoSplice or generic"):
        D.detect_layout(tmp_path)


def test_colour_and_empty_masks_are_read_and_reported(tmp_path):
    import numpy as np
    from PIL import Image

    from trainer.datasets import Sample, read_mask

    red = np.zeros((20, 30, 3), np.uint8)
    red[5:10, 5:15] = (255, 0, 0)  # a red-on-black mask: by lightness only 76/255
    Image.fromarray(red).save(tmp_path / "red.png")
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "black.png")
    grey = np.zeros((20, 30), np.uint8)
    grey[5:10, 5:15] = 255
    Image.fromarray(grey).convert("RGB").save(tmp_path / "grey_rgb.png")  # RGB but not coloured
    # a label mask (0 and 1), as several public data sets store them: read as grey levels it marked nothing
    Image.fromarray((grey > 0).astype(np.uint8)).save(tmp_path / "labels.png")
    for name, flagged, note in (("red.png", 50, "colour mask"), ("black.png", 0, "marks no manipulated pixel"),
                                ("grey_rgb.png", 50, None), ("labels.png", 50, "values are 0 and 1")):
        problems: list[str] = []
        s = Sample(image=tmp_path / "img.png", mask=tmp_path / name)
        m = read_mask(s, (30, 20), problems)
        assert int((m > 0.5).sum()) == flagged, name
        assert (note is None and not problems) or (note and any(note in p for p in problems)), (name, problems)


def test_dolos_table_refuses_a_generator_the_set_does_not_have(tmp_path):
    from trainer.evaluate import dolos_table

    root = _dolos(tmp_path / "dolos")
    with pytest.raises(DeclipError, match="pluralistic: not a generator of this Dolos set .found lama, ldm"):
        dolos_table({"lama": "some-model", "pluralistic": "other"}, root)


def test_evaluation_json_is_strict_with_null_for_undefined_metrics(tmp_path):
    import json

    import numpy as np

    from trainer.evaluate import dump_json

    dump_json({"metrics": {"iou": float("nan"), "ap": np.float64("nan"), "ok": np.float32(1.5), "n": [1.0, float("inf")]}},
              tmp_path / "r.json")
    text = (tmp_path / "r.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"metrics": {"iou": None, "ap": None, "ok": 1.5, "n": [1.0, None]}}


def test_two_masks_with_one_stem_use_the_png_and_say_so(tmp_path):
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    Image.new("RGB", (8, 8)).save(root / "images" / "a.jpg")
    Image.new("L", (8, 8), 255).save(root / "masks" / "a.png")
    Image.new("L", (8, 8), 0).save(root / "masks" / "a.jpg")  # sorts first by name
    ds = D.load_generic(root)
    [s] = ds.samples
    assert s.mask.name == "a.png"
    assert any("a.jpg: ignored, a.png is used as the mask for a" in p for p in ds.problems)


def test_a_data_set_holds_the_images_analyze_takes_from_a_folder(tmp_path):
    """evaluate, train and synth read only .jpg .jpeg .png .bmp .tif .tiff .webp (.gif): a .jfif (a browser's
    download), .jpe or .mpo edit in images/ left its mask 'without its image' and the run skipped it, and
    such an authentic image in real/ was silently not scored. A folder now holds what `declip analyze`
    takes from it (engine.cli.IMAGE_SUFFIXES)."""
    from engine.cli import IMAGE_SUFFIXES
    from trainer.synth import load_photo_list

    root = tmp_path / "set"
    m = np.zeros((24, 32))
    m[4:12, 4:12] = 255
    for name in ("a.jfif", "b.jpe", "c.mpo"):
        path = root / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 24), (120, 30, 200)).save(path, format="JPEG")
        _mask(root / "masks" / f"{name.split('.')[0]}.png", m)
    (root / "real").mkdir()
    Image.new("RGB", (32, 24), (10, 90, 60)).save(root / "real" / "d.jfif", format="JPEG")
    Image.new("RGB", (32, 24), (10, 90, 60)).save(root / "real" / "e.ppm")
    ds = D.load_generic(root)
    assert sorted(s.image.name for s in ds.samples) == ["a.jfif", "b.jpe", "c.mpo", "d.jfif", "e.ppm"]
    assert ds.problems == [] and ds.skipped == []
    assert [s.label for s in ds.samples] == [True, True, True, False, False]
    assert D.IMAGE_EXTS == IMAGE_SUFFIXES
    assert [p.path.name for p in load_photo_list(root / "real")] == ["d.jfif", "e.ppm"]
