"""The one inference API used by the CLI, the GUI, the case manager, the report and the trainer."""
from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .backbones import packaged_weight_files
from .cards import ModelCard
from .cpu import cpu_info, torch_kernels
from .errors import Cancelled, DeclipError, ImageError
from .images import ImageSource, LoadedImage, load_image
from .loading import card_from_files, load_network_from_sources, sources_of
from .preprocess import resize_map, to_tensor
from .store import find_card
from .result import AnalysisResult
from .stamps import utc_now
from .tiling import Blender, plan_tiles
from .versions import software_versions

Progress = Callable[[int, int, str], None]
CancelFlag = Callable[[], bool]


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeclipError(f"--device {device} asked for, but no CUDA GPU is available (use --device auto or cpu)")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise DeclipError(f"unknown device {device!r}: use auto, cpu or cuda")
    return torch.device(device)


@functools.lru_cache(maxsize=1)
def cpu_bf16_is_faster() -> bool:
    """Time one ViT-L-sized matmul in fp32 and bf16 (about 0.1 s, once per process).

    CPUs without native bf16 (AVX2 only, like this project's 2-core build machine) run bf16
    matmuls several times slower than fp32, so 'fast' would be the slow choice there.
    """
    x, w = torch.randn(257, 1024), torch.randn(1024, 1024)

    def best(dtype) -> float:
        a, b = x.to(dtype), w.to(dtype)
        torch.nn.functional.linear(a, b)  # warm-up
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            torch.nn.functional.linear(a, b)
            times.append(time.perf_counter() - t0)
        return min(times)

    return best(torch.bfloat16) < best(torch.float32)


def pick_dtype(device: torch.device, precision: str) -> torch.dtype:
    """The backbone's dtype. CPU: exact = fp32, fast = bf16 weights (.to(), not autocast) where the CPU
    runs bf16 faster than fp32, else fp32. CUDA: fp16 unless exact. See pick_decoder_dtype."""
    if precision not in ("auto", "exact", "fast"):
        raise DeclipError(f"unknown precision {precision!r}: use exact or fast")
    if device.type == "cuda":
        return torch.float32 if precision == "exact" else torch.float16
    if precision == "fast" and cpu_bf16_is_faster():
        return torch.bfloat16
    return torch.float32


def pick_decoder_dtype(device: torch.device, dtype: torch.dtype) -> torch.dtype:
    """CPU fast runs the backbone in bf16 and the decoder in fp32. bf16's 8-bit mantissa in the decoder's
    convolutions moved ViT-L/14 conv-20 masks the most (mask IoU against exact 0.973; 0.981 with the
    decoder in fp32), while the fp32 decoder, computed with Winograd, adds little time (0.38 -> 0.51 s on
    an AMX CPU). CUDA fp16 keeps one dtype."""
    return torch.float32 if device.type == "cpu" else dtype


def exact_cuda_numerics() -> None:
    """Make fp32 on CUDA really fp32. cuDNN runs fp32 convolutions in TF32 (10-bit mantissa) by
    default on Ampere and later GPUs: on an H200 that moved the default model's map by up to 0.002
    against CPU fp32. 'exact' promises fp32, so TF32 is turned off, process-wide (fast mode runs
    fp16 and is unaffected; the trainer keeps TF32 in its own processes)."""
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


class Detector:
    """A loaded model on a device. Heavy weights are loaded once (and cached across detectors)."""

    def __init__(self, card: ModelCard, sources: dict[str, Path], device: str = "auto", precision: str = "auto",
                 conv: str = "auto"):
        self.card = card
        self.device = pick_device(device)
        self.precision = precision
        self.dtype = pick_dtype(self.device, precision)  # the backbone's
        self.decoder_dtype = pick_decoder_dtype(self.device, self.dtype)
        if self.device.type == "cuda" and self.dtype == torch.float32:
            exact_cuda_numerics()
        t0 = time.perf_counter()
        self.net = load_network_from_sources(card, sources, self.device, self.dtype, conv=conv,
                                             decoder_dtype=self.decoder_dtype)
        self.load_seconds = time.perf_counter() - t0
        # Loading hashed each card-listed file and refused any that differ from the card; keep those
        # hashes (of the files that ran) for the metadata, whatever later happens to the card object.
        self.file_hashes = {f["role"]: f.get("sha256") for f in card.files}
        self.input_size = int(card.input["size"])
        self.mean = tuple(card.input["mean"])
        self.std = tuple(card.input["std"])

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_model(cls, model: str | ModelCard | Path | None = None, device: str = "auto",
                   precision: str = "auto", conv: str = "auto") -> "Detector":
        """A store id, a ModelCard, or a folder holding card.json; None = the default model."""
        card = model if isinstance(model, ModelCard) else find_card(model)
        return cls(card, sources_of(card), device=device, precision=precision, conv=conv)

    @classmethod
    def from_files(cls, checkpoint: str | Path, backbone_weights: str | Path | list | None = None,
                   device: str = "auto", precision: str = "auto", conv: str = "auto") -> "Detector":
        if backbone_weights is None:
            bw: list = []
        elif isinstance(backbone_weights, (str, Path)):
            bw = [backbone_weights]
        else:
            bw = list(backbone_weights)
        card, sources = card_from_files(Path(checkpoint), [Path(p) for p in bw])
        return cls(card, sources, device=device, precision=precision, conv=conv)

    # ---- description --------------------------------------------------------------------
    @property
    def device_name(self) -> str:
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        n = torch.get_num_threads()
        return f"CPU ({n} thread{'' if n == 1 else 's'})"

    def describe(self) -> dict:
        summary = self.card.summary()
        for f in summary["files"]:
            f["sha256"] = self.file_hashes.get(f["role"], f.get("sha256"))
        return {
            "model_id": self.card.id,
            "model_name": self.card.name,
            "model": summary,
            "weights": [{"role": f["role"], "file": f["name"], "sha256": f["sha256"]} for f in summary["files"]]
            + packaged_weight_files(self.card.backbone),
            "device": str(self.device),
            "device_name": self.device_name,
            # the host CPU's model and vector instructions (engine/cpu.py): a CPU map's last bits depend on
            # the kernels they select, which 'CPU (N threads)' does not say
            "cpu": cpu_info() | {"torch_kernels": torch_kernels()},
            "dtype": str(self.dtype).replace("torch.", ""),  # the backbone's
            "decoder_dtype": str(self.decoder_dtype).replace("torch.", ""),
            "precision": "exact" if self.dtype == torch.float32 else "fast",
            # What was asked for: 'fast' may run fp32 on a CPU without native bf16.
            "precision_requested": self.precision,
            "decoder_convolution": self.net.conv_kernel,
            # TF32 is what makes CUDA fp32 differ from CPU fp32 (see exact_cuda_numerics)
            **({"cuda_tf32_convolutions": bool(torch.backends.cudnn.allow_tf32)} if self.device.type == "cuda" else {}),
            "versions": software_versions(),
        }

    # ---- the two stages (cacheable separately) ------------------------------------------
    def preprocess(self, image: LoadedImage | Image.Image) -> torch.Tensor:
        pil = image.squashed(self.input_size) if isinstance(image, LoadedImage) else image
        return to_tensor(pil, self.input_size, self.mean, self.std)

    @torch.inference_mode()
    def extract_features(self, batch: torch.Tensor) -> torch.Tensor:
        return self.net.features(batch.to(self.device, self.dtype))

    @torch.inference_mode()
    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """Features -> (B,256,256) float32 probabilities."""
        logits = self.net.decode(features.to(self.device))  # the net casts to the decoder's dtype
        return torch.sigmoid(logits.float())[:, 0]

    @torch.inference_mode()
    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        return self.decode(self.extract_features(batch))

    # ---- analysis -----------------------------------------------------------------------
    def analyze(self, image: ImageSource | LoadedImage, mode: str = "paper", progress: Progress | None = None,
                cancel: CancelFlag | None = None, tile_stride: int | None = None, tile_scale: float | None = None,
                batch_size: int = 8) -> AnalysisResult:
        """One image's result; ImageError if it cannot be read or does not fit in memory."""
        loaded = image if isinstance(image, LoadedImage) else load_image(image)
        if mode not in ("paper", "tiled"):
            raise DeclipError(f"unknown mode {mode!r}: use paper or tiled")
        try:
            if mode == "paper":
                return next(self._paper_batch([loaded], progress, cancel, 0, 1))
            return self._tiled(loaded, progress, cancel, tile_stride, tile_scale, batch_size)
        except (MemoryError, RuntimeError) as exc:
            if not _out_of_memory(exc):
                raise
            self._release_memory()
            raise self._no_memory(loaded) from None

    def analyze_many(self, images: Iterable[ImageSource], mode: str = "paper", batch_size: int = 8,
                     progress: Progress | None = None, cancel: CancelFlag | None = None,
                     **tile_args) -> Iterator[AnalysisResult | ImageError]:
        """Yield, in input order, an AnalysisResult or the ImageError that stopped that one input."""
        items = list(images)
        total = len(items)
        if mode == "tiled":
            for i, src in enumerate(items):
                _check(cancel)
                try:
                    yield self.analyze(src, mode="tiled", cancel=cancel, **tile_args)
                except ImageError as exc:
                    yield exc
                if progress:
                    progress(i + 1, total, "image")
            return
        done = 0
        for start in range(0, total, batch_size):
            _check(cancel)
            chunk = items[start:start + batch_size]
            loaded: list[LoadedImage | ImageError] = []
            for src in chunk:
                try:
                    loaded.append(src if isinstance(src, LoadedImage) else load_image(src))
                except ImageError as exc:
                    loaded.append(exc)
            good = [x for x in loaded if isinstance(x, LoadedImage)]
            results = iter(self._batch_or_each(good, cancel))
            for x in loaded:
                yield x if isinstance(x, ImageError) else next(results)
            done += len(chunk)
            if progress:
                progress(done, total, "image")

    def _batch_or_each(self, good: list[LoadedImage], cancel) -> list:
        """The batch's results in order. When memory runs out, each image again alone, and one that still
        does not fit gets its own ImageError: one image too large for this machine never stops a batch."""
        if not good:
            return []
        try:
            return list(self._paper_batch(good, None, cancel, 0, len(good)))
        except BrokenOutput as exc:  # the weights, not the images: every image of the batch says so
            return [ImageError(f"{x.name}: {exc.reason}") for x in good]
        except (MemoryError, RuntimeError) as exc:
            if not _out_of_memory(exc):
                raise
        self._release_memory()
        if len(good) == 1:
            return [self._no_memory(good[0])]
        out: list = []
        for x in good:
            try:
                out.extend(self._paper_batch([x], None, cancel, 0, 1))
            except (MemoryError, RuntimeError) as exc:
                if not _out_of_memory(exc):
                    raise
                self._release_memory()
                out.append(self._no_memory(x))
        return out

    def _no_memory(self, x: LoadedImage) -> ImageError:
        return ImageError(f"{x.name}: not enough memory to analyse this {x.width} x {x.height} image on {self.device_name}")

    def _release_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _base_metadata(self, loaded: LoadedImage, mode: str) -> dict:
        md = self.describe()
        md.update({"mode": mode, "created_utc": utc_now(), "image": loaded.info()})
        return md

    def _paper_batch(self, loaded: list[LoadedImage], progress, cancel, done, total) -> Iterator[AnalysisResult]:
        _check(cancel)
        t0 = time.perf_counter()
        batch = torch.stack([self.preprocess(x) for x in loaded])
        t1 = time.perf_counter()
        with torch.inference_mode():
            feats = self.extract_features(batch)
            t2 = time.perf_counter()
            probs = self.decode(feats).cpu()
        t3 = time.perf_counter()
        _check_finite(probs, [x.name for x in loaded])
        n = len(loaded)
        for i, x in enumerate(loaded):
            raw = probs[i].numpy().astype(np.float32, copy=True)
            t4 = time.perf_counter()
            full = resize_map(probs[i], x.height, x.width)
            md = self._base_metadata(x, "paper")
            md["input_size"] = self.input_size
            md["timings"] = {"preprocess_s": (t1 - t0) / n, "backbone_s": (t2 - t1) / n, "decoder_s": (t3 - t2) / n,
                             "resize_s": time.perf_counter() - t4, "batch_size": n}
            if progress:
                progress(done + i + 1, total, "image")
            yield AnalysisResult(probability=full, raw=raw, score=float(raw.mean()), metadata=md)

    def _tiled(self, loaded: LoadedImage, progress, cancel, stride, scale, batch_size) -> AnalysisResult:
        t0 = time.perf_counter()
        plan = plan_tiles(loaded.width, loaded.height, tile=self.input_size, stride=stride, scale=scale)
        scaled = loaded.rgb.resize((plan.scaled_w, plan.scaled_h), Image.BILINEAR)
        blender = Blender(plan)
        n = len(plan.boxes)
        t = plan.tile
        for start in range(0, n, batch_size):
            _check(cancel)
            boxes = plan.boxes[start:start + batch_size]
            batch = torch.stack([self.preprocess(scaled.crop((x, y, x + t, y + t))) for x, y in boxes])
            probs = self.predict(batch)
            _check_finite(probs, [loaded.name])
            probs = F.interpolate(probs[:, None], size=(t, t), mode="bilinear", align_corners=False)[:, 0]
            for box, p in zip(boxes, probs.cpu().numpy()):
                blender.add(box, p)
            if progress:
                progress(min(start + batch_size, n), n, "tile")
        blended = blender.result()
        full = resize_map(torch.from_numpy(blended), loaded.height, loaded.width)
        md = self._base_metadata(loaded, "tiled")
        md["tiling"] = plan.as_metadata()
        md["timings"] = {"total_s": time.perf_counter() - t0}
        return AnalysisResult(probability=full, raw=None, score=float(blended.mean()), metadata=md)


def _check(cancel: CancelFlag | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("analysis cancelled")


def _out_of_memory(exc: BaseException) -> bool:
    """torch reports a failed allocation as a RuntimeError (CPU) or OutOfMemoryError (CUDA)."""
    text = str(exc)
    return isinstance(exc, MemoryError) or "out of memory" in text or "can't allocate memory" in text


class BrokenOutput(ImageError):
    """The network gave NaN or infinite values: its weights are damaged or invalid (a map of zeros would
    read as 'nothing found', so no map is made)."""

    def __init__(self, names: list[str]):
        self.reason = ("the model's output is not a number (NaN or infinite values): its weights are damaged "
                       "or invalid; check them with `declip models verify`")
        super().__init__(f"{', '.join(names)}: {self.reason}")


def _check_finite(probs: torch.Tensor, names: list[str]) -> None:
    if not bool(torch.isfinite(probs).all()):
        raise BrokenOutput(names)
