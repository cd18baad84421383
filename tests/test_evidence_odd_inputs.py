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


def _ghost_picture():
    """ghost_case's picture before its last save: a 96x96 region first saved at q60, and its mask."""
    base = ec.scene()
    out = base.copy()
    m = ec.box_mask(base.shape, 80, 120, 96, 96)
    out[m] = ec.decode(ec.encode(base, "JPEG", 60))[m]
    return out, m


def test_jpeg_layers_read_a_jpeg_that_pillow_names_mpo(tmp_path):
    """A JPEG with a Multi-Picture segment (phones' HDR gain map, cameras' stereo pairs) opens in Pillow as
    format "MPO": ghost and dq refused it as "needs a JPEG file, found MPO", resampling gave no quality note
    and the case recorded no JPEG tables. Its first picture is the file's own JPEG, and is read as one."""
    from PIL import Image

    from declip_desktop.case.metadata import extract_metadata

    picture, m = _ghost_picture()
    plain, mpo = tmp_path / "plain.jpg", tmp_path / "photo.jpg"
    Image.fromarray(picture).save(plain, quality=90)
    Image.fromarray(picture).save(mpo, format="MPO", quality=90,
                                  save_all=True, append_images=[Image.fromarray(picture[::2, ::2])])
    assert Image.open(mpo).format == "MPO"
    out = evidence.run_many(["ghost", "dq", "resampling"], mpo)
    ref = evidence.run_many(["ghost", "dq", "resampling"], plain)
    for layer in ("ghost", "dq"):
        assert not isinstance(out[layer], Exception), out[layer]
        assert np.array_equal(out[layer].probability, ref[layer].probability)   # the same JPEG stream
    flag = out["ghost"].probability > 0.6
    assert (flag & m).sum() / (flag | m).sum() > 0.3
    assert out["resampling"].metadata["details"]["jpeg_quality_estimate"] == 90
    assert extract_metadata(mpo.read_bytes())["jpeg"] == extract_metadata(plain.read_bytes())["jpeg"]


def test_ghost_reads_a_jpeg_coded_in_rgb(tmp_path):
    """A JPEG stored in RGB (Adobe transform 0; Pillow's keep_rgb, some editors' exports) cannot be decoded
    to YCbCr by libjpeg: ghost refused the intact file with "cannot decode the JPEG ... (broken data stream
    ...)". It now converts the decoded RGB, and finds a region first saved at q60 there too."""
    from PIL import Image

    picture, m = _ghost_picture()
    path = tmp_path / "rgb_coded.jpg"
    Image.fromarray(picture).save(path, quality=90, keep_rgb=True)
    assert Image.open(path).info.get("adobe_transform") == 0
    res = evidence.run("ghost", path)
    flag = res.probability > res.metadata["default_threshold"]
    assert (flag & m).sum() / (flag | m).sum() > 0.3 and flag[~m].mean() < 0.01


@pytest.mark.parametrize("mode, kwargs, component", [
    ("CMYK", {}, "C (the file is coded in CMYK)"),
    ("RGB", {"keep_rgb": True}, "R (the file is coded in RGB, not YCbCr)"),
    ("RGB", {}, "Y (luma)"),
    ("L", {}, "Y (grey)"),
])
def test_dq_names_the_component_it_read(tmp_path, mode, kwargs, component):
    """dq reads the file's first component. That is the luma for the usual JPEG, but the cyan of a CMYK file
    and the red of one coded in RGB; its text said luma for all. The record now names the component, and a
    note says so where it is not the luma."""
    from PIL import Image

    picture = ec.scene("astronaut", (128, 160))
    path = tmp_path / "f.jpg"
    Image.fromarray(picture).convert(mode).save(path, quality=80, **kwargs)
    res = evidence.run("dq", path)
    assert res.metadata["details"]["component"] == component
    noted = [n for n in res.metadata["notes"] if "first component" in n]
    assert bool(noted) == (not component.startswith("Y "))
    if noted:
        assert component in noted[0]
