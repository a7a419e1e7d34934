"""arkit-json: the Audio2Face layout, exact round trips, and reading other exports' name orders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facetalk.errors import InvalidInputError
from facetalk.export import export_motion, read_motion
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.types import Motion


def test_layout_and_round_trip(tmp_path: Path, blendshape_motion: Motion) -> None:
    path = tmp_path / "a2f.json"
    export_motion(blendshape_motion, path, track_path="speech.wav")
    document = json.loads(path.read_text())
    assert document["exportFps"] == 30 and document["trackPath"] == "speech.wav"
    assert document["numPoses"] == 52 and document["numFrames"] == blendshape_motion.num_frames
    assert document["facsNames"] == list(ARKIT_NAMES)
    matrix = np.array(document["weightMat"], dtype=np.float32)
    assert matrix.shape == (blendshape_motion.num_frames, 52)  # frame-major
    np.testing.assert_array_equal(matrix, blendshape_motion.data)
    back = read_motion(path)
    assert back.channels == ARKIT_NAMES and back.fps == 30.0
    np.testing.assert_array_equal(back.data, blendshape_motion.data)


def test_channels_map_by_name_and_missing_are_zero(tmp_path: Path) -> None:
    motion = Motion(np.array([[0.25, 0.5], [0.75, 1.0]], np.float32), 60.0, "blendshapes", ("JawOpen", "tongueOut"))
    path = tmp_path / "two.json"
    export_motion(motion, path)
    matrix = np.array(json.loads(path.read_text())["weightMat"])
    np.testing.assert_array_equal(matrix[:, ARKIT_NAMES.index("jawOpen")], [0.25, 0.75])
    np.testing.assert_array_equal(matrix[:, ARKIT_NAMES.index("tongueOut")], [0.5, 1.0])
    assert np.count_nonzero(matrix) == 4


def test_reads_reordered_names_and_newer_keys(tmp_path: Path) -> None:
    names = ["jawOpen", "mouthSmileLeft", "eyeBlinkRight", "mouthClose"]
    weights = [[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8], [0.9, 1.0, 0.0, 0.05]]
    document = {
        "exportFps": 24.0,
        "trackPath": "C:/audio/take1.wav",
        "numPoses": 4,
        "numFrames": 3,
        "facsNames": names,
        "weightMat": weights,
        "joints": ["jaw", "eye_L", "eye_R"],
        "rotations": [[[0, 0, 0]] * 3] * 3,
        "translations": [[[0, 0, 0]] * 3] * 3,
    }
    path = tmp_path / "a2f_export.json"
    path.write_text(json.dumps(document, indent=2))
    motion = read_motion(path)
    assert motion.channels == ARKIT_NAMES and motion.fps == 24.0 and motion.num_frames == 3
    np.testing.assert_allclose(motion.select(names), np.array(weights, np.float32))
    assert np.count_nonzero(motion.data) == np.count_nonzero(weights)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"numFrames": 5}, "numFrames is 5 but weightMat has 3 rows"),
        ({"numPoses": 2}, "numPoses is 2 but facsNames has 4 names"),
        ({"weightMat": [[0.1, 0.2, 0.3]] * 3}, "weightMat rows have 3 values but numPoses is 4"),
        ({"weightMat": [[0.1, 0.2, 0.3, 0.4], [0.1], [0.0] * 4]}, "different lengths"),
        ({"exportFps": 0}, "exportFps must be a positive number"),
        ({"facsNames": ["jawOpen"] * 4}, "duplicate"),
    ],
)
def test_inconsistent_files_are_rejected(tmp_path: Path, change: dict[str, object], message: str) -> None:
    document: dict[str, object] = {
        "exportFps": 30,
        "trackPath": "",
        "numPoses": 4,
        "numFrames": 3,
        "facsNames": ["jawOpen", "mouthClose", "mouthFunnel", "mouthPucker"],
        "weightMat": [[0.0] * 4] * 3,
    }
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**document, **change}))
    with pytest.raises(InvalidInputError, match=message) as info:
        read_motion(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
