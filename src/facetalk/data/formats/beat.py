"""BEAT (PantoMatrix, the original release): ARKit face weights, speech and word alignment (FORMATS.md §4).

Layout: the release's folders as they are, e.g. `beat_english_v0.2.1/{speaker id}/`, each take as

    {speakerId}_{name}_{recType}_{startId}_{endId}.json        face weights, 60 fps
    {speakerId}_{name}_{recType}_{startId}_{endId}.wav         16 kHz speech
    {speakerId}_{name}_{recType}_{startId}_{endId}.TextGrid    word alignment (optional)

anywhere under `root` (`.bvh`, `.csv` and `.txt` files are not read). A face JSON without its wav is
reported when the dataset is opened; a take without a TextGrid just has no alignment or text.

- **Names** (`1_wayne_0_65_65`): the subject is `{speakerId}_{name}` (`"1_wayne"`); `recType` even
  (0, 2, 4, 6: EN, ZH, ES, JA) is a speech take, odd a conversation; the sentence id is
  `{recType}_{startId}_{endId}`.
- **Face JSON:** `json["frames"][i]["weights"]`, at 60 fps. The channel names are the file's top-level
  `names` list when it has one; else 52 weights are the ARKit-52 in canonical order and 51 weights
  are the ARKit-52 without `tongueOut` **[unverified: which channel the 51-weight files drop]**. Any
  other length is a malformed clip. Per-frame `time` keys, if any, are not used.
- **TextGrid:** the words tier (the tier named "words", else the first interval tier, as BEAT's
  tier 0); `" "` marks silence and is dropped. `text` is the words joined by spaces.
- **Emotion** (a constant `EmotionSchedule`): speech takes by `startId`, with the README's inclusive
  ranges: 0-64 neutral, 65-72 happy, 73-80 anger, 81-86 sad, 87-94 contempt, 95-102 surprise,
  103-110 fear, 111-118 disgust (not FaceDiffuser's half-open ranges); conversation takes are
  neutral. facetalk's seven categories have no **contempt**: `contempt="exclude"` (the default)
  leaves those takes out, so that no category is polluted; `"disgust"` labels them disgust (its
  nearest category: both are rejection expressions) and `"neutral"` labels them neutral.
- **Splits:** "all"; "speech" (speech takes) and "conversation" (conversation takes), the train/test
  division of protocols that train on speech and test on conversation; or a split of
  `root/splits.json` (`{"train": [take names], ...}`; BEAT's own lists' `_a`/`_b` half-takes are not
  supported: list whole takes). `speakers=` keeps only the given speaker ids (e.g. BEAT-16h: 2 4 6 8).

Takes are not cut into chunks and not resampled (FaceDiffuser's 10 s / 30 fps chunks are a training
choice); audio is resampled to 16 kHz.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from facetalk.audio.io import load_audio
from facetalk.data.formats import DATASETS
from facetalk.data.formats._common import ALL_SPLITS, user_split
from facetalk.data.sample import Sample
from facetalk.data.validate import LENGTH_TOLERANCE_S, CheckedClips, OnBad, check_finite
from facetalk.errors import InvalidInputError
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.types import EmotionSchedule, Motion, Seconds

NAME = "beat"
FACE_FPS = 60.0
TAKE_SPLITS = ("speech", "conversation")
CONTEMPT_CHOICES = ("exclude", "disgust", "neutral")
ContemptChoice = Literal["exclude", "disgust", "neutral"]


def check_contempt(choice: str) -> None:
    """Refuse a `contempt=` option other than the CONTEMPT_CHOICES (BEAT and BEAT2/MEAD share it)."""
    if choice not in CONTEMPT_CHOICES:
        raise InvalidInputError(f"contempt must be one of {', '.join(CONTEMPT_CHOICES)}, got {choice!r}")


SPEECH_EMOTIONS: tuple[tuple[range, str], ...] = (
    (range(0, 65), "neutral"),
    (range(65, 73), "happy"),
    (range(73, 81), "anger"),
    (range(81, 87), "sad"),
    (range(87, 95), "contempt"),
    (range(95, 103), "surprise"),
    (range(103, 111), "fear"),
    (range(111, 119), "disgust"),
)
"""BEAT's speech-id ranges (inclusive, README), with facetalk's names; "contempt" has no category."""
ARKIT_51 = tuple(name for name in ARKIT_NAMES if name != "tongueOut")
_TAKE = re.compile(r"^(\d+)_([A-Za-z]+)_(\d+)_(\d+)_(\d+)$")


def speech_emotion(speech_id: int) -> str | None:
    """The emotion of a speech take by its id ("contempt" included); None outside 0-118."""
    return next((label for ids, label in SPEECH_EMOTIONS if speech_id in ids), None)


def _face_json(path: Path) -> Motion:
    """The face weights of one take (T, K) at 60 fps."""
    document = json.loads(path.read_text())
    if not isinstance(document, dict) or not isinstance(document.get("frames"), list):
        raise InvalidInputError(f"{path}: not a BEAT face JSON (no 'frames' list)")
    try:
        weights = np.array([frame["weights"] for frame in document["frames"]], dtype=np.float32)  # (T, K)
    except (KeyError, TypeError, ValueError):
        raise InvalidInputError(f"{path}: every frame needs a 'weights' list of numbers of one length") from None
    if weights.ndim != 2 or len(weights) == 0:
        raise InvalidInputError(f"{path}: no frames of weights")
    check_finite(weights, f"{path}: face weights")
    names = document.get("names")
    if isinstance(names, list) and len(names) == weights.shape[1] and all(isinstance(n, str) for n in names):
        channels = tuple(names)
    elif weights.shape[1] == len(ARKIT_NAMES):
        channels = ARKIT_NAMES
    elif weights.shape[1] == len(ARKIT_51):
        channels = ARKIT_51
    else:
        raise InvalidInputError(f"{path}: {weights.shape[1]} weights per frame and no 'names'; expected 51 or 52 ARKit weights")
    return Motion(weights, FACE_FPS, "blendshapes", channels)


@DATASETS.register(NAME)
class BeatDataset(CheckedClips):
    """Takes of the BEAT release under `root`.

    Args:
        root: the release directory (or any folder above the takes).
        split: "all", "speech", "conversation", or a split of `root/splits.json`.
        speakers: keep only these speaker ids; None keeps all.
        contempt: what the contempt takes become: "exclude", "disgust" or "neutral".
        on_bad: what to do with a malformed clip (`facetalk.data.validate`).
        length_tolerance: largest allowed audio/motion duration difference, seconds.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        split: str = ALL_SPLITS,
        speakers: Sequence[int] | None = None,
        contempt: ContemptChoice = "exclude",
        on_bad: OnBad = "skip",
        length_tolerance: Seconds = LENGTH_TOLERANCE_S,
    ) -> None:
        super().__init__(NAME, root, on_bad=on_bad, length_tolerance=length_tolerance)
        check_contempt(contempt)
        wanted = None if split in TAKE_SPLITS else user_split(self.root, split)
        self.split = split
        self.paths: list[Path] = []  # each take's path without suffix
        self.emotions: list[str] = []
        for face in sorted(self.root.rglob("*.json")):
            match = _TAKE.match(face.stem)
            if match is None:
                continue
            speaker, rec_type, start = int(match.group(1)), int(match.group(3)), int(match.group(4))
            is_speech = rec_type % 2 == 0
            if speakers is not None and speaker not in speakers:
                continue
            if (split == "speech" and not is_speech) or (split == "conversation" and is_speech):
                continue
            if wanted is not None and face.stem not in wanted:
                continue
            emotion = speech_emotion(start) if is_speech else "neutral"
            if emotion == "contempt":
                if contempt == "exclude":
                    continue
                emotion = contempt
            if emotion is None:
                self.reject(face.stem, f"{face}: speech id {start} is outside BEAT's 0-118, so its emotion is unknown")
                continue
            if not face.with_suffix(".wav").is_file():
                self.reject(face.stem, f"{face} has no audio {face.with_suffix('.wav').name} beside it")
                continue
            self.clip_ids.append(face.stem)
            self.paths.append(face.with_suffix(""))
            self.emotions.append(emotion)

    def load(self, index: int) -> Sample:
        from facetalk.text.textgrid import read_textgrid

        clip_id, take = self.clip_ids[index], self.paths[index]
        match = _TAKE.match(clip_id)
        assert match is not None  # indexed takes match
        textgrid = take.with_suffix(".TextGrid")
        alignment = read_textgrid(textgrid) if textgrid.is_file() else None
        return Sample(
            dataset=NAME,
            clip_id=clip_id,
            subject=f"{match.group(1)}_{match.group(2)}",
            audio=load_audio(take.with_suffix(".wav")),
            motion=_face_json(take.with_suffix(".json")),
            sentence_id="_".join(match.group(3, 4, 5)),
            text=" ".join(word.text for word in alignment.words) if alignment is not None else None,
            alignment=alignment,
            emotion=EmotionSchedule.constant(self.emotions[index]),
        )
