"""The CPU a result was computed on: its model name and the vector instruction sets that torch's and
OpenCV's kernels choose between.

Why: a CPU map's last bits depend on the kernels that ran, and torch and OpenCV pick them by the CPU's
vector instructions (AVX2, AVX-512, AVX-512 bf16, AMX; NEON, SVE, bf16 on ARM). A result that says only
'CPU (2 threads)' cannot explain a difference between two machines; this record can. Read once per
process (cached) and never raises: what cannot be read is None or an empty list.
"""
from __future__ import annotations

import functools
import platform
import subprocess
import sys

# The flags that choose kernels, as Linux's /proc/cpuinfo names them (other systems' names are mapped
# to these), in this order. Base SSE2/NEON are left out: every supported machine has them.
X86 = ("sse4_1", "sse4_2", "avx", "f16c", "fma", "avx2", "avx_vnni", "avx512f", "avx512dq", "avx512bw",
       "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16")
ARM = ("asimdhp", "asimddp", "bf16", "i8mm", "sve", "sve2", "sme")
KNOWN = X86 + ARM

# Windows: IsProcessorFeaturePresent's numbers (winnt.h) for the flags it can tell
_WINDOWS = {"sse4_1": 37, "sse4_2": 38, "avx": 39, "avx2": 40, "avx512f": 41}
# macOS: sysctl names (hw.optional.*) of ARM features, and x86 feature words (machdep.cpu.*)
_MAC_ARM = {"hw.optional.arm.FEAT_FP16": "asimdhp", "hw.optional.arm.FEAT_DotProd": "asimddp",
            "hw.optional.arm.FEAT_BF16": "bf16", "hw.optional.arm.FEAT_I8MM": "i8mm",
            "hw.optional.arm.FEAT_SME": "sme"}
_MAC_X86 = {"SSE4.1": "sse4_1", "SSE4.2": "sse4_2", "AVX1.0": "avx", "F16C": "f16c", "FMA": "fma", "AVX2": "avx2",
            "AVX512F": "avx512f", "AVX512DQ": "avx512dq", "AVX512BW": "avx512bw", "AVX512VL": "avx512vl",
            "AVX512VNNI": "avx512_vnni"}


def cpu_info() -> dict:
    """{"model": name or None, "architecture": "x86_64"/"arm64"/..., "vector_extensions": [flags]}."""
    cached = _cached()
    return dict(cached, vector_extensions=list(cached["vector_extensions"]))


@functools.lru_cache(maxsize=1)
def _cached() -> dict:
    try:
        model, flags = _read()
    except Exception:  # a description must never fail an analysis
        model, flags = None, set()
    try:
        arch = platform.machine() or None
    except Exception:
        arch = None
    return {"model": " ".join(model.split()) if isinstance(model, str) and model.strip() else None,
            "architecture": arch, "vector_extensions": [f for f in KNOWN if f in flags]}


def _read() -> tuple[str | None, set[str]]:
    if sys.platform.startswith("linux"):
        return parse_proc_cpuinfo(_text("/proc/cpuinfo"))
    if sys.platform == "win32":
        return _windows()
    if sys.platform == "darwin":
        return _mac()
    return (platform.processor() or None), set()


def parse_proc_cpuinfo(text: str) -> tuple[str | None, set[str]]:
    """(model name, flags) of the first processor in /proc/cpuinfo (x86 'model name'/'flags'; ARM
    'Features', and a model from 'Hardware' or 'CPU part' where no name is given)."""
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and model is None and value.strip():
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
        elif not line.strip() and model and flags:
            break  # the first processor is enough: all cores of a machine report the same
    return model, flags


def _text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read(1 << 20)


def _windows() -> tuple[str | None, set[str]]:
    model = None
    try:
        import winreg

        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"HARDWARE\DESCRIPTION\System\CentralProcessor\0") as key:
            model = str(winreg.QueryValueEx(key, "ProcessorNameString")[0])
    except Exception:
        model = platform.processor() or None
    flags = set()
    try:
        import ctypes

        present = ctypes.windll.kernel32.IsProcessorFeaturePresent
        flags = {name for name, n in _WINDOWS.items() if present(n)}
    except Exception:
        pass
    return model, flags


def _sysctl(*names: str) -> dict[str, str]:
    try:
        out = subprocess.run(["sysctl", *names], capture_output=True, text=True, timeout=5).stdout
    except Exception:
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v}


def _mac() -> tuple[str | None, set[str]]:
    got = _sysctl("machdep.cpu.brand_string", "machdep.cpu.features", "machdep.cpu.leaf7_features", *_MAC_ARM)
    words = (got.get("machdep.cpu.features", "") + " " + got.get("machdep.cpu.leaf7_features", "")).split()
    flags = {_MAC_X86[w] for w in words if w in _MAC_X86}
    flags |= {name for key, name in _MAC_ARM.items() if got.get(key) == "1"}
    return got.get("machdep.cpu.brand_string") or platform.processor() or None, flags


def torch_kernels() -> str | None:
    """The vector instruction set torch's CPU kernels were dispatched to ('AVX512', 'AVX2', 'DEFAULT'...):
    what torch actually uses, which ATEN_CPU_CAPABILITY can lower. Only when torch is already loaded."""
    torch = sys.modules.get("torch")
    try:
        return str(torch.backends.cpu.get_cpu_capability()) if torch is not None else None
    except Exception:
        return None


def cpu_text(cpu: dict | None) -> str:
    """'AMD EPYC, avx2 avx512f avx512_bf16 (torch kernels AVX512)' for a report or a metadata view."""
    if not isinstance(cpu, dict):
        return ""
    ext = [str(x) for x in cpu.get("vector_extensions") or []]
    text = str(cpu.get("model") or "model not known")
    text += f", {' '.join(ext)}" if ext else ", vector extensions not known"
    if cpu.get("torch_kernels"):
        text += f" (torch kernels {cpu['torch_kernels']})"
    return text


def is_cpu(device) -> bool:
    """A result's recorded device ('cpu', 'cuda:0', 'mps', None) names a CPU."""
    return str(device or "").startswith("cpu")


def cpu_text_if_cpu(device, cpu: dict | None) -> str:
    """cpu_text(cpu) when the device is a CPU, else "" (and "" when no CPU was recorded). Why: only a CPU
    map's last bits depend on this CPU's kernels; beside a GPU's name the host CPU would only mislead."""
    return cpu_text(cpu) if is_cpu(device) else ""
