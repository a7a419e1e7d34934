"""The interface every animator implements, typed model configs, and the model registry.

Training calls `forward(batch) -> ModelOutput` on padded batches; inference calls
`generate(batch) -> Motion` on a batch of one whole clip. Both batches come from one place,
`facetalk.models.inputs.InputPipeline`, which builds exactly the inputs a model declares in
`Animator.inputs` (keys and shapes: `facetalk.data.collate.collate`).

Each model registers a builder with `register_model(name, ConfigClass, presets=...)`: the config
class is a dataclass of the model's options, checked when a training config loads (a misspelled
option is a one-line error before any data is read); the builder takes that config and the data's
sizes (`DataSizes`); named presets such as `composite_regional_small` are the same builder with
other defaults. `build_model` records the name, sizes and options on the model (`model.spec`), which
is what `save_model` writes beside the safetensors weights and what `load_model` reads to rebuild it.
"""

from __future__ import annotations

import abc
import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np
import torch
from torch import nn

from facetalk.data.collate import Batch
from facetalk.errors import InvalidInputError
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.files import load_weights, save_weights
from facetalk.models.inputs import InputSpec
from facetalk.registry import Registry
from facetalk.types import Motion

if TYPE_CHECKING:
    from facetalk.face.parametric import ParametricFace
    from facetalk.train.objective import Objective, Optimizers

MODEL_CONFIG = "model.json"
MODEL_WEIGHTS = "model.safetensors"


@dataclass
class ModelOutput:
    """What `forward` predicts; losses are computed from it outside the model.

    Attributes:
        motion: predicted motion, shape (B, T, D).
        extras: further named predictions (logits, latents, regularizers) of models that have them.
        face: the parametric face layer the motion's parameters drive, for losses computed on
            vertices (models whose output is a face's parameters); None for the others.
    """

    motion: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    face: ParametricFace | None = None


@dataclass(frozen=True)
class Conditions:
    """What a clip is generated under, besides speech: what `InputPipeline.batch` puts into an inference batch.

    Attributes:
        subject: the speaker's index among the training subjects; -1 for an unseen speaker.
        emotion: per-frame emotion vectors, shape (T, 7); None keeps the clip's labels (or none).
        template: the neutral face, flattened (3V,); None keeps the clip's.
        style: a style reference motion, shape (T', D), in the data's units (the same channels and
            units as the model's output, e.g. metres for vertices): a clip whose speaking style the
            generated motion should take on; any length, unrelated to the speech.
        style_template: the neutral face (3V,) of the style reference's speaker, for vertex references.
    """

    subject: int = -1
    emotion: np.ndarray | None = None
    template: np.ndarray | None = None
    style: np.ndarray | None = None
    style_template: np.ndarray | None = None


@dataclass(frozen=True)
class DataSizes:
    """What a builder learns from the data: sizes, rate and kind of the motion.

    Attributes:
        feature_dim: C, speech feature channels (of the cached features or of the model's own encoder).
        motion_dim: D, motion channels (3V vertex coordinates, K blendshapes or P parameters).
        num_subjects: training speakers.
        fps: motion frames per second.
        kind: "blendshapes", "vertices" or "params".
        channels: channel names of blendshape or parameter motion; empty for vertices.
        text_dim: per-frame text feature channels (0 when the model reads no text).
    """

    feature_dim: int
    motion_dim: int = len(ARKIT_NAMES)
    num_subjects: int = 0
    fps: float = 30.0
    kind: str = "blendshapes"
    channels: tuple[str, ...] = ()
    text_dim: int = 0

    def channel_names(self) -> tuple[str, ...]:
        """`channels`, else ARKit's names for 52 blendshape channels, else none."""
        if self.channels:
            return tuple(self.channels)
        return ARKIT_NAMES if self.kind == "blendshapes" and self.motion_dim == len(ARKIT_NAMES) else ()


SIZE_FIELDS = tuple(f.name for f in dataclasses.fields(DataSizes))


@dataclass(frozen=True)
class ModelSpec:
    """How a model was built: a `MODELS` name and the builder's keyword arguments (sizes and options, JSON values)."""

    name: str
    kwargs: dict[str, Any]


class Animator(nn.Module, metaclass=abc.ABCMeta):
    """Base class of speech-to-motion models.

    Subclasses set `fps`, `kind` and `channels` (the `Motion` they produce) and `inputs` (what they
    read), and implement `forward`. `generate` runs `forward` on a batch of one whole clip; models
    that generate differently (autoregressively, say) override it. Modules only training needs
    (discriminators) live under the attribute names in `training_only`: checkpoints keep them, the
    `best/` model that inference loads does not.
    """

    fps: float
    kind: str
    channels: tuple[str, ...]
    inputs: InputSpec = InputSpec()
    training_only: ClassVar[tuple[str, ...]] = ()
    step_logs: tuple[str, ...] = ()
    """Values `train_step` logs besides the loss and the objective's terms (e.g. a discriminator's loss)."""
    spec: ModelSpec | None = None
    metadata: dict[str, Any]
    """What inference needs besides the weights, saved in `model.json`: `features` (the speech encoder
    name and options the model was trained on), `text` (the text embedder's, when it reads text) and
    `subjects` (the training speakers, in index order)."""

    def fit_feature_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Learn the training features' per-channel mean and std (C,) before training; default: ignore them."""

    def fit_template_mean(self, mean: torch.Tensor) -> None:
        """Learn the training speakers' mean neutral face (D,) before training; default: ignore it."""

    def fit_emotion_priors(self, priors: torch.Tensor) -> None:
        """Learn from the training frames' emotion priors (N, 7) before training (models that read
        `emotion_prior`); default: ignore them."""

    @abc.abstractmethod
    def forward(self, batch: Batch) -> ModelOutput:
        """Predict motion for a padded batch (see `facetalk.data.collate.collate` for its keys)."""

    @torch.no_grad()
    def generate(self, batch: Batch) -> Motion:
        """Motion for one whole clip, from a batch of one made by `InputPipeline.batch`."""
        was_training = self.training
        self.eval()
        try:
            data = self(batch).motion[0].cpu().numpy()  # (T, D)
        finally:
            self.train(was_training)
        if self.kind == "blendshapes":
            data = np.clip(data, 0.0, 1.0)
        return Motion(data, self.fps, self.kind, self.channels)  # type: ignore[arg-type]

    def clip_context(self, windows: Iterable[Batch]) -> dict[str, torch.Tensor]:
        """Values that the windows of one long clip share, computed over all its windows.

        `facetalk.models.windowed` generates long clips window by window; it passes this method the
        clip's non-overlapping windows first and adds what it returns to every window's batch. A
        model whose output depends on statistics of the whole clip returns them here, under batch
        keys its `forward` reads, so that windowed generation matches whole-clip generation.
        Default: nothing (the output at a frame depends on the inputs near it only).
        """
        return {}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters trained by optimizers of their own, by group name; always a group "model" (the default: all)."""
        return {"model": list(self.parameters())}

    def train_step(self, batch: Batch, objective: Objective, optimizers: Optimizers,
                   forward: Callable[[Batch], ModelOutput]) -> dict[str, torch.Tensor]:  # fmt: skip
        """One training step on `batch`; returns the logged values (`loss`, each objective term, `step_logs`).

        The default: predict, weigh the objective, update group "model". Adversarial models override it
        to alternate their groups (see `conv_baseline`'s discriminator).

        Args:
            batch: a training batch on the model's device.
            objective: the config's weighted loss terms.
            optimizers: one optimizer per `parameter_groups` group.
            forward: the model's forward as training should call it (wrapped for data parallelism).
        """
        output = forward(batch)
        loss, terms = objective(output, batch)
        optimizers.step("model", loss)
        return {"loss": loss, **terms}

    def inference_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict without the `training_only` modules."""
        prefixes = tuple(f"{name}." for name in self.training_only)
        return {name: tensor for name, tensor in self.state_dict().items() if not name.startswith(prefixes)}


ConfigT = TypeVar("ConfigT")


def _no_inputs_but_speech(config: Any) -> InputSpec:
    return InputSpec()


@dataclass(frozen=True)
class ModelEntry(Generic[ConfigT]):
    """A registered model: its options dataclass, its builder, what it reads, and the defaults of this name."""

    config: type[ConfigT]
    build: Callable[[ConfigT, DataSizes], Animator]
    inputs: Callable[[ConfigT], InputSpec] = _no_inputs_but_speech
    defaults: Mapping[str, Any] = field(default_factory=dict)


MODELS: Registry[ModelEntry[Any]] = Registry("model")


Builder = Callable[[ConfigT, DataSizes], Animator]


def register_model(name: str, config: type[ConfigT], *, inputs: Callable[[ConfigT], InputSpec] = _no_inputs_but_speech,
                   presets: Mapping[str, Mapping[str, Any]] | None = None,
                   ) -> Callable[[Builder[ConfigT]], Builder[ConfigT]]:  # fmt: skip
    """Register a builder `build(config, sizes)` as `name`, and each preset as `<name>_<preset>`.

    Args:
        name: the model's name.
        config: the dataclass of its options.
        inputs: what a model of a given config reads (the pipeline is set up from it before the model exists).
        presets: named option defaults.
    """

    def add(build: Builder[ConfigT]) -> Builder[ConfigT]:
        MODELS.register(name)(ModelEntry(config, build, inputs))
        for preset, defaults in (presets or {}).items():
            MODELS.register(f"{name}_{preset}")(ModelEntry(config, build, inputs, dict(defaults)))
        return build

    return add


def model_inputs(name: str, options: Mapping[str, Any]) -> InputSpec:
    """What model `name` with `options` reads."""
    return MODELS.get(name).inputs(model_config(name, options))


def model_config(name: str, options: Mapping[str, Any]) -> Any:
    """The options dataclass of model `name` filled from its preset defaults and `options`.

    Raises:
        InvalidInputError: an unknown model, an unknown option or a value of the wrong type (one line).
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    entry = MODELS.get(name)
    known = [f.name for f in dataclasses.fields(entry.config)]
    for key in options:
        if key not in known:
            raise InvalidInputError(f"model {name}: unknown option {key!r} (options: {', '.join(known) or 'none'})")
    try:
        merged = OmegaConf.merge(OmegaConf.structured(entry.config), dict(entry.defaults), dict(options))
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise InvalidInputError(f"model {name}: {str(exc).strip().splitlines()[0]}") from None


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def build_model(name: str, **kwargs: Any) -> Animator:
    """Build the model registered as `name` from data sizes (`DataSizes` fields) and options, and record how on `model.spec`."""
    sizes = {key: kwargs.pop(key) for key in SIZE_FIELDS if key in kwargs}
    if "channels" in sizes:
        sizes["channels"] = tuple(sizes["channels"] or ())
    config = model_config(name, kwargs)
    entry = MODELS.get(name)
    model = entry.build(config, DataSizes(**sizes))
    model.inputs = entry.inputs(config)
    model.spec = ModelSpec(name, _json_value({**sizes, **kwargs}))
    model.metadata = {}
    return model


def save_model(model: Animator, directory: str | os.PathLike[str], *, half: bool = False, inference: bool = False) -> Path:
    """Write `model.json` (its spec) and `model.safetensors` (its weights) into `directory`, atomically.

    Args:
        model: a model made by `build_model`.
        directory: where to write.
        half: store the parameters as float16 (half the size, for shipping); buffers such as feature
            statistics stay float32. `load_model` casts them back to float32.
        inference: leave out the `training_only` modules (what a shipped or `best/` model holds).
    """
    if model.spec is None:
        raise ValueError("only models made by build_model can be saved (they carry their spec)")
    parameters = {name for name, _ in model.named_parameters()}
    tensors = model.inference_state_dict() if inference else model.state_dict()
    state = {name: tensor.half() if half and name in parameters and tensor.is_floating_point() else tensor
             for name, tensor in tensors.items()}  # fmt: skip
    config = {"name": model.spec.name, "kwargs": model.spec.kwargs, "metadata": model.metadata}
    return save_weights(directory, state, config, weights_name=MODEL_WEIGHTS, config_name=MODEL_CONFIG)


def load_model(path: str | os.PathLike[str]) -> Animator:
    """Rebuild a model from a directory holding `model.json` and `model.safetensors`, in eval mode.

    A model saved for inference lacks its `training_only` modules; they keep their initial weights.
    """
    spec, state = load_weights(path, weights_name=MODEL_WEIGHTS, config_name=MODEL_CONFIG, what="model")
    model = build_model(spec["name"], **spec["kwargs"])
    missing, unexpected = model.load_state_dict(state, strict=False)
    prefixes = tuple(f"{name}." for name in model.training_only)
    missing = [name for name in missing if not name.startswith(prefixes)]
    if missing or unexpected:
        raise InvalidInputError(f"{path}: the weights do not fit model {spec['name']!r} "
                                f"(missing {missing[:3]}, unexpected {unexpected[:3]})")  # fmt: skip
    model.metadata = dict(spec.get("metadata", {}))
    return model.eval()


def pretrained_path(name: str) -> Path:
    """The directory of the model shipped as `weights/<name>`."""
    from facetalk.assets import weights_path

    path = weights_path(name)
    if path is None or not (path / MODEL_CONFIG).is_file():
        raise InvalidInputError(f"no shipped model named {name!r} (weights/{name}); give a model directory instead")
    return path


def open_model(model: str | os.PathLike[str]) -> tuple[Animator, Path]:
    """A model from a directory holding `model.json`, or the shipped model of that name; and its directory."""
    directory = Path(model)
    if not (directory / MODEL_CONFIG).is_file():
        directory = pretrained_path(str(model))
    return load_model(directory), directory

