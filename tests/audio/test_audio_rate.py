"""Encoder frames to motion frames: exact frame counts and the sampling convention."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from facetalk.audio import num_motion_frames, to_motion_rate
from facetalk.errors import InvalidInputError

DURATIONS = ["0.1", "0.5", "1.0", "1.234", "3.3333", "7.0", "10.02", "61.7"]


@pytest.mark.parametrize("fps", [25, 30, 60])
@pytest.mark.parametrize("duration", DURATIONS)
def test_frame_count_is_ceil_of_duration_times_fps(fps: int, duration: str) -> None:
    expected = math.ceil(Fraction(duration) * fps)  # exact arithmetic, no float noise
    features = np.random.default_rng(0).standard_normal((200, 3)).astype(np.float32)
    out = to_motion_rate(features, frame_rate=50.0, duration_s=float(duration), fps=fps)
    assert num_motion_frames(float(duration), fps) == expected
    assert out.shape == (expected, 3) and out.dtype == np.float32


def test_frames_are_sampled_at_their_start_times() -> None:
    frame_rate, fps = 50.0, 30.0
    times = np.arange(100) / frame_rate  # encoder frame i at i / frame_rate
    features = np.stack([times, 2 * times], axis=1)  # (F, 2): a linear function of time
    out = to_motion_rate(features, frame_rate=frame_rate, duration_s=1.5, fps=fps)
    expected = np.arange(45) / fps  # motion frame j at j / fps
    np.testing.assert_allclose(out[:, 0], expected, atol=1e-6)
    np.testing.assert_allclose(out[:, 1], 2 * expected, atol=1e-6)


def test_same_rate_is_identity_and_the_end_holds() -> None:
    features = np.arange(10, dtype=np.float32)[:, None]  # (10, 1)
    np.testing.assert_array_equal(to_motion_rate(features, frame_rate=25, duration_s=0.4, fps=25), features)
    held = to_motion_rate(features, frame_rate=25, duration_s=0.6, fps=25)  # 15 frames from 10
    np.testing.assert_array_equal(held[10:, 0], np.full(5, 9.0))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"duration_s": -1.0, "fps": 25}, "duration"),
    ({"duration_s": 1.0, "fps": 0}, "fps"),
    ({"duration_s": float("nan"), "fps": 25}, "duration"),
])  # fmt: skip
def test_bad_arguments(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        to_motion_rate(np.zeros((5, 2), np.float32), frame_rate=50, **kwargs)
    with pytest.raises(InvalidInputError, match="shape"):
        to_motion_rate(np.zeros((0, 2), np.float32), frame_rate=50, duration_s=1.0, fps=25)
