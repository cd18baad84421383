"""Experiment (not product code): does image-wide context help the Lite0 decoder?

The conv-4 decoder sees about 9x9 cells of the 32x32 feature grid, so it cannot compare a region
with the rest of the photo, which is what a splice or an inpainted fill differs in. This appends,
for every channel, the cell's difference from the image's mean of that channel (a parameter-free
"how unlike the rest of this image is this cell" map) to the cached stage 3+4 features.

    DECLIP_HOME=build/dm/home python research/context_experiment.py <declip train arguments>
"""
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from extra_channels_experiment import run_train_transformed  # noqa: E402

from engine.decoders import ImageContext  # noqa: E402


def with_context(f: np.ndarray, path=None) -> np.ndarray:
    """The engine's ImageContext on one cached grid (in fp32, stored back as fp16 like the cache)."""
    x = torch.from_numpy(f.astype(np.float32))[None]
    return ImageContext()(x)[0].numpy().astype(np.float16)


if __name__ == "__main__":
    run_train_transformed(with_context, sys.argv[1:])
