"""Core data types that flow through facetalk: speech, its timing, emotion controls and motion.

Arrays are numpy; times are `Seconds`. Every type validates itself on construction, so a value that
exists is a value that later stages can trust.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

import numpy as np

from facetalk.errors import InvalidInputError

Seconds: TypeAlias = float
MotionKind = Literal["blendshapes", "vertices", "params"]
MOTION_KINDS: tuple[str, ...] = ("blendshapes", "vertices", "params")

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")
"""The seven emotion categories, in the order of every per-frame emotion vector."""


@dataclass(frozen=True)
class Waveform:
    """Mono speech samples.

    Attributes:
        samples: float32 samples in [-1, 1], shape (S,).
        sample_rate: samples per second.
        source: the file the samples were read from, which messages about them name; "" when the
            samples were made in memory (messages then say "waveform").
    """

    samples: np.ndarray
    sample_rate: int
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim != 1:
            raise InvalidInputError(f"{self.name}: speech must be mono with shape (S,), got {samples.shape}")
        if self.sample_rate <= 0:
            raise InvalidInputError(f"{self.name}: sample rate must be positive, got {self.sample_rate}")
        if not np.isfinite(samples).all():
            raise InvalidInputError(f"{self.name}: speech has non-finite samples")
        object.__setattr__(self, "samples", samples)

    @property
    def name(self) -> str:
        """What messages about this speech call it: its file, else "waveform"."""
        return self.source or "waveform"

    @property
    def duration(self) -> Seconds:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class Word:
    text: str
    start: Seconds
    end: Seconds


@dataclass(frozen=True)
class Phone:
    """One ARPAbet phone (with stress digit on vowels, e.g. "AH0"), or "SIL" for silence."""

    label: str
    start: Seconds
    end: Seconds


@dataclass(frozen=True)
class Alignment:
    """Words and phones of an utterance with their times, sorted and non-overlapping."""

    words: tuple[Word, ...] = ()
    phones: tuple[Phone, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", tuple(self.words))
        object.__setattr__(self, "phones", tuple(self.phones))
        for name, items in (("word", self.words), ("phone", self.phones)):
            previous_end = 0.0
            for item in items:
                if not (math.isfinite(item.start) and math.isfinite(item.end)) or item.start < 0 or item.end < item.start:
                    raise InvalidInputError(f"{name} {item!r} has an invalid time span")
                # Aligners round to 10 ms frames, so allow neighbours to touch within a millisecond.
                if item.start < previous_end - 1e-3:
                    raise InvalidInputError(f"{name} {item!r} overlaps the previous {name}")
                previous_end = item.end

    @property
    def duration(self) -> Seconds:
        ends = [word.end for word in self.words] + [phone.end for phone in self.phones]
        return max(ends, default=0.0)


@dataclass(frozen=True)
class EmotionKey:
    """From `time` on, the face shows `category` at `intensity` (0 = neutral, 1 = full)."""

    time: Seconds
    category: str
    intensity: float = 1.0

    def __post_init__(self) -> None:
        if self.category not in EMOTIONS:
            raise InvalidInputError(f"unknown emotion {self.category!r} (known: {', '.join(EMOTIONS)})")
        if not 0.0 <= self.intensity <= 1.0:
            raise InvalidInputError(f"emotion intensity must be in [0, 1], got {self.intensity}")
        if not math.isfinite(self.time) or self.time < 0:
            raise InvalidInputError(f"emotion key time must be a finite time >= 0, got {self.time}")

    def vector(self) -> np.ndarray:
        """The 7-way vector of this key: `intensity` on its category, the rest on neutral."""
        vec = np.zeros(len(EMOTIONS), dtype=np.float32)
        vec[EMOTIONS.index(self.category)] += self.intensity
        vec[0] += 1.0 - self.intensity
        return vec


@dataclass(frozen=True)
class EmotionSchedule:
    """Emotion keyframes over time, linearly interpolated into per-frame 7-way vectors.

    Before the first key the first key holds, after the last key the last one holds. Each frame's
    vector sums to 1, so intensity trades off against neutral.
    """

    keys: tuple[EmotionKey, ...]

    def __post_init__(self) -> None:
        keys = tuple(sorted(self.keys, key=lambda k: k.time))
        if not keys:
            raise InvalidInputError("an emotion schedule needs at least one key")
        object.__setattr__(self, "keys", keys)

    @classmethod
    def constant(cls, category: str, intensity: float = 1.0) -> EmotionSchedule:
        return cls((EmotionKey(0.0, category, intensity),))

    @classmethod
    def parse(cls, spec: str) -> EmotionSchedule:
        """Parse the CLI form `category[:intensity][@time]`, keys separated by commas.

        `happy:0.8` holds one emotion; `sad:0.3@0,anger:1.0@4` is sad at 0.3 from 0 s, turning into
        anger at full intensity by 4 s (keys are interpolated linearly; a key without a time is at 0 s).
        """
        keys = []
        for part in spec.split(","):
            body, _, time = part.partition("@")
            category, _, intensity = body.partition(":")
            try:
                at, value = float(time) if time.strip() else 0.0, float(intensity) if intensity.strip() else 1.0
            except ValueError:
                raise InvalidInputError(f"emotion {spec!r} is not of the form category[:intensity][@time],...") from None
            keys.append(EmotionKey(at, category.strip(), value))
        return cls(tuple(keys))

    @classmethod
    def from_json(cls, path: str | Path) -> EmotionSchedule:
        """Read `[{"time": 0.0, "emotion": "happy", "intensity": 0.8}, ...]` (or `{"keys": [...]}`).

        Raises:
            InvalidInputError: the file is missing, a directory, not JSON, or not such a list of keys.
        """
        from facetalk.files import read_json

        raw = read_json(path, what="emotion schedule file")
        items = raw.get("keys") if isinstance(raw, dict) else raw
        if not isinstance(items, list) or not all(isinstance(k, dict) for k in items):
            raise InvalidInputError(f"{path}: not an emotion schedule (expected a list of {{time, emotion, intensity}} objects)")
        try:
            keys = [EmotionKey(_number(k["time"]), str(k["emotion"]), _number(k.get("intensity", 1.0))) for k in items]
            return cls(tuple(keys))
        except KeyError as exc:
            raise InvalidInputError(f"{path}: not an emotion schedule (a key has no {exc})") from None
        except InvalidInputError as exc:
            raise InvalidInputError(f"{path}: {exc}") from None

    def to_json(self) -> list[dict[str, float | str]]:
        return [{"time": k.time, "emotion": k.category, "intensity": k.intensity} for k in self.keys]

    def at_frames(self, num_frames: int, fps: float) -> np.ndarray:
        """Per-frame emotion vectors, shape (T, 7), for frames at times t = i / fps."""
        return self.at_times(np.arange(num_frames) / fps)

    def at_times(self, times: np.ndarray) -> np.ndarray:
        """Emotion vectors at `times` (N,) in seconds, shape (N, 7)."""
        key_times = np.array([k.time for k in self.keys])
        key_vectors = np.stack([k.vector() for k in self.keys])  # (N, 7)
        out = np.stack([np.interp(times, key_times, key_vectors[:, c]) for c in range(len(EMOTIONS))], axis=1)
        return out.astype(np.float32)


def _number(value: object) -> float:
    """A JSON number as a float; anything else (strings, booleans, lists, overflowing ints) is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"expected a number, got {value!r}"[:120])
    try:
        return float(value)
    except OverflowError:
        raise InvalidInputError("a number is too large") from None


@dataclass(frozen=True)
class Motion:
    """Facial motion: one row of `data` per frame.

    Attributes:
        data: float32 array (T, D). For "vertices", D = 3V with xyz interleaved per vertex.
        fps: frames per second.
        kind: "blendshapes" (weights, usually ARKit-52), "vertices" or "params" (e.g. FLAME).
        channels: one name per column for blendshapes and params; empty for vertices.
    """

    data: np.ndarray
    fps: float
    kind: MotionKind
    channels: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        raw = np.asarray(self.data)
        if raw.dtype.kind not in "biuf":
            raise InvalidInputError(f"motion data must be numbers, got {raw.dtype} values")
        data = raw.astype(np.float32, copy=False)
        object.__setattr__(self, "channels", tuple(self.channels))
        if data.ndim != 2:
            raise InvalidInputError(f"motion data must have shape (T, D), got {data.shape}")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise InvalidInputError(f"motion fps must be positive, got {self.fps}")
        if self.kind not in MOTION_KINDS:
            raise InvalidInputError(f"motion kind must be one of {', '.join(MOTION_KINDS)}, got {self.kind!r}")
        if not np.isfinite(data).all():
            bad = int((~np.isfinite(data)).any(axis=1).argmax())
            raise InvalidInputError(f"motion data has non-finite values (first at frame {bad})")
        if self.kind == "vertices":
            if data.shape[1] % 3 or self.channels:
                raise InvalidInputError(f"vertex motion needs D = 3V columns and no channel names, got D = {data.shape[1]}")
        elif len(self.channels) != data.shape[1]:
            raise InvalidInputError(f"{self.kind} motion has {data.shape[1]} columns but {len(self.channels)} channel names")
        object.__setattr__(self, "data", data)

    @classmethod
    def from_vertices(cls, vertices: np.ndarray, fps: float) -> Motion:
        """Wrap vertex positions of shape (T, V, 3)."""
        vertices = np.asarray(vertices, dtype=np.float32)
        if vertices.ndim != 3 or vertices.shape[2] != 3:
            raise InvalidInputError(f"vertices must have shape (T, V, 3), got {vertices.shape}")
        return cls(vertices.reshape(len(vertices), -1), fps, "vertices")

    @property
    def num_frames(self) -> int:
        return int(self.data.shape[0])

    @property
    def duration(self) -> Seconds:
        return self.num_frames / self.fps

    @property
    def times(self) -> np.ndarray:
        """Frame times in seconds, shape (T,)."""
        return np.arange(self.num_frames, dtype=np.float64) / self.fps

    def vertices(self) -> np.ndarray:
        """Vertex positions, shape (T, V, 3); only for kind "vertices"."""
        if self.kind != "vertices":
            raise InvalidInputError(f"motion of kind {self.kind!r} has no vertices")
        return self.data.reshape(self.num_frames, -1, 3)

    def select(self, names: Sequence[str]) -> np.ndarray:
        """The columns named `names`, in that order, shape (T, len(names)); missing names are zero."""
        index = {name: i for i, name in enumerate(self.channels)}
        out = np.zeros((self.num_frames, len(names)), dtype=np.float32)
        for j, name in enumerate(names):
            if name in index:
                out[:, j] = self.data[:, index[name]]
        return out
