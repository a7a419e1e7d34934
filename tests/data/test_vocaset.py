"""VOCASET in both on-disk layouts: the release files and FaceFormer's processed directory."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile

from facetalk.data import Sample
from facetalk.data.formats import DATASETS, open_dataset
from facetalk.data.formats.vocaset import TEST_SUBJECTS, TRAIN_SUBJECTS, VAL_SUBJECTS, VocasetDataset
from facetalk.errors import InvalidInputError

NUM_VERTICES = 4
FRAMES_60 = 12  # 0.2 s
AUDIO_RATE = 22000
CLIPS = (
    (TRAIN_SUBJECTS[0], "sentence01"),
    (TRAIN_SUBJECTS[0], "sentence21"),
    (VAL_SUBJECTS[0], "sentence01"),  # val takes sentences 21-40 only
    (VAL_SUBJECTS[0], "sentence21"),
    (TEST_SUBJECTS[1], "sentence40"),
)


def _clip(index: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (T60, V, 3) in metres and int16 audio of one clip; frame t is offset by t mm."""
    rng = np.random.default_rng(index)
    base = rng.normal(scale=0.05, size=(NUM_VERTICES, 3))
    vertices = base[None] + 0.001 * np.arange(FRAMES_60)[:, None, None]
    audio = (rng.uniform(-0.3, 0.3, size=AUDIO_RATE * FRAMES_60 // 60) * 32767).astype(np.int16)
    return vertices, audio


def _templates() -> dict[str, np.ndarray]:
    subjects = sorted({subject for subject, _ in CLIPS})
    return {s: np.full((NUM_VERTICES, 3), i, dtype=np.float64) for i, s in enumerate(subjects)}


def write_processed(root: Path) -> Path:
    (root / "vocaset" / "vertices_npy").mkdir(parents=True)
    (root / "vocaset" / "wav").mkdir()
    for index, (subject, sentence) in enumerate(CLIPS):
        vertices, audio = _clip(index)
        np.save(root / "vocaset" / "vertices_npy" / f"{subject}_{sentence}.npy", vertices.reshape(FRAMES_60, -1))
        soundfile.write(root / "vocaset" / "wav" / f"{subject}_{sentence}.wav", audio, AUDIO_RATE, subtype="PCM_16")
    (root / "vocaset" / "templates.pkl").write_bytes(pickle.dumps(_templates(), protocol=2))
    return root


def write_release(root: Path) -> Path:
    root.mkdir(exist_ok=True)
    rows: list[np.ndarray] = []
    seq_to_idx: dict[str, dict[str, dict[int, int]]] = {}
    raw_audio: dict[str, dict[str, dict[str, object]]] = {}
    for index, (subject, sentence) in enumerate(CLIPS):
        vertices, audio = _clip(index)
        # Frames stored out of order, as the dict order of the release is not guaranteed.
        order = np.arange(FRAMES_60)[::-1]
        seq_to_idx.setdefault(subject, {})[sentence] = {int(t): len(rows) + i for i, t in enumerate(order)}
        rows.extend(vertices[order])
        raw_audio.setdefault(subject, {})[sentence] = {"audio": audio, "sample_rate": AUDIO_RATE}
    np.save(root / "data_verts.npy", np.stack(rows))  # (N, V, 3) float64
    (root / "subj_seq_to_idx.pkl").write_bytes(pickle.dumps(seq_to_idx, protocol=2))
    (root / "raw_audio_fixed.pkl").write_bytes(pickle.dumps(raw_audio, protocol=2))
    (root / "templates.pkl").write_bytes(pickle.dumps(_templates(), protocol=2))
    return root


@pytest.fixture(params=["processed", "release"])
def vocaset(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return write_processed(tmp_path) if request.param == "processed" else write_release(tmp_path / "release")


def test_vocaset_is_registered() -> None:
    assert DATASETS.get("vocaset") is VocasetDataset


def test_splits_follow_faceformer(vocaset: Path) -> None:
    ids = {split: VocasetDataset(vocaset, split=split).clip_ids for split in ("train", "val", "test", "all")}
    assert ids["train"] == [f"{TRAIN_SUBJECTS[0]}_sentence01", f"{TRAIN_SUBJECTS[0]}_sentence21"]
    assert ids["val"] == [f"{VAL_SUBJECTS[0]}_sentence21"]
    assert ids["test"] == [f"{TEST_SUBJECTS[1]}_sentence40"]
    assert len(ids["all"]) == len(CLIPS)
    with pytest.raises(InvalidInputError, match="unknown split"):
        VocasetDataset(vocaset, split="Test-A")


def test_clips_are_subsampled_to_30_fps_in_metres(vocaset: Path) -> None:
    dataset = open_dataset("vocaset", vocaset, split="all")
    templates = _templates()
    for index, sample in enumerate(dataset):
        assert isinstance(sample, Sample) and sample.dataset == "vocaset"
        vertices, _ = _clip(CLIPS.index((sample.subject, str(sample.sentence_id))))
        assert sample.fps == 30.0 and sample.motion.kind == "vertices"
        np.testing.assert_allclose(sample.motion.vertices(), vertices[::2], atol=1e-6)
        assert sample.template is not None
        np.testing.assert_allclose(sample.template, templates[sample.subject])
        assert sample.audio.sample_rate == 16000 and abs(sample.duration - 0.2) < 1e-3
        assert sample.clip_id == dataset.clip_ids[index]  # type: ignore[attr-defined]
    full = VocasetDataset(vocaset, split="train", subsample=1)[0]
    assert full.fps == 60.0 and full.num_frames == FRAMES_60
