"""Winograd F(m x m, 5 x 5) convolution for the decoder's 5x5 stride-1 convs on CPU.

Why: on a CPU the conv-20 decoder is FLOP-bound (about 80 GFLOP per image). Winograd computes the
same correlation with 64 multiplies per 4x4 output tile instead of 400, and it is a plain change of
basis: the result equals the direct convolution up to float rounding (about 3e-5 absolute per layer
in fp32 here, against 1e-5 for the direct kernel). It pays only where channels are wide and maps
small; `winograd_decoder` applies it to those layers and keeps the direct kernel elsewhere.

The transform matrices are built from the interpolation points (Toom-Cook): evaluate at the points,
multiply, interpolate back; correlation is the transpose of that linear convolution.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

# Points for F(4x4, 5x5): 7 finite points plus infinity (tile size 8). These small, symmetric points
# keep the transform's condition number low enough for fp32.
POINTS = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5)
TILE_OUT = 4
MIN_CHANNELS = 128  # measured on a 2-core AVX2 CPU: narrower layers (64-wide at 128 px) are faster direct


@lru_cache(maxsize=None)
def winograd_matrices(m: int, r: int, points: tuple[float, ...] = POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A^T (m x n), G (n x r), B^T (n x n) in float64 with n = m + r - 1 = len(points) + 1."""
    n = m + r - 1
    if len(points) != n - 1:
        raise ValueError(f"F({m},{r}) needs {n - 1} finite points, got {len(points)}")
    pts = np.asarray(points, dtype=np.float64)

    def vandermonde(cols: int) -> np.ndarray:
        v = pts[:, None] ** np.arange(cols)[None, :]
        inf_row = np.zeros((1, cols))
        inf_row[0, -1] = 1.0  # the point at infinity picks the leading coefficient
        return np.vstack([v, inf_row])

    a = vandermonde(m)                    # evaluates the m-tap input polynomial
    g = vandermonde(r)                    # evaluates the r-tap filter polynomial
    b_t = np.linalg.inv(vandermonde(n)).T  # interpolation, transposed for correlation
    return a.T, g, b_t


def filter_transform(weight: torch.Tensor, kg: torch.Tensor) -> torch.Tensor:
    """(o, c, r, r) filters -> U of shape (n*n, o, c). U[i,j] = sum_kl G[i,k] w[k,l] G[j,l] is one
    GEMM of kron(G, G) with the flattened filters; G's entries are small powers of two (exact in
    binary), so fp32 is accurate here. Differentiable, so training can use it per step."""
    o, c, r, _ = weight.shape
    return (kg @ weight.reshape(o * c, r * r).T).view(kg.shape[0], o, c)


def winograd_correlate(x: torch.Tensor, u: torch.Tensor, kb: torch.Tensor, ka: torch.Tensor,
                       bias: torch.Tensor | None, m: int, r: int) -> torch.Tensor:
    """'Same' 5x5 correlation of x with transformed filters u (n*n, o, c); autograd passes through."""
    n, p = m + r - 1, r // 2
    b, c, h, w = x.shape
    th, tw = -(-h // m), -(-w // m)
    xp = F.pad(x, (p, p + tw * m - w, p, p + th * m - h))
    tiles = xp.unfold(2, n, m).unfold(3, n, m)                       # b c th tw n n (overlapping)
    # One gather copy into (n*n, c*tiles): the input transform is then a single GEMM whose
    # result already has the (n*n, c, tiles) layout bmm wants.
    tiles = tiles.permute(4, 5, 1, 0, 2, 3).reshape(n * n, c * b * th * tw)
    v = (kb @ tiles).view(n * n, c, b * th * tw)
    prod = torch.bmm(u, v)                                            # n*n, o, tiles
    o = u.shape[1]
    y = ka @ prod.reshape(n * n, o * b * th * tw)                     # m*m, o*tiles
    y = y.reshape(m, m, o, b, th, tw).permute(3, 2, 4, 0, 5, 1).reshape(b, o, th * m, tw * m)
    y = y[:, :, :h, :w]
    if bias is not None:
        y = y + bias[None, :, None, None]
    return y.contiguous()


class WinogradConv2d(nn.Module):
    """Drop-in for an inference Conv2d(k=5, stride 1, padding 2); weights transformed once here."""

    def __init__(self, conv: nn.Conv2d, m: int = TILE_OUT):
        super().__init__()
        r = conv.kernel_size[0]
        _require_eligible(conv)
        self.m, self.r, self.n = m, r, m + r - 1
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        dtype, device = conv.weight.dtype, conv.weight.device
        with torch.no_grad():
            u = filter_transform(conv.weight.detach().float(), _mats_for(m, device, torch.float32)["kg"]).to(dtype)
        mats = _mats_for(m, device, dtype)
        self.register_buffer("u", u)
        self.register_buffer("kb", mats["kb"].clone())
        self.register_buffer("ka", mats["ka"].clone())
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(self.out_channels, device=device, dtype=dtype)
        self.register_buffer("bias", bias.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return winograd_correlate(x, self.u, self.kb, self.ka, self.bias, self.m, self.r)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, F({self.m}x{self.m}, {self.r}x{self.r})"


class WinogradTrainConv2d(nn.Conv2d):
    """A Conv2d (same parameters, same state_dict, so init, checkpoints and export are unchanged)
    whose forward and backward go through Winograd: decoder training on CPU spends most of its
    time in the wide 5x5 convs, and autograd through the transforms is as much cheaper as the forward."""

    m = TILE_OUT

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> "WinogradTrainConv2d":
        _require_eligible(conv)
        new = cls(conv.in_channels, conv.out_channels, 5, padding=2, bias=conv.bias is not None,
                  device="meta")
        new.weight, new.bias = conv.weight, conv.bias  # the same Parameter objects
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mats = _mats_for(self.m, x.device, x.dtype)
        u = filter_transform(self.weight, mats["kg"])
        return winograd_correlate(x, u, mats["kb"], mats["ka"], self.bias, self.m, 5)


@lru_cache(maxsize=8)
def _mats_for(m: int, device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """kron(G, G), kron(B^T, B^T), kron(A^T, A^T) for F(m x m, 5 x 5), built once per device and dtype.

    Built outside inference mode even when first asked for inside it: the cache is shared, and
    training saves these tensors for backward, which inference tensors refuse.
    """
    with torch.inference_mode(False):
        a_t, g, b_t = (torch.from_numpy(x) for x in winograd_matrices(m, 5))
        return {"kg": torch.kron(g, g).to(device, dtype), "kb": torch.kron(b_t, b_t).to(device, dtype).contiguous(),
                "ka": torch.kron(a_t, a_t).to(device, dtype).contiguous()}


def eligible(conv: nn.Module) -> bool:
    return (isinstance(conv, nn.Conv2d) and conv.kernel_size == (5, 5) and conv.stride == (1, 1)
            and conv.padding == (2, 2) and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros")


def _require_eligible(conv: nn.Module) -> None:
    if not eligible(conv):
        raise ValueError("Winograd needs a square, stride-1, 'same'-padded, ungrouped conv")


def _swap_wide(seq: nn.Module, make, min_channels: int) -> int:
    count = 0
    if not isinstance(seq, nn.Sequential):
        return 0
    for i, mod in enumerate(seq):
        if type(mod) is nn.Conv2d and eligible(mod) and min(mod.in_channels, mod.out_channels) >= min_channels:
            seq[i] = make(mod)
            count += 1
    return count


def winograd_decoder(seq: nn.Sequential, min_channels: int = MIN_CHANNELS) -> int:
    """Swap, in place, the wide 5x5 convs of an (already BN-folded) decoder; returns how many.

    In place and one layer at a time, so each direct weight is freed as soon as its Winograd form
    exists (the widest transformed layer is 2.6x its direct weight: peak memory matters here).
    """
    return _swap_wide(seq, WinogradConv2d, min_channels)


def winograd_train_decoder(seq: nn.Module, min_channels: int = MIN_CHANNELS) -> int:
    """Swap, in place, the wide 5x5 convs of a trainable decoder for WinogradTrainConv2d (CPU, fp32)."""
    return _swap_wide(seq, WinogradTrainConv2d.from_conv, min_channels)
