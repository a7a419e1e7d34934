"""Wiring from a config: dataset by registry name, inputs by the model's declaration, model by registry
name, loss terms by name. Everything here is plain code that the loop calls once."""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from facetalk.config import Config, DataConfig
from facetalk.data.cache import dataset_key, settings_hash
from facetalk.data.sample import Sample
from facetalk.data.windows import UNKNOWN_SUBJECT, ClipArrays, StyleSampler, WindowDataset
from facetalk.errors import InvalidInputError
from facetalk.models.base import Animator, DataSizes, build_model, model_inputs
from facetalk.models.inputs import FeatureSettings, InputPipeline, TextSettings, cache_root
from facetalk.train.distributed import DistInfo, barrier
from facetalk.train.objective import Objective


@dataclass
class Recipe:
    """What the loop trains: the model, the windows to train and validate on, and the objective."""

    model: Animator
    train_set: WindowDataset
    val_set: WindowDataset
    subjects: list[str]
    objective: Objective


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


def load_clips(data: DataConfig, root: Path, split: str) -> list[Sample]:
    """The samples of one split (at most `data.max_clips`)."""
    from facetalk.data.formats import open_dataset

    dataset = open_dataset(data.dataset, root, split=split, **data.options)
    # Iterate rather than index: iteration passes over bad clips (the adapter warns about each one).
    return list(itertools.islice(dataset, data.max_clips if data.max_clips > 0 else None))


def pipeline_for(config: Config, cache: Path, root: Path) -> InputPipeline:
    """The input pipeline of the config's model, caching features under the config's feature cache."""
    spec = model_inputs(config.model.name, config.model.options)
    features = FeatureSettings(config.features.encoder, dict(config.features.options))
    text = TextSettings(config.text.embedder, dict(config.text.options))
    return InputPipeline(spec, features=features, text=text, cache=cache_root(config.features.cache, cache / "features"),
                         dataset_key=dataset_key(config.data.dataset, root))  # fmt: skip


def build_recipe(config: Config, dist: DistInfo, cache: Path) -> Recipe:
    """Read the data and build its inputs (rank 0 builds missing corpora and cached features first), then the model."""
    data = config.data
    if dist.is_main:
        root = ensure_corpus(data, cache)
    barrier(dist)
    root = corpus_root(data, cache)
    pipeline = pipeline_for(config, cache, root)
    target = data.target
    if target not in ("motion", "vertices"):
        raise InvalidInputError(f"config: data.target must be motion or vertices, got {target!r}")

    def samples(split: str) -> list[Sample]:
        return load_clips(data, root, split)

    train_samples = samples(data.train_split)
    if data.holdout_clips > 0:
        if data.holdout_clips >= len(train_samples):
            raise InvalidInputError(f"config: data.holdout_clips={data.holdout_clips} leaves no training clips")
        val_samples = train_samples[-data.holdout_clips :]
        train_samples = train_samples[: -data.holdout_clips]
    else:
        val_samples = samples(data.val_split)
    if not train_samples or not val_samples:
        raise InvalidInputError(f"{root}: no {'training' if not train_samples else 'validation'} clips in this config's splits")
    subjects = sorted({s.subject for s in train_samples})
    index = {subject: i for i, subject in enumerate(subjects)}

    def clips(group: list[Sample]) -> list[ClipArrays]:
        return [pipeline.sample(s, target=target, subject=index.get(s.subject, UNKNOWN_SUBJECT)) for s in group]  # type: ignore[arg-type]

    # rank 0 computes and caches the features first; the other ranks then read them
    train_clips = clips(train_samples) if dist.is_main else []
    barrier(dist)
    if not dist.is_main:
        train_clips = clips(train_samples)
    val_clips = clips(val_samples)

    style = StyleSampler(data.style.reference, data.style.frames, seed=config.train.seed) if pipeline.spec.style else None  # type: ignore[arg-type]
    train_set = WindowDataset(train_clips, length=data.window, stride=data.stride or None, style=style)
    # validation references: the clip itself, whatever training draws (a fixed, leak-free yardstick needs eval)
    val_set = WindowDataset(val_clips, length=None, style=StyleSampler("self") if style else None)
    first = train_clips[0]
    assert first.motion is not None
    motion = train_samples[0].motion if target == "motion" else train_samples[0].vertex_motion()
    assert motion is not None
    spec = pipeline.spec
    # sizes from the (cached) arrays: no encoder is loaded just to learn its width
    feature_dim = first.features.shape[1] if first.features is not None else 0
    if spec.speech == "audio":
        feature_dim = pipeline.speech_encoder.dim
    sizes = DataSizes(feature_dim=int(feature_dim), motion_dim=int(first.motion.shape[1]), num_subjects=len(subjects),
                      fps=float(motion.fps), kind=motion.kind, channels=tuple(motion.channels),
                      text_dim=first.text.shape[1] if first.text is not None else 0)  # fmt: skip
    torch.manual_seed(config.train.seed)
    model = build_model(config.model.name, **asdict(sizes), **config.model.options)
    model.metadata = {"features": {"encoder": config.features.encoder, "options": dict(config.features.options)},
                      "subjects": subjects}  # fmt: skip
    if spec.text:
        model.metadata["text"] = {"embedder": config.text.embedder, "options": dict(config.text.options)}
    if spec.speech != "none":
        pairs = zip(train_clips, train_samples, strict=True)
        all_features = np.concatenate([_speech_features(pipeline, clip, sample) for clip, sample in pairs])  # (ΣT, C)
        model.fit_feature_stats(torch.from_numpy(all_features.mean(axis=0)), torch.from_numpy(all_features.std(axis=0)))
    templates = [clip.template for clip in train_clips if clip.template is not None]
    if templates:
        model.fit_template_mean(torch.from_numpy(np.mean(templates, axis=0).astype(np.float32)))
    priors = [clip.emotion_prior for clip in train_clips if clip.emotion_prior is not None]
    if priors:
        model.fit_emotion_priors(torch.from_numpy(np.concatenate(priors).astype(np.float32)))
    objective = Objective.from_config(config.loss)
    return Recipe(model=model, train_set=train_set, val_set=val_set, subjects=subjects, objective=objective)


def _speech_features(pipeline: InputPipeline, clip: ClipArrays, sample: Sample) -> np.ndarray:
    """A training clip's (cached) speech features, (T, C): its inputs, or computed for the statistics of a
    model that encodes raw audio itself."""
    if clip.features is not None:
        return np.asarray(clip.features)
    return pipeline.speech_features(sample.audio, fps=clip.fps, num_frames=clip.num_frames, clip_id=clip.clip_id)
