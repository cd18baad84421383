"""Experiment (not product code): does a texture-duplication cue help the Lite0 default model?

Copy-move and PatchMatch fills reuse the photo's own texture, which frozen ImageNet features of one
window do not see. This computes, per image at 128 px, the best non-local match of every 9x9 blurred
patch (normalised 5x5 samples, also mirrored, brute force with torch) and how coherent the match
offsets of neighbours are; four maps (coherence, similarity, texture, coherent-and-textured) are
pooled to the 32x32 grid and appended to the cached stage 3+4 features. The result is recorded in
research/default-model-log.md (round 3).

    DECLIP_HOME=build/dm/home python research/dup_cue_experiment.py pre build/dm/synth
    DECLIP_HOME=build/dm/home python research/dup_cue_experiment.py train <declip train arguments>
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

CACHE = Path(os.environ.get("DUP_CUE_CACHE", "build/dup-cue-cache"))

def dup_maps(rgb, long_side=256, stride=2, radius=10, sigma=1.0):
    """rgb uint8 HxWx3 -> dict of maps at the analysis grid (h, w)."""
    img = torch.from_numpy(np.asarray(rgb, np.float32)).permute(2, 0, 1)[None] / 255
    H, W = img.shape[-2:]
    f = long_side / max(H, W)
    h, w = max(16, round(H * f)), max(16, round(W * f))
    g = F.interpolate(img, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    g = (0.299 * g[:, 0] + 0.587 * g[:, 1] + 0.114 * g[:, 2])[None]
    # light blur for tolerance to resampling / JPEG
    k = torch.arange(-2, 3, dtype=torch.float32); k = torch.exp(-k**2 / (2 * sigma**2)); k /= k.sum()
    g = F.conv2d(F.pad(g, (2, 2, 0, 0), mode="replicate"), k.view(1, 1, 1, 5))
    g = F.conv2d(F.pad(g, (0, 0, 2, 2), mode="replicate"), k.view(1, 1, 5, 1))
    # 5x5 samples with spacing 2 -> 9x9 footprint
    pad = 4
    gp = F.pad(g, (pad,) * 4, mode="replicate")
    offs = [(dy, dx) for dy in range(-4, 5, 2) for dx in range(-4, 5, 2)]
    cols = [gp[0, 0, pad + dy: pad + dy + h: stride, pad + dx: pad + dx + w: stride] for dy, dx in offs]
    D = torch.stack(cols, -1)  # gh, gw, 25
    gh, gw = D.shape[:2]
    D = D.reshape(-1, 25)
    mu = D.mean(1, keepdim=True); D = D - mu
    sd = D.norm(dim=1, keepdim=True)
    tex = sd[:, 0]
    Dn = D / sd.clamp_min(1e-3)
    # mirrored descriptor (columns of the 5x5 grid reversed) for flipped copies
    perm = torch.tensor([r * 5 + (4 - c) for r in range(5) for c in range(5)])
    Df = Dn[:, perm]
    ys = torch.arange(gh).repeat_interleave(gw) * stride
    xs = torch.arange(gw).repeat(gh) * stride
    N = Dn.shape[0]
    best = torch.full((N,), -2.0); bidx = torch.zeros(N, dtype=torch.long); bflip = torch.zeros(N, dtype=torch.bool)
    C = Dn.t().contiguous()
    for s in range(0, N, 2048):
        q = Dn[s:s + 2048]; qf = Df[s:s + 2048]
        near = ((ys[s:s + 2048, None] - ys[None]).abs() <= radius) & ((xs[s:s + 2048, None] - xs[None]).abs() <= radius)
        for flip, qq in ((False, q), (True, qf)):
            sim = qq @ C
            sim.masked_fill_(near, -2)
            v, i = sim.max(1)
            upd = v > best[s:s + 2048]
            best[s:s + 2048] = torch.where(upd, v, best[s:s + 2048])
            bidx[s:s + 2048] = torch.where(upd, i, bidx[s:s + 2048])
            bflip[s:s + 2048] = torch.where(upd, torch.tensor(flip), bflip[s:s + 2048])
    my, mx = ys[bidx].view(gh, gw).float(), xs[bidx].view(gh, gw).float()
    py, px = ys.view(gh, gw).float(), xs.view(gh, gw).float()
    fl = bflip.view(gh, gw)
    # coherence: neighbours whose match agrees with mine shifted by the neighbour offset
    cnt = torch.zeros(gh, gw); tot = 0
    for dy in (-2, 0, 2):
        for dx in (-2, 0, 2):
            if dy == 0 and dx == 0: continue
            tot += 1
            sy, sx = torch.roll(my, (-dy, -dx), (0, 1)), torch.roll(mx, (-dy, -dx), (0, 1))
            sfl = torch.roll(fl, (-dy, -dx), (0, 1))
            ddx = torch.where(fl, -dx * stride * 1.0, dx * stride * 1.0)
            ok = ((sy - (my + dy * stride)).abs() <= 3) & ((sx - (mx + ddx)).abs() <= 3) & (sfl == fl)
            cnt += ok.float()
    coh = cnt / tot
    return {"sim": best.view(gh, gw), "coh": coh, "tex": tex.view(gh, gw), "size": (h, w)}



def cue_maps(rgb, grid=32):
    d = dup_maps(rgb, long_side=128)
    tex = d['tex'].clamp(max=1.0)
    strong = d['coh'] * (d['sim'] > 0.9).float() * (d['tex'] > 0.05).float()
    m = torch.stack([d['coh'], d['sim'].clamp(min=0), tex, strong])[None]
    return F.adaptive_avg_pool2d(m, (grid, grid))[0].numpy()


cue_grid = disk_cached(CACHE, cue_maps)

if __name__ == '__main__' and sys.argv[1] == 'pre':
    root = Path(sys.argv[2])
    man = json.load(open(root / 'manifest.json'))
    tr = [i for i in man['items'] if i['split'] == 'train']
    va = [i for i in man['items'] if i['split'] == 'val']
    # the trainer's first 800 training images are in dataset order (sorted file names); do all val + first 1000 train by name
    precompute(cue_grid, root, va + sorted(tr, key=lambda i: i['image'])[:1000], every=100)

if __name__ == '__main__' and sys.argv[1] == 'train':
    run_train(cue_grid, sys.argv[2:])  # e.g. train --data DS --backbone lite0 ...

