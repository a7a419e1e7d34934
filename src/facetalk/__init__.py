"""facetalk: speech to expressive, lip-synced 3D facial animation."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from facetalk.animate import Animation, animate, write_animation

if TYPE_CHECKING:
    from facetalk.models.base import Animator

__version__ = "0.1.0"
__all__ = ["Animation", "__version__", "animate", "list_models", "load_model", "write_animation"]


def load_model(path: str | os.PathLike[str]) -> Animator:
    """Rebuild a trained model from a directory with `model.json` and `model.safetensors` (e.g. RUN_DIR/best)."""
    from facetalk.models import load_model as load

    return load(path)


def list_models() -> list[str]:
    """The names of the registered model builders."""
    from facetalk.models import MODELS

    return MODELS.names()
