"""Error types of the engine.

Every error a user can provoke with a bad file is a DeclipError whose str() is one
clear line naming the file, what was expected and what was found. Front-ends print
str(err) and never a traceback.
"""


class DeclipError(Exception):
    """Base class: a problem with user input, stated in one line."""


class ImageError(DeclipError):
    """An image that cannot be read: corrupt, truncated, too large or not an image."""


class CheckpointError(DeclipError):
    """A weights file that is unsafe, truncated, or does not match the expected model."""


class ModelStoreError(DeclipError):
    """A model store operation that cannot be done (unknown id, duplicate import, ...)."""


class Cancelled(DeclipError):
    """Raised inside long operations when the caller's cancel flag is set."""
