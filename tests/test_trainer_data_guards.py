"""What the trainer refuses to learn from or score: one pool of images used as every split, external-v1's
images, a data set folder that is not new; and the card's fingerprint of the files a run used."""
import json

import numpy as np
import pytest
from PIL import Image

from declip_desktop.cli import main as declip
from trainer import datasets as D

TINY = '{"family": "lite0", "stages": [1], "grid": 8, "input_size": 64}'
TRAIN = ["--backbone", TINY, "--decoder", "conv-4", "--widths", "4,4,4,4", "--batch-size", "4", "--max-epochs", "1"]


def _item(base, name, size=(48, 32), mask_size=None, seed=0):
    """An image in base/images and its mask (a bright rectangle) in base/masks."""
    rng = np.random.default_rng(seed)
    (base / "images").mkdir(parents=True, exist_ok=True)
    (base / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(base / "images" / f"{name}.png")
    w, h = mask_size or size
    m = np.zeros((h, w), np.uint8)
    m[h // 4:h // 2, w // 4:w // 2] = 255
    Image.fromarray(m).save(base / "masks" / f"{name}.png")


def _flat(root, n=3):
    for i in range(n):
        _item(root, f"f{i}", seed=i)
    return root


def _split_set(root):
    for s, k in (("train", 0), ("val", 10), ("test", 20)):
        for i in range(2):
            _item(root / s, f"{s}{i}", seed=k + i)
    return root


def test_a_flat_folder_has_no_splits_but_can_be_read_whole(tmp_path):
    root = _flat(tmp_path / "flat")
    for split in ("train", "val", "test"):
        with pytest.raises(D.DatasetError, match="no train/ val/ test/ subfolders.*train/images"):
            D.load_dataset(root, split, training=split != "test")
    whole = D.load_dataset(root, None)
    assert whole.split == "all" and len(whole.fakes) == 3
    # a folder with splits reads its test split when none is named
    ds = D.load_dataset(_split_set(tmp_path / "s"), None)
    assert ds.split == "test" and {s.image.name for s in ds.samples} == {"test0.png", "test1.png"}


def test_training_on_a_flat_folder_or_on_its_own_val_split_is_refused(tmp_path, capsys):
    flat = _flat(tmp_path / "flat")
    out = tmp_path / "m"
    base = ["train", "--out", str(out), "--cache", str(tmp_path / "c"), *TRAIN]
    assert declip([*base, "--data", str(flat)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "same images as every other split" in err and "val/images" in err
    data = _split_set(tmp_path / "s")
    assert declip([*base, "--data", str(data), "--val-split", "train"]) == 1
    err = capsys.readouterr().err
    assert "2 of the 2 validation images are training images" in err
    assert not out.exists()  # refused before the model folder is made
    # the same image under another name in val/ is still a training image (compared by content)
    import shutil

    shutil.copy(data / "train" / "images" / "train0.png", data / "val" / "images" / "renamed.png")
    shutil.copy(data / "train" / "masks" / "train0.png", data / "val" / "masks" / "renamed.png")
    assert declip([*base, "--data", str(data)]) == 1
    err = capsys.readouterr().err
    assert "1 of the 3 validation images are training images" in err and "renamed.png" in err
    assert not out.exists()


def test_evaluate_scores_a_flat_folder_whole_only_when_no_split_is_asked(tmp_path, capsys):
    flat = _flat(tmp_path / "flat")
    assert declip(["evaluate", "--baseline", "ela", "--data", str(flat), "--split", "test"]) == 1
    err = capsys.readouterr().err
    assert "'test' split would be the same images" in err and "leave out --split" in err
    out_json = tmp_path / "r.json"
    assert declip(["evaluate", "--baseline", "ela", "--data", str(flat), "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "[generic, all]" in text and "the whole folder was scored" in text
    assert json.loads(out_json.read_text())["split"] == "all"


# ---- external-v1 stays out of training, by content ------------------------------------------------

def _benchmark_images():
    from pathlib import Path

    images = sorted((Path(__file__).resolve().parents[2] / "shared/benchmarks/external-v1/images").glob("*.jpg"))
    if not images:
        pytest.skip("../shared/benchmarks/external-v1 is not beside this checkout")
    return images


def test_the_shipped_hashes_are_the_benchmark_images():
    import hashlib

    from trainer.reserved_images import EXTERNAL_V1_SHA256

    images = sorted((p for p in _benchmark_images()[0].parent.iterdir() if p.is_file()))
    assert len(EXTERNAL_V1_SHA256) == 91
    assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in images} == EXTERNAL_V1_SHA256


@pytest.fixture
def no_benchmark_folder(monkeypatch, tmp_path):
    """The guard as in an installed app: the benchmark folder is absent, only the shipped list is left."""
    from trainer import reserved_images as R

    monkeypatch.setattr(R, "BENCHMARK_DIR", tmp_path / "absent")
    R.reserved_sha256.cache_clear()
    yield
    R.reserved_sha256.cache_clear()


def test_synth_refuses_benchmark_photos_by_content_and_wallpapers_by_path(tmp_path, no_benchmark_folder, capsys):
    from tests.test_trainer_e2e import PHOTOS, _write_photos

    photos = tmp_path / "photos"
    photos.mkdir()
    _write_photos(photos, PHOTOS)
    (photos / "holiday.jpg").write_bytes(_benchmark_images()[0].read_bytes())  # renamed copy
    assert declip(["synth", "--photos", str(photos), "--out", str(tmp_path / "ds"), "--count", "3"]) == 1
    err = capsys.readouterr().err
    assert "holiday.jpg" in err and "external-v1" in err and err.count("\n") == 1
    # the package name in a folder of the path, not in the file name
    pkg = tmp_path / "plasma-workspace-wallpapers" / "contents"
    pkg.mkdir(parents=True)
    _write_photos(pkg, PHOTOS)
    assert declip(["synth", "--photos", str(pkg), "--out", str(tmp_path / "ds2"), "--count", "3"]) == 1
    assert "plasma-workspace-wallpapers" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists() and not (tmp_path / "ds2").exists()


def test_training_refuses_copies_of_benchmark_images(tmp_path, no_benchmark_folder, capsys):
    data = _split_set(tmp_path / "s")
    (data / "val" / "images" / "val1.png").unlink()
    copy = data / "val" / "images" / "val1.jpg"  # a benchmark image under a training set's name
    copy.write_bytes(_benchmark_images()[1].read_bytes())
    with Image.open(copy) as im:
        Image.new("L", im.size).save(data / "val" / "masks" / "val1.png")
    rc = declip(["train", "--data", str(data), "--out", str(tmp_path / "m"), "--cache", str(tmp_path / "c"), *TRAIN])
    err = capsys.readouterr().err
    assert rc == 1 and "'val' split): 1 image(s) are byte for byte images of" in err and "val1.jpg" in err
    assert not (tmp_path / "m").exists()


# ---- a data set folder is new, and the card fingerprints the files used ---------------------------

def test_synth_refuses_an_out_folder_that_holds_files(tmp_path, capsys):
    from tests.test_trainer_e2e import PHOTOS, _write_photos

    photos = tmp_path / "photos"
    photos.mkdir()
    _write_photos(photos, PHOTOS)
    out = tmp_path / "ds"
    (out / "train" / "images").mkdir(parents=True)
    (out / "train" / "images" / "old_00000.jpg").write_bytes(b"stale")
    assert declip(["synth", "--photos", str(photos), "--out", str(out), "--count", "3"]) == 1
    assert "is not an empty folder" in capsys.readouterr().err
    assert [p.name for p in out.rglob("*") if p.is_file()] == ["old_00000.jpg"]  # nothing added


def _train(data, out, tmp_path):
    assert declip(["train", "--data", str(data), "--out", str(out), "--cache", str(tmp_path / "c"), *TRAIN]) == 0
    return json.loads((out / "card.json").read_text())


def test_the_card_fingerprints_the_files_a_run_used(tmp_path):
    import shutil

    data = _split_set(tmp_path / "s")
    card = _train(data, tmp_path / "m1", tmp_path)
    fp = card["training"]["data_fingerprint"]
    assert fp["images"] == 4 and fp["masks"] == 4 and fp["splits"]["train"] == {"images": 2, "masks": 2}
    assert card["training"]["data_manifest_sha256"] is None  # no manifest: the fingerprint still names the data
    assert f"files sha256 {fp['sha256']}" in card["training_data"]
    # the same folder copied elsewhere is the same data; one changed mask is not
    shutil.copytree(data, tmp_path / "copy")
    assert _train(tmp_path / "copy", tmp_path / "m2", tmp_path)["training"]["data_fingerprint"] == fp
    _item(tmp_path / "copy" / "train", "train0", mask_size=(24, 16), seed=0)
    changed = _train(tmp_path / "copy", tmp_path / "m3", tmp_path)["training"]["data_fingerprint"]
    assert changed["sha256"] != fp["sha256"] and changed["images"] == 4
