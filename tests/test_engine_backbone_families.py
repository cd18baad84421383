"""Backbone families as data: every question about a backbone is answered by its registry entry."""
from __future__ import annotations

import pytest

from engine.backbones import (PRESETS, REGISTRY, describe, feature_layer, input_config, is_lite, resolve_spec,
                              weight_roles)
from engine.backbones.families import Family, check_spec, family_of, register_family
from engine.cards import ModelCard
from engine.errors import ModelStoreError


def test_every_preset_has_a_family_and_the_known_answers():
    assert set(REGISTRY) == {"clip-vit", "clip-rn", "fusion", "lite0", "lite1", "lite2", "stack"}
    for name in PRESETS:
        assert family_of(resolve_spec(name)).name == resolve_spec(name)["family"]
    assert (describe("fusion"), feature_layer("fusion")) == ("CLIP ViT-L/14 + CLIP RN50", "ViT block 20 + RN50 layer3")
    assert (describe("clip-vit-l14"), feature_layer("clip-vit-l14")) == ("CLIP ViT-L/14", "block 20")
    assert (describe("lite2"), feature_layer("lite2")) == ("EfficientNet-Lite2 (ImageNet)", "stages [3, 4]")
    assert weight_roles("fusion") == ["clip-vit", "clip-rn"] and weight_roles("lite0") == []
    assert input_config("clip-rn50")["size"] == 224 and input_config("lite1")["size"] == 240
    stack = {"family": "stack", "parts": [PRESETS["lite0"], dict(PRESETS["lite2"], input_size=224)]}
    assert input_config(stack)["size"] == 224 and weight_roles(stack) == []
    assert describe(stack) == "EfficientNet-Lite0 (ImageNet) + EfficientNet-Lite2 (ImageNet)"
    assert family_of(resolve_spec("fusion")).official_layout and not family_of(resolve_spec("lite0")).official_layout
    assert is_lite("lite1") and not is_lite("clip-rn50")


def test_unknown_families_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown backbone family 'vgg'"):
        family_of({"family": "vgg"})
    with pytest.raises(ValueError, match=r"backbone.family must be one of clip-vit, clip-rn, fusion, lite0, .*stack"):
        check_spec({"family": "vgg"})
    with pytest.raises(ModelStoreError, match="backbone.family must be one of"):
        ModelCard.from_dict({"id": "x", "name": "x", "backbone": {"family": 3}, "decoder": {"type": "conv", "depth": 4}})
    with pytest.raises(ValueError, match="registered twice"):
        register_family(Family("lite0", ".x:y", *([lambda s: None] * 5)))


def test_a_card_is_checked_by_its_family():
    bad = {"family": "fusion", "vit": dict(PRESETS["clip-vit-l14"], layer=99), "rn": PRESETS["clip-rn50"]}
    with pytest.raises(ValueError, match=r"backbone.vit.layer must be a whole number from 0 to 64"):
        check_spec(bad)
    with pytest.raises(ValueError, match=r"parts\[1\] must be an EfficientNet-Lite backbone"):
        check_spec({"family": "stack", "parts": [PRESETS["lite0"], PRESETS["clip-rn50"]]})
    assert check_spec(dict(PRESETS["lite0"], stages=[4, 3]))["stages"] == [4, 3]
