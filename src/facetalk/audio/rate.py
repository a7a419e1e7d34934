"""Encoder frames to motion frames: linear interpolation in time to the motion fps.

The convention, shared with `Motion.times` and `EmotionSchedule.at_frames`: frames are sampled at
their start times.

- Encoder frame i (at `frame_rate` frames/s) describes the time i / frame_rate. For the mel this
  is its window's centre; for Whisper and wav2vec 2.0 it is the start of the frame's 20 ms stride.
- Motion frame j (at `fps`) is shown at the time j / fps.
- A clip of `duration_s` seconds has T = ceil(duration_s * fps) motion frames, so the last frame
  starts before the audio ends and the animation covers all of it. The product is rounded to 1e-6
  of a frame first, so that floating-point noise (0.1 s at 30 fps = 3.0000000000000004) does not
  add a frame.

Motion frame j takes the linear interpolation of the two encoder frames around j / fps; times past
the last encoder frame hold its value.
"""

from __future__ import annotations

import math

import numpy as np

from facetalk.errors import InvalidInputError
from facetalk.types import Seconds

FRAME_COUNT_DECIMALS = 6
"""duration × fps is rounded to this many decimals before the ceiling (1e-6 of a frame)."""


def num_motion_frames(duration_s: Seconds, fps: float) -> int:
    """T = ceil(duration_s × fps), the number of motion frames that cover `duration_s`."""
    if not (math.isfinite(duration_s) and duration_s >= 0):
        raise InvalidInputError(f"duration must be a finite time >= 0, got {duration_s}")
    if not (math.isfinite(fps) and fps > 0):
        raise InvalidInputError(f"fps must be positive, got {fps}")
    return math.ceil(round(duration_s * fps, FRAME_COUNT_DECIMALS))


def to_motion_rate(features: np.ndarray, *, frame_rate: float, duration_s: Seconds, fps: float) -> np.ndarray:
    """Resample encoder frames to the motion frame rate by linear interpolation in time.

    Args:
        features: encoder frames, shape (F, C), frame i at time i / frame_rate.
        frame_rate: encoder frames per second.
        duration_s: duration of the audio the frames came from.
        fps: motion frames per second.

    Returns:
        float32 features, shape (T, C) with T = `num_motion_frames(duration_s, fps)`; frame j at j / fps.
    """
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2 or len(features) == 0:
        raise InvalidInputError(f"features must have shape (F, C) with F >= 1, got {features.shape}")
    if not (math.isfinite(frame_rate) and frame_rate > 0):
        raise InvalidInputError(f"frame rate must be positive, got {frame_rate}")
    num_frames = num_motion_frames(duration_s, fps)
    position = np.arange(num_frames, dtype=np.float64) * (frame_rate / fps)  # (T,) in encoder frames
    position = np.minimum(position, len(features) - 1)
    left = np.floor(position).astype(np.int64)  # (T,)
    right = np.minimum(left + 1, len(features) - 1)
    fraction = (position - left).astype(np.float32)[:, None]  # (T, 1)
    return (1.0 - fraction) * features[left] + fraction * features[right]  # (T, C)


def match_frames(features: np.ndarray, num_frames: int) -> np.ndarray:
    """Features (T', C) cut or edge-padded to `num_frames` frames (datasets round clip lengths differently)."""
    if len(features) >= num_frames:
        return features[:num_frames]
    return np.concatenate([features, np.repeat(features[-1:], num_frames - len(features), axis=0)])
