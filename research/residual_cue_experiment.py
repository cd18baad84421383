"""Experiment (not product code): do native-resolution noise-residual energies help the Lite0 model?

The backbone sees the photo squashed to 448 px, which throws away the finest traces: the missing
sensor noise of a Telea/Navier-Stokes fill, the softer spectrum of an upscaled copy or splice. This
computes, at the image's own resolution, the local energy of a few high-pass residuals, pools it to the
32x32 grid (log, and relative to the image's median) and appends it to the cached stage 3+4 features.

    DECLIP_HOME=build/dm/home python research/residual_cue_experiment.py pre build/dm/synth
    DECLIP_HOME=build/dm/home python research/residual_cue_experiment.py train <declip train arguments>
"""
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from extra_channels_experiment import disk_cached, precompute, run_train  # noqa: E402

CACHE = Path(os.environ.get("RES_CUE_CACHE", "build/res-cue-cache"))

_K = {
    "h2": torch.tensor([[0, 0, 0], [1, -2, 1], [0, 0, 0]], dtype=torch.float32),
    "v2": torch.tensor([[0, 1, 0], [0, -2, 0], [0, 1, 0]], dtype=torch.float32),
    "lap": torch.tensor([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]], dtype=torch.float32) / 4,
}


def residual_maps(rgb, grid=(32, 32)):
    x = torch.from_numpy(np.asarray(rgb, np.float32)).permute(2, 0, 1)[None]
    g = 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    w = torch.stack([_K["h2"], _K["v2"], _K["lap"]])[:, None]
    r = F.conv2d(g, w).abs()                       # fine: native resolution
    g2 = F.avg_pool2d(g, 2)
    r2 = F.conv2d(g2, _K["lap"][None, None]).abs()  # one octave down
    e = torch.cat([F.adaptive_avg_pool2d(r, grid), F.adaptive_avg_pool2d(r2, grid)], 1)
    L = torch.log(e + 0.25)
    rel = L - L.flatten(2).median(-1).values[..., None, None]
    return torch.cat([L - 1.0, rel], 1)[0]          # (8, gh, gw)


cue_grid = disk_cached(CACHE, lambda rgb, grid: residual_maps(rgb, (grid, grid)).numpy())


if __name__ == "__main__" and sys.argv[1] == "pre":
    root = Path(sys.argv[2])
    man = json.load(open(root / "manifest.json"))
    split = sys.argv[3].split(",") if len(sys.argv) > 3 else ["train", "val"]
    precompute(cue_grid, root, [i for i in man["items"] if i["split"] in split])

if __name__ == "__main__" and sys.argv[1] == "train":
    run_train(cue_grid, sys.argv[2:])  # e.g. train --data DS --backbone lite0 ...
