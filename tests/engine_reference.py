"""An independent re-implementation of the published DeCLIP forward pass, for equivalence tests.

Written from the method description only (plain tensor ops, no open_clip, no engine code):
torchvision preprocessing, OpenAI CLIP ViT with QuickGELU up to block K (before ln_post),
CLS dropped, tokens to a 16x16 grid, then the conv decoder from its fc.<i> tensors.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision import transforms

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def preprocess(pil):
    t = transforms.Compose([transforms.Resize((224, 224), interpolation=transforms.InterpolationMode.BILINEAR),
                            transforms.ToTensor(), transforms.Normalize(MEAN, STD)])
    return t(pil.convert("RGB"))[None]


def layer_norm(x, sd, name):
    return F.layer_norm(x, x.shape[-1:], sd[name + ".weight"], sd[name + ".bias"], eps=1e-5)


def vit_block20(x, sd, layer, head_width=64):
    """sd: OpenAI-layout `visual.*` tensors (float32)."""
    v = lambda k: sd["visual." + k].float()
    w = v("conv1.weight")
    width, patch = w.shape[0], w.shape[-1]
    heads = width // head_width
    x = F.conv2d(x, w, stride=patch)
    b, c, gh, gw = x.shape
    x = x.reshape(b, c, gh * gw).permute(0, 2, 1)
    cls = v("class_embedding").expand(b, 1, -1)
    x = torch.cat([cls, x], dim=1) + v("positional_embedding")
    x = F.layer_norm(x, (width,), v("ln_pre.weight"), v("ln_pre.bias"), eps=1e-5)
    for i in range(layer + 1):
        p = f"transformer.resblocks.{i}."
        h = F.layer_norm(x, (width,), v(p + "ln_1.weight"), v(p + "ln_1.bias"), eps=1e-5)
        qkv = h @ v(p + "attn.in_proj_weight").t() + v(p + "attn.in_proj_bias")
        q, k, vv = qkv.chunk(3, dim=-1)
        split = lambda t: t.reshape(b, -1, heads, head_width).transpose(1, 2)
        q, k, vv = split(q), split(k), split(vv)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(head_width)
        o = (att.softmax(-1) @ vv).transpose(1, 2).reshape(b, -1, width)
        x = x + o @ v(p + "attn.out_proj.weight").t() + v(p + "attn.out_proj.bias")
        h = F.layer_norm(x, (width,), v(p + "ln_2.weight"), v(p + "ln_2.bias"), eps=1e-5)
        h = h @ v(p + "mlp.c_fc.weight").t() + v(p + "mlp.c_fc.bias")
        h = h * torch.sigmoid(1.702 * h)  # QuickGELU
        x = x + h @ v(p + "mlp.c_proj.weight").t() + v(p + "mlp.c_proj.bias")
    tokens = x[:, 1:]
    return tokens.reshape(b, gh, gw, width).permute(0, 3, 1, 2)


def conv_decoder(feats, fc, cnn=False):
    """fc: dict of `fc.<i>.*` tensors; replays the official index layout."""
    idx = sorted({int(k.split(".")[1]) for k in fc})
    final = idx[-1]
    x = feats
    i = 0
    convs = [j for j in idx if fc[f"fc.{j}.weight"].ndim == 4]
    depth = len(convs) - 1
    per = depth // 4
    for stage in range(4):
        for _ in range(per):
            x = F.conv2d(x, fc[f"fc.{i}.weight"].float(), fc[f"fc.{i}.bias"].float(), padding=2)
            bn = f"fc.{i + 1}."
            x = F.batch_norm(x, fc[bn + "running_mean"].float(), fc[bn + "running_var"].float(),
                             fc[bn + "weight"].float(), fc[bn + "bias"].float(), training=False, eps=1e-5)
            x = F.relu(x)
            i += 3
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        i += 1
    if cnn:
        x = F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False)
        i += 1
    assert i == final, (i, final)
    return F.conv2d(x, fc[f"fc.{final}.weight"].float(), fc[f"fc.{final}.bias"].float(), padding=2)


def reference_probability(pil, clip_sd, fc, layer, head_width=64):
    with torch.no_grad():
        feats = vit_block20(preprocess(pil), clip_sd, layer, head_width)
        return torch.sigmoid(conv_decoder(feats, fc))[0, 0].numpy()
