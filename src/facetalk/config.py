"""Typed training configs: dataclasses filled from YAML and `key=value` overrides (OmegaConf).

`load_config("configs/conv_baseline/debug.yaml", ["optim.lr=3e-4", "model.options.width=32"])`
merges the YAML file and then the overrides onto the defaults below. Unknown keys and values of the
wrong type are `InvalidInputError`s with one-line messages, and so are the free-form maps once they
are checked against what they configure (`check_config`, called by `load_config`): `model.options`
against the model's config dataclass, `loss` entries against the loss-term registry, `data.options`
against the dataset adapter, `optim.groups` against the optimizer settings. All of this happens
before any data is read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facetalk.errors import FacetalkError, InvalidInputError


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
class StyleConfig:
    """Style references of training windows (`facetalk.data.windows.StyleSampler`).

    Attributes:
        reference: "self" (the window's own motion: paper 001's training setting), "same_speaker" (a
            random crop of another clip of the same speaker), "same_emotion" (a crop of another clip
            of the same speaker with the window's emotion label) or "none".
        frames: crop length of `same_speaker` and `same_emotion` references in motion frames; 0 takes whole clips.
    """

    reference: str = "self"
    frames: int = 0


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
        style: how each training window gets a style reference motion (models that read one).
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
    style: StyleConfig = field(default_factory=StyleConfig)
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
class TextConfig:
    """Per-frame text features, for models that read text.

    Attributes:
        embedder: a registered text embedder: "minilm" (offline default) or "hf" (a local language
            model directory, `options: {path: DIR}`).
        options: keyword arguments of its builder (`layer`, `pooling`, `path`).
    """

    embedder: str = "minilm"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """The model: a registered name (`facetalk.models.MODELS`) and its options (the fields of its config dataclass).

    The recipe passes the data's sizes (`facetalk.models.base.DataSizes`); `options` sets the rest.
    """

    name: str = "conv_baseline"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then cosine decay to `min_lr_ratio * lr`, and gradient clipping.

    A model may train several parameter groups with optimizers of their own (a generator and a
    discriminator); each uses these settings, overridden by its entry in `groups`.

    Attributes:
        grad_clip: maximum global gradient norm; 0 disables clipping.
        groups: per parameter group (`Animator.parameter_groups`), settings that differ from the
            ones above, e.g. `{discriminator: {lr: 1e-4}}`.
    """

    lr: float = 1e-3
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)


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
    """A training recipe.

    `loss` maps loss-term names (`facetalk.train.objective.LOSS_TERMS`) to a weight, or to
    `{weight: w, options: {...}}` for terms that take options.
    """

    data: DataConfig = field(default_factory=DataConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: dict[str, Any] = field(default_factory=lambda: {"reconstruction": 1.0})
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
    check_config(config, where)
    return config


def check_config(config: Config, where: str = "config") -> None:
    """Check the free-form parts of a config against what they configure; one-line errors naming the key.

    Raises:
        InvalidInputError: an unknown model option, loss term, loss option, dataset option, style
            reference or optimizer setting, or a value of the wrong type.
    """
    from facetalk.data.formats import check_dataset_options
    from facetalk.data.windows import StyleSampler
    from facetalk.models.base import model_config
    from facetalk.train.objective import parse_loss

    try:
        model_config(config.model.name, config.model.options)
        parse_loss(config.loss)
        check_dataset_options(config.data.dataset, config.data.options)
        StyleSampler(config.data.style.reference, config.data.style.frames)  # type: ignore[arg-type]
        optim_fields = set(OptimConfig.__dataclass_fields__) - {"groups"}
        for group, settings in config.optim.groups.items():
            unknown = sorted(set(settings) - optim_fields)
            if unknown:
                known = ", ".join(sorted(optim_fields))
                raise InvalidInputError(f"optim.groups.{group}: unknown setting {unknown[0]!r} (settings: {known})")
    except FacetalkError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None


def config_to_yaml(config: Config) -> str:
    """The config as YAML text (what a run writes as `RUN_DIR/config.yaml`)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.structured(config))
