"""`declip analyze` outputs: the fast encoder, the writer threads and the timm-free Lite backbone
write the same pixels as the old code path (Pillow's PNG encoder, float32 overlay blend, timm's
EfficientNet-Lite), to the last bit; --outputs chooses the files; a failed write is one line."""
from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from declip_desktop.cli import main
from engine.mapio import png_bytes
from engine.overlay import COLORMAPS, THRESHOLD_COLOUR, outline_of, render_overlay, style_rgba, to_u8

SAMPLES = Path(__file__).resolve().parent.parent / "resources" / "samples"
INSTALLED_COMPRESSORS = ["auto", "zlib"] + [name for name, module in (("isal", "isal"), ("libdeflate", "deflate"))
                                            if importlib.util.find_spec(module) is not None]


def _decode(path_or_bytes) -> np.ndarray:
    src = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    with Image.open(src) as im:
        return np.asarray(im)


def _old_overlay(rgb: np.ndarray, prob: np.ndarray, cmap: str, opacity: float, threshold: float = 0.5) -> np.ndarray:
    """The shared look blended pixel by pixel in float32, as engine.overlay computed it before it was
    tabulated: the style's colour and alpha per map value (faded at or below the threshold), then
    the threshold's outline."""
    u8 = np.clip(np.rint(np.asarray(prob, np.float32) * 255.0), 0, 255).astype(np.uint8)  # whole image at once
    px = style_rgba(cmap, round(opacity, 4), round(threshold, 4), "heat")[u8]
    out = rgb.astype(np.float32) * (1 - px[..., 3:4]) + px[..., :3] * px[..., 3:4]
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    out[outline_of(u8, threshold)] = THRESHOLD_COLOUR
    return out


def _old_map_png(prob: np.ndarray) -> np.ndarray:
    """What the old save_probability_png stored: Pillow's encoder, level 6, read back."""
    u16 = np.clip(np.rint(np.asarray(prob, np.float64) * 65535.0), 0, 65535).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(u16).save(buf, format="PNG", compress_level=6)
    return _decode(buf.getvalue())


@pytest.mark.parametrize("filt", ["none", "sub", "up"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 1), (64, 33)])
def test_png_writer_round_trips_exactly(filt, shape):
    rng = np.random.RandomState(sum(shape))
    grey = rng.randint(0, 65536, shape).astype(np.uint16)
    rgb = rng.randint(0, 256, shape + (3,)).astype(np.uint8)
    for compressor in INSTALLED_COMPRESSORS:
        for level in (0, 1, 6):
            assert np.array_equal(_decode(png_bytes(grey, filter=filt, level=level, compressor=compressor)), grey)
            assert np.array_equal(_decode(png_bytes(rgb, filter=filt, level=level, compressor=compressor)), rgb)
    with pytest.raises(ValueError, match="expected HxW uint16"):
        png_bytes(grey.astype(np.float32))


@pytest.mark.parametrize("filt", ["none", "sub", "up"])
def test_png_rows_deflated_in_bands_are_one_valid_zlib_stream(filt, monkeypatch):
    """Tall images are filtered and deflated in bands on two threads (engine.bands) and joined into one
    zlib stream: zlib itself (which checks the Adler-32) reads it back to the scanlines that the
    one-piece encoder writes, and the pixels are the same whatever the compressor."""
    import struct
    import zlib

    from engine import bands
    from engine.mapio import adler32_combine

    rng = np.random.RandomState(7)
    grey = rng.randint(0, 65536, (301, 9)).astype(np.uint16)
    rgb = rng.randint(0, 256, (257, 13, 3)).astype(np.uint8)

    def idat(png: bytes) -> bytes:
        n = struct.unpack(">I", png[33:37])[0]  # the chunk after the 8-byte signature and 25-byte IHDR
        assert png[37:41] == b"IDAT"
        return png[41:41 + n]

    for arr in (grey, rgb):
        assert len(bands.row_bands(arr.shape[0])) == 2
        banded = {c: png_bytes(arr, filter=filt, compressor=c) for c in INSTALLED_COMPRESSORS}
        monkeypatch.setattr(bands, "MIN_BAND_ROWS", 10**9)  # one band: the one-piece encoder
        whole = png_bytes(arr, filter=filt, compressor="zlib")
        monkeypatch.undo()
        for c, png in banded.items():
            assert np.array_equal(_decode(png), arr), c
            assert zlib.decompress(idat(png)) == zlib.decompress(idat(whole)), c
    for a, b in ((b"", b"x"), (b"abc" * 99, b"\xff" * 70000), (bytes(range(256)) * 500, b"q")):
        assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


def test_overlay_rendered_in_bands_equals_one_band(monkeypatch):
    from engine import bands

    rng = np.random.RandomState(11)
    rgb = rng.randint(0, 256, (300, 40, 3)).astype(np.uint8)
    prob = rng.rand(300, 40).astype(np.float32)
    banded = render_overlay(rgb, prob, "inferno", 0.6, threshold=0.4)
    monkeypatch.setattr(bands, "MIN_BAND_ROWS", 10**9)
    assert np.array_equal(banded, render_overlay(rgb, prob, "inferno", 0.6, threshold=0.4))
    assert np.array_equal(banded, _old_overlay(rgb, prob, "inferno", 0.6, threshold=0.4))


def test_tabulated_overlay_is_the_float_blend():
    rng = np.random.RandomState(3)
    rgb = rng.randint(0, 256, (61, 47, 3)).astype(np.uint8)
    prob = rng.rand(61, 47).astype(np.float32)
    prob[0, :5] = [0.0, 1.0, 0.5, 1 / 510, 0.9999]
    for cmap in COLORMAPS:
        for opacity in (0.0, 0.25, 0.5, 0.71, 1.0):
            assert np.array_equal(render_overlay(rgb, prob, cmap, opacity), _old_overlay(rgb, prob, cmap, opacity))


def test_banded_quantisation_and_overlay_equal_the_whole_image_formulas():
    """The 12 MP loops work a band of rows at a time; on maps taller than a band, with values on the
    rounding edges, they give what the whole-image formulas give, in every display mode."""
    from engine.mapio import encode_u16
    from engine.quantise import BAND_ROWS
    from engine.overlay import DISPLAY_MODES, thicken

    rng = np.random.RandomState(7)
    h = 2 * BAND_ROWS + 3  # two full bands and a short one
    prob = rng.rand(h, 45).astype(np.float32)
    edges = np.array([0.0, 1.0, 0.5, 0.5 / 255, 1.5 / 255, 0.5 / 65535, 2.5 / 65535, -0.25, 1.5], np.float32)
    prob[BAND_ROWS - 1, :9] = prob[BAND_ROWS, :9] = prob[-1, :9] = edges
    prob[BAND_ROWS - 1:BAND_ROWS + 1, 10:30] = 0.9  # a region across a band boundary, for the outline
    assert np.array_equal(encode_u16(prob),
                          np.clip(np.rint(prob.astype(np.float64) * 65535.0), 0, 65535).astype(np.uint16))
    u8 = to_u8(prob)
    assert np.array_equal(u8, np.clip(np.rint(prob * np.float32(255.0)), 0, 255).astype(np.uint8))
    rgb = rng.randint(0, 256, (h, 45, 3)).astype(np.uint8)
    for mode in DISPLAY_MODES:
        for width in (1, 3):
            px = style_rgba("viridis", 0.6, 0.5, mode)[u8]
            want = np.clip(np.rint(rgb.astype(np.float32) * (1 - px[..., 3:4]) + px[..., :3] * px[..., 3:4]),
                           0, 255).astype(np.uint8)
            if mode in ("heat", "contour"):
                want[thicken(outline_of(u8, 0.5), width)] = THRESHOLD_COLOUR  # a whole-image mask
            got = render_overlay(rgb, prob, "viridis", 0.6, 0.5, mode=mode, outline_width=width)
            assert np.array_equal(got, want), (mode, width)


def _old_way_detector():
    """The embedded default model with its backbone built by timm, as before (not the engine's own modules)."""
    import torch

    from engine.backbones.efficientnet_lite import build_timm_lite
    from engine.detector import Detector
    from engine.loading import clear_network_cache

    clear_network_cache()  # a network of its own: the CLI's cached one is left alone
    det = Detector.from_model(None, device="cpu", precision="exact")
    clear_network_cache()
    bb = det.net.backbone
    net = build_timm_lite(bb.name)
    bb.conv_stem, bb.bn1 = net.conv_stem, net.bn1
    bb.blocks = torch.nn.Sequential(*list(net.blocks)[: max(bb.stages) + 1])
    bb.requires_grad_(False)
    return det


def test_cli_outputs_equal_the_old_code_path_bit_for_bit(tmp_path):
    from engine.images import load_image

    inputs = tmp_path / "in"
    inputs.mkdir()
    for p in sorted(SAMPLES.glob("*.jpg"))[:3]:
        (inputs / p.name).write_bytes(p.read_bytes())
    # a larger photo with an EXIF rotation, so the map is resized and the overlay transposed
    big = Image.open(SAMPLES / "astronaut.jpg").convert("RGB").resize((1200, 900), Image.BICUBIC)
    exif = Image.Exif()
    exif[0x0112] = 6
    big.save(inputs / "rotated.jpg", quality=90, exif=exif.tobytes())
    out = tmp_path / "out"
    assert main(["analyze", "--out", str(out), "--raw", "--batch-size", "3", "--opacity", "0.6", str(inputs)]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert summary["outputs"]["written"] == ["map", "overlay", "raw"]
    assert summary["outputs"]["png"]["probability_map"]["level"] == 1
    assert any(lib in summary["outputs"]["png"]["encoder"] for lib in ("ISA-L", "libdeflate", "zlib"))

    det = _old_way_detector()
    files = sorted(inputs.glob("*.jpg"))
    loaded = [load_image(f) for f in files]
    old = list(det.analyze_many(loaded[:3], batch_size=3)) + list(det.analyze_many(loaded[3:], batch_size=3))
    assert ImageOps.exif_transpose(Image.open(inputs / "rotated.jpg")).size == loaded[3].rgb.size == (900, 1200)
    by_file = {Path(e["file"]).name: e for e in summary["items"]}
    for f, x, res in zip(files, loaded, old):
        entry = by_file[f.name]
        assert entry["score"] == res.score
        new_map = _decode(out / entry["outputs"]["probability"])
        assert new_map.dtype == np.uint16 and np.array_equal(new_map, _old_map_png(res.probability)), f.name
        new_overlay = _decode(out / entry["outputs"]["overlay"])
        assert np.array_equal(new_overlay, _old_overlay(np.asarray(x.rgb), res.probability, "inferno", 0.6)), f.name
        assert np.array_equal(np.load(out / entry["outputs"]["raw"]), res.raw)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from engine.testing import make_tiny_model_dir

    return make_tiny_model_dir(tmp_path_factory.mktemp("m") / "tiny")


def _photos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(n)
    out = []
    for i in range(n):
        p = folder / f"p{i}.jpg"
        Image.fromarray((rng.rand(60, 80, 3) * 255).astype(np.uint8)).save(p)
        out.append(p)
    return out


def test_outputs_option_chooses_the_files(tiny, tmp_path, capsys):
    photos = _photos(tmp_path / "in", 3)
    out = tmp_path / "out"
    assert main(["analyze", "--checkpoint", str(tiny), "--outputs", "map", "--batch-size", "2", "--out", str(out),
                 *map(str, photos)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["p0.prob.png", "p1.prob.png", "p2.prob.png", "results.json"]
    summary = json.loads((out / "results.json").read_text())
    assert [e["outputs"] for e in summary["items"]] == [{"probability": f"p{i}.prob.png"} for i in range(3)]
    err = capsys.readouterr().err
    assert [line.split(":")[0] for line in err.splitlines() if line.startswith("[")] == ["[1/3] p0.jpg", "[2/3] p1.jpg",
                                                                                         "[3/3] p2.jpg"]
    out2 = tmp_path / "out2"
    assert main(["analyze", "--checkpoint", str(tiny), "--outputs", "overlay,raw", "--out", str(out2), str(photos[0])]) == 0
    assert sorted(p.name for p in out2.iterdir()) == ["p0.overlay.png", "p0.raw.npy", "results.json"]
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "--checkpoint", str(tiny), "--outputs", "map,heat", "--out", str(out2), str(photos[0])])
    assert exc.value.code == 2
    assert "map, overlay, raw" in capsys.readouterr().err


def test_by_default_an_image_in_a_folder_gets_the_map_it_gets_alone(tiny, tmp_path):
    # batch 1 by default: an image's stored map does not depend on the other files analysed with it
    photos = _photos(tmp_path / "in", 3)
    folder, alone = tmp_path / "folder", tmp_path / "alone"
    assert main(["analyze", "--checkpoint", str(tiny), "--outputs", "map", "--out", str(folder), *map(str, photos)]) == 0
    assert main(["analyze", "--checkpoint", str(tiny), "--outputs", "map", "--out", str(alone), str(photos[1])]) == 0
    summary = json.loads((folder / "results.json").read_text())
    assert summary["parameters"]["batch_size"] == 1
    assert all(e["metadata"]["timings"]["batch_size"] == 1 for e in summary["items"])
    assert (folder / "p1.prob.png").read_bytes() == (alone / "p1.prob.png").read_bytes()


def test_a_failed_write_is_one_line_and_the_others_are_written(tiny, tmp_path, capsys):
    photos = _photos(tmp_path / "in", 3)
    out = tmp_path / "out"
    (out / "p1.overlay.png").mkdir(parents=True)  # the overlay cannot replace a folder
    assert main(["analyze", "--checkpoint", str(tiny), "--out", str(out), *map(str, photos)]) == 1
    summary = json.loads((out / "results.json").read_text())
    assert summary["failed"] == 1 and summary["analysed"] == 2
    bad = summary["items"][1]
    assert set(bad) == {"file", "sha256", "error", "provenance"} and "p1.jpg: cannot write outputs" in bad["error"]
    assert (out / "p0.overlay.png").is_file() and (out / "p2.prob.png").is_file()
    err = capsys.readouterr().err
    assert sum("cannot write outputs" in line for line in err.splitlines()) == 1


def test_reader_squashes_ahead_once_the_size_is_known(tmp_path):
    """The reader thread makes each image's input squash (the same PIL resize the detector would make)
    after squash_to(); a feeder closed before any size is given (the model failed to load) stops."""
    import threading

    from engine.images import load_image
    from engine.outputs import ImageFeeder

    photos = _photos(tmp_path / "in", 3)
    feeder = ImageFeeder(photos, 2, load_image, squash=True)
    feeder.squash_to(32)
    feeder.squash_to(64)  # the first size counts
    seen = []
    for chunk, loaded in feeder.batches():
        for x in loaded:
            ahead = x.squashed(32)
            assert ahead is x.squashed(32)  # made once, by the reader
            assert np.array_equal(np.asarray(ahead), np.asarray(x.rgb.resize((32, 32), Image.BILINEAR)))
            seen.append(x.name)
    assert seen == [str(p) for p in photos]

    stuck = ImageFeeder(photos, 2, load_image, squash=True)
    closer = threading.Thread(target=stuck.close)
    closer.start()
    closer.join(timeout=30)
    assert not closer.is_alive()


def test_reader_makes_the_pixel_array_only_when_asked(tmp_path):
    """pixels=True (an overlay or evidence layers to come): the reader makes each image's pixel array,
    the image's own pixels, read-only; without it (e.g. --outputs map) no 36 MB copy is made."""
    from engine.images import load_image
    from engine.outputs import ImageFeeder

    photos = _photos(tmp_path / "in", 2)
    for wanted in (True, False):
        for _, loaded in ImageFeeder(photos, 1, load_image, pixels=wanted).batches():
            (x,) = loaded
            assert (x._pixels is not None) == wanted
            arr = x.pixels()
            assert arr is x.pixels() and not arr.flags.writeable
            assert np.array_equal(arr, np.asarray(x.rgb))


_EXIT_PROBE = """
import atexit, sys, threading, time
from pathlib import Path
import torch  # noqa: F401  (the fast exit is for processes that ran a model)
from declip_desktop import cli
mark = Path(sys.argv[1])
atexit.register(lambda: mark.with_suffix(".atexit").write_text("ran"))
def command():
    print("all of stdout", end="")
    if sys.argv[2] == "thread":  # a thread still working: the ordinary exit waits for it
        threading.Thread(target=lambda: (time.sleep(0.5), mark.write_text("done"))).start()
    return 3
cli.main = command
cli.run()
"""


@pytest.mark.parametrize("kind", ["plain", "thread"])
def test_cli_process_exit_keeps_output_exit_code_and_exit_handlers(tmp_path, kind):
    import subprocess
    import sys

    mark = tmp_path / "mark.txt"
    r = subprocess.run([sys.executable, "-c", _EXIT_PROBE, str(mark), kind], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parent.parent)
    assert r.returncode == 3, r.stderr
    assert r.stdout == "all of stdout"
    assert mark.with_suffix(".atexit").read_text() == "ran"
    assert mark.exists() == (kind == "thread")


def test_bands_cover_the_rows_once_and_raise_a_bands_error():
    from engine.bands import in_bands, row_bands

    assert row_bands(0) == [(0, 0)] and row_bands(255) == [(0, 255)] and row_bands(301) == [(0, 150), (150, 301)]
    assert in_bands(lambda y0, y1: (y0, y1), 1000) == [(0, 500), (500, 1000)]

    def fail_below(y0, y1):
        if y0 > 0:
            raise OSError("disk full")
        return y1

    with pytest.raises(OSError, match="disk full"):
        in_bands(fail_below, 1000)


def test_an_item_awaited_when_ctrl_c_comes_is_still_finished_by_close(tmp_path):
    """Found in review: the writer took an item off its queue before awaiting its files, so a Ctrl-C in
    that wait lost it (no line, no outputs recorded, internal keys left in results.json)."""
    from concurrent.futures import Future

    from engine.outputs import OutputWriter

    done: list[tuple[str, str | None]] = []
    writer = OutputWriter(tmp_path, ("map",), "inferno", 0.5, lambda e, err: done.append((e["file"], err)),
                          max_pending=1)

    class Interrupted(Future):  # the first wait for it is cut short by Ctrl-C
        cut = True

        def result(self, timeout=None):
            if Interrupted.cut:
                Interrupted.cut = False
                raise KeyboardInterrupt
            return {"map_pixels_sha256": "x"}

    writer._pool.submit = lambda *a, **k: Interrupted()
    prob = type("R", (), {"probability": np.zeros((2, 2), np.float32), "raw": None})()
    item = type("L", (), {"name": "a.jpg"})()
    writer.submit({"file": "a.jpg"}, "a", item, prob)
    with pytest.raises(KeyboardInterrupt):
        writer.submit_failed({"file": "b.jpg"}, "b.jpg: not an image")  # waits for a.jpg: Ctrl-C
    writer.close()
    assert done == [("a.jpg", None), ("b.jpg", "b.jpg: not an image")]
