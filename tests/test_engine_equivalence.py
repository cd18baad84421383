"""The engine's forward pass equals an independent re-implementation of the published one."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from engine import Detector
from engine.testing import make_official_checkpoint, make_tiny_model_dir
from engine.weights import load_state_file
from tests.engine_reference import reference_probability


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    rng = np.random.RandomState(3)
    yy, xx = np.mgrid[0:300, 0:420]
    arr = np.stack([(xx * 0.5) % 255, (yy * 0.8) % 255, (xx + yy) % 255], -1) + rng.randint(0, 40, (300, 420, 3))
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def official_vit(tmp_path_factory):
    d = tmp_path_factory.mktemp("official")
    ckpt = make_official_checkpoint(d / "ViT_layer1_conv-4_test.pth", arch="vit", layer=1,
                                    clip_path=d / "ViT-L-14.pt", seed=5)
    return ckpt, d / "ViT-L-14.pt"


def test_official_vit_matches_reference(official_vit, photo):
    ckpt, clip = official_vit
    raw = load_state_file(ckpt)
    fc = {k: v for k, v in raw["model"].items() if k.startswith("fc.")}
    clip_sd = {k: v.float() for k, v in load_state_file(clip).items()}
    ref = reference_probability(Image.open(photo), clip_sd, fc, layer=1)
    det = Detector.from_files(ckpt, clip, device="cpu", precision="exact")
    res = det.analyze(photo)
    assert res.raw.shape == (256, 256) and res.raw.dtype == np.float32
    assert float(np.abs(res.raw - ref).max()) <= 1e-4
    assert res.probability.shape == (300, 420)
    assert res.score == pytest.approx(float(ref.mean()), abs=1e-5)
    # A different image must give a different map: the comparison above is not vacuous.
    other = det.analyze(np.zeros((300, 420, 3), np.uint8))
    assert float(np.abs(other.raw - ref).max()) > 1e-3


def test_cli_raw_matches_reference(official_vit, photo, tmp_path):
    ckpt, clip = official_vit
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "declip_desktop.cli", "analyze", "--checkpoint", str(ckpt),
                           "--backbone-weights", str(clip), "--raw", "--out", str(out), str(photo)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    raw = np.load(out / "photo.raw.npy")
    assert raw.shape == (256, 256) and raw.dtype == np.float32
    fc = {k: v for k, v in load_state_file(ckpt)["model"].items() if k.startswith("fc.")}
    clip_sd = {k: v.float() for k, v in load_state_file(clip).items()}
    ref = reference_probability(Image.open(photo), clip_sd, fc, layer=1)
    assert float(np.abs(raw - ref).max()) <= 1e-4
    results = json.loads((out / "results.json").read_text())
    assert results["items"][0]["score"] == pytest.approx(float(raw.mean()), abs=1e-6)


def test_tiny_own_format_matches_reference(tmp_path, photo):
    folder = make_tiny_model_dir(tmp_path / "tiny", layer=1)
    clip_sd = {"visual." + k[len("visual."):]: v for k, v in load_state_file(folder / "backbone.safetensors").items()}
    fc = load_state_file(folder / "decoder.safetensors")
    ref = reference_probability(Image.open(photo), clip_sd, fc, layer=1, head_width=32)
    res = Detector.from_model(str(folder), device="cpu").analyze(photo)
    assert float(np.abs(res.raw - ref).max()) <= 1e-4


def test_fast_precision_close_to_exact(official_vit, photo, monkeypatch):
    import engine.detector as detector_mod

    monkeypatch.setattr(detector_mod, "cpu_bf16_is_faster", lambda: True)  # as on a CPU with native bf16
    ckpt, clip = official_vit
    exact = Detector.from_files(ckpt, clip, device="cpu", precision="exact").analyze(photo)
    fast = Detector.from_files(ckpt, clip, device="cpu", precision="fast")
    assert fast.dtype == torch.bfloat16
    # bf16 backbone, fp32 decoder: the decoder's convolutions are where bf16 moved the masks most
    assert {p.dtype for p in fast.net.backbone.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in fast.net.decoder.parameters()} == {torch.float32}
    res = fast.analyze(photo)
    assert res.raw.dtype == np.float32
    assert float(np.abs(res.raw - exact.raw).max()) < 0.05
    assert res.metadata["precision"] == "fast" and exact.metadata["precision"] == "exact"
    assert (res.metadata["dtype"], res.metadata["decoder_dtype"]) == ("bfloat16", "float32")
    assert (exact.metadata["dtype"], exact.metadata["decoder_dtype"]) == ("float32", "float32")
    # features cached from the bf16 backbone decode in fp32, as analyze does
    feats = fast.extract_features(fast.preprocess(Image.open(photo).convert("RGB"))[None])
    assert feats.dtype == torch.bfloat16
    assert np.array_equal(fast.decode(feats)[0].numpy(), res.raw)


def test_fast_falls_back_to_fp32_where_bf16_is_slow_and_says_so(official_vit, photo, monkeypatch):
    import engine.detector as detector_mod

    monkeypatch.setattr(detector_mod, "cpu_bf16_is_faster", lambda: False)  # AVX2-only CPU
    ckpt, clip = official_vit
    det = Detector.from_files(ckpt, clip, device="cpu", precision="fast")
    assert det.dtype == torch.float32
    meta = det.analyze(photo).metadata
    assert meta["precision"] == "exact" and meta["precision_requested"] == "fast"


def test_full_width_decoder_matches_reference(tmp_path, photo):
    """Real conv widths (512..64): on CPU fp32 the wide convs run as Winograd, still within 1e-4."""
    ckpt = make_official_checkpoint(tmp_path / "ViT_layer1_conv-4_full.pth", arch="vit", layer=1,
                                    clip_path=tmp_path / "ViT-L-14.pt", seed=9, full_decoder=True)
    fc = {k: v for k, v in load_state_file(ckpt)["model"].items() if k.startswith("fc.")}
    clip_sd = {k: v.float() for k, v in load_state_file(tmp_path / "ViT-L-14.pt").items()}
    ref = reference_probability(Image.open(photo), clip_sd, fc, layer=1)
    det = Detector.from_files(ckpt, tmp_path / "ViT-L-14.pt", device="cpu", precision="exact")
    assert det.describe()["decoder_convolution"].startswith("winograd F(4x4,5x5) for 3 of 5 convs")
    res = det.analyze(photo)
    assert float(np.abs(res.raw - ref).max()) <= 1e-4
    direct = Detector.from_files(ckpt, tmp_path / "ViT-L-14.pt", device="cpu", precision="exact", conv="direct")
    assert direct.describe()["decoder_convolution"] == "direct"
    assert float(np.abs(direct.analyze(photo).raw - ref).max()) <= 1e-4
