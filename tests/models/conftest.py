"""Shared by the model tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from facetalk.data.collate import Batch
from facetalk.data.windows import ClipArrays
from facetalk.models.base import Animator, Conditions, build_model
from facetalk.models.inputs import InputPipeline, InputSpec


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models: threads cost more than they give, and other suites share the cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


ClipBatch = Callable[..., Batch]
TINY_WAV2VEC2 = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
                 "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2, "conv_dim": (16,) * 7,
                 "conv_kernel": (10, 3, 3, 3, 3, 2, 2), "conv_stride": (5, 2, 2, 2, 2, 2, 2)}  # fmt: skip


@pytest.fixture(scope="session")
def tiny_wav2vec2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-layer, 16-channel wav2vec 2.0 of the real architecture, saved locally (nothing downloaded)."""
    transformers = pytest.importorskip("transformers")
    directory = tmp_path_factory.mktemp("tiny_wav2vec2")
    torch.manual_seed(0)
    transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**TINY_WAV2VEC2)).save_pretrained(directory)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(directory)
    return directory


@pytest.fixture
def clip_batch() -> ClipBatch:
    """`clip_batch(model, features, conditions, inputs=None)`: the inference batch of one clip with these
    speech features (T, C), made by the input pipeline as `animate` and `eval` make it (`inputs`
    overrides what the model declares)."""

    def make(model: Animator, features: np.ndarray, conditions: Conditions, *, inputs: InputSpec | None = None) -> Batch:
        clip = ClipArrays(clip_id="clip", num_frames=len(features), fps=model.fps, features=np.asarray(features, np.float32))
        return InputPipeline(inputs or model.inputs).batch(clip, conditions)

    return make


RandomModel = Callable[..., Animator]


@pytest.fixture
def random_vertex_model() -> RandomModel:
    """`random_vertex_model(name, **options)`: model `name` for 8 feature channels, 15 vertex coordinates and
    3 speakers, seeded, with fixed random weights everywhere (zero-initialised output layers would hide
    every dependence on the input), in eval mode."""

    def make(name: str, *, seed: int = 0, **options: object) -> Animator:
        torch.manual_seed(seed)
        model = build_model(name, feature_dim=8, motion_dim=15, num_subjects=3, kind="vertices", **options)
        with torch.no_grad():
            for param in model.parameters():
                param.copy_(0.3 * torch.randn_like(param))
        return model.eval()

    return make
