"""DeCLIP Desktop engine: models and inference. No Qt here, ever.

Everything but the errors is imported on first use (PEP 562), so `import engine` and the
command line's start-up stay cheap: numpy, Pillow and torch load only when an image or a model
is touched.
"""
import os as _os

from .errors import Cancelled, CheckpointError, DeclipError, ImageError, ModelStoreError

# Torch's OpenMP (libgomp on Linux) keeps idle worker threads spinning by default. Torch takes every
# core, so any other runnable thread (our decode and writer threads, the GUI, another program) stalls
# a team member and the rest spin at each barrier: on 2 cores, one busy background process made a
# 12 MP analysis's network 3.3 s instead of 0.45 s; waiting passively gave 0.85 s, and on a quiet
# machine the same wall time with less CPU (research/README.md, "OpenMP wait policy"). The library
# reads the variable once, when torch loads, so it is set here, before any engine module imports
# torch. It changes no result, only scheduling; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_LAZY = {"Detector": ".detector", "LoadedImage": ".images", "load_image": ".images", "AnalysisResult": ".result"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AnalysisResult", "Cancelled", "CheckpointError", "DeclipError", "Detector", "ImageError",
           "LoadedImage", "ModelStoreError", "load_image"]
