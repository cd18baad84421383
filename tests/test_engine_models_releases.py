"""A file named like an official release gets the release's card only when it is that release:
same backbone, feature layer and decoder, and the CLIP files OpenAI publishes (by SHA-256)."""
from __future__ import annotations

import json

import pytest

from engine.cards import ModelCard
from engine.errors import CheckpointError
from engine.hashing import file_sha256
from engine.store import ModelStore, resources_dir
from engine.testing import make_official_checkpoint

RELEASE = "ViT_layer20_conv-20_ldm.pth"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("release")
    ckpt = make_official_checkpoint(d / RELEASE, layer=0, depth=20, clip_path=d / "ViT-L-14.pt")
    return {"ckpt": ckpt, "clip": d / "ViT-L-14.pt"}


def _release_like(files, **changes) -> list[ModelCard]:
    """The shipped declip-vit-ldm card, made to describe the small stand-in file (then `changes`)."""
    doc = json.loads((resources_dir() / "cards" / "declip-vit-ldm.json").read_text())
    doc["decoder"]["widths"] = [32, 16, 8, 8]
    doc["backbone"]["layer"] = 0
    clip = next(f for f in doc["files"] if f["role"] == "clip-vit")
    clip["sha256"] = file_sha256(files["clip"])
    for key, value in changes.items():
        doc["decoder" if key == "widths" else "backbone"][key] = value
    return [ModelCard.from_dict(doc)]


def _stored(store: ModelStore) -> list[str]:
    return sorted(p.name for p in store.models_dir.iterdir()) if store.models_dir.exists() else []


def test_a_file_named_like_a_release_that_is_not_it_is_refused(files):
    store = ModelStore()
    with pytest.raises(CheckpointError) as exc:
        store.import_path(files["ckpt"], [files["clip"]])  # against the shipped release cards
    msg = str(exc.value)
    assert "named like the release declip-vit-ldm but differs from it" in msg
    assert "feature layer" in msg and "[32, 16, 8, 8]" in msg
    assert f"ViT-L-14.pt SHA-256 {file_sha256(files['clip'])[:16]}" in msg and "b8cca3fd41ae0c99" in msg
    assert "\n" not in msg and _stored(store) == []


@pytest.mark.parametrize("changes, words", [
    ({"widths": [512, 256, 128, 64]}, "decoder conv-20 [32, 16, 8, 8] (the release: conv-20)"),
    ({"layer": 20}, "feature layer"),
])
def test_each_difference_is_named(files, changes, words):
    with pytest.raises(CheckpointError, match=words.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        ModelStore().import_path(files["ckpt"], [files["clip"]], releases=_release_like(files, **changes))


def test_a_clip_file_that_is_not_the_published_one_is_refused(files, tmp_path):
    releases = _release_like(files)
    releases[0].file("clip-vit")["sha256"] = "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836"
    with pytest.raises(CheckpointError, match="the published ViT-L-14.pt: b8cca3fd41ae0c99"):
        ModelStore().import_path(files["ckpt"], [files["clip"]], releases=releases)


def test_the_release_itself_gets_the_release_card(files):
    card = ModelStore().import_path(files["ckpt"], [files["clip"]], releases=_release_like(files))
    assert card.id == "declip-vit-ldm" and "CC BY-NC-SA" in card.license
    assert card.source.endswith(f"imported from {files['ckpt'].resolve()}")


def test_a_renamed_file_imports_as_a_model_of_unknown_origin(files, tmp_path):
    other = tmp_path / "my_decoder.pth"
    other.write_bytes(files["ckpt"].read_bytes())
    card = ModelStore().import_path(other, [files["clip"]])
    assert card.id == "imported-my_decoder" and card.license.startswith("unknown")
    assert "Dolos" not in card.training_data and "authors' release" not in card.source
    assert card.source == f"imported from {other.resolve()}"
