"""Processed BIWI: the CodeTalker layout and its train / val / Test-A / Test-B splits."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile

from facetalk.data.formats import DATASETS, open_dataset
from facetalk.data.formats.biwi import BiwiDataset
from facetalk.errors import InvalidInputError

NUM_VERTICES = 5
FRAMES = 5  # 0.2 s at 25 fps
AUDIO_RATE = 44100
CLIPS = ("F2_e01", "F2_e32", "F2_e33", "M3_e37", "F1_e37", "F1_e01", "M6_e40", "F2_01")


@pytest.fixture(scope="module")
def biwi(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("biwi")
    (root / "BIWI" / "vertices_npy").mkdir(parents=True)
    (root / "BIWI" / "wav").mkdir()
    for index, clip in enumerate(CLIPS):
        vertices = np.full((FRAMES, NUM_VERTICES * 3), index, dtype=np.float32)
        np.save(root / "BIWI" / "vertices_npy" / f"{clip}.npy", vertices)
        soundfile.write(root / "BIWI" / "wav" / f"{clip}.wav", np.zeros(AUDIO_RATE // 5, dtype=np.int16), AUDIO_RATE)
    templates = {s: np.ones((NUM_VERTICES, 3)) * i for i, s in enumerate(("F1", "F2", "M3", "M6"))}
    (root / "BIWI" / "templates.pkl").write_bytes(pickle.dumps(templates, protocol=2))
    return root


def test_biwi_is_registered() -> None:
    assert DATASETS.get("biwi") is BiwiDataset


@pytest.mark.parametrize(
    ("split", "expected"),
    [
        ("train", ["F2_e01", "F2_e32"]),
        ("val", ["F2_e33"]),
        ("test_a", ["M3_e37"]),
        ("Test-A", ["M3_e37"]),
        ("Test-B", ["F1_e37", "M6_e40"]),
        ("all", ["F1_e01", "F1_e37", "F2_e01", "F2_e32", "F2_e33", "M3_e37", "M6_e40"]),  # never the neutral F2_01
    ],
)
def test_splits_follow_codetalker(biwi: Path, split: str, expected: list[str]) -> None:
    assert BiwiDataset(biwi, split=split).clip_ids == expected


def test_clips_load_at_25_fps_unscaled(biwi: Path) -> None:
    dataset = open_dataset("biwi", biwi, split="test_b")
    samples = list(dataset)
    assert [s.clip_id for s in samples] == ["F1_e37", "M6_e40"]
    sample = samples[0]
    assert sample.dataset == "biwi" and sample.subject == "F1" and sample.sentence_id == "e37"
    assert sample.fps == 25.0 and sample.motion.vertices().shape == (FRAMES, NUM_VERTICES, 3)
    np.testing.assert_array_equal(sample.motion.data, CLIPS.index("F1_e37"))  # not rescaled
    assert sample.template is not None and sample.template.shape == (NUM_VERTICES, 3)
    assert sample.audio.sample_rate == 16000 and abs(sample.duration - 0.2) < 1e-3
    with pytest.raises(InvalidInputError, match="unknown split"):
        BiwiDataset(biwi, split="test")
