"""BIWI (B3D(AC)²) as processed by CodeTalker, which FaceFormer and FaceDiffuser follow (FORMATS.md §2).

Layout (`root` is the `BIWI/` directory or its parent):

    vertices_npy/{S}_e{NN}.npy   (T, 3V), 25 fps, not subsampled
    wav/{S}_e{NN}.wav            44.1 kHz
    templates.pkl                {S: (V, 3)}

Only the emotional sequences `e01..e40` are used, as in the benchmark; other files are ignored.

**Units:** CodeTalker's processing rotates each frame, centres it and divides it by the square root
of its surface area, so vertices and templates are *not* metres (one unit is roughly 180-200 mm,
FaceFormer issue #45). They are passed through unchanged, so metrics stay comparable with the papers.

Splits (CodeTalker's `data_loader.py`, by the sentence number after `e`):

| split    | subjects                  | sentences |
|----------|---------------------------|-----------|
| "train"  | F2 F3 F4 M3 M4 M5         | e01-e32   |
| "val"    | the same 6                | e33-e36   |
| "test_a" | the same 6                | e37-e40   |
| "test_b" | F1 F5 F6 F7 F8 M1 M2 M6   | e37-e40   |
| "all"    | every subject             | e01-e40   |

"Test-A" and "Test-B" are accepted for "test_a" and "test_b". Audio is resampled to 16 kHz.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from facetalk.audio.io import load_audio
from facetalk.data.formats import DATASETS
from facetalk.data.formats._common import ALL_SPLITS, unknown_split
from facetalk.data.pickles import load_pickle
from facetalk.data.sample import Sample
from facetalk.data.validate import LENGTH_TOLERANCE_S, CheckedClips, OnBad, check_finite, check_vertex_count
from facetalk.errors import InvalidInputError
from facetalk.types import Motion, Seconds

NAME = "biwi"
FPS = 25.0
SEEN_SUBJECTS: tuple[str, ...] = ("F2", "F3", "F4", "M3", "M4", "M5")
UNSEEN_SUBJECTS: tuple[str, ...] = ("F1", "F5", "F6", "F7", "F8", "M1", "M2", "M6")
"""Training subjects first: their order is the order of the one-hot style index."""
SPLITS: dict[str, tuple[tuple[str, ...], range]] = {
    "train": (SEEN_SUBJECTS, range(1, 33)),
    "val": (SEEN_SUBJECTS, range(33, 37)),
    "test_a": (SEEN_SUBJECTS, range(37, 41)),
    "test_b": (UNSEEN_SUBJECTS, range(37, 41)),
}
_ALIASES = {"test-a": "test_a", "test-b": "test_b"}
_CLIP = re.compile(r"^([FM]\d+)_e(\d{2})$")


@DATASETS.register(NAME)
class BiwiDataset(CheckedClips):
    """One split of processed BIWI.

    Args:
        root: the processed `BIWI/` directory, or its parent.
        split: "train", "val", "test_a", "test_b" or "all".
        on_bad: what to do with a malformed clip (`facetalk.data.validate`).
        length_tolerance: largest allowed audio/motion duration difference, seconds.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        split: str = "train",
        on_bad: OnBad = "skip",
        length_tolerance: Seconds = LENGTH_TOLERANCE_S,
    ) -> None:
        super().__init__(NAME, root, on_bad=on_bad, length_tolerance=length_tolerance)
        root = Path(root)
        split = _ALIASES.get(split.lower(), split)
        if split != ALL_SPLITS and split not in SPLITS:
            raise unknown_split(root, split, [*SPLITS, ALL_SPLITS])
        if (root / "BIWI" / "vertices_npy").is_dir():
            root = root / "BIWI"
        if not (root / "vertices_npy").is_dir():
            raise InvalidInputError(f"{root}: not processed BIWI (no vertices_npy/ directory)")
        self.root = root
        self.split = split
        raw = load_pickle(root / "templates.pkl")
        if not isinstance(raw, dict):
            raise InvalidInputError(f"{root / 'templates.pkl'}: expected a dict subject -> (V, 3) template")
        self.templates = {str(s): np.asarray(t, dtype=np.float32) for s, t in raw.items()}
        for subject, template in self.templates.items():
            if template.ndim != 2 or template.shape[1] != 3:
                raise InvalidInputError(
                    f"{root / 'templates.pkl'}: template of {subject} has shape {template.shape}, expected (V, 3)"
                )
        motions = {p.stem for p in (root / "vertices_npy").glob("*.npy")}
        wavs = {p.stem for p in (root / "wav").glob("*.wav")}
        for stem in sorted(motions | wavs):
            match = _CLIP.match(stem)
            if match is None or not self._wanted(match.group(1), int(match.group(2))):
                continue
            if stem not in wavs:
                self.reject(stem, f"{root / 'vertices_npy' / stem}.npy has no audio {root / 'wav' / stem}.wav")
            elif stem not in motions:
                self.reject(stem, f"{root / 'wav' / stem}.wav has no motion {root / 'vertices_npy' / stem}.npy")
            elif match.group(1) not in self.templates:
                self.reject(stem, f"subject {match.group(1)} has no template in {root / 'templates.pkl'}")
            else:
                self.clip_ids.append(stem)

    def _wanted(self, subject: str, sentence: int) -> bool:
        if self.split == ALL_SPLITS:
            return True
        subjects, sentences = SPLITS[self.split]
        return subject in subjects and sentence in sentences

    def load(self, index: int) -> Sample:
        clip_id = self.clip_ids[index]
        subject, _, sentence = clip_id.partition("_")
        template = self.templates[subject]
        path = self.root / "vertices_npy" / f"{clip_id}.npy"
        vertices = np.load(path)
        vertices = np.asarray(vertices, dtype=np.float32).reshape(len(vertices), -1)  # (T, 3V)
        check_finite(vertices, f"{path}: motion")
        check_vertex_count(vertices.shape[1], template)
        return Sample(
            dataset=NAME,
            clip_id=clip_id,
            subject=subject,
            audio=load_audio(self.root / "wav" / f"{clip_id}.wav"),
            motion=Motion(vertices, FPS, "vertices"),
            template=template,
            sentence_id=sentence,
        )
