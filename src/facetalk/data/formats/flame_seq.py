"""FLAME parameter sequences: MEAD/EMOTE-style per-clip files and BEAT2's npz (FORMATS.md §4, §5).

Every clip yields `Motion` of kind "params" with the channels `expr_00..expr_99` (FLAME ψ, zero-
padded from 50 to 100 components when the file has 50), `jaw_x jaw_y jaw_z` (jaw axis-angle) and,
when the file has a global (head) pose, `global_x global_y global_z`. No shape (β) is yielded.

**Files** (anywhere under `root`, one clip each, `.npz` or `.pkl`; pickles are read with the
restricted unpickler):

- BEAT2 (`smplxflame_30/{take}.npz`): `expressions` (T, 100), `poses` (T, 165) SMPL-X axis-angle, of
  which the jaw is `poses[:, 66:69]`; `mocap_frame_rate` (30). SMPL-X's global orientation is the
  body's, not the head's, so no global channels are yielded.
- MEAD/EMOTE-style **[unverified: no single on-disk convention exists; these are the names EMOCA,
  EMOTE/inferno and DEEPTalk use]**: expression under `expcode`, `exp`, `expression`, `expressions`
  or `expr` (T, 50 or 100); jaw under `jawpose`, `jaw_pose` or `jaw` (T, 3); global pose, optional,
  under `global_pose`, `globalpose` or `global` (T, 3); or instead of the last two a FLAME_PyTorch
  `pose`/`posecode`/`pose_params` (T, 6) = [global 3, jaw 3]. Frame rate from `fps`,
  `mocap_frame_rate` or `frame_rate`, else the adapter's `fps=` (EMOTE's `mead_25fps`: 25); a clip
  with neither is malformed.

**Audio** (resampled to 16 kHz), the first found of: the same stem beside the file (`.wav`, `.m4a`,
...); BEAT2's `../wave16k/{stem}.wav`; and for files at `{ID}/.../{emotion}/level_{k}/{NNN}.*`, MEAD's
raw `{ID}/audio/{emotion}/level_{k}/{NNN}.m4a`. A file without audio is reported at opening.

**Subject, emotion:** BEAT2 takes (`2_scott_0_1_1`) take subject and emotion as the `beat` adapter
does (speech id ranges; conversation neutral; `contempt=` as there, default "exclude"). Otherwise
the subject is the first folder under `root`, and a MEAD emotion folder in the path (`angry contempt
disgusted fear happy neutral sad surprised`) gives the emotion at intensity `k / 3` for `level_{k}`
(MEAD's levels 1-3; neutral at full intensity); contempt as above. The sentence id is the file stem.

**Splits:** "all", or a split of `root/splits.json` (`{"train": [clip ids], ...}`; a clip id is the
file's path under `root` without its suffix).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from facetalk.audio.io import load_audio
from facetalk.data.formats import DATASETS
from facetalk.data.formats._common import ALL_SPLITS, clip_files, find_audio, folder_subject, user_split
from facetalk.data.formats.beat import ContemptChoice, check_contempt, speech_emotion
from facetalk.data.pickles import load_pickle
from facetalk.data.sample import Sample
from facetalk.data.validate import LENGTH_TOLERANCE_S, CheckedClips, OnBad, check_finite
from facetalk.errors import InvalidInputError
from facetalk.types import EmotionKey, EmotionSchedule, Motion, Seconds

NAME = "flame_seq"
NUM_EXPRESSION = 100
EXPRESSION_SIZES = (50, 100)
EXPRESSION_CHANNELS: tuple[str, ...] = tuple(f"expr_{i:02d}" for i in range(NUM_EXPRESSION))
JAW_CHANNELS: tuple[str, ...] = ("jaw_x", "jaw_y", "jaw_z")
GLOBAL_CHANNELS: tuple[str, ...] = ("global_x", "global_y", "global_z")
BEAT2_JAW = slice(66, 69)  # SMPL-X joint 22 (jaw) in `poses` (T, 165)
EXPRESSION_KEYS = ("expcode", "exp", "expression", "expressions", "expr")
JAW_KEYS = ("jawpose", "jaw_pose", "jaw")
GLOBAL_KEYS = ("global_pose", "globalpose", "global")
POSE6_KEYS = ("pose", "posecode", "pose_params")  # [global 3, jaw 3]
FPS_KEYS = ("fps", "mocap_frame_rate", "frame_rate")
MEAD_EMOTIONS: dict[str, str] = {
    "angry": "anger",
    "contempt": "contempt",
    "disgusted": "disgust",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprised": "surprise",
}
MEAD_LEVELS = 3
SUFFIXES = (".npz", ".pkl")
_BEAT_TAKE = re.compile(r"^(\d+)_([A-Za-z]+)_(\d+)_(\d+)_(\d+)$")
_LEVEL = re.compile(r"^level_(\d+)$")


def _first(arrays: Mapping[str, Any], keys: tuple[str, ...]) -> np.ndarray | None:
    key = next((k for k in keys if k in arrays), None)
    return None if key is None else np.asarray(arrays[key])


def _rows(value: np.ndarray, width: int, what: str, path: Path) -> np.ndarray:
    value = np.asarray(value, dtype=np.float32)
    if value.ndim != 2 or value.shape[1] != width:
        raise InvalidInputError(f"{path}: {what} must have shape (T, {width}), got {value.shape}")
    return value


def flame_params(arrays: Mapping[str, Any], path: Path, default_fps: float | None) -> Motion:
    """The "params" motion of one file's arrays (see the module docstring for the keys)."""
    expression: np.ndarray | None
    jaw: np.ndarray | None
    head: np.ndarray | None
    if "poses" in arrays and "expressions" in arrays:  # BEAT2
        poses = np.asarray(arrays["poses"], dtype=np.float32)
        if poses.ndim != 2 or poses.shape[1] < BEAT2_JAW.stop:
            raise InvalidInputError(f"{path}: BEAT2 poses must have shape (T, 165), got {poses.shape}")
        expression, jaw, head = np.asarray(arrays["expressions"], dtype=np.float32), poses[:, BEAT2_JAW], None
    else:
        expression = _first(arrays, EXPRESSION_KEYS)
        if expression is None:
            raise InvalidInputError(f"{path}: no FLAME expression (none of {', '.join(EXPRESSION_KEYS)})")
        jaw, head = _first(arrays, JAW_KEYS), _first(arrays, GLOBAL_KEYS)
        pose = _first(arrays, POSE6_KEYS)
        if jaw is None and pose is not None:
            pose = _rows(pose, 6, "pose", path)
            head, jaw = pose[:, :3], pose[:, 3:]
        if jaw is None:
            raise InvalidInputError(f"{path}: no jaw pose (none of {', '.join(JAW_KEYS + POSE6_KEYS)})")
    expression = np.asarray(expression, dtype=np.float32)
    if expression.ndim != 2 or expression.shape[1] not in EXPRESSION_SIZES:
        raise InvalidInputError(f"{path}: expression must have shape (T, 50) or (T, 100), got {expression.shape}")
    parts = [np.pad(expression, ((0, 0), (0, NUM_EXPRESSION - expression.shape[1]))), _rows(jaw, 3, "jaw pose", path)]
    channels = EXPRESSION_CHANNELS + JAW_CHANNELS
    if head is not None:
        parts.append(_rows(head, 3, "global pose", path))
        channels += GLOBAL_CHANNELS
    if len({len(p) for p in parts}) > 1:
        raise InvalidInputError(
            f"{path}: expression and pose have different frame counts ({', '.join(str(len(p)) for p in parts)})"
        )
    data = np.concatenate(parts, axis=1)  # (T, 103 or 106)
    check_finite(data, f"{path}: FLAME parameters")
    stored = _first(arrays, FPS_KEYS)
    fps = float(stored.reshape(-1)[0]) if stored is not None and stored.size else default_fps
    if fps is None:
        raise InvalidInputError(f"{path}: no frame rate stored (none of {', '.join(FPS_KEYS)}); pass fps=")
    return Motion(data, fps, "params", channels)


def _read(path: Path) -> Mapping[str, Any]:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            return {key: arrays[key] for key in arrays.files}
    value = load_pickle(path)
    if not isinstance(value, dict):
        raise InvalidInputError(f"{path}: expected a dict of arrays")
    return value


@DATASETS.register(NAME)
class FlameSequenceDataset(CheckedClips):
    """FLAME parameter sequences with their audio under `root`.

    Args:
        root: the directory searched (recursively) for `.npz` and `.pkl` files.
        split: "all", or a split of `root/splits.json`.
        fps: frame rate of files that store none (EMOTE's `mead_25fps`: 25).
        contempt: what contempt clips become: "exclude", "disgust" or "neutral".
        on_bad: what to do with a malformed clip (`facetalk.data.validate`).
        length_tolerance: largest allowed audio/motion duration difference, seconds.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        split: str = ALL_SPLITS,
        fps: float | None = None,
        contempt: ContemptChoice = "exclude",
        on_bad: OnBad = "skip",
        length_tolerance: Seconds = LENGTH_TOLERANCE_S,
    ) -> None:
        super().__init__(NAME, root, on_bad=on_bad, length_tolerance=length_tolerance)
        check_contempt(contempt)
        wanted = user_split(self.root, split)
        self.split = split
        self.fps = fps
        self.entries: list[tuple[Path, Path, str, EmotionSchedule | None]] = []  # (file, audio, subject, emotion)
        files = (p for p in self.root.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        for clip_id, path in clip_files(self.root, files, wanted):
            subject, emotion, intensity = self._labels(path)
            if emotion == "contempt":
                if contempt == "exclude":
                    continue
                emotion = contempt
            audio = find_audio(path.with_suffix(""), *self._audio_elsewhere(path))
            if audio is None:
                self.reject(clip_id, f"{path} has no audio ({path.with_suffix('.wav').name} or .m4a, ...)")
                continue
            schedule = EmotionSchedule((EmotionKey(0.0, emotion, intensity),)) if emotion is not None else None
            self.clip_ids.append(clip_id)
            self.entries.append((path, audio, subject, schedule))

    def _labels(self, path: Path) -> tuple[str, str | None, float]:
        """Subject, emotion (facetalk's name, or "contempt") and intensity of a file, from its path."""
        take = _BEAT_TAKE.match(path.stem)
        if take is not None:
            rec_type, start = int(take.group(3)), int(take.group(4))
            emotion = speech_emotion(start) if rec_type % 2 == 0 else "neutral"
            return f"{take.group(1)}_{take.group(2)}", emotion, 1.0
        parts = path.relative_to(self.root).parts
        subject = folder_subject(self.root, path.relative_to(self.root).as_posix())
        emotion = next((MEAD_EMOTIONS[p.lower()] for p in parts[:-1] if p.lower() in MEAD_EMOTIONS), None)
        level = next((int(m.group(1)) for p in parts[:-1] if (m := _LEVEL.match(p))), MEAD_LEVELS)
        intensity = 1.0 if emotion == "neutral" else min(max(level, 1), MEAD_LEVELS) / MEAD_LEVELS
        return subject, emotion, intensity

    def _audio_elsewhere(self, path: Path) -> list[Path]:
        """Stems (without suffix) where the audio of `path` may be, besides beside it."""
        stems = [path.parent.parent / "wave16k" / path.stem]  # BEAT2
        parts = path.relative_to(self.root).parts
        if len(parts) >= 4 and _LEVEL.match(parts[-2]) and parts[-3].lower() in MEAD_EMOTIONS:  # MEAD raw
            stems.append(self.root / parts[0] / "audio" / parts[-3] / parts[-2] / path.stem)
        return stems

    def load(self, index: int) -> Sample:
        path, audio, subject, emotion = self.entries[index]
        return Sample(
            dataset=NAME,
            clip_id=self.clip_ids[index],
            subject=subject,
            audio=load_audio(audio),
            motion=flame_params(_read(path), path, self.fps),
            sentence_id=path.stem,
            emotion=emotion,
        )
