"""The native dataset adapter reads what `facetalk synth` writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facetalk.data import Sample
from facetalk.data.formats import DATASETS, open_dataset
from facetalk.data.formats.native import NativeDataset
from facetalk.errors import InvalidInputError
from facetalk.types import EmotionSchedule

NUM_CLIPS = 4


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from facetalk.synth.build import build_corpus

    out = tmp_path_factory.mktemp("native")
    return build_corpus(out, hours=1.0, seed=3, max_clips=NUM_CLIPS, word_semantics=False, progress=False)


def test_native_is_registered() -> None:
    assert "native" in DATASETS and DATASETS.get("native") is NativeDataset


def test_all_clips_load_as_samples(corpus: Path) -> None:
    dataset = open_dataset("native", corpus, split="all")
    assert len(dataset) == NUM_CLIPS
    for sample in dataset:
        assert isinstance(sample, Sample) and sample.dataset == "native"
        assert sample.motion.kind == "blendshapes" and sample.motion.data.shape[1] == 52
        assert sample.vertices is not None and sample.template is not None
        assert sample.vertices.vertices().shape[1:] == sample.template.shape
        assert sample.audio.sample_rate == 16000 and abs(sample.duration - sample.motion.duration) < 1.0 / sample.fps
        assert sample.alignment is not None and sample.alignment.words
        assert isinstance(sample.emotion, EmotionSchedule)
        assert sample.emotion_frames().shape == (sample.num_frames, 7)
        assert sample.persona is not None and sample.text


def test_splits_partition_the_corpus(corpus: Path) -> None:
    names = ("train", "val", "test", "test_unseen_speaker")
    ids = sorted(r["clip_id"] for name in names for r in NativeDataset(corpus, split=name).records)
    assert ids == sorted(r["clip_id"] for r in NativeDataset(corpus, split="all").records)


def test_bad_corpora_are_reported(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown split"):
        NativeDataset(corpus, split="nope")
    with pytest.raises(InvalidInputError, match=r"corpus\.json: missing"):
        NativeDataset(tmp_path)
    (tmp_path / "corpus.json").write_text(json.dumps({"version": 1, "complete": False}))
    with pytest.raises(InvalidInputError, match="has not finished"):
        NativeDataset(tmp_path)


def test_sample_checks_its_shapes() -> None:
    from facetalk.types import Motion, Waveform

    motion = Motion(np.zeros((3, 2), np.float32), 30.0, "blendshapes", ("a", "b"))
    audio = Waveform(np.zeros(1600, np.float32), 16000)
    sample = Sample("native", "c0", "spk", audio, motion)
    assert sample.emotion_frames() is None  # no labels: none, never a silent "neutral"
    with pytest.raises(InvalidInputError, match="per-frame emotion"):
        Sample("native", "c0", "spk", audio, motion, emotion=np.zeros((2, 7)))
