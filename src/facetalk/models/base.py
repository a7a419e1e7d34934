"""The interface every animator implements, and the model registry.

Training calls `forward(batch) -> ModelOutput` on padded batches (keys in
`facetalk.data.collate.collate`); inference calls `generate(features, conditions) -> Motion` on one
clip of any length. Builders registered in `MODELS` pin a model's sizes; `build_model` records the
builder's name and arguments on the model (`model.spec`), which is what `save_model` writes beside
the safetensors weights and what `load_model` reads to rebuild it.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from facetalk.audio.encoders import SpeechEncoder
from facetalk.data.collate import Batch
from facetalk.errors import InvalidInputError
from facetalk.files import load_weights, save_weights
from facetalk.registry import Registry
from facetalk.types import Motion

MODEL_CONFIG = "model.json"
MODEL_WEIGHTS = "model.safetensors"


@dataclass
class ModelOutput:
    """What `forward` predicts; losses are computed from it outside the model.

    Attributes:
        motion: predicted motion, shape (B, T, D).
        extras: further named predictions (logits, latents) of models that have them.
    """

    motion: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class Conditions:
    """What a clip is generated under, besides speech.

    Attributes:
        subject: the speaker's index among the training subjects; -1 for an unseen speaker.
        emotion: per-frame emotion vectors, shape (T, 7).
        template: the neutral face, flattened (3V,).
        style: a style reference motion, shape (T', D), in the data's units (the same channels and
            units as the model's output, e.g. metres for vertices): a clip whose speaking style the
            generated motion should take on; any length, unrelated to the speech.
    """

    subject: int = -1
    emotion: np.ndarray | None = None
    template: np.ndarray | None = None
    style: np.ndarray | None = None


@dataclass(frozen=True)
class ModelSpec:
    """How a model was built: a `MODELS` name and the builder's keyword arguments (JSON values)."""

    name: str
    kwargs: dict[str, Any]


class Animator(nn.Module, metaclass=abc.ABCMeta):
    """Base class of speech-to-motion models.

    Subclasses set `fps`, `kind` and `channels` (the `Motion` they produce) and implement `forward`.
    `generate` runs `forward` on a batch of one; models that generate differently override it.
    """

    fps: float
    kind: str
    channels: tuple[str, ...]
    spec: ModelSpec | None = None
    metadata: dict[str, Any]
    """What inference needs besides the weights, saved in `model.json`: `features` (the speech encoder
    name and options the model was trained on) and `subjects` (the training speakers, in index order)."""

    def fit_feature_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Learn the training features' per-channel mean and std (C,) before training; default: ignore them."""

    def fit_template_mean(self, mean: torch.Tensor) -> None:
        """Learn the training speakers' mean neutral face (D,) before training; default: ignore it."""

    @abc.abstractmethod
    def forward(self, batch: Batch) -> ModelOutput:
        """Predict motion for a padded batch (see `facetalk.data.collate.collate` for its keys)."""

    @torch.no_grad()
    def generate(self, features: np.ndarray | torch.Tensor, conditions: Conditions | None = None) -> Motion:
        """Motion for one clip.

        Args:
            features: speech features at the motion frame rate, shape (T, C).
            conditions: speaker, emotion, template and style reference; default: unseen speaker, no emotion.
        """
        conditions = conditions or Conditions()
        was_training = self.training
        self.eval()
        try:
            x = torch.as_tensor(np.asarray(features, dtype=np.float32))[None]  # (1, T, C)
            batch: Batch = {"features": x, "mask": torch.ones(x.shape[:2]), "subject": torch.tensor([conditions.subject])}
            if conditions.emotion is not None:
                batch["emotion"] = torch.as_tensor(np.asarray(conditions.emotion, dtype=np.float32))[None]
            if conditions.template is not None:
                batch["template"] = torch.as_tensor(np.asarray(conditions.template, dtype=np.float32))[None]
            if conditions.style is not None:
                style = torch.as_tensor(np.asarray(conditions.style, dtype=np.float32))[None]  # (1, T', D)
                batch["style"], batch["style_mask"] = style, torch.ones(style.shape[:2])
            data = self(batch).motion[0].cpu().numpy()  # (T, D)
        finally:
            self.train(was_training)
        if self.kind == "blendshapes":
            data = np.clip(data, 0.0, 1.0)
        return Motion(data, self.fps, self.kind, self.channels)  # type: ignore[arg-type]


ModelBuilder = Callable[..., Animator]
MODELS: Registry[ModelBuilder] = Registry("model")


def build_model(name: str, **kwargs: Any) -> Animator:
    """Build the model registered as `name` and record how on `model.spec`."""
    model = MODELS.get(name)(**kwargs)
    model.spec = ModelSpec(name, dict(kwargs))
    model.metadata = {}
    return model


def save_model(model: Animator, directory: str | os.PathLike[str], *, half: bool = False) -> Path:
    """Write `model.json` (its spec) and `model.safetensors` (its weights) into `directory`, atomically.

    Args:
        model: a model made by `build_model`.
        directory: where to write.
        half: store the parameters as float16 (half the size, for shipping); buffers such as feature
            statistics stay float32. `load_model` casts them back to float32.
    """
    if model.spec is None:
        raise ValueError("only models made by build_model can be saved (they carry their spec)")
    parameters = {name for name, _ in model.named_parameters()}
    state = {name: tensor.half() if half and name in parameters and tensor.is_floating_point() else tensor
             for name, tensor in model.state_dict().items()}  # fmt: skip
    config = {"name": model.spec.name, "kwargs": model.spec.kwargs, "metadata": model.metadata}
    return save_weights(directory, state, config, weights_name=MODEL_WEIGHTS, config_name=MODEL_CONFIG)


def load_model(path: str | os.PathLike[str]) -> Animator:
    """Rebuild a model from a directory holding `model.json` and `model.safetensors`, in eval mode."""
    spec, state = load_weights(path, weights_name=MODEL_WEIGHTS, config_name=MODEL_CONFIG, what="model")
    model = build_model(spec["name"], **spec["kwargs"])
    model.load_state_dict(state)
    model.metadata = dict(spec.get("metadata", {}))
    return model.eval()


def pretrained_path(name: str) -> Path:
    """The directory of the model shipped as `weights/<name>`."""
    from facetalk.assets import weights_path

    path = weights_path(name)
    if path is None or not (path / MODEL_CONFIG).is_file():
        raise InvalidInputError(f"no shipped model named {name!r} (weights/{name}); give a model directory instead")
    return path


def feature_encoder(model: Animator) -> SpeechEncoder:
    """The speech encoder whose features `model` was trained on (from its metadata)."""
    from facetalk.audio import build_encoder

    features = model.metadata.get("features")
    if not features:
        raise InvalidInputError(f"model {model.spec.name if model.spec else '?'}: no speech-feature settings saved with it")
    return build_encoder(features["encoder"], **features.get("options", {}))
