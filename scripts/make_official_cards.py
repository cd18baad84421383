"""Write resources/cards/*.json: release cards for the nine released DeCLIP checkpoints.

Each file entry names where `declip models fetch` downloads it (`url`) and its licence. The
OpenAI CLIP files have a published SHA-256 (the path component before the file name) and size;
the DeCLIP checkpoints have none, so their hash is recorded at the first verified download.
Facts from ../shared/docs/official-models.md. Run: python scripts/make_official_cards.py
"""
import json
from pathlib import Path

from engine.atomic import write_text_atomic  # cards are written atomically everywhere

OUT = Path(__file__).resolve().parent.parent / "resources" / "cards"
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
TRAIN = {
    "pluralistic": "Dolos: CelebA-HQ faces inpainted by Pluralistic (GAN)",
    "lama": "Dolos: CelebA-HQ faces inpainted by LaMa",
    "repaint-p2-9k": "Dolos: CelebA-HQ faces inpainted by RePaint (diffusion, P2 9k)",
    "ldm": "Dolos: CelebA-HQ faces inpainted by Latent Diffusion (LDM)",
    "cocosd": "COCO images inpainted by Stable Diffusion (COCO-SD)",
}
VIT = {"family": "clip-vit", "config": "ViT-L-14-quickgelu", "layer": 20}
FUSION = {"family": "fusion", "vit": VIT, "rn": {"family": "clip-rn", "config": "RN50-quickgelu", "layer": 3}}
# The authors' public bucket (served without sign-in at storage.googleapis.com if the bucket is public)
DECLIP_BASE = "https://storage.googleapis.com/bitdefender_ml_artifacts/declip"
CLIP_FILES = {
    "clip-vit": ("ViT-L-14.pt", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836", 932768134),
    "clip-rn": ("RN50.pt", "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762", 255827503),
}
LICENSE = ("DeCLIP checkpoints: CC BY-NC-SA 4.0 (non-commercial use only); CLIP weights: MIT (OpenAI). "
           "Check the terms before operational use.")
LIMITS = ("Trained on one generator's local edits (mostly faces for Dolos): expect lower accuracy on other "
          "generators, other content and heavy recompression. Paper mode squashes every image to 224x224, so "
          "small edits in large images can be missed. A low score does not prove an image is authentic.")


def card(arch: str, gen: str) -> dict:
    fusion = arch == "fusion"
    fname = (f"ViT_layer20+RN50_layer3_conv-20_{gen}.pth" if fusion else f"ViT_layer20_conv-20_{gen}.pth")
    folder = "backbone_VIT%2BRN50" if fusion else "backbone_VIT"
    files = [{"role": "decoder", "name": fname, "sha256": None, "size": None, "format": "declip-official",
              "url": f"{DECLIP_BASE}/{folder}/{fname.replace('+', '%2B')}", "licence": "CC BY-NC-SA 4.0"}]
    for role in ("clip-vit", "clip-rn") if fusion else ("clip-vit",):
        name, sha, size = CLIP_FILES[role]
        files.append({"role": role, "name": name, "sha256": sha, "size": size, "format": "clip",
                      "url": f"https://openaipublic.azureedge.net/clip/models/{sha}/{name}", "licence": "MIT",
                      "sha256_origin": "published (OpenAI's download address)"})
    return {
        "schema": 1,
        "id": f"declip-{'vit-rn50' if fusion else 'vit'}-{gen}",
        "name": f"DeCLIP {'ViT-L/14 + RN50' if fusion else 'ViT-L/14'} conv-20 ({gen})",
        "version": "WACV 2025 release",
        "backbone": FUSION if fusion else VIT,
        "decoder": {"type": "conv", "depth": 20, "widths": [512, 256, 128, 64]},
        "input": {"size": 224, "resize": "bilinear-squash", "mean": MEAN, "std": STD},
        "files": files,
        "license": LICENSE,
        "training_data": TRAIN[gen],
        "intended_use": "Localising locally inpainted or edited regions, especially diffusion inpainting "
                        "(LDM, RePaint), as an aid to a trained examiner.",
        "limitations": LIMITS,
        "metrics": {},
        "source": "Smeu, Oneata, Oneata, DeCLIP (WACV 2025), arXiv 2409.08849; files from the authors' release "
                  "(bucket bitdefender_ml_artifacts, prefix declip/)",
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for gen in TRAIN:
        c = card("vit", gen)
        write_text_atomic(OUT / f"{c['id']}.json", json.dumps(c, indent=2) + "\n")
    for gen in ("pluralistic", "lama", "repaint-p2-9k", "ldm"):
        c = card("fusion", gen)
        write_text_atomic(OUT / f"{c['id']}.json", json.dumps(c, indent=2) + "\n")
    print(f"wrote {len(list(OUT.glob('*.json')))} cards to {OUT}")


if __name__ == "__main__":
    main()
