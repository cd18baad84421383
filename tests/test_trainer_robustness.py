"""The trainer when its files go wrong: a damaged feature cache, a full or read-only disk."""
import json

import numpy as np

from declip_desktop.cli import main as declip
from tests.test_trainer_data_guards import TRAIN, _split_set
from trainer.features import FeatureCache


def test_an_unreadable_cache_entry_counts_as_missing(tmp_path):
    cache = FeatureCache(tmp_path, "key")
    sha = "ab" * 32
    cache.put(sha, np.ones((2, 3, 3), np.float32))
    assert cache.get(sha).shape == (2, 3, 3)
    path = cache._path(sha)
    for damage in (b"", b"\x93NUMPY\x01\x00garbage", b"not numpy at all"):
        path.write_bytes(damage)
        assert cache.get(sha) is None, damage
    np.save(path, np.float16(1.0))  # a valid .npy that is not a feature map
    assert cache.get(sha) is None


def test_training_recomputes_zero_length_cache_files(tmp_path, capsys):
    data = _split_set(tmp_path / "s")
    base = ["train", "--data", str(data), "--cache", str(tmp_path / "c"), *TRAIN]
    assert declip([*base, "--out", str(tmp_path / "m1")]) == 0
    entries = list((tmp_path / "c").rglob("*.npy"))
    assert entries
    for p in entries:
        p.write_bytes(b"")  # what a full disk or a kill left behind
    capsys.readouterr()
    assert declip([*base, "--out", str(tmp_path / "m2")]) == 0, capsys.readouterr().err
    assert all(p.stat().st_size > 0 for p in entries)  # recomputed and written again
    first, second = (json.loads((tmp_path / m / "card.json").read_text()) for m in ("m1", "m2"))
    assert first["metrics"] == second["metrics"]
