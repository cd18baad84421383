"""A decoder made ready for training: its first weights (the authors' random init, or --init from an
official checkpoint or an own model) and its fastest training layout."""
from __future__ import annotations

from pathlib import Path

import torch

from engine.cards import ModelCard
from engine.decoders import ImageContext
from engine.hashing import file_sha256
from engine.loading import read_decoder_state
from engine.weights import load_state_file

from .card_output import DECODER_FILE, read_card_field


def split_input_modules(dec: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(parameter-free input modules such as ImageContext, the rest) of a conv decoder; for a decoder on
    tuned stages (--tune-stages) the first part also runs the stages, so feature dropout acts on features."""
    from .stage_tuning import StageFeatures, TunedNet

    if isinstance(dec, TunedNet):
        head, body = split_input_modules(dec.decoder)
        return torch.nn.Sequential(StageFeatures(dec), head), body
    if isinstance(dec, torch.nn.Sequential) and len(dec) and isinstance(dec[0], ImageContext):
        return dec[:1], dec[1:]
    return torch.nn.Identity(), dec


def init_decoder(decoder: torch.nn.Module, std: float, seed: int, bn_mean: float = 0.0) -> None:
    """Authors' init: conv/linear weights and BatchNorm gamma ~ N(0, std), biases 0.

    bn_mean=1 starts BatchNorm at identity scale: much faster start on small data sets.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in decoder.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, torch.nn.BatchNorm2d)):
                mean = bn_mean if isinstance(m, torch.nn.BatchNorm2d) else 0.0
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * std + mean)
                if m.bias is not None:
                    m.bias.zero_()


def training_layout(dec: torch.nn.Module, device: str | torch.device = "cpu", conv: str = "auto") -> torch.nn.Module:
    """Put a decoder in its fastest training form; the parameters and state_dict are unchanged.

    channels_last: about 1.5x faster 5x5 convolutions on CPU (oneDNN). On CPU in fp32, the wide
    5x5 convs (>= 128 channels) also train through Winograd F(4x4,5x5), 1.5-3x faster forward +
    backward per layer here (numbers equal to the direct conv up to float rounding).
    conv='direct' keeps every conv direct (benchmarks compare the two).
    """
    from engine.winograd import winograd_train_decoder

    dec = dec.to(device, memory_format=torch.channels_last)
    if conv == "auto" and torch.device(device).type == "cpu" and next(dec.parameters()).dtype == torch.float32:
        winograd_train_decoder(dec)
    return dec


def first_mismatch(own: dict, state: dict) -> str | None:
    """The first key of the module state `own` that `state` lacks or holds with another shape."""
    return next((k for k in own if k not in state or tuple(state[k].shape) != tuple(own[k].shape)), None)


def init_file(path: Path):
    """The weights file an --init names (an own model folder: its card's decoder) and that model's card."""
    path = Path(path)
    if not path.is_dir():
        return path, None
    card = ModelCard.load(path)
    return card.path_of("decoder") or (path / DECODER_FILE), card


def load_init_state(path: Path) -> dict:
    """fc.* decoder weights from an official .pth, an own safetensors file or an own model folder."""
    path = init_file(path)[0]
    return read_decoder_state(load_state_file(path), path)


def init_record(path: Path) -> dict:
    """What a run started from, for its card: the file's SHA-256 names the exact weights even when the
    folder is gone or was retrained later (a second cycle, a fine-tune of an official checkpoint), and
    an own model's training record comes along, so the card holds the whole chain of runs."""
    file, card = init_file(path)
    rec = {"file": str(Path(file).resolve()), "sha256": file_sha256(file), "model_id": card.id if card else None}
    trained = read_card_field(path, "training") if card is not None else None
    if trained:
        rec["training"] = trained
    return rec
