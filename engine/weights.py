"""Safe reading of weight files.

Nothing here unpickles arbitrary objects: pickles go through torch.load(weights_only=True),
whose restricted unpickler refuses any global outside torch's tensor/container allow-list, so a
crafted file's code never runs. TorchScript archives are loaded only with torch.jit.load.
"""
from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path

import torch

from .errors import CheckpointError


def _fail(path: Path, msg: str) -> CheckpointError:
    return CheckpointError(f"{path}: {msg}")


def is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files with a code/ folder and constants.pkl."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("constants.pkl") for n in names) and any("/code/" in n for n in names)


def load_state_file(path: str | Path) -> dict:
    """Read a .pth/.pt/.bin/.safetensors file into a dict (tensors and plain containers only)."""
    path = Path(path)
    if not path.exists():
        raise _fail(path, "file not found")
    if path.is_dir():
        raise _fail(path, "is a folder, expected a weights file")
    if path.stat().st_size == 0:
        raise _fail(path, "file is empty")
    head = path.open("rb").read(16)
    if path.suffix == ".safetensors" or _looks_like_safetensors(head):
        return _load_safetensors(path)
    if is_torchscript(path):
        return _load_torchscript(path)
    if not _looks_like_torch_file(head):
        raise _fail(path, "not a weights file (not a PyTorch checkpoint, TorchScript archive or safetensors file)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # protocol notices are noise for users
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=_zip(path))
    except pickle.UnpicklingError as exc:
        # Keep torch's own explanation short: name the blocked global, never suggest weights_only=False.
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f" (it references {found.group(1)})" if found else ""
        raise _fail(path, "refused: the file contains pickled Python objects that are not plain weights"
                          f"{what}; opening it could run code. Expected a weights-only checkpoint") from None
    except RuntimeError as exc:
        msg = str(exc)
        if "zip" in msg.lower() or "central directory" in msg.lower() or "failed finding" in msg.lower():
            raise _fail(path, "truncated or corrupt checkpoint archive") from None
        raise _fail(path, f"cannot read checkpoint ({msg.splitlines()[0][:160]})") from None
    except (EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise _fail(path, f"truncated or corrupt checkpoint ({type(exc).__name__})") from None
    except MemoryError:
        raise _too_big(path) from None
    except Exception:  # torch raises assorted types (IndexError, KeyError ...) on streams that are not weights
        raise _fail(path, "corrupt checkpoint, or not a weights file") from None
    if not isinstance(obj, dict):
        raise _fail(path, f"expected a dict of tensors, found {type(obj).__name__}")
    return obj


def _too_big(path: Path) -> CheckpointError:
    return _fail(path, f"too large to load into this machine's memory ({path.stat().st_size / 1e9:.1f} GB)")


def _looks_like_torch_file(head: bytes) -> bool:
    # torch.save writes a zip archive, or (legacy) a pickle of protocol 2 or later: PROTO opcode 0x80.
    # Anything else (text, JSON, an image) is not a checkpoint, whatever its name says.
    return head.startswith(b"PK") or head[:1] == b"\x80"


def _zip(path: Path) -> bool:
    return zipfile.is_zipfile(path)


def _looks_like_safetensors(head: bytes) -> bool:
    # 8-byte little-endian header length followed by a JSON object
    return len(head) >= 9 and head[8:9] == b"{"


def _load_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except MemoryError:
        raise _too_big(path) from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise _fail(path, f"truncated or corrupt safetensors file ({str(exc)[:120]})") from None


# TorchScript runs an archive's own code while loading in one place: a class's __setstate__, called
# for each pickled object of that class in data.pkl. CLIP weights never need one (OpenAI's archives
# define none), so any archive whose code mentions it is refused before torch.jit.load sees it.
_LOAD_HOOKS = (b"__setstate__",)


def _refuse_load_hooks(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():  # every entry: a zip may hold two with the same name
                name = info.filename.replace("\\", "/")
                # sources TorchScript compiles live under code/; .debug_pkl only maps them to
                # the original Python files (which may mention hooks) and is never compiled
                if ("code" not in name.split("/")[:-1] and not name.endswith(".py")) or name.endswith(".debug_pkl"):
                    continue
                hook = _find_hook(zf, info)
                if hook:
                    raise _fail(path, f"refused: the TorchScript archive's code ({info.filename}) defines "
                                      f"{hook}, which would run while loading; CLIP weights need none")
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError, NotImplementedError) as exc:
        raise _fail(path, f"corrupt TorchScript archive ({type(exc).__name__})") from None


def _find_hook(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    keep = max(len(h) for h in _LOAD_HOOKS) - 1
    tail = b""
    with zf.open(info) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):  # streamed: a hostile entry may be huge
            text = tail + block
            for hook in _LOAD_HOOKS:
                if hook in text:
                    return hook.decode()
            tail = text[-keep:]
    return None


def _load_torchscript(path: Path) -> dict:
    _refuse_load_hooks(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # jit deprecation notice: OpenAI ships TorchScript
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise _fail(path, f"corrupt TorchScript archive ({str(exc).splitlines()[0][:120]})") from None
    return {k: v.detach() for k, v in module.state_dict().items()}


def check_weight_values(state: dict, origin, prefix: str = "") -> None:
    """Refuse weights no trained model holds: NaN or infinite values, or a negative BatchNorm
    running variance (its square root is NaN). Either turns every map into garbage, silently.
    prefix: what the file calls these keys (fc. for a decoder's module keys)."""
    for key, t in state.items():
        if not torch.is_tensor(t) or not t.is_floating_point() or t.is_meta:
            continue
        # a sum is NaN or infinite whenever a value is; fast in fp32, and exact only when it says so
        if not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):
            raise _fail(Path(str(origin)), f"refused: tensor {prefix}{key} holds NaN or infinite values")
        if key.endswith("running_var") and bool((t < 0).any()):
            raise _fail(Path(str(origin)), f"refused: tensor {prefix}{key} (a BatchNorm running variance) "
                                           "holds negative values")


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file whose bytes depend only on its content, atomically.

    safetensors writes its metadata in a random (hash) order, so two identical decoders got two
    SHA-256s: a rerun could not be checked against a card, and an ensemble's duplicate check missed
    the same weights twice. The header is re-written with sorted keys (the format allows space padding).
    """
    import json

    from safetensors.torch import save

    from .atomic import write_bytes_atomic

    blob = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata)
    n = int.from_bytes(blob[:8], "little")
    header = json.dumps(json.loads(blob[8:8 + n]), sort_keys=True, separators=(",", ":")).encode("utf-8")
    header += b" " * (-len(header) % 8)  # the data that follows stays 8-byte aligned
    write_bytes_atomic(path, len(header).to_bytes(8, "little") + header + blob[8 + n:])
