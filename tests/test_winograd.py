"""Winograd F(4x4,5x5) convolution: the transform algebra, and equality with the direct conv."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.decoders import conv_decoder, fold_batchnorm
from engine.winograd import WinogradConv2d, winograd_decoder, winograd_matrices


def test_transform_matrices_compute_a_1d_correlation():
    a_t, g, b_t = winograd_matrices(4, 5)
    rng = np.random.RandomState(0)
    for _ in range(5):
        d, k = rng.randn(8), rng.randn(5)
        want = np.array([np.dot(d[i:i + 5], k) for i in range(4)])
        got = a_t @ ((g @ k) * (b_t @ d))
        np.testing.assert_allclose(got, want, atol=1e-9)


@pytest.mark.parametrize("shape", [(1, 16, 16, 16), (2, 12, 13, 18), (1, 8, 5, 7)])
def test_conv_equals_direct(shape):
    torch.manual_seed(1)
    conv = nn.Conv2d(shape[1], 24, 5, padding=2).eval()
    x = torch.randn(*shape)
    ref = F.conv2d(x.double(), conv.weight.detach().double(), conv.bias.detach().double(), padding=2)
    with torch.inference_mode():
        got = WinogradConv2d(conv)(x)
    assert got.shape == ref.shape
    rel = float((got.double() - ref).abs().max() / ref.abs().max())
    assert rel < 1e-5
    # Not vacuous: a different input gives a clearly different output.
    with torch.inference_mode():
        assert float((WinogradConv2d(conv)(x + 1) - got).abs().max()) > 1e-2


def test_refuses_convs_it_cannot_compute():
    for conv in (nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 5, padding=2, stride=2),
                 nn.Conv2d(8, 8, 5, padding=0), nn.Conv2d(8, 8, 5, padding=2, groups=2)):
        with pytest.raises(ValueError):
            WinogradConv2d(conv)


def test_decoder_swap_keeps_the_function():
    torch.manual_seed(2)
    dec = conv_decoder(256, 8, widths=(256, 128, 128, 64)).eval()
    for m in dec.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    fast = fold_batchnorm(copy.deepcopy(dec))
    swapped = winograd_decoder(fast)
    # 256->256, 256->256, 256->128, 128->128, 128->128, 128->128 swapped; the 64-wide and final convs stay direct.
    assert swapped == 6
    assert sum(isinstance(m, nn.Conv2d) for m in fast) == 3
    x = torch.randn(1, 256, 16, 16)
    with torch.inference_mode():
        ref = torch.sigmoid(copy.deepcopy(dec).double()(x.double()))
        got = torch.sigmoid(fast(x))
    assert float((got.double() - ref).abs().max()) <= 1e-4
