"""Windowing, collation and the feature cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facetalk.data.cache import FeatureCache, audio_hash
from facetalk.data.collate import collate
from facetalk.data.windows import ClipArrays, Window, WindowDataset, plan_windows, sample_range
from facetalk.types import Waveform


def test_plan_windows_covers_clips_and_aligns_tails() -> None:
    windows = plan_windows([100, 30, 1], length=48)
    assert windows == [Window(0, 0, 48), Window(0, 48, 48), Window(0, 52, 48), Window(1, 0, 30)]
    overlapping = plan_windows([100], length=48, stride=24)
    assert [w.start for w in overlapping] == [0, 24, 48, 52]


def test_sample_range_matches_frames() -> None:
    assert sample_range(30, 30, fps=30.0, sample_rate=16000) == (16000, 32000)


def _clip(frames: int, subject: int, audio: bool = True) -> ClipArrays:
    rng = np.random.default_rng(frames)
    return ClipArrays(
        clip_id=f"c{frames}",
        num_frames=frames,
        features=rng.normal(size=(frames, 4)).astype(np.float32),
        motion=np.arange(frames * 3, dtype=np.float32).reshape(frames, 3),
        fps=30.0,
        subject=subject,
        emotion=np.ones((frames, 7), dtype=np.float32),
        template=np.zeros(3, dtype=np.float32),
        audio=rng.normal(size=frames * 16000 // 30).astype(np.float32) if audio else None,
    )


def test_window_items_and_collate_shapes() -> None:
    dataset = WindowDataset([_clip(60, 0), _clip(20, 1)], length=48)
    assert len(dataset) == 3
    item = dataset[1]  # frames 12..60 of the first clip
    np.testing.assert_array_equal(item["motion"][0], [36.0, 37.0, 38.0])
    assert item["audio"].shape == (48 * 16000 // 30,)
    batch = collate([dataset[i] for i in range(3)])
    assert batch["features"].shape == (3, 48, 4)
    assert batch["motion"].shape == (3, 48, 3)
    assert batch["emotion"].shape == (3, 48, 7)
    assert batch["template"].shape == (3, 3)
    assert batch["mask"][2].sum().item() == 20 and batch["mask"][0].sum().item() == 48
    assert batch["lengths"].tolist() == [48, 48, 20]
    assert batch["subject"].tolist() == [0, 0, 1]
    assert batch["audio"].shape == (3, 25600) and batch["audio_mask"][2].sum().item() == round(20 * 16000 / 30)
    assert (batch["motion"][2, 20:] == 0).all()
    assert collate([dataset[2]], pad_to=48)["features"].shape == (1, 48, 4)


def test_whole_clip_windows_for_validation() -> None:
    dataset = WindowDataset([_clip(60, 0, audio=False), _clip(20, 1, audio=False)], length=None)
    batch = collate([dataset[0], dataset[1]])
    assert batch["features"].shape == (2, 60, 4) and "audio" not in batch


def test_feature_cache_computes_once_and_memory_maps(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    waveform = Waveform(np.zeros(1600, dtype=np.float32), 16000)
    calls: list[int] = []

    def compute() -> np.ndarray:
        calls.append(1)
        return np.arange(6, dtype=np.float32).reshape(3, 2)

    key = {"dataset": "native", "clip_id": "a/b", "encoder": "mel", "settings": {"fps": 30.0}, "content": audio_hash(waveform)}
    first = cache.get(**key, compute=compute)  # type: ignore[arg-type]
    second = cache.get(**key, compute=compute)  # type: ignore[arg-type]
    assert len(calls) == 1 and isinstance(second, np.memmap)
    np.testing.assert_array_equal(first, second)
    other = cache.get(**{**key, "settings": {"fps": 25.0}}, compute=compute)  # type: ignore[arg-type]
    assert len(calls) == 2 and other.shape == (3, 2)
    assert not list(tmp_path.rglob("*.tmp*"))
    with pytest.raises(ValueError):
        second[0, 0] = 1.0  # read-only
