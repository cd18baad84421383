"""Official-layout checkpoints, CLIP weight formats, and hostile or broken files."""
from __future__ import annotations

import os
import pickle
import re

import numpy as np
import pytest
import torch

from engine import CheckpointError, Detector
from engine.errors import ModelStoreError
from engine.clip_weights import hf_to_openclip, visual_state
from engine.official import infer_architecture
from engine.testing import TINY_VIT, make_official_checkpoint, make_tiny_model_dir, random_decoder_state
from engine.weights import load_state_file

IMG = (np.random.RandomState(0).rand(120, 160, 3) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt")
    vit = make_official_checkpoint(d / "vit.pth", arch="vit", layer=0, clip_path=d / "ViT-L-14.pt", seed=1)
    vit_emb = make_official_checkpoint(d / "vit_embedded.pth", arch="vit", layer=0, embed_clip=True, seed=1)
    fus = make_official_checkpoint(d / "fusion.pth", arch="fusion", layer=0, clip_path=d / "ViT-L-14b.pt",
                                   rn_path=d / "RN50.pt", seed=2)
    return {"dir": d, "vit": vit, "vit_emb": vit_emb, "fusion": fus, "clip": d / "ViT-L-14.pt",
            "clip_b": d / "ViT-L-14b.pt", "rn": d / "RN50.pt"}


def test_official_vit_roundtrip_embedded_equals_separate(files):
    a = Detector.from_files(files["vit"], files["clip"], device="cpu").analyze(IMG)
    b = Detector.from_files(files["vit_emb"], device="cpu").analyze(IMG)
    assert a.metadata["model"]["decoder"] == "conv-4 [32, 16, 8, 8]"
    np.testing.assert_allclose(a.raw, b.raw, atol=1e-6)
    assert {w["role"] for w in a.metadata["weights"]} == {"decoder", "clip-vit"}
    assert all(len(w["sha256"]) == 64 for w in a.metadata["weights"])


def test_official_fusion_roundtrip(files):
    det = Detector.from_files(files["fusion"], [files["clip_b"], files["rn"]], device="cpu")
    assert det.card.backbone["family"] == "fusion"
    assert det.net.out_channels == 2048
    res = det.analyze(IMG)
    assert res.raw.shape == (256, 256) and 0 < res.score < 1
    # Order of the weights files on the command line does not matter.
    res2 = Detector.from_files(files["fusion"], [files["rn"], files["clip_b"]], device="cpu").analyze(IMG)
    np.testing.assert_array_equal(res.raw, res2.raw)


def _official_raw(depth, c_in, cnn):
    return {"model": random_decoder_state(c_in, depth, (8, 8, 8, 8), cnn), "feature_layer": "layer20",
            "decoder_type": f"conv-{depth}"}


@pytest.mark.parametrize("depth", [4, 12, 20])
def test_architecture_inferred_from_indices(depth):
    vit = infer_architecture(_official_raw(depth, 1024, False), "x.pth")
    assert vit["backbone"]["family"] == "clip-vit" and vit["decoder"]["depth"] == depth
    assert vit["backbone"]["layer"] == 20
    fus = infer_architecture(_official_raw(depth, 2048, True), "x.pth")
    assert fus["backbone"]["family"] == "fusion"
    sd = _official_raw(20, 1024, False)["model"]
    assert "fc.64.weight" in sd  # ViT conv-20 final conv index from the paper's code
    assert "fc.65.weight" in _official_raw(20, 2048, True)["model"]


def test_mismatched_decoder_type_tag_is_refused():
    raw = _official_raw(4, 1024, False)
    raw["decoder_type"] = "conv-20"
    with pytest.raises(CheckpointError, match="conv-20.*conv-4"):
        infer_architecture(raw, "x.pth")


def test_wrong_backbone_weights_named_clearly(files):
    with pytest.raises(CheckpointError) as err:
        Detector.from_files(files["vit"], files["rn"], device="cpu")
    msg = str(err.value)
    assert "RN50.pt" in msg and "ViT-L/14" in msg and "\n" not in msg
    with pytest.raises(CheckpointError, match="needs CLIP RN50"):
        Detector.from_files(files["fusion"], files["clip_b"], device="cpu")
    with pytest.raises(CheckpointError, match="needs CLIP ViT-L/14"):
        Detector.from_files(files["vit"], device="cpu")


def test_conv20_with_wrong_input_channels(tmp_path):
    raw = {"model": random_decoder_state(768, 4, (8, 8, 8, 8), False), "decoder_type": "conv-4"}
    torch.save(raw, tmp_path / "odd.pth")
    with pytest.raises(CheckpointError, match=r"odd.pth.*768 channels.*expected 1024"):
        Detector.from_files(tmp_path / "odd.pth", device="cpu")


def test_hostile_pickle_refused_and_never_run(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pth"
    torch.save({"model": {"fc.0.weight": torch.zeros(1)}, "x": Payload()}, evil)
    raw_pickle = tmp_path / "evil.pkl"
    raw_pickle.write_bytes(pickle.dumps({"model": Payload()}))
    for f in (evil, raw_pickle):
        with pytest.raises(CheckpointError) as err:
            Detector.from_files(f, device="cpu")
        assert "refused" in str(err.value) and str(f) in str(err.value)
        assert "\n" not in str(err.value)
    assert not marker.exists()


def test_truncated_and_garbage_files(files, tmp_path):
    data = files["vit"].read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pth.*(truncated|corrupt)"):
        Detector.from_files(cut, files["clip"], device="cpu")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(CheckpointError, match="junk.safetensors"):
        load_state_file(junk)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_state_file(empty)
    with pytest.raises(CheckpointError, match="not a DeCLIP checkpoint"):
        Detector.from_files(files["clip"], device="cpu")


def test_torchscript_clip_file_loads_through_jit(tmp_path):
    from engine.backbones import build_backbone

    bb = build_backbone({"family": "clip-vit", "config": TINY_VIT, "layer": 1})

    class Wrapper(torch.nn.Module):  # OpenAI's archives are whole CLIP modules with a `visual` child
        def __init__(self):
            super().__init__()
            self.visual = bb.visual

        def forward(self, x):
            return self.visual.conv1(x)

    scripted = torch.jit.trace(Wrapper().eval(), torch.randn(1, 3, 224, 224))
    path = tmp_path / "ViT-tiny.pt"
    scripted.save(str(path))
    sd = load_state_file(path)
    vis = visual_state(sd, path)
    torch.testing.assert_close(vis["visual.conv1.weight"], bb.visual.conv1.weight)


def _openclip_to_hf(vis: dict) -> dict:
    """Inverse mapping written independently: open_clip -> Hugging Face CLIPVisionModel keys."""
    out = {}
    out["vision_model.embeddings.class_embedding"] = vis["visual.class_embedding"]
    out["vision_model.embeddings.patch_embedding.weight"] = vis["visual.conv1.weight"]
    out["vision_model.embeddings.position_embedding.weight"] = vis["visual.positional_embedding"]
    out["vision_model.pre_layrnorm.weight"] = vis["visual.ln_pre.weight"]
    out["vision_model.pre_layrnorm.bias"] = vis["visual.ln_pre.bias"]
    n = 1 + max(int(k.split(".")[3]) for k in vis if ".resblocks." in k)
    for i in range(n):
        s, d = f"visual.transformer.resblocks.{i}.", f"vision_model.encoder.layers.{i}."
        w = vis[s + "attn.in_proj_weight"]
        b = vis[s + "attn.in_proj_bias"]
        for j, name in enumerate("qkv"):
            out[d + f"self_attn.{name}_proj.weight"] = w.chunk(3)[j]
            out[d + f"self_attn.{name}_proj.bias"] = b.chunk(3)[j]
        out[d + "self_attn.out_proj.weight"] = vis[s + "attn.out_proj.weight"]
        out[d + "self_attn.out_proj.bias"] = vis[s + "attn.out_proj.bias"]
        for a, c in (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
            out[d + c + ".weight"] = vis[s + a + ".weight"]
            out[d + c + ".bias"] = vis[s + a + ".bias"]
    out["vision_model.embeddings.position_ids"] = torch.arange(vis["visual.positional_embedding"].shape[0])[None]
    return out


def test_huggingface_mapping_gives_identical_maps(tmp_path):
    from safetensors.torch import save_file

    folder = make_tiny_model_dir(tmp_path / "tiny", layer=1)
    ref = Detector.from_model(str(folder), device="cpu").analyze(IMG)
    vis = load_state_file(folder / "backbone.safetensors")
    hf = _openclip_to_hf(vis)
    mapped = hf_to_openclip(hf)
    for k, v in mapped.items():
        torch.testing.assert_close(v, vis[k])
    assert set(vis) <= set(mapped)
    hf_path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in hf.items()}, str(hf_path))
    from engine.cards import ModelCard
    from engine.hashing import file_sha256

    card = ModelCard.load(folder)
    for f in card.files:
        if f["role"] == "clip-vit":
            f["path"] = str(hf_path)
            f["name"] = hf_path.name
            f["sha256"] = file_sha256(hf_path)  # the card must name the file it points to: loading checks
    card.id = "tiny-hf"
    res = Detector.from_model(card, device="cpu").analyze(IMG)
    np.testing.assert_allclose(res.raw, ref.raw, atol=1e-6)


def test_linear_decoder_checkpoint(files, tmp_path):
    raw = {"model": {"fc.weight": torch.randn(1, 1024) * 0.02, "fc.bias": torch.zeros(1)},
           "feature_layer": "layer0", "decoder_type": "linear"}
    arch = infer_architecture(raw, "lin.pth")
    assert arch["decoder"] == {"type": "linear"} and arch["backbone"]["family"] == "clip-vit"
    torch.save(raw, tmp_path / "lin.pth")
    res = Detector.from_files(tmp_path / "lin.pth", files["clip"], device="cpu").analyze(IMG)
    assert res.raw.shape == (256, 256) and res.metadata["model"]["decoder"] == "linear"


def test_image_context_decoder_layout_and_hand_case():
    from engine.decoders import ImageContext, build_decoder

    x = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]]]])  # one channel, image mean 3
    y = ImageContext()(x)
    assert y.shape == (1, 2, 2, 2)
    assert torch.equal(y[0, 0], x[0, 0]) and torch.equal(y[0, 1], torch.tensor([[-2.0, -1.0], [0.0, 3.0]]))
    dec = build_decoder({"type": "conv", "depth": 4, "widths": [8, 8, 8, 8], "context": "image-mean"}, 5, cnn=True)
    sd = dec.state_dict()
    assert "0.weight" not in sd and sd["1.weight"].shape == (8, 10, 5, 5)  # convs start at fc.1, on 2 x 5 channels
    assert dec(torch.randn(2, 5, 4, 4)).shape == (2, 1, 256, 256)
    with pytest.raises(ValueError, match="unknown decoder context 'median'"):
        build_decoder({"type": "conv", "depth": 4, "context": "median"}, 5, cnn=True)


def test_image_context_card_with_wrong_decoder_is_refused_clearly(tmp_path):
    import json

    from engine.decoders import build_decoder, module_state_to_checkpoint
    from engine.hashing import file_sha256
    from engine.weights import save_safetensors

    d = make_tiny_model_dir(tmp_path / "m")
    card = json.loads((d / "card.json").read_text())
    # a plain decoder's weights under a card that says "image context"
    card["decoder"]["context"] = "image-mean"
    (d / "card.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="decoder.safetensors: expected a conv decoder with image-mean context"):
        Detector.from_model(d, device="cpu")
    # a context decoder made for 48-channel features, where the tiny ViT gives 64
    spec = card["decoder"]
    save_safetensors(module_state_to_checkpoint(build_decoder(spec, 48, cnn=False), spec), d / "decoder.safetensors")
    card["files"] = [f for f in card["files"] if f["role"] != "decoder"] + [
        {"role": "decoder", "name": "decoder.safetensors", "path": "decoder.safetensors",
         "sha256": file_sha256(d / "decoder.safetensors"),
         "format": "safetensors"}]
    (d / "card.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=r"96-channel input.*gives 64 channels, so it needs 128 \(twice"):
        Detector.from_model(d, device="cpu")


@pytest.mark.parametrize("context", [None, "image-mean"])
def test_ensemble_decoder_outputs_the_mean_of_its_members_logits(context):
    from engine.decoders import build_decoder, ensemble_state, fold_batchnorm

    spec = {"type": "conv", "depth": 8, "widths": [8, 6, 5, 4], **({"context": context} if context else {})}
    gen = torch.Generator().manual_seed(1)
    members = []
    for _ in range(3):
        m = build_decoder(spec, 7, cnn=True)
        with torch.no_grad():
            for t in m.state_dict().values():
                if t.is_floating_point():
                    t.copy_(torch.randn(t.shape, generator=gen) * 0.3)
            for mod in m:
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.running_var.uniform_(0.5, 2.0, generator=gen)
        members.append(m.eval())
    ens = build_decoder({**spec, "members": 3}, 7, cnn=True)
    convs = [m for m in ens if isinstance(m, torch.nn.Conv2d)]
    assert [c.groups for c in convs] == [1, 3, 3, 3, 3, 3, 3, 3, 1]  # dense in, grouped inside, dense out
    assert convs[0].out_channels == 24 and convs[-1].in_channels == 12
    ens.load_state_dict(ensemble_state([m.state_dict() for m in members], members[0]))
    ens.eval()
    x = torch.randn(2, 7, 4, 4, generator=gen)
    want = torch.stack([m(x) for m in members]).mean(0)
    assert torch.allclose(ens(x), want, atol=1e-5)
    assert torch.allclose(fold_batchnorm(ens)(x), want, atol=1e-5)  # grouped convs keep their groups when folded
    assert not torch.allclose(members[0](x), want, atol=1e-3)  # the members really differ


@pytest.mark.parametrize("decoder, message", [
    ({"type": "conv", "depth": 4, "members": 0}, "members must be a whole number from 1 to 16, found 0"),
    ({"type": "conv", "depth": 4, "members": "3"}, "members must be a whole number from 1 to 16, found '3'"),
    ({"type": "linear", "members": 2}, "only conv decoders can have several members"),
    ({"type": "conv", "depth": 6}, "depth must be a positive multiple of 4 up to 64, found 6"),
    ({"type": "conv", "depth": 4, "widths": [8, 8, 8]}, "widths must be four whole numbers"),
    ({"type": "conv", "depth": 4, "widths": [8, 8, 8, -1]}, "widths must be four whole numbers"),
    ({"type": "mlp"}, "unknown decoder type 'mlp'"),
    ("conv-4", "decoder must be a JSON object"),
])
def test_hostile_decoder_spec_in_a_card_is_refused_in_one_line(tmp_path, decoder, message):
    import json

    d = make_tiny_model_dir(tmp_path / "m")
    card = json.loads((d / "card.json").read_text())
    card["decoder"] = decoder
    (d / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelStoreError, match=re.escape(message)) as err:
        Detector.from_model(d, device="cpu")
    assert str(d) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("inp", [{"size": 64, "mean": [0.5] * 3, "std": [0.5] * 3, "flip_average": "yes"}, ["x"]])
def test_card_input_with_a_bad_flip_flag_is_refused_in_one_line(tmp_path, inp):
    import json

    d = make_tiny_model_dir(tmp_path / "m")
    card = json.loads((d / "card.json").read_text())
    card["input"] = inp
    (d / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelStoreError, match="input.flip_average must be true or false") as err:
        Detector.from_model(d, device="cpu")
    assert str(d) in str(err.value) and "\n" not in str(err.value)


def test_flip_average_is_the_mean_of_both_views_and_keeps_one_feature_tensor_per_image(tmp_path):
    import json

    d = make_tiny_model_dir(tmp_path / "m")
    plain = Detector.from_model(d, device="cpu", precision="exact", conv="direct")
    card = json.loads((d / "card.json").read_text())
    card["id"] += "-flip"
    card.setdefault("input", {})["flip_average"] = True
    (d / "card.json").write_text(json.dumps(card))
    flip = Detector.from_model(d, device="cpu", precision="exact", conv="direct")
    assert flip.describe()["model"]["input"]["flip_average"] is True
    x = torch.randn(2, 3, plain.input_size, plain.input_size, generator=torch.Generator().manual_seed(0))
    f = flip.extract_features(x)
    assert f.shape[0] == 2 and f.shape[1] == 2 * plain.net.out_channels  # both views on the channels
    logit = lambda det, t: torch.logit(det.predict(t).double(), eps=1e-12)  # noqa: E731
    want = (logit(plain, x) + logit(plain, x.flip(-1)).flip(-1)) / 2
    assert torch.allclose(logit(flip, x), want, atol=1e-4)
    assert not torch.allclose(logit(plain, x), want, atol=1e-3)  # the mirrored view really changes the map


def test_split_ensemble_state_gives_back_the_members_and_their_mean_logit():
    from engine.decoders import build_decoder, ensemble_state, split_ensemble_state

    spec = {"type": "conv", "depth": 4, "widths": [6, 5, 4, 3], "context": "image-mean"}
    torch.manual_seed(0)
    members = [build_decoder(spec, 7, cnn=True).eval() for _ in range(3)]
    for m in members:  # non-trivial BatchNorm statistics
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-1, 1)
                mod.running_var.uniform_(0.5, 2)
    states = [m.state_dict() for m in members]
    ens = build_decoder(dict(spec, members=3), 7, cnn=True).eval()
    ens.load_state_dict(ensemble_state(states, members[0]))
    parts = split_ensemble_state(ens.state_dict(), members[0], 3)
    last = f"{max(i for i, m in enumerate(members[0]) if isinstance(m, torch.nn.Conv2d))}.weight"  # the final conv
    for st, orig in zip(parts, states):
        for k in orig:
            if k != last.replace("weight", "bias"):
                assert torch.allclose(st[k].float(), orig[k].float(), atol=1e-6), k
    mean_bias = torch.stack([s[last.replace("weight", "bias")] for s in states]).mean(0)
    assert all(torch.allclose(st[last.replace("weight", "bias")], mean_bias) for st in parts)
    x = torch.randn(2, 7, 8, 8)
    rebuilt = [build_decoder(spec, 7, cnn=True).eval() for _ in range(3)]
    for m, st in zip(rebuilt, parts):
        m.load_state_dict(st)
    with torch.no_grad():
        assert torch.allclose(sum(m(x) for m in rebuilt) / 3, ens(x), atol=1e-5)
