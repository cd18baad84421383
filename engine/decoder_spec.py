"""What a decoder spec (a model card's "decoder" object) may say, checked without torch.

Why a module of its own: reading a card (engine.cards, `declip models list`, the first step of
`declip analyze`) validates its decoder spec, and that must not import torch, so that the image
reader's head start overlaps torch's import (engine.cli.make_detector). engine.decoders builds the
modules these specs describe.
"""
from __future__ import annotations

import math

OUT_SIZE = 256
DEFAULT_WIDTHS = (512, 256, 128, 64)


CONTEXTS = ("image-mean",)
MAX_MEMBERS = 16
MAX_MIXTURE_PARTS = 4
MAX_MIXTURE_COEFFICIENT = 100.0  # |weight| and |bias|: calibrated logits are of order 1-10


def context_of(spec: dict) -> str | None:
    ctx = spec.get("context")
    if ctx is not None and ctx not in CONTEXTS:
        raise ValueError(f"unknown decoder context {ctx!r} (known: {', '.join(CONTEXTS)})")
    return ctx


def members_of(spec: dict) -> int:
    n = spec.get("members", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_MEMBERS:
        raise ValueError(f"decoder members must be a whole number from 1 to {MAX_MEMBERS}, found {n!r}")
    if n > 1 and spec.get("type", "conv") != "conv":
        raise ValueError("only conv decoders can have several members")
    return n


def check_decoder_spec(spec) -> None:
    """Refuse a malformed decoder spec (from a card, so possibly hostile) with one clear line."""
    if not isinstance(spec, dict):
        raise ValueError(f"decoder must be a JSON object, found {type(spec).__name__}")
    kind = spec.get("type", "conv")
    if kind == "mixture":
        _check_mixture_spec(spec)
        return
    if kind not in ("conv", "linear"):
        raise ValueError(f"unknown decoder type {kind!r} (known: conv, linear, mixture)")
    if kind == "conv":
        depth = spec.get("depth", 20)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth <= 0 or depth % 4 or depth > 64:
            raise ValueError(f"conv decoder depth must be a positive multiple of 4 up to 64, found {depth!r}")
        widths = spec.get("widths", list(DEFAULT_WIDTHS))
        if (not isinstance(widths, (list, tuple)) or len(widths) != 4
                or not all(isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= 4096 for w in widths)):
            raise ValueError(f"conv decoder widths must be four whole numbers from 1 to 4096, found {widths!r}")
        if not isinstance(spec.get("last_relu", True), bool):
            raise ValueError(f"conv decoder last_relu must be true or false, found {spec['last_relu']!r}"[:200])
    elif "last_relu" in spec:
        raise ValueError("last_relu applies to conv decoders only")
    context_of(spec)
    members_of(spec)


def last_relu_of(spec: dict) -> bool:
    return bool(spec.get("last_relu", True))


def _check_mixture_spec(spec: dict) -> None:
    parts, weights, bias = spec.get("parts"), spec.get("weights"), spec.get("bias", 0.0)
    if not isinstance(parts, list) or not 2 <= len(parts) <= MAX_MIXTURE_PARTS:
        raise ValueError(f"a mixture decoder's parts must be a list of 2 to {MAX_MIXTURE_PARTS} conv decoders")
    for i, part in enumerate(parts):
        if not isinstance(part, dict) or part.get("type", "conv") != "conv":
            raise ValueError(f"mixture decoder part {i} must be a conv decoder object")
        check_decoder_spec(part)

    def coefficient(x) -> bool:
        return (isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                and abs(x) <= MAX_MIXTURE_COEFFICIENT)

    if not isinstance(weights, list) or len(weights) != len(parts) or not all(coefficient(w) for w in weights):
        raise ValueError(f"a mixture decoder's weights must be one finite number from -{MAX_MIXTURE_COEFFICIENT:g} "
                         f"to {MAX_MIXTURE_COEFFICIENT:g} per part, found {weights!r}"[:300])
    if not coefficient(bias):
        raise ValueError(f"a mixture decoder's bias must be a finite number from -{MAX_MIXTURE_COEFFICIENT:g} "
                         f"to {MAX_MIXTURE_COEFFICIENT:g}, found {bias!r}"[:300])


def first_conv_key(spec: dict) -> str:
    """The module key of the decoder's first weight (fc.<this> in a checkpoint); a mixture's first part's."""
    if spec.get("type") == "mixture":
        return f"parts.0.{first_conv_key(spec['parts'][0])}"
    if spec.get("type", "conv") == "linear":
        return "linear.weight"
    return "1.weight" if context_of(spec) else "0.weight"


def decoder_input_channels(spec: dict, backbone_channels: int) -> int:
    """Channels the first conv sees: the backbone's, doubled by an image context."""
    return backbone_channels * 2 if context_of(spec) else backbone_channels
