"""facetalk's native dataset format: what `facetalk synth` writes (see docs/synthetic-corpus.md).

The manifest, splits and speakers are read when the dataset is opened; a clip's WAV, npz and
TextGrid only when it is indexed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from facetalk.data.formats import DATASETS
from facetalk.data.sample import Sample
from facetalk.data.validate import LENGTH_TOLERANCE_S, CheckedClips, OnBad
from facetalk.errors import InvalidInputError
from facetalk.types import EmotionKey, EmotionSchedule, Motion, Seconds, Waveform

SUPPORTED_VERSIONS = (1,)
ALL_SPLITS = "all"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: missing; not a complete facetalk corpus") from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path}: unreadable ({exc})") from None


@DATASETS.register("native")
class NativeDataset(CheckedClips):
    """One split of a corpus written by `facetalk synth`.

    A malformed clip is handled by the shared bad-data policy (`facetalk.data.validate`).

    Args:
        root: the corpus directory.
        split: "train", "val", "test", "test_unseen_speaker" or "all".
        vertices: load the vertex motion too (it is most of each clip's bytes).
        on_bad: what to do with a malformed clip: "skip" or "stop".
        length_tolerance: largest allowed audio/motion duration difference, seconds.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        split: str = "train",
        vertices: bool = True,
        on_bad: OnBad = "skip",
        length_tolerance: Seconds = LENGTH_TOLERANCE_S,
    ) -> None:
        super().__init__("native", root, on_bad=on_bad, length_tolerance=length_tolerance)
        info = _read_json(self.root / "corpus.json")
        if info.get("version") not in SUPPORTED_VERSIONS:
            raise InvalidInputError(f"{self.root / 'corpus.json'}: unsupported corpus version {info.get('version')!r}")
        if not info.get("complete"):
            raise InvalidInputError(f"{self.root}: the corpus build has not finished; run `facetalk synth` again to resume it")
        splits = _read_json(self.root / "splits.json")
        known = [name for name, value in splits.items() if isinstance(value, list) and name.startswith(("train", "val", "test"))]
        if split != ALL_SPLITS and split not in known:
            raise InvalidInputError(f"{self.root}: unknown split {split!r} (known: {', '.join([*known, ALL_SPLITS])})")
        manifest = self.root / "manifest.jsonl"
        try:
            records = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
        except FileNotFoundError:
            raise InvalidInputError(f"{manifest}: missing; not a complete facetalk corpus") from None
        except ValueError as exc:
            raise InvalidInputError(f"{manifest}: not JSON lines ({exc})") from None
        wanted = None if split == ALL_SPLITS else set(splits[split])
        self.split = split
        self.load_vertices = vertices
        self.records: list[dict[str, Any]] = [r for r in records if wanted is None or r["clip_id"] in wanted]
        self.clip_ids = [str(r["clip_id"]) for r in self.records]
        self.speakers: dict[str, dict[str, Any]] = {}
        self._templates: dict[str, np.ndarray] = {}

    @property
    def subjects(self) -> list[str]:
        """The speaker ids of this split."""
        return sorted({str(r["speaker"]) for r in self.records})

    def speaker(self, speaker_id: str) -> dict[str, Any]:
        """The speaker's `speaker.json` (voice, persona, identity coefficients)."""
        if speaker_id not in self.speakers:
            self.speakers[speaker_id] = _read_json(self.root / "speakers" / speaker_id / "speaker.json")
        return self.speakers[speaker_id]

    def template(self, speaker_id: str) -> np.ndarray:
        """The speaker's neutral face, metres, shape (V, 3)."""
        if speaker_id not in self._templates:
            path = self.root / "speakers" / speaker_id / "template.npy"
            try:
                self._templates[speaker_id] = np.load(path).astype(np.float32)
            except (OSError, ValueError) as exc:
                raise InvalidInputError(f"{path}: unreadable template ({exc})") from None
        return self._templates[speaker_id]

    def load(self, index: int) -> Sample:
        import soundfile

        from facetalk.face.arkit import ARKIT_NAMES
        from facetalk.text.textgrid import read_textgrid

        record = self.records[index]
        clip = self.root / "clips" / str(record["clip_id"])
        wav = clip.with_suffix(".wav")
        try:
            samples, rate = soundfile.read(str(wav), dtype="float32")
        except (OSError, RuntimeError) as exc:
            raise InvalidInputError(f"{wav}: unreadable ({exc})") from None
        npz = clip.with_suffix(".npz")
        try:
            with np.load(npz) as arrays:
                weights = np.asarray(arrays["weights"], dtype=np.float32)  # (T, 52)
                vertices = np.asarray(arrays["vertices"], dtype=np.float32) if self.load_vertices else None  # (T, V, 3)
                fps = float(arrays["fps"])
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidInputError(f"{npz}: unreadable clip ({exc})") from None
        speaker_id = str(record["speaker"])
        persona = self.speaker(speaker_id).get("persona_vector")
        emotion = EmotionSchedule(
            tuple(EmotionKey(float(k["time"]), str(k["emotion"]), float(k["intensity"])) for k in record["emotion"])
        )
        return Sample(
            dataset="native",
            clip_id=str(record["clip_id"]),
            subject=speaker_id,
            audio=Waveform(samples, int(rate)),
            motion=Motion(weights, fps, "blendshapes", ARKIT_NAMES),
            vertices=Motion.from_vertices(vertices, fps) if vertices is not None else None,
            template=self.template(speaker_id),
            sentence_id=str(record["sentence_id"]),
            text=str(record["text"]),
            alignment=read_textgrid(clip.with_suffix(".TextGrid")),
            emotion=emotion,
            persona=np.asarray(persona, dtype=np.float32) if persona is not None else None,
        )
