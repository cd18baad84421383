"""DeCLIP Desktop engine: models and inference. No Qt here, ever."""
from .errors import Cancelled, CheckpointError, DeclipError, ImageError, ModelStoreError
from .images import LoadedImage, load_image
from .result import AnalysisResult


def __getattr__(name):
    # Detector pulls in torch/open_clip: import it lazily so `import engine` stays cheap.
    if name == "Detector":
        from .detector import Detector

        return Detector
    raise AttributeError(name)


__all__ = ["AnalysisResult", "Cancelled", "CheckpointError", "DeclipError", "Detector", "ImageError",
           "LoadedImage", "ModelStoreError", "load_image"]
