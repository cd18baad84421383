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
    R.reserved.cache_clear()
    yield
    R.reserved.cache_clear()


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
    assert f"which is {_benchmark_images()[1].name}" in err  # names the benchmark image it is
    assert not (tmp_path / "m").exists()


# ---- ... and by appearance: re-encoded, resized, mirrored copies (trainer.perceptual_hash) ----------

def _copy(src, dst, scale=0.6, quality=60, transpose=None):
    """src re-encoded as JPEG at `quality` after resizing by `scale` (and a flip or turn): other bytes."""
    with Image.open(src) as im:
        im = im.convert("RGB")
        im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
        (im.transpose(transpose) if transpose is not None else im).save(dst, quality=quality)
    return dst


def _train_with_copy(tmp_path, capsys, split, src, **copy_args):
    """`declip train` on a split set whose `split`1 image is a re-encoded copy of src (blank mask): (rc, stderr)."""
    data = _split_set(tmp_path / "s")
    (data / split / "images" / f"{split}1.png").unlink()
    copy = _copy(src, data / split / "images" / f"{split}1.jpg", **copy_args)
    with Image.open(copy) as im:
        Image.new("L", im.size).save(data / split / "masks" / f"{split}1.png")
    rc = declip(["train", "--data", str(data), "--out", str(tmp_path / "m"), "--cache", str(tmp_path / "c"), *TRAIN])
    return rc, capsys.readouterr().err


def test_the_shipped_perceptual_hashes_are_the_benchmark_images():
    from trainer.perceptual_hash import distance, image_hash
    from trainer.reserved_images import EXTERNAL_V1

    images = _benchmark_images()
    assert sorted(EXTERNAL_V1) == [p.name for p in images]
    # another JPEG decoder build may round a few cells otherwise; a wrong table is ~240 bits off
    assert max(distance(image_hash(p), EXTERNAL_V1[p.name][1]) for p in images) <= 8


def test_synth_and_training_refuse_a_reencoded_resized_benchmark_image(tmp_path, no_benchmark_folder, capsys):
    from tests.test_trainer_e2e import PHOTOS, _write_photos

    bench = _benchmark_images()[3]
    photo = bench.name.split("_")[0]  # the nearest may be another version of that photograph (it is near them all)
    photos = tmp_path / "photos"
    photos.mkdir()
    _write_photos(photos, PHOTOS)
    _copy(bench, photos / "holiday.jpg")
    assert declip(["synth", "--photos", str(photos), "--out", str(tmp_path / "ds"), "--count", "3"]) == 1
    err = capsys.readouterr().err
    assert "1 image(s) look like images of" in err and f"holiday.jpg looks like {photo}_" in err
    assert err.count("\n") == 1 and not (tmp_path / "ds").exists()

    rc, err = _train_with_copy(tmp_path, capsys, "val", bench, scale=1.5, quality=50)
    assert rc == 1 and "'val' split): 1 image(s) look like images of" in err and f"val1.jpg looks like {photo}_" in err
    assert not (tmp_path / "m").exists()


def _smooth_photo(seed, size=(640, 480)):
    """A made-up photo: smooth colour blobs (a random 6 x 8 field, upsampled), so its hash is well defined."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.BICUBIC)


@pytest.fixture
def planted(monkeypatch, tmp_path):
    """The guard with one made-up photo as the whole benchmark (its SHA-256 and perceptual hash planted in
    the table): the checks run where ../shared is absent (CI)."""
    from engine.hashing import file_sha256
    from trainer import reserved_images as R
    from trainer.perceptual_hash import image_hash

    src = tmp_path / "planted.jpg"
    _smooth_photo(seed=7).save(src, quality=95)
    monkeypatch.setattr(R, "BENCHMARK_DIR", tmp_path / "absent")
    monkeypatch.setattr(R, "EXTERNAL_V1", {"Planted_authentic.jpg": (file_sha256(src), image_hash(src))})
    R.reserved.cache_clear()
    yield src
    R.reserved.cache_clear()


def _check(*paths):
    from engine.hashing import file_sha256
    from trainer.reserved_images import refuse_reserved

    refuse_reserved([(p, file_sha256(p)) for p in paths], "pool")


def test_copies_of_a_planted_image_are_refused_by_appearance_and_others_pass(planted, tmp_path):
    import shutil

    from trainer.reserved_images import ReservedImageError

    shutil.copy(planted, tmp_path / "same.jpg")
    with pytest.raises(ReservedImageError, match="byte for byte .*which is Planted_authentic.jpg"):
        _check(tmp_path / "same.jpg")
    for name, scale, quality, transpose in (("small.jpg", 0.3, 50, None), ("big.jpg", 2.0, 75, None),
                                            ("mirrored.jpg", 0.5, 60, Image.Transpose.FLIP_LEFT_RIGHT),
                                            ("upside_down.jpg", 0.8, 70, Image.Transpose.ROTATE_180)):
        copy = _copy(planted, tmp_path / name, scale, quality, transpose)
        with pytest.raises(ReservedImageError, match=f"1 image\\(s\\) look like .*{name} looks like "
                                                     "Planted_authentic.jpg: their perceptual hashes differ in [0-9]+ of 480 bits"):
            _check(copy)
    # a copy whose pixels are stored a quarter turn off, with the EXIF tag that turns them upright
    exif = Image.Exif()
    exif[0x0112] = 6
    with Image.open(planted) as im:
        im.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "tagged.jpg", quality=80, exif=exif)
    with pytest.raises(ReservedImageError, match="tagged.jpg looks like"):
        _check(tmp_path / "tagged.jpg")
    # unrelated pictures pass: other made-up photos, and files the guard cannot decode are skipped
    for seed in range(8, 14):
        _smooth_photo(seed).save(tmp_path / f"other{seed}.jpg", quality=60)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "small.jpg").read_bytes()[:300])
    _check(*sorted(tmp_path.glob("other*.jpg")), tmp_path / "broken.jpg", tmp_path / "cut.jpg")


def test_synth_and_training_refuse_a_copy_of_a_planted_image(planted, tmp_path, capsys):
    from tests.test_trainer_e2e import PHOTOS, _write_photos

    photos = tmp_path / "photos"
    photos.mkdir()
    _write_photos(photos, PHOTOS)
    _check(*sorted(photos.iterdir()))  # the test photos alone pass
    _copy(planted, photos / "holiday.jpg", scale=0.5, quality=55)
    assert declip(["synth", "--photos", str(photos), "--out", str(tmp_path / "ds"), "--count", "3"]) == 1
    err = capsys.readouterr().err
    assert "holiday.jpg looks like Planted_authentic.jpg" in err and not (tmp_path / "ds").exists()

    rc, err = _train_with_copy(tmp_path, capsys, "train", planted, scale=0.25, quality=50)
    assert rc == 1 and "'train' split): 1 image(s) look like" in err and "train1.jpg looks like Planted" in err


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
