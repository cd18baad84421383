"""From files to a ready network: card preparation for imports, and cached network loading."""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import torch

from .backbones import weight_roles
from .cards import STAGES_ROLE, ModelCard, model_id_from
from .clip_weights import describe_visual, visual_kind, visual_state
from .errors import CheckpointError, ModelStoreError
from .hashing import file_sha256, weights_sha256
from .network import DeclipNet, build_network
from .official import decoder_tensors, infer_architecture, is_official
from .weights import load_state_file

# Files read while preparing a card are kept until the network is built, so a 1 GB CLIP file is
# read once per load, not twice. Keyed by (path, size, mtime) so a changed file is re-read.
_MEMO: dict[tuple, dict] = {}


def _read(path: Path) -> dict:
    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _MEMO:
        _MEMO[key] = load_state_file(path)
    return _MEMO[key]


def verify_sources(card: ModelCard, sources: dict[str, Path]) -> dict[str, str]:
    """Hash every card-listed file that will be read; refuse one whose hash differs from the card's.

    Returns {role: sha256 of the file as found}. Card entries without a hash get the computed one,
    so what results record is always the hash of the file that ran.
    """
    hashes: dict[str, str] = {}
    for f in card.files:
        path = sources.get(f["role"])
        if path is None:
            continue
        actual = weights_sha256(path)
        expected = f.get("sha256")
        if expected and expected.lower() != actual:
            raise CheckpointError(f"{path}: SHA-256 {actual} does not match the model card's {expected} for "
                                  f"{f['name']} ({f['role']}); the file was changed or replaced. Re-import the model "
                                  "or restore the original file")
        f["sha256"] = actual
        hashes[f["role"]] = actual
    for spec in external_weight_specs(card.backbone):
        # A card may point its backbone at a file outside the store (weights_path): pinned at import.
        path = Path(spec["weights_path"])
        expected = spec.get("weights_sha256")
        if expected and path.is_file() and file_sha256(path) != expected.lower():
            raise CheckpointError(f"{path}: SHA-256 does not match the {expected} the model card pinned at import "
                                  "for its backbone weights; the file was changed or replaced. Re-import the model "
                                  "or restore the original file")
    return hashes


def external_weight_specs(spec) -> list[dict]:
    """Every backbone spec (parts of stacks and fusions included) naming its own weights file."""
    if not isinstance(spec, dict):
        return []
    out = [spec] if isinstance(spec.get("weights_path"), str) and spec["weights_path"] else []
    for key in ("vit", "rn"):
        out += external_weight_specs(spec.get(key))
    for part in spec.get("parts") or []:
        out += external_weight_specs(part)
    return out


ROLE_KIND = {"clip-vit": "CLIP ViT", "clip-rn": "CLIP ResNet (RN50)"}
ROLE_LABEL = {"clip-vit": "CLIP ViT-L/14 weights (e.g. ViT-L-14.pt)", "clip-rn": "CLIP RN50 weights (e.g. RN50.pt)"}


def _file_entry(role: str, path: Path, fmt: str) -> dict:
    return {"role": role, "name": path.name, "sha256": file_sha256(path), "size": path.stat().st_size, "format": fmt}


def classify_backbone_files(paths: list[Path]) -> dict[str, tuple[Path, dict]]:
    """Read each CLIP weights file safely and sort it by what it holds (ViT or ResNet)."""
    out: dict[str, tuple[Path, dict]] = {}
    for p in paths:
        raw = _read(p)
        vis = visual_state(raw, p)
        kind = visual_kind(vis)
        if kind == "unknown":
            raise CheckpointError(f"{p}: expected CLIP ViT or RN50 image-encoder weights, found {describe_visual(vis)}")
        if kind in out:
            raise CheckpointError(f"{p}: two {kind} weight files given ({out[kind][0].name} and {p.name})")
        out[kind] = (p, raw)
    return out


def prepare_official_card(path: Path, backbone_weights: list[Path], catalogue: list[ModelCard],
                          model_id: str | None, name: str | None) -> tuple[ModelCard, dict[str, Path]]:
    """catalogue: the release cards; a file named like one of them must be that release."""
    raw = _read(path)
    if not is_official(raw):
        raise CheckpointError(f"{path}: not a DeCLIP checkpoint (no fc.* decoder weights under 'model')")
    arch = infer_architecture(raw, path)
    template = next((c for c in catalogue if c.file("decoder") and c.file("decoder")["name"] == path.name), None)
    if template is not None:
        card = ModelCard.from_dict(template.to_dict())
        card.backbone, card.decoder = arch["backbone"], arch["decoder"]  # the file, not its name, decides
        card.source = f"{card.source}; imported from {path.resolve()}"
    else:
        stem = model_id_from(path.stem)
        card = ModelCard(id=model_id or f"imported-{stem}", name=name or f"Imported DeCLIP model ({path.name})",
                         backbone=arch["backbone"], decoder=arch["decoder"],
                         license="unknown: check the checkpoint's origin", training_data="unknown",
                         intended_use="Localising local manipulations; see the DeCLIP paper.",
                         source=f"imported from {path.resolve()}")
    sources: dict[str, Path] = {"decoder": path}
    files = [_file_entry("decoder", path, "declip-official")]
    given = classify_backbone_files(backbone_weights)
    extra = set(given) - set(weight_roles(arch["backbone"]))
    if extra:
        role = extra.pop()
        needs = " and ".join(ROLE_LABEL[r] for r in weight_roles(arch["backbone"])) or "no CLIP weights"
        raise CheckpointError(f"{given[role][0]}: holds {ROLE_KIND[role]} "
                              f"weights, but {path.name} ({card.backbone_name}) needs {needs}")
    for role in weight_roles(arch["backbone"]):
        if role in given:
            files.append(_file_entry(role, given[role][0], "clip"))
            sources[role] = given[role][0]
        elif role == "clip-vit" and arch["embedded_clip"]:
            card.backbone = dict(card.backbone, weights_in_decoder=True)
        else:
            raise CheckpointError(f"{path}: this {card.backbone_name} model needs {ROLE_LABEL[role]}; "
                                  "pass it with --backbone-weights")
    card.files = files
    if template is not None:
        _check_release(template, card, path)
    return card, sources


def _check_release(release: ModelCard, card: ModelCard, path: Path) -> None:
    """A file named like a release gets the release's card (name, licence, training data) only when it
    is that release: the same backbone, feature layer and decoder, and the CLIP files whose SHA-256
    the publisher gives. Anything else is refused, saying what differs."""
    diffs = []
    if card.backbone_name != release.backbone_name:
        diffs.append(f"backbone {card.backbone_name} (the release: {release.backbone_name})")
    elif card.feature_layer != release.feature_layer:
        diffs.append(f"feature layer {card.feature_layer} (the release: {release.feature_layer})")
    if card.decoder_name != release.decoder_name:
        diffs.append(f"decoder {card.decoder_name} (the release: {release.decoder_name})")
    for f in card.files:
        published = release.file(f["role"]) or {}
        want = published.get("sha256")
        if f["role"] != "decoder" and want and f["sha256"] != want.lower():
            diffs.append(f"{f['name']} SHA-256 {f['sha256'][:16]}... (the published {published['name']}: "
                         f"{want[:16]}...)")
    if diffs:
        raise CheckpointError(f"{path}: named like the release {release.id} but differs from it: {'; '.join(diffs)}; "
                              "refused: rename the file to import it as a model of unknown origin")


def prepare_own_card(folder: Path, backbone_weights: list[Path], store) -> tuple[ModelCard, dict[str, Path]]:
    card = ModelCard.load(folder)
    sources: dict[str, Path] = {}
    given = classify_backbone_files(backbone_weights)
    for f in card.files:
        role = f["role"]
        p = card.path_of(role) or (folder / f["name"])
        if role in given:
            p = given[role][0]
        elif not p.is_file():
            p = _find_shared(store, f)
        if p is None or not p.is_file():
            raise ModelStoreError(f"{folder}: {f['name']} ({role}) not found; pass it with --backbone-weights")
        actual = file_sha256(p)
        if f.get("sha256") and f["sha256"] != actual:
            raise CheckpointError(f"{p}: SHA-256 {actual[:16]}... does not match the card's {f['sha256'][:16]}...")
        f["sha256"], f["size"] = actual, p.stat().st_size
        if role != "decoder" and p.name != f["name"]:
            f["name"] = p.name
        sources[role] = p
    if "decoder" not in sources:
        raise ModelStoreError(f"{folder}: card lists no decoder file")
    for role in weight_roles(card.backbone):
        if role not in sources and not card.backbone.get("weights_in_decoder"):
            if role in given:
                sources[role] = given[role][0]
                card.files.append(_file_entry(role, given[role][0], "clip"))
            else:
                raise ModelStoreError(f"{folder}: this model needs {ROLE_LABEL[role]}; pass it with --backbone-weights")
    return card, sources


def _find_shared(store, f: dict) -> Path | None:
    sha = f.get("sha256")
    if not sha:
        return None
    cand = store.backbones_dir / sha[:16] / f["name"]
    return cand if cand.is_file() else None


# ---- loading --------------------------------------------------------------------------------
_CACHE: "OrderedDict[tuple, DeclipNet]" = OrderedDict()
_CACHE_SIZE = 2
_LOCK = threading.Lock()


def clear_network_cache() -> None:
    """Drop the loaded networks this process keeps for reuse (their memory goes once no Detector
    holds them). For measuring one model's memory alone, or freeing memory on demand."""
    with _LOCK:
        _CACHE.clear()


def read_decoder_state(raw: dict, path: Path) -> dict:
    official = is_official(raw)
    fc = decoder_tensors(raw) if official else {k: v for k, v in raw.items() if k.startswith("fc.")}
    if not fc:
        raise CheckpointError(f"{path}: no decoder weights (fc.*) found")
    # Besides fc.*, an official file may carry only CLIP under model.*; an own decoder file nothing else
    sd = raw.get("model", raw) if official else raw
    extra = [k for k, v in sd.items() if torch.is_tensor(v) and not k.startswith("fc.")
             and not (official and k.startswith("model."))]
    if extra:
        raise CheckpointError(f"{path}: {len(extra)} tensor{'s' if len(extra) != 1 else ''} that are not decoder weights, e.g. {', '.join(extra[:3])}")
    return fc


def load_network_from_sources(card: ModelCard, sources: dict[str, Path], device: str | torch.device = "cpu",
                              dtype: torch.dtype | None = None, check_only: bool = False,
                              conv: str = "auto", decoder_dtype: torch.dtype | None = None) -> DeclipNet:
    dtype = dtype or torch.float32
    decoder_dtype = decoder_dtype or dtype
    device = torch.device(device)
    flip = card.flip_average
    # The key holds the hashes of the files as they are now (not the card's word), so a replaced
    # file can never reuse a network built from the old one.
    hashes = verify_sources(card, sources)
    key = (card.id, tuple(sorted(hashes.items())), tuple(sorted((r, str(Path(p).resolve())) for r, p in sources.items())),
           repr(card.backbone), repr(card.decoder), str(device), str(dtype), str(decoder_dtype), conv, flip)
    if not check_only:
        with _LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _CACHE[key]
    # _MEMO lets one file serve several roles during these reads; it is emptied as soon as they are
    # done (or fail), so clip_files and dec_state are the only holders and build_network can free them.
    try:
        dec_path = sources["decoder"]
        raw_dec = _read(dec_path)
        dec_state = read_decoder_state(raw_dec, dec_path)
        clip_files: dict[str, dict] = {}
        for role in weight_roles(card.backbone):
            if role in sources:
                raw = _read(sources[role])
            elif card.backbone.get("weights_in_decoder") and role == "clip-vit":
                raw = raw_dec
                sources = dict(sources, **{role: dec_path})
            else:
                raise CheckpointError(f"{dec_path}: this model needs {ROLE_LABEL[role]}")
            raw = dict(raw)
            raw["__path__"] = str(sources[role])
            clip_files[role] = raw
        del raw_dec
        stage_path = sources.get(STAGES_ROLE)
        stage_state = dict(_read(stage_path)) if stage_path is not None else None
    finally:
        _MEMO.clear()
    try:
        net = build_network(card.backbone, card.decoder, dec_state, clip_files, device, dtype,
                            decoder_origin=str(dec_path), conv=conv, flip_average=flip, decoder_dtype=decoder_dtype,
                            stage_state=stage_state, stage_origin=str(stage_path))
    except MemoryError:
        raise CheckpointError(f"{dec_path}: not enough memory to build model {card.id!r}") from None
    del clip_files
    if not check_only:
        with _LOCK:
            _CACHE[key] = net
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return net


def sources_of(card: ModelCard) -> dict[str, Path]:
    out = {}
    for f in card.files:
        p = card.path_of(f["role"])
        if p is None or not p.is_file():
            raise ModelStoreError(f"model {card.id!r}: file {f['name']} ({f['role']}) is missing"
                                  + (f" from {card.root}" if card.root else ""))
        out[f["role"]] = p
    return out


def card_from_files(checkpoint: Path, backbone_weights: list[Path]) -> tuple[ModelCard, dict[str, Path]]:
    """An ad-hoc card for `declip analyze --checkpoint ...` (hashes computed now)."""
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():
        card = ModelCard.load(checkpoint)
        srcs = {}
        given = classify_backbone_files([Path(p) for p in backbone_weights])
        for f in card.files:
            if f["role"] in given:
                # the user's file replaces the card's: record that file, not the card's hash for another
                p = given[f["role"]][0]
                f.update(name=p.name, sha256=None, size=p.stat().st_size, path=str(p.resolve()))
            else:
                p = card.path_of(f["role"]) or (checkpoint / f["name"])
                if not p.is_file():
                    raise ModelStoreError(f"{checkpoint}: file {f['name']} ({f['role']}) is missing")
            srcs[f["role"]] = p
        for role, (p, _raw) in given.items():
            if role not in srcs:
                srcs[role] = p
                card.files.append(_file_entry(role, p, "clip"))
        return card, srcs
    card, sources = prepare_official_card(checkpoint, [Path(p) for p in backbone_weights], [], None, None)
    card.id = f"file:{checkpoint.name}"
    card.name = f"DeCLIP checkpoint {checkpoint.name}"
    return card, sources
