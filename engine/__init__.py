"""DeCLIP Desktop engine: models and inference. No Qt here, ever.

Everything but the errors is imported on first use (PEP 562), so `import engine` and the
command line's start-up stay cheap: numpy, Pillow and torch load only when an image or a model
is touched.
"""
from .errors import Cancelled, CheckpointError, DeclipError, ImageError, ModelStoreError

_LAZY = {"Detector": ".detector", "LoadedImage": ".images", "load_image": ".images", "AnalysisResult": ".result"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AnalysisResult", "Cancelled", "CheckpointError", "DeclipError", "Detector", "ImageError",
           "LoadedImage", "ModelStoreError", "load_image"]
