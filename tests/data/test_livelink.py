"""Live Link Face takes: the app's CSV (its own column order) and the audio beside it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from facetalk.data.formats import DATASETS, open_dataset
from facetalk.data.formats.livelink import LiveLinkDataset
from facetalk.data.validate import BadClipWarning
from facetalk.errors import InvalidInputError
from facetalk.face.arkit import ARKIT_NAMES

FPS = 60
FRAMES = 12  # 0.2 s
HEAD_ROTATIONS = ["HeadYaw", "HeadPitch", "HeadRoll"]
EYE_ROTATIONS = ["LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll"]
ROTATIONS = HEAD_ROTATIONS + EYE_ROTATIONS
SWAPS = {"jawLeft": "jawRight", "jawRight": "jawLeft", "mouthLeft": "mouthRight", "mouthRight": "mouthLeft"}
APP_COLUMNS = [SWAPS.get(n, n)[0].upper() + SWAPS.get(n, n)[1:] for n in ARKIT_NAMES] + ROTATIONS


def _write_take(folder: Path, name: str, jaw_open: float, *, audio: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["Timecode,BlendShapeCount," + ",".join(APP_COLUMNS)]
    for t in range(FRAMES):
        frame = 50 + t  # crosses a second boundary, as a real take does
        values = [0.0] * len(APP_COLUMNS)
        values[APP_COLUMNS.index("JawOpen")] = jaw_open
        values[APP_COLUMNS.index("MouthLeft")] = 0.25
        lines.append(f"00:00:{frame // FPS:02d}:{frame % FPS:02d}.000,61," + ",".join(f"{v:g}" for v in values))
    (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    if audio:
        soundfile.write(folder / f"{name}.wav", np.zeros(48000 * FRAMES // FPS, dtype=np.int16), 48000)


@pytest.fixture(scope="module")
def takes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("livelink")
    _write_take(root / "alice" / "Slate1_1_iPhone", "Slate1_1_iPhone", 0.5)
    _write_take(root / "bob" / "Slate2_3_iPhone", "Slate2_3_iPhone", 0.75)
    _write_take(root / "bob" / "Slate2_4_iPhone", "Slate2_4_iPhone", 0.75, audio=False)
    (root / "splits.json").write_text(json.dumps({"train": ["alice/Slate1_1_iPhone/Slate1_1_iPhone"]}))
    return root


def test_livelink_is_registered() -> None:
    assert DATASETS.get("livelink") is LiveLinkDataset


def test_takes_load_by_column_name(takes: Path) -> None:
    with pytest.warns(BadClipWarning, match=r"livelink/bob/Slate2_4_iPhone/Slate2_4_iPhone: .*has no audio"):
        dataset = open_dataset("livelink", takes, split="all")
    samples = list(dataset)
    assert [s.subject for s in samples] == ["alice", "bob"]
    sample = samples[1]
    assert sample.dataset == "livelink" and sample.clip_id == "bob/Slate2_3_iPhone/Slate2_3_iPhone"
    assert sample.motion.kind == "blendshapes" and sample.motion.channels == ARKIT_NAMES
    assert sample.fps == pytest.approx(FPS) and sample.num_frames == FRAMES
    np.testing.assert_allclose(sample.motion.select(["jawOpen", "mouthLeft", "mouthRight"])[0], [0.75, 0.25, 0.0])
    assert sample.audio.sample_rate == 16000 and abs(sample.duration - 0.2) < 1e-3
    swapped = LiveLinkDataset(takes, split="train", swap_mouth_left_right=True)[0]
    np.testing.assert_allclose(swapped.motion.select(["mouthLeft", "mouthRight"])[0], [0.0, 0.25])


def test_splits_come_from_splits_json(takes: Path) -> None:
    assert LiveLinkDataset(takes, split="train").clip_ids == ["alice/Slate1_1_iPhone/Slate1_1_iPhone"]
    with pytest.raises(InvalidInputError, match="unknown split 'test'"):
        LiveLinkDataset(takes, split="test")
