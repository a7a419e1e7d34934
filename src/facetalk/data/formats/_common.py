"""Small pieces the research-dataset adapters share: split names, audio lookup, PCM conversion."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from facetalk.audio.io import SAMPLE_RATE, resample
from facetalk.errors import InvalidInputError
from facetalk.types import Waveform

ALL_SPLITS = "all"
SPLITS_FILE = "splits.json"
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".m4a", ".mp3", ".ogg", ".mov", ".mp4")
"""Audio next to a motion file, in order of preference (video containers are decoded by ffmpeg)."""
INT16_SCALE = 32768.0


def unknown_split(root: Path, split: str, known: Iterable[str]) -> InvalidInputError:
    return InvalidInputError(f"{root}: unknown split {split!r} (known: {', '.join(known)})")


def user_split(root: Path, split: str) -> set[str] | None:
    """The clip ids of `split` from `root/splits.json` ({"train": [ids], ...}); None for split "all".

    For datasets without an official split (BEAT, MEAD, Live Link, Audio2Face): a user's own split.
    """
    if split == ALL_SPLITS:
        return None
    path = root / SPLITS_FILE
    if not path.is_file():
        raise InvalidInputError(f"{root}: no {SPLITS_FILE}, so the only split is {ALL_SPLITS!r} (asked for {split!r})")
    try:
        splits = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path}: unreadable ({exc})") from None
    if not isinstance(splits, dict) or not all(isinstance(v, list) for v in splits.values()):
        raise InvalidInputError(f"{path}: must map split names to lists of clip ids")
    if split not in splits:
        raise unknown_split(root, split, [*splits, ALL_SPLITS])
    return {str(clip_id) for clip_id in splits[split]}


def clip_files(root: Path, files: Iterable[Path], wanted: set[str] | None) -> Iterator[tuple[str, Path]]:
    """(clip id, file) for motion files under `root` in the split `wanted` (None: all), sorted.

    A clip id is the file's path below `root` without its suffix; `root/splits.json` is never a clip.
    """
    for path in sorted(files):
        clip_id = path.relative_to(root).with_suffix("").as_posix()
        if path != root / SPLITS_FILE and (wanted is None or clip_id in wanted):
            yield clip_id, path


def folder_subject(root: Path, clip_id: str) -> str:
    """The subject of a clip stored as `root/<subject>/.../<clip>`: the first folder, else `root`'s name."""
    parts = Path(clip_id).parts
    return parts[0] if len(parts) > 1 else root.name


def find_audio(stem: Path, *others: Path) -> Path | None:
    """The first existing `stem` + audio suffix, then the same for each of `others`."""
    for base in (stem, *others):
        for suffix in AUDIO_SUFFIXES:
            candidate = base.with_name(base.name + suffix)
            if candidate.is_file():
                return candidate
    return None


def pcm_waveform(samples: np.ndarray, sample_rate: int, *, where: str) -> Waveform:
    """Integer or float PCM samples (S,) as a float32 waveform at facetalk's `SAMPLE_RATE`."""
    samples = np.asarray(samples)
    if samples.ndim != 1 or len(samples) == 0:
        raise InvalidInputError(f"{where}: audio must be a non-empty 1-D array, got shape {samples.shape}")
    if sample_rate <= 0:
        raise InvalidInputError(f"{where}: audio sample rate must be positive, got {sample_rate}")
    if np.issubdtype(samples.dtype, np.integer):
        scale = float(np.iinfo(samples.dtype).max) + 1.0
        floats = samples.astype(np.float32) / np.float32(scale)
    else:
        floats = samples.astype(np.float32)
    if not np.isfinite(floats).all():
        raise InvalidInputError(f"{where}: audio has non-finite samples")
    return Waveform(resample(floats, int(sample_rate), SAMPLE_RATE), SAMPLE_RATE)
