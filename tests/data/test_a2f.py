"""Audio2Face JSON exports: weights matched by name, audio found beside the export or by trackPath."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from facetalk.data.formats import DATASETS, open_dataset
from facetalk.data.formats.a2f import Audio2FaceDataset
from facetalk.data.validate import BadClipWarning
from facetalk.face.arkit import ARKIT_NAMES

FPS = 30
FRAMES = 6  # 0.2 s


def _export(path: Path, track_path: str, jaw_open: float) -> None:
    names = list(reversed(ARKIT_NAMES))  # any order: matched by name
    weights = [[jaw_open if name == "jawOpen" else 0.0 for name in names] for _ in range(FRAMES)]
    document = {
        "exportFps": FPS,
        "trackPath": track_path,
        "numPoses": len(names),
        "numFrames": FRAMES,
        "facsNames": names,
        "weightMat": weights,
        "joints": ["jaw"],
        "rotations": [],
        "translations": [],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


def _wav(path: Path) -> None:
    soundfile.write(path, np.zeros(16000 * FRAMES // FPS, dtype=np.int16), 16000)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("a2f")
    _export(root / "mark" / "take1.json", "C:\\Users\\me\\audio\\take1.wav", 0.5)  # same-stem wav beside it
    _wav(root / "mark" / "take1.wav")
    _export(root / "mark" / "take1_bsweight.json", "C:\\Users\\me\\audio\\speech2.wav", 0.25)  # trackPath's name
    _wav(root / "mark" / "speech2.wav")
    _export(root / "mark" / "lost.json", "/nowhere/lost_audio.wav", 0.1)
    return root


def test_a2f_is_registered() -> None:
    assert DATASETS.get("a2f") is Audio2FaceDataset


def test_exports_load_with_their_audio(exports: Path) -> None:
    with pytest.warns(BadClipWarning, match=r"a2f/mark/lost: .*lost\.json has no audio"):
        dataset = open_dataset("a2f", exports, split="all")
    samples = list(dataset)
    assert [s.clip_id for s in samples] == ["mark/take1", "mark/take1_bsweight"]
    for sample, jaw_open in zip(samples, (0.5, 0.25), strict=True):
        assert sample.dataset == "a2f" and sample.subject == "mark"
        assert sample.motion.channels == ARKIT_NAMES and sample.fps == FPS and sample.num_frames == FRAMES
        np.testing.assert_allclose(sample.motion.select(["jawOpen"]), jaw_open)
        assert sample.audio.sample_rate == 16000 and abs(sample.duration - 0.2) < 1e-3
