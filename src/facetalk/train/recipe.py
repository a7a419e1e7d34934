"""Wiring from a config: dataset by registry name, features by encoder name, model by registry name,
loss terms by name. Everything here is plain code that the loop calls once."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facetalk.config import Config, DataConfig, FeaturesConfig
from facetalk.data.cache import FeatureCache, settings_hash
from facetalk.data.collate import Batch
from facetalk.data.sample import Sample
from facetalk.data.windows import UNKNOWN_SUBJECT, ClipArrays, WindowDataset
from facetalk.errors import InvalidInputError
from facetalk.models.base import Animator, ModelOutput, build_model
from facetalk.train import losses
from facetalk.train.distributed import DistInfo, barrier

LossTerm = Callable[[ModelOutput, Batch], torch.Tensor]

LOSS_TERMS: dict[str, LossTerm] = {
    "reconstruction": lambda out, batch: losses.reconstruction_loss(out.motion, batch["motion"], mask=batch["mask"], kind="l2"),
    "reconstruction_l1": lambda out, batch: losses.reconstruction_loss(
        out.motion, batch["motion"], mask=batch["mask"], kind="l1"
    ),
    "velocity": lambda out, batch: losses.velocity_loss(out.motion, batch["motion"], mask=batch["mask"], kind="l2"),
    "sparsity": lambda out, batch: losses.sparsity_loss(out.motion, mask=batch["mask"]),
    "frame_l2": lambda out, batch: losses.frame_norm_loss(out.motion, batch["motion"], mask=batch["mask"]),
    "embedding_l1": lambda out, batch: out.extras["embedding_l1"],  # paper 001's ‖W‖₁ (models that have one)
}
"""Loss terms a config can weight by name (`loss: {reconstruction: 1.0, velocity: 0.5}`)."""


@dataclass
class Recipe:
    """What the loop trains: the model, the windows to train and validate on, and the objective."""

    model: Animator
    train_set: WindowDataset
    val_set: WindowDataset
    subjects: list[str]
    loss_weights: dict[str, float]

    def loss(self, output: ModelOutput, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted total and each term."""
        terms = {name: LOSS_TERMS[name](output, batch) for name in self.loss_weights}
        total = sum((weight * terms[name] for name, weight in self.loss_weights.items()), torch.zeros(()))
        return total, terms


def corpus_root(data: DataConfig, cache: Path) -> Path:
    """The dataset directory: `data.root`, or the cached synthetic corpus `data.synth` describes."""
    if data.root:
        return Path(data.root).expanduser()
    if not data.synth.build:
        raise InvalidInputError("config: data.root is empty; set data.root=DIR or data.synth.build=true")
    return cache / "corpora" / f"debug-{settings_hash(asdict(data.synth))}"


def ensure_corpus(data: DataConfig, cache: Path) -> Path:
    """Build the synthetic corpus of `data.synth` if it is asked for and missing; return the dataset root."""
    root = corpus_root(data, cache)
    if not data.root:
        info = root / "corpus.json"
        if not (info.is_file() and json.loads(info.read_text()).get("complete")):
            from facetalk.synth.build import build_corpus

            s = data.synth
            build_corpus(root, hours=s.hours, seed=s.seed, fps=s.fps, max_clips=s.max_clips, word_semantics=False, progress=False)
    return root


def _clip_arrays(sample: Sample, *, features: np.ndarray, subject: int, data: DataConfig) -> ClipArrays:
    if data.target == "motion":
        motion = sample.motion
    elif data.target == "vertices":
        vertex_motion = sample.vertex_motion()
        if vertex_motion is None:
            raise InvalidInputError(f"{sample.dataset}/{sample.clip_id}: data.target=vertices but the clip has no vertices")
        motion = vertex_motion
    else:
        raise InvalidInputError(f"config: data.target must be motion or vertices, got {data.target!r}")
    template = sample.template.reshape(-1) if sample.template is not None and data.target == "vertices" else None
    return ClipArrays(clip_id=sample.clip_id, features=features, motion=motion.data, fps=motion.fps, subject=subject,
                      emotion=sample.emotion_frames(), template=template,
                      audio=sample.audio.samples if data.audio else None, sample_rate=sample.audio.sample_rate)  # fmt: skip


def load_clips(data: DataConfig, root: Path, split: str) -> list[Sample]:
    """The samples of one split (at most `data.max_clips`)."""
    from facetalk.data.formats import open_dataset

    dataset = open_dataset(data.dataset, root, split=split, **data.options)
    # Iterate rather than index: iteration passes over bad clips (the adapter warns about each one).
    return list(itertools.islice(dataset, data.max_clips if data.max_clips > 0 else None))


def encode_clips(samples: list[Sample], features: FeaturesConfig, cache: Path, dataset_key: str) -> list[np.ndarray]:
    """Speech features of each sample at its motion frame rate, (T, C) each, via the feature cache."""
    from facetalk.audio import build_encoder
    from facetalk.audio.rate import match_frames

    store = FeatureCache(Path(features.cache).expanduser() if features.cache else cache / "features")
    encoder = None
    out = []
    for sample in samples:
        settings = {"options": features.options, "fps": sample.fps}

        def compute(sample: Sample = sample) -> np.ndarray:
            nonlocal encoder
            encoder = encoder or build_encoder(features.encoder, **features.options)
            return encoder.encode_at(sample.audio, sample.fps)  # (T, C)

        feats = store.get(dataset=dataset_key, clip_id=sample.clip_id, encoder=features.encoder, settings=settings,
                          waveform=sample.audio, compute=compute)  # fmt: skip
        out.append(match_frames(np.asarray(feats), sample.num_frames))
    return out


def build_recipe(config: Config, dist: DistInfo, cache: Path) -> Recipe:
    """Read the data (rank 0 builds missing corpora and features first), then build the model."""
    data = config.data
    if dist.is_main:
        root = ensure_corpus(data, cache)
    barrier(dist)
    root = corpus_root(data, cache)
    dataset_key = f"{data.dataset}-{settings_hash({'root': str(root.resolve())})}"

    def arrays(split: str) -> tuple[list[Sample], list[np.ndarray]]:
        samples = load_clips(data, root, split)
        return samples, encode_clips(samples, config.features, cache, dataset_key)

    if dist.is_main:
        train_samples, train_features = arrays(data.train_split)
    barrier(dist)  # features are cached now
    if not dist.is_main:
        train_samples, train_features = arrays(data.train_split)
    if data.holdout_clips > 0:
        if data.holdout_clips >= len(train_samples):
            raise InvalidInputError(f"config: data.holdout_clips={data.holdout_clips} leaves no training clips")
        val_samples, val_features = train_samples[-data.holdout_clips :], train_features[-data.holdout_clips :]
        train_samples, train_features = train_samples[: -data.holdout_clips], train_features[: -data.holdout_clips]
    else:
        val_samples, val_features = arrays(data.val_split)
    if not train_samples or not val_samples:
        raise InvalidInputError(f"{root}: no {'training' if not train_samples else 'validation'} clips in this config's splits")
    subjects = sorted({s.subject for s in train_samples})
    index = {subject: i for i, subject in enumerate(subjects)}

    def clips(samples: list[Sample], feats: list[np.ndarray]) -> list[ClipArrays]:
        return [
            _clip_arrays(s, features=f, subject=index.get(s.subject, UNKNOWN_SUBJECT), data=data)
            for s, f in zip(samples, feats, strict=True)
        ]

    train_clips, val_clips = clips(train_samples, train_features), clips(val_samples, val_features)
    train_set = WindowDataset(train_clips, length=data.window, stride=data.stride or None)
    val_set = WindowDataset(val_clips, length=None)
    first = train_samples[0]
    motion = first.motion if data.target == "motion" else first.vertex_motion()
    assert motion is not None
    sizes: dict[str, Any] = {"feature_dim": int(train_clips[0].features.shape[1]), "motion_dim": int(motion.data.shape[1]),
                             "num_subjects": len(subjects), "fps": float(motion.fps), "kind": motion.kind,
                             "channels": list(motion.channels)}  # fmt: skip
    unknown = sorted(set(config.loss) - set(LOSS_TERMS))
    if unknown:
        raise InvalidInputError(f"config: unknown loss term {unknown[0]!r} (known: {', '.join(sorted(LOSS_TERMS))})")
    torch.manual_seed(config.train.seed)
    model = build_model(config.model.name, **{**sizes, **config.model.options})
    model.metadata = {"features": {"encoder": config.features.encoder, "options": dict(config.features.options)},
                      "subjects": subjects}  # fmt: skip
    all_features = np.concatenate([clip.features for clip in train_clips])  # (sum of T, C)
    model.fit_feature_stats(torch.from_numpy(all_features.mean(axis=0)), torch.from_numpy(all_features.std(axis=0)))
    templates = [clip.template for clip in train_clips if clip.template is not None]
    if templates:
        model.fit_template_mean(torch.from_numpy(np.mean(templates, axis=0).astype(np.float32)))
    return Recipe(model=model, train_set=train_set, val_set=val_set, subjects=subjects, loss_weights=dict(config.loss))
