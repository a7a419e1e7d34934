"""Long clips to fixed-length training windows.

A clip's arrays (`ClipArrays`: speech features already at the motion frame rate, motion, emotion,
audio) are cut into windows of `length` motion frames every `stride` frames; the last window of a
clip is shorter when the clip does not divide evenly, and `collate` pads it with a mask. Each window
carries the audio sample range of its frames, so models that read raw audio get matching speech.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facetalk.errors import InvalidInputError

UNKNOWN_SUBJECT = -1
"""Subject index of a speaker the model was not trained on."""


@dataclass(frozen=True)
class ClipArrays:
    """One clip, ready to be windowed.

    Attributes:
        clip_id: the dataset's clip id.
        features: speech features at the motion frame rate, shape (T, C); may be memory-mapped.
        motion: target motion, shape (T, D).
        fps: motion frames per second.
        subject: the speaker's index in the training subjects, or `UNKNOWN_SUBJECT`.
        emotion: per-frame emotion vectors, shape (T, 7).
        template: the neutral face, flattened to (3V,), for vertex models.
        audio: mono speech samples, shape (S,).
        sample_rate: samples per second of `audio`.
    """

    clip_id: str
    features: np.ndarray
    motion: np.ndarray
    fps: float
    subject: int = UNKNOWN_SUBJECT
    emotion: np.ndarray | None = None
    template: np.ndarray | None = None
    audio: np.ndarray | None = None
    sample_rate: int = 16000

    def __post_init__(self) -> None:
        frames = len(self.motion)
        if self.features.ndim != 2 or len(self.features) != frames:
            raise InvalidInputError(f"{self.clip_id}: features {self.features.shape} do not match {frames} motion frames")
        if self.emotion is not None and len(self.emotion) != frames:
            raise InvalidInputError(f"{self.clip_id}: emotion {self.emotion.shape} does not match {frames} motion frames")

    @property
    def num_frames(self) -> int:
        return len(self.motion)


@dataclass(frozen=True)
class Window:
    """A run of motion frames of one clip.

    Attributes:
        clip: index of the clip in the windowed list.
        start: first motion frame.
        length: number of frames (the last window of a clip may be shorter than the others).
    """

    clip: int
    start: int
    length: int


def plan_windows(num_frames: list[int], *, length: int, stride: int | None = None, min_frames: int = 2) -> list[Window]:
    """Windows of `length` frames every `stride` frames over clips of `num_frames` frames each.

    A clip's tail after its last full window gets one more window that ends at the clip's end (so it
    is full length when the clip is long enough, and the whole clip when it is shorter). Clips
    shorter than `min_frames` give no window.

    Args:
        num_frames: frames of each clip.
        length: window length in motion frames (e.g. 48 or 100).
        stride: frames between window starts; default `length` (no overlap).
        min_frames: the shortest clip that is used.
    """
    stride = stride or length
    if length < 1 or stride < 1:
        raise InvalidInputError(f"window length and stride must be positive, got {length} and {stride}")
    windows: list[Window] = []
    for clip, frames in enumerate(num_frames):
        if frames < min_frames:
            continue
        starts = list(range(0, max(frames - length, 0) + 1, stride))
        if starts[-1] + length < frames:
            starts.append(frames - length)  # the tail, aligned to the clip's end
        windows.extend(Window(clip, start, min(length, frames - start)) for start in starts)
    return windows


def sample_range(start: int, length: int, *, fps: float, sample_rate: int) -> tuple[int, int]:
    """Audio samples [first, end) of motion frames [start, start + length); frame j starts at j / fps."""
    return round(start / fps * sample_rate), round((start + length) / fps * sample_rate)


class WindowDataset:
    """Windows of clips as a map-style dataset of item dicts for `facetalk.data.collate.collate`.

    Args:
        clips: the clips.
        length: window length in motion frames; None makes every clip one window (validation).
        stride: frames between window starts; default `length`.
        min_frames: the shortest clip that is used.
    """

    def __init__(self, clips: list[ClipArrays], *, length: int | None, stride: int | None = None, min_frames: int = 2) -> None:
        self.clips = clips
        frames = [clip.num_frames for clip in clips]
        if length is None:
            self.windows = [Window(i, 0, n) for i, n in enumerate(frames) if n >= min_frames]
        else:
            self.windows = plan_windows(frames, length=length, stride=stride, min_frames=min_frames)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One window: arrays of its real frames (no padding), see `collate` for the keys."""
        window = self.windows[index]
        clip = self.clips[window.clip]
        frames = slice(window.start, window.start + window.length)
        item: dict[str, Any] = {
            "features": np.asarray(clip.features[frames], dtype=np.float32),  # (T, C)
            "motion": np.asarray(clip.motion[frames], dtype=np.float32),  # (T, D)
            "subject": clip.subject,
        }
        if clip.emotion is not None:
            item["emotion"] = np.asarray(clip.emotion[frames], dtype=np.float32)  # (T, 7)
        if clip.template is not None:
            item["template"] = np.asarray(clip.template, dtype=np.float32)  # (3V,)
        if clip.audio is not None:
            first, end = sample_range(window.start, window.length, fps=clip.fps, sample_rate=clip.sample_rate)
            audio = np.zeros(end - first, dtype=np.float32)  # (S,); the last frame may reach past the audio's end
            part = clip.audio[first:end]
            audio[: len(part)] = part
            item["audio"] = audio
        return item
