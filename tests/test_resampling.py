"""`resampling`'s band cue (cue="pmap+band", engine/evidence/resampling_band.py): an enlarged block lacks
the high band that the full-band area around it has, and that survives a final JPEG where the periodic
interpolation trace does not. The default cue ("pmap", version 2) is tested in test_evidence.py."""
from __future__ import annotations

import numpy as np
import pytest

from engine import evidence
from engine.evidence import EvidenceError
from engine.evidence.resampling_band import shortfall
from tests import evidence_cases as ec


def _enlarged_block_in_full_band_texture(quality: int, size: int = 256):
    """A texture whose detail reaches Nyquist (light-blurred noise over a slow shading, as a camera photo
    reduced for viewing is), with a 96x96 block that is a 69x69 piece of it enlarged x1.39 (bicubic),
    saved as JPEG at `quality`. Returns (bytes, mask)."""
    import cv2

    rng = np.random.default_rng(0)
    g = cv2.GaussianBlur(rng.normal(128, 40, (size, size)).astype(np.float32), (0, 0), 0.6)
    yy, xx = np.mgrid[0:size, 0:size]
    g += 30 * np.sin(xx / 23.0) * np.cos(yy / 31.0)
    img = np.clip(g, 0, 255).astype(np.uint8)
    y0 = x0 = size // 2 - 48
    img[y0:y0 + 96, x0:x0 + 96] = cv2.resize(img[10:79, 10:79], (96, 96), interpolation=cv2.INTER_CUBIC)
    rgb = np.repeat(img[..., None], 3, axis=2)
    return ec.encode(rgb, "JPEG", quality), ec.box_mask(rgb.shape, y0, x0, 96, 96)


def test_shortfall_separates_an_enlarged_block_after_jpeg_q85():
    data, gt = _enlarged_block_in_full_band_texture(85)
    y = ec.decode(data)[..., 0].astype(np.float32)
    n = (y.shape[0] - 32) // 16 + 1
    stat, measured = shortfall(y, 32, 16, n, n)
    assert measured.all()
    # window r covers pixels [16 r, 16 r + 32); the block is [80, 176): windows 5..9 lie wholly inside it,
    # windows 4..10 overlap it
    inside = stat[5:10, 5:10]
    touches = np.zeros_like(measured)
    touches[4:11, 4:11] = True
    assert inside.min() > stat[~touches].max() + 0.5    # measured: 1.48 against 0.33


@pytest.mark.parametrize("quality", [85, 75])
def test_band_cue_finds_an_enlarged_block_after_a_final_jpeg(tmp_path, quality):
    data, gt = _enlarged_block_in_full_band_texture(quality)
    path = tmp_path / f"enlarged_q{quality}.jpg"
    path.write_bytes(data)
    res = evidence.run("resampling", path, cue="pmap+band")
    flag = res.probability > 0.6
    assert ec.iou(flag, gt) >= 0.5                         # measured 0.81 (q85), 0.82 (q75)
    assert flag[~gt].mean() < 0.03
    md = res.metadata
    assert md["parameters"]["cue"] == "pmap+band" and md["details"]["band_measured_share"] > 0.9
    assert md["timings"]["band_s"] >= 0


def test_band_cue_keeps_the_constructed_png_case_and_a_clean_jpeg_clean(tmp_path):
    data, suffix, gt = ec.resampling_case()
    path = tmp_path / f"case{suffix}"
    path.write_bytes(data)
    res = evidence.run("resampling", path, cue="pmap+band")
    assert ec.iou(res.probability > 0.5, gt) >= 0.25      # measured 0.61 (pmap alone: 0.64)
    clean = tmp_path / "clean.jpg"
    clean.write_bytes(ec.encode(ec.scene("chelsea", (256, 320)), "JPEG", 90))
    assert (evidence.run("resampling", clean, cue="pmap+band").probability > 0.5).mean() < 0.08


def test_default_cue_is_the_pmap_and_a_bad_cue_is_one_line(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(ec.encode(ec.scene(), "PNG"))
    res = evidence.run("resampling", path)
    assert res.metadata["parameters"]["cue"] == "pmap" and "band_s" not in res.metadata["timings"]
    with pytest.raises(EvidenceError, match="cue must be one of pmap, pmap\\+band") as exc:
        evidence.run("resampling", path, cue="band")
    assert "\n" not in str(exc.value)
