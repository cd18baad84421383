"""The evidence layers' part of `declip validate` (engine/golden_layers.py): each layer is run on
the golden items and compared with its recorded outputs. The golden set is copied to a temporary
folder before anything in it is changed; resources/ is never modified."""
import json
import shutil

import numpy as np
import pytest

from engine.evidence import LAYER_NAMES, info
from engine.golden import golden_dir, load_golden
from engine.golden_items import decode_map, encode_map
from engine.golden_layers import VARIANTS, check_layer, checked_layers


@pytest.fixture(scope="module")
def golden():
    return load_golden()


def test_every_layer_has_references_for_its_current_version_on_every_item(golden):
    names = [it["name"] for it in golden["items"]]
    assert checked_layers() == [*LAYER_NAMES, "clones (dense)"]
    for key in checked_layers():
        layer, params, only = VARIANTS.get(key, (key, {}, None))
        ref = golden["layers"][key]
        assert ref["version"] == info(layer).version
        assert ref["parameters"] == {**info(layer).defaults, **params}
        assert [r["name"] for r in ref["items"]] == [n for n in names if only is None or n in only]
    # the JPEG-only layers refuse the PNG items, and the reason names no folder of the recording machine
    refusals = [r for layer in ("ghost", "dq") for r in golden["layers"][layer]["items"] if "refused" in r]
    assert refusals and all(r["name"].endswith(".png") and "/" not in r["refused"] for r in refusals)
    # the copy-move sample's copy is recorded, so a lost copy fails
    cm = next(r for r in golden["layers"]["clones"]["items"] if r["name"] == "chelsea_copy_move.jpg")
    assert cm["pairs"] >= 1 and cm["score"] > 0.9


def copy_golden(tmp_path, edit):
    """A copy of the golden folder (images and samples it refers to) with golden.json edited."""
    folder = tmp_path / "validation"
    shutil.copytree(golden_dir(), folder)
    shutil.copytree(golden_dir().parent / "samples", tmp_path / "samples")
    g = json.loads((folder / "golden.json").read_text())
    edit(g)
    (folder / "golden.json").write_text(json.dumps(g))
    return folder, g


def test_a_layer_passes_against_its_references_and_fails_when_one_map_differs(tmp_path, golden):
    ok = check_layer("ela", golden, golden_dir())
    assert ok.ok and ok.max_diff <= ok.tolerance and ok.name == "layer ela"

    def shift(g):
        r = next(r for r in g["layers"]["ela"]["items"] if r["name"] == "pasted_patch.png")
        r["map"] = encode_map(np.clip(decode_map(r["map"]) + 0.05, 0, 1))

    folder, g = copy_golden(tmp_path, shift)
    bad = check_layer("ela", g, folder)
    assert not bad.ok and bad.max_diff >= 0.04 and "pasted_patch.png" in bad.problem


def test_a_lost_copy_pair_a_new_refusal_and_a_version_change_each_fail(tmp_path):
    def edit(g):
        next(r for r in g["layers"]["clones"]["items"] if r["name"] == "chelsea_copy_move.jpg")["pairs"] += 1
        g["layers"]["dq"]["items"][0] = {"name": g["layers"]["dq"]["items"][0]["name"], "refused": "x"}
        g["layers"]["noise"]["version"] = "0.9"

    folder, g = copy_golden(tmp_path, edit)
    clones = check_layer("clones", g, folder)
    assert not clones.ok and "copy pairs" in clones.problem
    dq = check_layer("dq", g, folder)
    assert not dq.ok and "refused when recorded" in dq.problem
    noise = check_layer("noise", g, folder)
    assert not noise.ok and "version 0.9" in noise.problem


def test_a_changed_golden_image_and_a_missing_layer_fail(tmp_path):
    def drop(g):
        del g["layers"]["resampling"]

    folder, g = copy_golden(tmp_path, drop)
    (folder / "images" / "noise.png").write_bytes(b"not the recorded image")
    ela = check_layer("ela", g, folder)
    assert not ela.ok and "noise.png (golden image missing or changed)" in ela.problem
    missing = check_layer("resampling", g, folder)
    assert not missing.ok and "no reference recorded" in missing.problem


def test_the_dense_variant_is_checked_with_its_own_method(tmp_path, golden):
    """The row "layer clones (dense)" runs clones with method dense: it passes against its own references and
    fails against the default method's, which differ (dense also pairs the authentic astronaut's texture)."""
    keep = {"astronaut.jpg", "gradient.png"}  # dense takes seconds per photo: two items are enough here
    dense = [r for r in golden["layers"]["clones (dense)"]["items"] if r["name"] in keep]
    default = [r for r in golden["layers"]["clones"]["items"] if r["name"] in keep]
    assert [r["pairs"] for r in dense] != [r["pairs"] for r in default]

    def trimmed(g):
        g["layers"]["clones (dense)"]["items"] = dense

    folder, g = copy_golden(tmp_path / "own", trimmed)
    ok = check_layer("clones (dense)", g, folder)
    assert ok.ok and ok.name == "layer clones (dense)" and ok.tolerance == 0.25

    def swapped(g):
        g["layers"]["clones (dense)"]["items"] = default

    folder, g = copy_golden(tmp_path / "swapped", swapped)
    bad = check_layer("clones (dense)", g, folder)
    assert not bad.ok and "astronaut.jpg" in bad.problem and "copy pairs" in bad.problem
