"""Long clips to fixed-length training windows, each with the inputs its model declared.

A clip's arrays (`ClipArrays`: whatever `facetalk.models.inputs.InputPipeline` put there: speech
features at the motion frame rate or raw audio, text features, phones, emotion labels, template) are
cut into windows of `length` motion frames every `stride` frames; the last window of a clip is
shorter when the clip does not divide evenly, and `collate` pads it with a mask. Each window carries
the audio sample range of its frames, the phones it overlaps (a phone cut by the window's edge keeps
the frames inside it as its duration), and, when asked, a style reference motion chosen by a
`StyleSampler`: the window's own motion, a crop of another clip of its speaker, or a crop of another
clip of its speaker whose frames carry the window's emotion label.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from facetalk.errors import InvalidInputError
from facetalk.types import EMOTIONS

NUM_LABELS = len(EMOTIONS)

UNKNOWN_SUBJECT = -1
"""Subject index of a speaker the model was not trained on."""

StyleReference = Literal["self", "same_speaker", "same_emotion", "none"]
STYLE_REFERENCES: tuple[str, ...] = ("self", "same_speaker", "same_emotion", "none")


@dataclass(frozen=True)
class ClipArrays:
    """One clip, ready to be windowed. Every per-frame array has the clip's T frames.

    Attributes:
        clip_id: the dataset's clip id.
        num_frames: T, motion frames.
        fps: motion frames per second.
        motion: target motion, shape (T, D); None at inference.
        speaker: the speaker's name (style references of `same_speaker` are drawn by it).
        subject: the speaker's index in the training subjects, or `UNKNOWN_SUBJECT`.
        features: speech features at the motion frame rate, shape (T, C); may be memory-mapped.
        audio: mono speech samples, shape (S,), for models that own their speech encoder.
        sample_rate: samples per second of `audio`.
        text: per-frame text features, shape (T, C_text).
        phone_ids: the clip's phone tokens in time order, shape (N,) (ids of `facetalk.text.phonemes.PHONE_VOCAB`;
            pauses are SIL tokens of their own).
        phone_index: which token each frame lies in, shape (T,), non-decreasing.
        emotion: per-frame emotion vectors over `EMOTIONS`, shape (T, 7): labels in training, the
            requested emotion at inference; None when the clip has none.
        template: the neutral face, flattened to (3V,), for vertex models.
        emotion_prior: pseudo ground-truth emotion logits of the target motion, shape (T, 7).
        emotion_labels: the emotion label of each frame of the target motion (an index of `EMOTIONS`),
            shape (T,): what `same_emotion` style references are drawn by.
    """

    clip_id: str
    num_frames: int
    fps: float
    motion: np.ndarray | None = None
    speaker: str = ""
    subject: int = UNKNOWN_SUBJECT
    features: np.ndarray | None = None
    audio: np.ndarray | None = None
    sample_rate: int = 16000
    text: np.ndarray | None = None
    phone_ids: np.ndarray | None = None
    phone_index: np.ndarray | None = None
    emotion: np.ndarray | None = None
    template: np.ndarray | None = None
    emotion_prior: np.ndarray | None = None
    emotion_labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("motion", "features", "text", "phone_index", "emotion", "emotion_prior", "emotion_labels"):
            array = getattr(self, name)
            if array is not None and len(array) != self.num_frames:
                raise InvalidInputError(f"{self.clip_id}: {name} {array.shape} does not match {self.num_frames} motion frames")
        if (self.phone_ids is None) != (self.phone_index is None):
            raise InvalidInputError(f"{self.clip_id}: phone_ids and phone_index come together")


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


def window_phones(phone_ids: np.ndarray, phone_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The phone tokens that frames overlap, and how many of those frames each token covers.

    Args:
        phone_ids: the clip's tokens, shape (N,).
        phone_index: the token of each frame of a window, shape (T,), non-decreasing.

    Returns:
        Token ids (N_w,) and durations in frames (N_w,), summing to T; a token cut by the window's
        edge keeps only its frames inside the window, and tokens no frame lies in are left out.
    """
    tokens, durations = np.unique(phone_index, return_counts=True)  # sorted, so in time order
    return phone_ids[tokens].astype(np.int64), durations.astype(np.int64)


@dataclass(frozen=True)
class StyleSampler:
    """How a training window's style reference motion is chosen.

    Attributes:
        reference: "self" (the window's own target motion: paper 001's training setting),
            "same_speaker" (a random crop of another clip of the same speaker; the clip itself when
            the speaker has no other), "same_emotion" (a random crop of another clip of the same
            speaker whose frames are mostly of the emotion most of the window's frames are labelled
            with; a `same_speaker` draw when the speaker has no such crop), or "none" (no reference).
        frames: length of a `same_speaker` or `same_emotion` crop in motion frames; 0 takes the whole clip.
        seed: with the epoch and the window's index, fixes every draw (so resumed runs draw the same).
    """

    reference: StyleReference = "self"
    frames: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.reference not in STYLE_REFERENCES:
            raise InvalidInputError(f"style reference must be one of {', '.join(STYLE_REFERENCES)}, got {self.reference!r}")
        if self.frames < 0:
            raise InvalidInputError(f"style reference frames must be >= 0, got {self.frames}")


class WindowDataset:
    """Windows of clips as a map-style dataset of item dicts for `facetalk.data.collate.collate`.

    Args:
        clips: the clips.
        length: window length in motion frames; None makes every clip one window (validation).
        stride: frames between window starts; default `length`.
        min_frames: the shortest clip that is used.
        style: how windows get a style reference motion; None gives none.
    """

    def __init__(self, clips: Sequence[ClipArrays], *, length: int | None, stride: int | None = None, min_frames: int = 2,
                 style: StyleSampler | None = None) -> None:  # fmt: skip
        self.clips = list(clips)
        self.style = style if style is not None and style.reference != "none" else None
        self.epoch = 0
        frames = [clip.num_frames for clip in self.clips]
        if length is None:
            self.windows = [Window(i, 0, n) for i, n in enumerate(frames) if n >= min_frames]
        else:
            self.windows = plan_windows(frames, length=length, stride=stride, min_frames=min_frames)
        if self.style is not None and any(clip.motion is None for clip in self.clips):
            raise InvalidInputError("style references are drawn from the clips' motion, and a clip has none")
        self._by_speaker: dict[str, list[int]] = {}
        for index, clip in enumerate(self.clips):
            self._by_speaker.setdefault(clip.speaker, []).append(index)
        # same_emotion: (speaker, label) -> {clip: the starts of its crops whose label that is}
        self._emotion_crops: dict[tuple[str, int], dict[int, np.ndarray]] = {}
        if self.style is not None and self.style.reference == "same_emotion":
            for index, clip in enumerate(self.clips):
                if clip.emotion_labels is None:
                    raise InvalidInputError(f"{clip.clip_id}: same_emotion style references need the clips' emotion labels")
                labels = crop_labels(clip.emotion_labels, self.style.frames or clip.num_frames)  # (starts,)
                for label in np.unique(labels):
                    self._emotion_crops.setdefault((clip.speaker, int(label)), {})[index] = np.flatnonzero(labels == label)

    def set_epoch(self, epoch: int) -> None:
        """Draw the style references of this epoch (the training loop calls it at every epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One window: arrays of its real frames (no padding), see `collate` for the keys."""
        window = self.windows[index]
        clip = self.clips[window.clip]
        frames = slice(window.start, window.start + window.length)
        item: dict[str, Any] = {"length": window.length, "subject": clip.subject}
        if clip.motion is not None:
            item["motion"] = np.asarray(clip.motion[frames], dtype=np.float32)  # (T, D)
        for key in ("features", "text", "emotion", "emotion_prior"):
            array = getattr(clip, key)
            if array is not None:
                item[key] = np.asarray(array[frames], dtype=np.float32)  # (T, C), (T, C_text), (T, 7), (T, 7)
        if clip.template is not None:
            item["template"] = np.asarray(clip.template, dtype=np.float32)  # (3V,)
        if clip.phone_ids is not None and clip.phone_index is not None:
            index_in_window = clip.phone_index[frames]  # (T,)
            item["phone_ids"] = clip.phone_ids[index_in_window].astype(np.int64)  # (T,)
            item["phone_tokens"], item["phone_durations"] = window_phones(clip.phone_ids, index_in_window)  # (N_w,) each
        if clip.audio is not None:
            first, end = sample_range(window.start, window.length, fps=clip.fps, sample_rate=clip.sample_rate)
            audio = np.zeros(end - first, dtype=np.float32)  # (S,); the last frame may reach past the audio's end
            part = clip.audio[first:end]
            audio[: len(part)] = part
            item["audio"] = audio
        if self.style is not None:
            source, frames = self._style_reference(index, window)
            assert source.motion is not None
            item["style"] = np.asarray(source.motion[frames], dtype=np.float32)  # (T', D)
            if source.emotion_labels is not None:
                labels = source.emotion_labels[frames]
                item["style_emotion"] = int(crop_labels(labels, len(labels))[0])
            if source.template is not None:
                item["style_template"] = np.asarray(source.template, dtype=np.float32)  # (3V,)
        return item

    def _style_reference(self, index: int, window: Window) -> tuple[ClipArrays, slice]:
        """The clip a window's style reference comes from, and the reference's frames of it."""
        assert self.style is not None
        clip = self.clips[window.clip]
        if self.style.reference == "self":
            return clip, slice(window.start, window.start + window.length)
        # one generator per (seed, epoch, window): the draw does not depend on which windows came before
        rng = np.random.default_rng([self.style.seed, self.epoch, index, zlib.crc32(clip.clip_id.encode())])
        starts: np.ndarray | None = None
        if self.style.reference == "same_emotion":
            assert clip.emotion_labels is not None
            label = int(crop_labels(clip.emotion_labels[window.start : window.start + window.length], window.length)[0])
            crops = {i: s for i, s in self._emotion_crops.get((clip.speaker, label), {}).items() if i != window.clip}
            if crops:
                others = sorted(crops)
                chosen = others[int(rng.integers(len(others)))]
                starts = crops[chosen]
        if starts is None:
            others = [i for i in self._by_speaker[clip.speaker] if i != window.clip] or [window.clip]
            chosen = others[int(rng.integers(len(others)))]
        source = self.clips[chosen]
        frames = self.style.frames or source.num_frames
        if starts is None:
            starts = np.arange(max(source.num_frames - frames, 0) + 1)
        start = int(starts[rng.integers(len(starts))])
        return source, slice(start, start + frames)


def crop_labels(labels: np.ndarray, frames: int) -> np.ndarray:
    """The emotion label of each crop of `frames` frames: the label most of its frames carry (ties: the lowest).

    Args:
        labels: per-frame emotion labels, shape (T,), indices of `EMOTIONS`.
        frames: crop length; a clip shorter than that is one crop, the whole clip.

    Returns:
        One label per crop start 0 .. max(T - frames, 0), shape (max(T - frames, 0) + 1,).
    """
    one_hot = np.eye(NUM_LABELS, dtype=np.int64)[labels]  # (T, 7)
    counts = np.concatenate([np.zeros((1, NUM_LABELS), np.int64), np.cumsum(one_hot, axis=0)])  # (T+1, 7)
    starts = np.arange(max(len(labels) - frames, 0) + 1)
    ends = np.minimum(starts + frames, len(labels))
    return (counts[ends] - counts[starts]).argmax(axis=1)
