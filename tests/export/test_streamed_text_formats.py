"""ARKit JSON and Live Link CSV are written in chunks of frames: long motions round-trip exactly across chunk seams."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facetalk.export import export_motion, read_motion
from facetalk.export.base import WRITE_CHUNK_FRAMES, short_float, short_floats
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.types import Motion

AWKWARD = [0.0, -0.0, 1.0, 0.1, 1 / 3, 1e-5, 2.5e-7, 1e-30, 1.4e-45, 0.999999, 123456.0, 1e20]
"""Values numpy writes with an exponent or a trailing ".0", zeros of both signs, and ordinary ones."""


def test_short_floats_match_short_float_value_by_value() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([np.asarray(AWKWARD), rng.random(500), rng.random(100) * 1e-6]).astype(np.float32)
    fast = short_floats(values.reshape(-1, 4)).reshape(-1)
    assert fast.tolist() == [short_float(v) for v in values]
    assert all("e" not in text for text in fast.tolist()) and fast[0] == "0" and fast[1] == "-0" and fast[2] == "1"
    np.testing.assert_array_equal(np.array([float(t) for t in fast], dtype=np.float32), values)


@pytest.mark.parametrize(("fmt", "suffix"), [("arkit-json", ".json"), ("livelink-csv", ".csv")])
def test_a_motion_longer_than_a_chunk_round_trips_exactly(tmp_path: Path, fmt: str, suffix: str) -> None:
    frames = 2 * WRITE_CHUNK_FRAMES + 7  # three chunks, the last one short
    rng = np.random.default_rng(1)
    data = rng.random((frames, len(ARKIT_NAMES))).astype(np.float32)
    data[:, 3] = np.where(rng.random(frames) < 0.3, 0.0, np.float32(1e-5))  # values that need the slow path
    motion = Motion(data, 30.0, "blendshapes", ARKIT_NAMES)
    path = tmp_path / f"long{suffix}"
    export_motion(motion, path, format=fmt)
    back = read_motion(path)
    assert back.num_frames == frames
    np.testing.assert_array_equal(back.data[:, : len(ARKIT_NAMES)], data)
    if fmt == "arkit-json":
        assert json.loads(path.read_text())["numFrames"] == frames
    else:
        last = path.read_text().splitlines()[-1]
        assert last.startswith("00:02:16:22.000,61,")  # frame 4,102 at 30 fps: the timecode runs on across chunks

