"""Input preprocessing, as in the published code: PIL bilinear resize to SxS (squash, no crop),
[0,1] float32, per-channel normalisation."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image


def to_tensor(pil: Image.Image, size: int, mean, std) -> torch.Tensor:
    """(3,S,S) float32 normalised tensor; identical arithmetic to torchvision Resize+ToTensor+Normalize."""
    if pil.size != (size, size):
        pil = pil.resize((size, size), Image.BILINEAR)
    arr = np.asarray(pil, dtype=np.uint8)
    t = torch.from_numpy(arr.copy()).permute(2, 0, 1).to(torch.float32).div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    s = torch.tensor(std, dtype=torch.float32)[:, None, None]
    return t.sub_(m).div_(s)


def resize_map(prob: torch.Tensor, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a (h,w) probability map to the image size, as float32 numpy."""
    if prob.shape[-2:] == (height, width):
        return prob.float().cpu().numpy().astype(np.float32, copy=False)
    out = torch.nn.functional.interpolate(prob[None, None].float(), size=(height, width), mode="bilinear",
                                          align_corners=False)[0, 0]
    return out.clamp_(0, 1).cpu().numpy()
