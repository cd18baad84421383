"""Winograd F(4x4,5x5) convolution: the transform algebra, and equality with the direct conv."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.decoders import conv_decoder, fold_batchnorm
from engine.winograd import (WinogradConv2d, WinogradTrainConv2d, winograd_decoder, winograd_matrices,
                             winograd_train_decoder)


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


@pytest.mark.parametrize("shape", [(2, 3, 13, 10), (1, 5, 8, 8)])
def test_trainable_conv_gradients_equal_the_direct_conv(shape):
    torch.manual_seed(3)
    conv = nn.Conv2d(shape[1], 4, 5, padding=2).double()
    wino = WinogradTrainConv2d.from_conv(copy.deepcopy(conv))
    x = torch.randn(*shape, dtype=torch.float64)
    target = torch.randn(shape[0], 4, *shape[2:], dtype=torch.float64)
    grads = []
    for mod in (conv, wino):
        xi = x.clone().requires_grad_()
        loss = ((mod(xi) - target) ** 2).sum()
        loss.backward()
        grads.append((float(loss), xi.grad, mod.weight.grad, mod.bias.grad))
    (l0, gx0, gw0, gb0), (l1, gx1, gw1, gb1) = grads
    assert l1 == pytest.approx(l0, rel=1e-10)
    for a, b in ((gx0, gx1), (gw0, gw1), (gb0, gb1)):
        assert float((a - b).abs().max()) <= 1e-9 * float(a.abs().max())


def test_training_swap_keeps_parameters_and_state_dict():
    from trainer.decoder_setup import training_layout

    torch.manual_seed(4)
    dec = conv_decoder(256, 8, widths=(256, 128, 128, 64))
    keys = list(dec.state_dict())
    params = [id(p) for p in dec.parameters()]
    ref = copy.deepcopy(dec)
    fast = training_layout(dec)
    assert sum(isinstance(m, WinogradTrainConv2d) for m in fast) == 6
    assert list(fast.state_dict()) == keys and [id(p) for p in fast.parameters()] == params
    # A training step sees the same loss and gradients as a float64 direct decoder. BatchNorm in
    # training mode cancels a lot, so even the fp32 direct conv is only ~3e-3 (relative) close here.
    x = torch.randn(2, 256, 16, 16)
    mask = (torch.rand(2, 256, 256) > 0.9).float()
    results = []
    for mod, xx, mm in ((ref.double().train(), x.double(), mask.double()), (fast.train(), x, mask)):
        loss = F.binary_cross_entropy_with_logits(mod(xx)[:, 0], mm)
        loss.backward()
        results.append((float(loss), *(mod[i].weight.grad.double() for i in (0, 7, 10))))
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-5)
    for a, b in zip(results[0][1:], results[1][1:]):
        assert float((a - b).abs().max()) <= 1e-2 * float(a.abs().max())
    assert winograd_train_decoder(training_layout(conv_decoder(256, 8, widths=(256, 128, 128, 64)), conv="direct")) == 6


def test_training_after_inference_in_the_same_process():
    # The transform matrices are cached per device and dtype; a first use under inference_mode
    # (the engine) must not leave inference tensors that training cannot save for backward.
    from engine.winograd import _mats_for

    _mats_for.cache_clear()
    conv = nn.Conv2d(128, 128, 5, padding=2)
    with torch.inference_mode():
        WinogradConv2d(conv)(torch.randn(1, 128, 8, 8))
        cached = WinogradTrainConv2d.from_conv(copy.deepcopy(conv))(torch.randn(1, 128, 8, 8))
    train = WinogradTrainConv2d.from_conv(copy.deepcopy(conv))
    train(torch.randn(1, 128, 8, 8)).sum().backward()
    assert cached.shape == (1, 128, 8, 8) and train.weight.grad is not None
