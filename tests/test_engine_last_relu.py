"""`"last_relu": false` in a conv decoder's spec: the last triple's ReLU is an identity, so the final
conv sees signed features and the map can rise above the final conv's bias (round 31)."""
import math

import numpy as np
import pytest
from PIL import Image

from engine import Detector
from engine.cards import ModelCard, decoder_label
from engine.decoder_spec import check_decoder_spec
from engine.decoders import conv_decoder
from engine.hashing import file_sha256
from engine.testing import make_tiny_model_dir
from engine.weights import load_state_file, save_safetensors


def test_the_option_keeps_the_checkpoint_keys_and_is_checked():
    plain, signed = conv_decoder(8, 4, (4, 4, 4, 4)), conv_decoder(8, 4, (4, 4, 4, 4), last_relu=False)
    assert list(plain.state_dict()) == list(signed.state_dict())  # the same files load into either
    assert [type(m).__name__ for m in plain].count("ReLU") == 4
    assert [type(m).__name__ for m in signed].count("ReLU") == 3 and type(signed[-3]).__name__ == "Identity"
    check_decoder_spec({"type": "conv", "depth": 4, "widths": [4, 4, 4, 4], "last_relu": False})
    with pytest.raises(ValueError, match="last_relu must be true or false"):
        check_decoder_spec({"type": "conv", "depth": 4, "widths": [4, 4, 4, 4], "last_relu": "no"})
    with pytest.raises(ValueError, match="conv decoders only"):
        check_decoder_spec({"type": "linear", "last_relu": False})
    assert decoder_label({"type": "conv", "depth": 4, "widths": [4, 4, 4, 4], "last_relu": False}).endswith(
        ", no ReLU before the last conv")


def _with_spec(folder, last_relu: bool):
    card = ModelCard.load(folder)
    card.decoder = dict(card.decoder, **({} if last_relu else {"last_relu": False}))
    for f in card.files:
        f["sha256"] = file_sha256(folder / f["path"])
    card.save(folder)
    return folder


def test_without_the_last_relu_the_map_rises_above_the_final_bias(tmp_path):
    """With every final weight negative, ReLU inputs (>= 0) can only lower the logit below the bias:
    that is the ceiling round 31 removed. The same weights without the ReLU go above it."""
    maps, bias = {}, None
    for last_relu in (True, False):
        folder = make_tiny_model_dir(tmp_path / f"relu-{last_relu}")
        state = load_state_file(folder / "decoder.safetensors")
        last = max(int(k.split(".")[1]) for k in state)
        state[f"fc.{last}.weight"] = -state[f"fc.{last}.weight"].abs() - 0.01
        bias = float(state[f"fc.{last}.bias"][0])
        save_safetensors(state, folder / "decoder.safetensors")
        det = Detector.from_model(_with_spec(folder, last_relu), device="cpu", precision="exact")
        img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8))
        maps[last_relu] = det.analyze(img).raw
    ceiling = 1 / (1 + math.exp(-bias))
    assert maps[True].max() <= ceiling + 1e-5
    assert maps[False].max() > ceiling + 1e-3
