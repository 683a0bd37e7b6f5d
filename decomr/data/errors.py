"""The error of a corrupt dataset file, shared by the dataset loaders and the IUV image files."""
from __future__ import annotations

__all__ = ["CorruptDataError"]


class CorruptDataError(ValueError):
    """A corrupt image or a malformed record in an official dataset (the message says which)."""
