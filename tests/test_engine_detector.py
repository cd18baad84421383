"""Detector API: batching, tiling, progress, cancellation, feature caching."""
from __future__ import annotations

import numpy as np
import pytest

from engine import Cancelled, Detector, ImageError
from engine.testing import make_tiny_model_dir
from engine.tiling import plan_tiles


@pytest.fixture(scope="module")
def det(tmp_path_factory):
    return Detector.from_model(str(make_tiny_model_dir(tmp_path_factory.mktemp("m") / "tiny")), device="cpu")


def _img(seed, h=100, w=140):
    return (np.random.RandomState(seed).rand(h, w, 3) * 255).astype(np.uint8)


def test_analyze_many_batches_equal_single(det):
    imgs = [_img(i) for i in range(5)]
    single = [det.analyze(x).raw for x in imgs]
    batched = list(det.analyze_many(imgs + ["/nonexistent.png"], batch_size=3))
    assert isinstance(batched[-1], ImageError)
    for a, b in zip(single, batched[:5]):
        np.testing.assert_allclose(a, b.raw, atol=1e-5)


def test_features_then_decode_equals_analyze(det):
    x = _img(7)
    res = det.analyze(x)
    from engine.images import load_image

    feats = det.extract_features(det.preprocess(load_image(x))[None])
    np.testing.assert_allclose(det.decode(feats)[0].numpy(), res.raw, atol=1e-6)


def test_tiled_progress_and_cancel(det):
    calls = []
    res = det.analyze(_img(1, 400, 600), mode="tiled", batch_size=2, progress=lambda d, t, m: calls.append((d, t)))
    assert res.raw is None and res.probability.shape == (400, 600)
    assert calls[-1][0] == calls[-1][1] == res.metadata["tiling"]["tiles"]
    assert 0 <= res.probability.min() and res.probability.max() <= 1
    n = {"k": 0}

    def cancel():
        n["k"] += 1
        return n["k"] > 1

    with pytest.raises(Cancelled):
        det.analyze(_img(1, 400, 600), mode="tiled", batch_size=1, cancel=cancel)


def test_tile_plan_covers_image():
    plan = plan_tiles(4000, 3000, tile=224, stride=168)
    assert max(plan.scaled_w, plan.scaled_h) <= 1024
    xs = sorted({x for x, _ in plan.boxes})
    assert xs[0] == 0 and xs[-1] + 224 == plan.scaled_w
    small = plan_tiles(100, 80)
    assert small.scaled_w >= 224 and small.scaled_h >= 224 and len(small.boxes) >= 1


def test_metadata_is_complete(det):
    md = det.analyze(_img(3)).metadata
    for key in ("model_id", "weights", "mode", "device", "device_name", "dtype", "versions", "timings", "image",
                "created_utc"):
        assert key in md
    assert md["image"]["sha256"] and md["created_utc"].endswith("Z")


def test_exif_orientation_sets_map_shape(det, tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 8  # rotate 90 CCW for display
    p = tmp_path / "rot.jpg"
    Image.fromarray(_img(4, 60, 150)).save(p, exif=exif.tobytes())
    res = det.analyze(p)
    assert res.probability.shape == (150, 60)
    assert res.metadata["image"]["exif_orientation"] == 8


def test_exact_on_cuda_turns_tf32_off_process_wide():
    # cuDNN's default TF32 convolutions moved CUDA fp32 maps by 0.002 from CPU fp32 on an H200;
    # an exact CUDA detector calls this. The flags are plain settings, testable without a GPU.
    import torch

    from engine.detector import exact_cuda_numerics

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        exact_cuda_numerics()
        assert torch.backends.cudnn.allow_tf32 is False
        assert torch.backends.cuda.matmul.allow_tf32 is False
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_network_cache_reuses_a_loaded_model_until_cleared(tmp_path):
    from engine.loading import clear_network_cache

    folder = str(make_tiny_model_dir(tmp_path / "cached"))
    a = Detector.from_model(folder, device="cpu")
    b = Detector.from_model(folder, device="cpu")
    assert a.net is b.net  # loaded once
    clear_network_cache()
    c = Detector.from_model(folder, device="cpu")
    assert c.net is not a.net
    np.testing.assert_array_equal(c.analyze(_img(3)).raw, a.analyze(_img(3)).raw)
