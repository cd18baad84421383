"""engine.overlay: the one look (threshold faded and outlined), tabulated to the bit."""
from __future__ import annotations

import numpy as np
import pytest

from engine import overlay as look


@pytest.mark.parametrize("mode", look.DISPLAY_MODES)
def test_tabulated_blend_is_the_per_pixel_blend_of_the_style(mode):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
    prob = rng.random((90, 120)).astype(np.float32)
    t = look.style_rgba("viridis", 0.7, 0.45, mode)
    u8 = look.to_u8(prob)
    px = t[u8]
    want = np.clip(np.rint(rgb.astype(np.float32) * (1 - px[..., 3:4]) + px[..., :3] * px[..., 3:4]), 0, 255)
    want = want.astype(np.uint8)
    if look.draws_outline(mode):
        want[look.outline_of(u8, 0.45)] = look.THRESHOLD_COLOUR
    assert np.array_equal(look.render_overlay(rgb, prob, "viridis", 0.7, 0.45, mode), want)


def test_threshold_fades_below_and_outlines_the_region_in_the_heat_display():
    rgb = np.full((40, 40, 3), 100, np.uint8)
    prob = np.zeros((40, 40), np.float32)
    prob[10:30, 10:30] = 0.8
    prob[:, :5] = 0.3
    out = look.render_overlay(rgb, prob, "inferno", opacity=0.6, threshold=0.5)
    table = look.lut("inferno").astype(np.float32)
    faded = np.rint(100 * (1 - 0.6 * look.FADE) + table[look.to_u8(0.3)] * 0.6 * look.FADE)
    assert np.abs(out[20, 2].astype(np.float32) - faded).max() <= 1  # below: faded, not hidden
    assert (out[10, 15] == look.THRESHOLD_COLOUR).all() and not (out[20, 20] == look.THRESHOLD_COLOUR).all()
    lower = look.render_overlay(rgb, prob, "inferno", opacity=0.6, threshold=0.2)
    assert not np.array_equal(out, lower)  # the threshold changes the picture
    assert np.array_equal(look.render_overlay(rgb, prob, "inferno", 0.6), out)  # default threshold 0.5
    assert look.known("no-such-map") == "inferno"
    with pytest.raises(ValueError, match="display mode"):
        look.style_rgba("inferno", 0.5, 0.5, "sparkle")
