"""What an adapter does with a malformed clip: the shared bad-data policy.

Every research dataset has a few broken clips: a motion file without its wav, a NaN frame, audio
and motion of different lengths, a mesh whose vertex count is not the template's. An adapter built
on `CheckedClips` reports each such clip by name and then, as `on_bad` says:

- `"stop"`: raises `InvalidInputError` naming the clip (`"vocaset/FaceTalk_..._sentence03: ..."`).
- `"skip"` (the default): warns once per bad clip with a `BadClipWarning` naming it, and goes on.

The checks run in two places:

1. **At index time** (when the dataset is opened), the cheap ones that need no clip data: a motion
   file without audio, audio without motion. Under "skip" these clips never enter the index.
2. **When a clip is loaded** (`dataset[i]`), the ones that need its data: unreadable files,
   non-finite motion, a motion/audio duration mismatch beyond `length_tolerance` seconds, vertex
   motion whose vertex count differs from the subject's template, or any other malformed value.

Under "skip", `dataset[i]` of a clip found bad returns the next good clip in index order (wrapping
around), so `len(dataset)` stays fixed, a sampler's indices stay valid and an epoch never raises; the
clip is remembered and not read again. `iter(dataset)` yields only the good clips. Only when every
clip of the dataset is bad does `dataset[i]` raise. `scan()` loads every clip once and returns the
bad ones with their reasons, for checking a dataset before training. Each DataLoader worker process
holds its own copy of the dataset, so each worker warns once per bad clip it meets.
"""

from __future__ import annotations

import abc
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, TypeAlias

import numpy as np

from facetalk.data.sample import Sample
from facetalk.errors import InvalidInputError
from facetalk.files import DECODE_ERRORS
from facetalk.types import Seconds

OnBad: TypeAlias = Literal["skip", "stop"]
ON_BAD_CHOICES: tuple[str, ...] = ("skip", "stop")

LENGTH_TOLERANCE_S: Seconds = 0.5
"""Largest allowed |audio duration - motion duration|. Research datasets are cut loosely (VOCASET's
audio and meshes differ by a few frames), while a clip paired with the wrong audio is off by far
more; the training windows truncate to the shorter of the two."""

_LOAD_ERRORS: tuple[type[Exception], ...] = (*DECODE_ERRORS, KeyError, IndexError)
"""What reading a corrupt file raises (InvalidInputError is a ValueError)."""


class BadClipWarning(UserWarning):
    """A clip was skipped because it is malformed; the message names it and says why."""


def check_finite(data: np.ndarray, what: str = "motion") -> None:
    """Raise when `data` (T, ...) holds NaN or infinity, naming the first bad frame."""
    finite = np.isfinite(data)
    if not finite.all():
        frame = int((~finite.reshape(len(data), -1)).any(axis=1).argmax()) if data.ndim > 1 else int((~finite).argmax())
        raise InvalidInputError(f"{what} has non-finite values (first at frame {frame})")


def check_vertex_count(num_columns: int, template: np.ndarray) -> None:
    """Raise when flattened vertex data of `num_columns` = 3V columns does not fit `template` (V, 3)."""
    if num_columns != 3 * len(template):
        raise InvalidInputError(
            f"vertex motion has {num_columns} columns ({num_columns / 3:g} vertices) "
            f"but the template has {len(template)} vertices"
        )


def check_sample(sample: Sample, *, length_tolerance: Seconds = LENGTH_TOLERANCE_S) -> None:
    """The data checks of a loaded clip: durations agree, and vertices fit the template.

    Non-finite motion cannot reach here: `Motion` refuses it on construction.
    """
    mismatch = abs(sample.audio.duration - sample.motion.duration)
    if mismatch > length_tolerance:
        raise InvalidInputError(
            f"motion lasts {sample.motion.duration:.2f} s ({sample.num_frames} frames at {sample.fps:g} fps) but the audio "
            f"{sample.audio.duration:.2f} s (more than {length_tolerance:g} s apart)"
        )
    vertices = sample.vertex_motion()
    if vertices is not None and sample.template is not None:
        check_vertex_count(vertices.data.shape[1], sample.template)


class CheckedClips(abc.ABC):
    """A dataset split as a fixed list of clip ids, loaded lazily and checked by the bad-data policy.

    Adapters subclass it: they fill `clip_ids` (calling `reject` for clips found bad while indexing)
    and implement `load(index)`, which reads clip `clip_ids[index]` and raises `InvalidInputError`
    (or the OSError / ValueError of a corrupt file) when it is malformed.

    Args:
        dataset: the registered dataset name, the first part of every clip's name in messages.
        on_bad: "skip" or "stop"; see the module docstring.
        length_tolerance: largest allowed difference of audio and motion durations, seconds.
    """

    def __init__(
        self,
        dataset: str,
        root: str | os.PathLike[str],
        *,
        on_bad: OnBad = "skip",
        length_tolerance: Seconds = LENGTH_TOLERANCE_S,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InvalidInputError(f"{self.root}: no such directory")
        if on_bad not in ON_BAD_CHOICES:
            raise InvalidInputError(f"on_bad must be one of {', '.join(ON_BAD_CHOICES)}, got {on_bad!r}")
        if not length_tolerance >= 0:
            raise InvalidInputError(f"length_tolerance must be >= 0 seconds, got {length_tolerance}")
        self.dataset = dataset
        self.on_bad: OnBad = on_bad
        self.length_tolerance = length_tolerance
        self.clip_ids: list[str] = []
        self.bad: dict[str, str] = {}
        """Clips found bad so far, id -> reason (index-time rejects included)."""

    @abc.abstractmethod
    def load(self, index: int) -> Sample:
        """Read clip `clip_ids[index]`; adapters implement this."""

    def reject(self, clip_id: str, reason: str) -> None:
        """Report a bad clip: raise under "stop", else warn (once per clip) and remember it."""
        if self.on_bad == "stop":
            raise InvalidInputError(f"{self.dataset}/{clip_id}: {reason}")
        if clip_id not in self.bad:
            self.bad[clip_id] = reason
            warnings.warn(f"{self.dataset}/{clip_id}: {reason}; skipping it", BadClipWarning, stacklevel=3)

    def __len__(self) -> int:
        return len(self.clip_ids)

    def _try(self, index: int) -> Sample | None:
        """Clip `index` when it is good; None (after `reject`) when it is bad."""
        clip_id = self.clip_ids[index]
        if clip_id in self.bad:
            return None
        try:
            sample = self.load(index)
            check_sample(sample, length_tolerance=self.length_tolerance)
        except _LOAD_ERRORS as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.reject(clip_id, message)
            return None
        return sample

    def __getitem__(self, index: int) -> Sample:
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"{self.dataset}: clip index {index} out of range for {size} clips")
        index %= size
        for offset in range(size):
            sample = self._try((index + offset) % size)
            if sample is not None:
                return sample
        raise InvalidInputError(f"{self.dataset}: every one of the {size} clips is malformed (see the warnings)")

    def __iter__(self) -> Iterator[Sample]:
        for index in range(len(self)):
            sample = self._try(index)
            if sample is not None:
                yield sample

    def scan(self) -> dict[str, str]:
        """Load every clip once; the bad ones (including those rejected at index time), id -> reason."""
        for index in range(len(self)):
            self._try(index)
        return dict(self.bad)
