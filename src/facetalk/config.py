"""Typed training configs: dataclasses filled from YAML and `key=value` overrides (OmegaConf).

`load_config("configs/conv_baseline/debug.yaml", ["optim.lr=3e-4", "model.options.width=32"])`
merges the YAML file and then the overrides onto the defaults below. Unknown keys and values of the
wrong type are `InvalidInputError`s with one-line messages. `model.options`, `features.options` and
`loss` are free-form maps, passed to the registered builder or loss terms they configure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facetalk.errors import InvalidInputError


@dataclass
class SynthConfig:
    """A tiny synthetic corpus built (or reused) under the cache when `data.root` is empty.

    Attributes:
        build: build one; otherwise `data.root` is required.
        hours: speech to build at most.
        max_clips: clips to build at most.
        seed: the corpus seed.
        fps: motion frame rate.
    """

    build: bool = False
    hours: float = 1.0
    max_clips: int = 12
    seed: int = 0
    fps: float = 30.0


@dataclass
class DataConfig:
    """Which clips, cut how.

    Attributes:
        dataset: a registered dataset name (`facetalk.data.formats.DATASETS`).
        root: the dataset's directory.
        synth: build a tiny synthetic corpus instead of reading `root`.
        train_split: the split trained on.
        val_split: the split validated on.
        holdout_clips: when > 0, validate on the last this many clips of `train_split` instead of
            `val_split` (for tiny corpora without validation clips).
        target: "motion" (the dataset's primary motion) or "vertices" (its vertex motion).
        window: training window length in motion frames.
        stride: frames between window starts; 0 means `window`.
        batch_size: windows per step and process.
        max_clips: read at most this many clips per split; 0 reads all.
        audio: put each window's raw audio into batches (models that fine-tune an encoder).
        options: keyword arguments of the dataset adapter, e.g. `{on_bad: stop}` or BEAT's
            `{contempt: disgust}` (see docs/datasets.md).
    """

    dataset: str = "native"
    root: str = ""
    synth: SynthConfig = field(default_factory=SynthConfig)
    train_split: str = "train"
    val_split: str = "val"
    holdout_clips: int = 0
    target: str = "motion"
    window: int = 48
    stride: int = 0
    batch_size: int = 8
    max_clips: int = 0
    audio: bool = False
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class FeaturesConfig:
    """Speech features.

    Attributes:
        encoder: a registered speech encoder (`facetalk.audio.ENCODERS`): "mel", "whisper-tiny.en", ...
        options: keyword arguments of its builder.
        cache: the feature cache directory; empty means `<facetalk cache>/features`.
    """

    encoder: str = "mel"
    options: dict[str, Any] = field(default_factory=dict)
    cache: str = ""


@dataclass
class ModelConfig:
    """The model: a registered builder (`facetalk.models.MODELS`) and its keyword arguments.

    The recipe passes the data's sizes (`feature_dim`, `motion_dim`, `num_subjects`, `fps`, `kind`,
    `channels`); `options` adds the rest.
    """

    name: str = "conv_baseline"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then cosine decay to `min_lr_ratio * lr`, and gradient clipping.

    Attributes:
        grad_clip: maximum global gradient norm; 0 disables clipping.
    """

    lr: float = 1e-3
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0


@dataclass
class TrainConfig:
    """The loop.

    Attributes:
        seed: seeds the model's initialization, dropout and the data order.
        max_steps: optimizer steps.
        val_every: validate every this many steps (and after the last).
        checkpoint_every: checkpoint every this many steps (and after the last).
        patience: stop after this many validations without improvement; 0 never stops early.
        freeze_encoder_steps: keep the parameters under `encoder_prefix` fixed for this many steps
            (paper 001's frozen-then-unfrozen encoder warm-up); 0 trains them from the start.
        encoder_prefix: name prefix of the encoder's parameters.
        device: "cpu", "cuda", ...; under torchrun with CUDA each process uses its local GPU.
        num_threads: torch CPU threads; 0 leaves the default.
        progress: show a progress bar.
        tensorboard: also write TensorBoard logs (under RUN_DIR/tensorboard) beside the CSV logs.
    """

    seed: int = 0
    max_steps: int = 1000
    val_every: int = 100
    checkpoint_every: int = 100
    patience: int = 0
    freeze_encoder_steps: int = 0
    encoder_prefix: str = "encoder."
    device: str = "cpu"
    num_threads: int = 0
    progress: bool = True
    tensorboard: bool = True


@dataclass
class Config:
    """A training recipe. `loss` maps loss-term names (`facetalk.train.recipe.LOSS_TERMS`) to weights."""

    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: dict[str, float] = field(default_factory=lambda: {"reconstruction": 1.0})
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def _one_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def load_config(path: str | os.PathLike[str] | None = None, overrides: list[str] | tuple[str, ...] = (), *,
                base: Config | None = None) -> Config:  # fmt: skip
    """Defaults (or `base`), then the YAML file at `path`, then `key=value` overrides.

    Raises:
        InvalidInputError: a missing or malformed file, an unknown key or a value of the wrong type.
    """
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    merged = OmegaConf.structured(base if base is not None else Config)
    where = str(path) if path is not None else "config"
    if path is not None:
        try:
            loaded = OmegaConf.load(Path(path))
        except FileNotFoundError:
            raise InvalidInputError(f"{path}: no such config file") from None
        except Exception as exc:  # yaml errors of several kinds
            raise InvalidInputError(f"{path}: not a YAML config ({_one_line(exc)})") from None
        try:
            merged = OmegaConf.merge(merged, loaded)
            if isinstance(loaded, DictConfig) and "loss" in loaded:
                merged.loss = loaded.loss  # a recipe's loss terms replace the default ones instead of adding to them
        except OmegaConfBaseException as exc:
            raise InvalidInputError(f"{path}: {_one_line(exc)}") from None
    for override in overrides:
        if "=" not in override:
            raise InvalidInputError(f"override {override!r}: expected key=value")
        try:
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist([override]))
        except OmegaConfBaseException as exc:
            raise InvalidInputError(f"override {override!r}: {_one_line(exc)}") from None
    try:
        config = OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise InvalidInputError(f"{where}: {_one_line(exc)}") from None
    assert isinstance(config, Config)
    return config


def config_to_yaml(config: Config) -> str:
    """The config as YAML text (what a run writes as `RUN_DIR/config.yaml`)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.structured(config))
