"""Evidence layers on unusual but valid files: odd JPEG sampling, and a layer whose map has the wrong size."""
from __future__ import annotations

import numpy as np
import pytest

from engine import evidence
from tests import evidence_cases as ec

jpeglib = pytest.importorskip("jpeglib")

# Y sampled (vertical 2, horizontal 1) beside a Cb of (1, 2): the luma is stored at half the image's width,
# so one luma coefficient block covers 16 x 8 pixels (jpeglib lists sampling factors as (vertical, horizontal)).
HALF_WIDTH_LUMA = ((2, 1), (1, 2), (1, 1))


def _save(rgb: np.ndarray, path, quality: int, sampling) -> None:
    im = jpeglib.from_spatial(np.ascontiguousarray(rgb))
    im.samp_factor = np.array(sampling)
    im.write_spatial(str(path), qt=quality)


def test_dq_maps_a_luma_stored_at_half_width_onto_the_whole_image(tmp_path):
    """dq read the luma's coefficient blocks as 8x8 pixels each; where the file stores its luma at half width
    (a sampling some encoders allow), the map covered half the image, and `run` ended the whole `declip analyze`
    batch with an internal error. Here a region is left compressed once, at the coefficient level, inside a
    file whose other blocks went through a coarser first quantisation: the map must mark that region where it
    is in the picture."""
    h, w = 256, 320
    base = ec.scene("astronaut", (h, w))
    once = tmp_path / "once.jpg"
    _save(base, once, 90, HALF_WIDTH_LUMA)
    first = tmp_path / "q60.jpg"
    _save(base, first, 60, HALF_WIDTH_LUMA)
    jpeg = jpeglib.read_dct(str(once))
    assert jpeg.Y.shape[:2] == (h // 8, w // 16)
    q2 = jpeg.qt[jpeg.quant_tbl_no[0]].astype(np.float64)
    q1 = jpeglib.read_dct(str(first)).qt[0].astype(np.float64)
    coef = jpeg.Y.astype(np.float64)
    twice = np.round(np.round(coef * q2 / q1) * q1 / q2)
    single = np.zeros(coef.shape[:2], bool)
    single[10:22, 6:12] = True                      # luma blocks: rows 80-176 px, columns 96-192 px
    y = np.where(single[:, :, None, None], coef, twice).astype(np.int16)
    y[:, :, 0, 0] = jpeg.Y[:, :, 0, 0]
    jpeg.Y = y
    path = tmp_path / "half_width_luma.jpg"
    jpeg.write_dct(str(path))

    res = evidence.run("dq", path)
    assert res.probability.shape == (h, w)
    assert res.metadata["details"]["informative_frequencies"] >= 3
    truth = np.zeros((h, w), bool)
    truth[80:176, 96:192] = True
    flag = res.probability > res.metadata["default_threshold"]
    assert (flag & truth).sum() / (flag | truth).sum() > 0.7


def test_a_layer_map_of_the_wrong_size_fails_that_layer_not_the_batch(monkeypatch):
    """A layer whose map does not have the image's size is a defect of that layer on that image: LayerFailed
    (one FAILED line, the other layers and images go on), not an AssertionError that ended `declip analyze`."""
    from engine.evidence import noise
    from engine.evidence.base import LayerOutput

    monkeypatch.setattr(noise, "compute", lambda src, **kw: LayerOutput(
        map=np.zeros((src.height, src.width // 2), np.float32), score=0.0, parameters={}))
    rgb = ec.scene("chelsea", (64, 96))
    out = evidence.run_many(["noise", "ela"], rgb)
    assert isinstance(out["noise"], evidence.LayerFailed)
    assert str(out["noise"]).endswith("layer 'noise' failed (it returned a 48x64 map for a 96x64 image)")
    assert out["ela"].probability.shape == (64, 96)
