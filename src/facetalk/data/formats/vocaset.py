"""VOCASET (shared FORMATS.md §1): the original release and the FaceFormer/CodeTalker processed layout.

Release layout (the directory holds these four files):

    data_verts.npy          (N, V, 3) vertices of every frame, metres; memory-mapped
    raw_audio_fixed.pkl     {subject: {sentence: {"audio": int16 (S,), "sample_rate": 22000}}}
    subj_seq_to_idx.pkl     {subject: {sentence: {frame index: row of data_verts}}}
    templates.pkl           {subject: (V, 3)}

Processed layout (FaceFormer's `vocaset/`; `root` may be that directory or its parent):

    vertices_npy/{subject}_{sentence}.npy   (T60, 3V), still 60 fps
    wav/{subject}_{sentence}.wav            22 kHz int16
    templates.pkl                           {subject: (V, 3)}

Both are read the same way: the meshes are captured at 60 fps and, as FaceFormer does at load time,
every `subsample`-th frame is kept (default 2, giving 30 fps; `subsample=1` keeps 60 fps). Vertices
are metres, FLAME topology; V is read from the templates, never assumed. Audio is resampled to
16 kHz. Clips are the pairs present in both motion and audio (the release misses a few); a motion
without audio, or audio without motion, is reported as a bad clip when the dataset is opened.

Splits (FaceFormer `main.py`, the same as VOCA's): "train" = the 8 `TRAIN_SUBJECTS`, sentences
1-40; "val" = `VAL_SUBJECTS`, sentences 21-40; "test" = `TEST_SUBJECTS`, sentences 21-40; "all" =
every clip. `TRAIN_SUBJECTS` is also the order of the one-hot style index.

Pickles are read with the restricted unpickler (`facetalk.data.pickles`). Opening the release reads
its two small dict pickles and `raw_audio_fixed.pkl` (all audio, about 100 MB), so that the index is
the intersection of meshes and audio; `data_verts.npy` is memory-mapped and only a clip's rows are read.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from facetalk.audio.io import load_audio
from facetalk.data.formats import DATASETS
from facetalk.data.formats._common import ALL_SPLITS, pcm_waveform, unknown_split
from facetalk.data.pickles import load_pickle
from facetalk.data.sample import Sample
from facetalk.data.validate import LENGTH_TOLERANCE_S, CheckedClips, OnBad, check_finite, check_vertex_count
from facetalk.errors import InvalidInputError
from facetalk.types import Motion, Seconds

NAME = "vocaset"
CAPTURE_FPS = 60.0
DEFAULT_SUBSAMPLE = 2  # FaceFormer's `[::2]`: 60 -> 30 fps
TRAIN_SUBJECTS: tuple[str, ...] = (
    "FaceTalk_170728_03272_TA",
    "FaceTalk_170904_00128_TA",
    "FaceTalk_170725_00137_TA",
    "FaceTalk_170915_00223_TA",
    "FaceTalk_170811_03274_TA",
    "FaceTalk_170913_03279_TA",
    "FaceTalk_170904_03276_TA",
    "FaceTalk_170912_03278_TA",
)
VAL_SUBJECTS: tuple[str, ...] = ("FaceTalk_170811_03275_TA", "FaceTalk_170908_03277_TA")
TEST_SUBJECTS: tuple[str, ...] = ("FaceTalk_170809_00138_TA", "FaceTalk_170731_00024_TA")
SPLITS: dict[str, tuple[tuple[str, ...], range]] = {
    "train": (TRAIN_SUBJECTS, range(1, 41)),
    "val": (VAL_SUBJECTS, range(21, 41)),
    "test": (TEST_SUBJECTS, range(21, 41)),
}
RELEASE_FILES = ("data_verts.npy", "raw_audio_fixed.pkl", "subj_seq_to_idx.pkl", "templates.pkl")
_SENTENCE = re.compile(r"^sentence(\d+)$")


def _sentence_number(sentence: str) -> int | None:
    match = _SENTENCE.match(sentence)
    return int(match.group(1)) if match else None


def in_split(split: str, subject: str, sentence: str) -> bool:
    """Whether clip `sentence` (e.g. "sentence21") of `subject` belongs to `split` ("train", "val", "test", "all")."""
    if split == ALL_SPLITS:
        return True
    subjects, sentences = SPLITS[split]
    return subject in subjects and _sentence_number(sentence) in sentences


def _templates(path: Path) -> dict[str, np.ndarray]:
    raw = load_pickle(path)
    if not isinstance(raw, dict):
        raise InvalidInputError(f"{path}: expected a dict subject -> (V, 3) template")
    templates = {}
    for subject, value in raw.items():
        template = np.asarray(value, dtype=np.float32)
        if template.ndim != 2 or template.shape[1] != 3:
            raise InvalidInputError(f"{path}: template of {subject} has shape {template.shape}, expected (V, 3)")
        templates[str(subject)] = template
    return templates


@DATASETS.register(NAME)
class VocasetDataset(CheckedClips):
    """One split of VOCASET, in either layout (chosen by the files present).

    Args:
        root: the release directory, or the processed `vocaset/` directory (or its parent).
        split: "train", "val", "test" or "all".
        subsample: keep every n-th mesh frame (2: 30 fps, as FaceFormer; 1: the captured 60 fps).
        on_bad: what to do with a malformed clip (`facetalk.data.validate`).
        length_tolerance: largest allowed audio/motion duration difference, seconds.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        split: str = "train",
        subsample: int = DEFAULT_SUBSAMPLE,
        on_bad: OnBad = "skip",
        length_tolerance: Seconds = LENGTH_TOLERANCE_S,
    ) -> None:
        super().__init__(NAME, root, on_bad=on_bad, length_tolerance=length_tolerance)
        root = Path(root)
        if split != ALL_SPLITS and split not in SPLITS:
            raise unknown_split(root, split, [*SPLITS, ALL_SPLITS])
        if subsample < 1:
            raise InvalidInputError(f"{root}: subsample must be >= 1, got {subsample}")
        self.split = split
        self.subsample = subsample
        self.fps = CAPTURE_FPS / subsample
        if (root / "vocaset" / "vertices_npy").is_dir():
            root = root / "vocaset"
        self.root = root
        self.layout = "release" if (root / "data_verts.npy").is_file() else "processed"
        if self.layout == "processed" and not (root / "vertices_npy").is_dir():
            raise InvalidInputError(f"{root}: not VOCASET (neither data_verts.npy nor vertices_npy/ is there)")
        self.templates = _templates(root / "templates.pkl")
        self._entries: list[tuple[str, str]] = []  # (subject, sentence) of each clip id
        self._verts: np.ndarray | None = None
        self._rows: dict[str, Any] = {}
        self._audio: dict[str, Any] = {}
        pairs = self._index_release() if self.layout == "release" else self._index_processed()
        for subject, sentence in sorted(pairs):
            clip_id = f"{subject}_{sentence}"
            if subject not in self.templates:
                self.reject(clip_id, f"subject {subject} has no template in {root / 'templates.pkl'}")
                continue
            self.clip_ids.append(clip_id)
            self._entries.append((subject, sentence))

    def _wanted(self, subject: str, sentence: str) -> bool:
        return in_split(self.split, subject, sentence)

    def _index_processed(self) -> set[tuple[str, str]]:
        motions = {p.stem for p in (self.root / "vertices_npy").glob("*.npy")}
        wavs = {p.stem for p in (self.root / "wav").glob("*.wav")}
        pairs = set()
        for stem in sorted(motions | wavs):
            subject, _, sentence = stem.rpartition("_")
            if not subject or _sentence_number(sentence) is None or not self._wanted(subject, sentence):
                continue
            if stem not in wavs:
                self.reject(stem, f"{self.root / 'vertices_npy' / stem}.npy has no audio {self.root / 'wav' / stem}.wav")
            elif stem not in motions:
                self.reject(stem, f"{self.root / 'wav' / stem}.wav has no motion {self.root / 'vertices_npy' / stem}.npy")
            else:
                pairs.add((subject, sentence))
        return pairs

    def _index_release(self) -> set[tuple[str, str]]:
        for name in RELEASE_FILES:
            if not (self.root / name).is_file():
                raise InvalidInputError(f"{self.root / name}: missing; not a complete VOCASET release")
        rows, audio = load_pickle(self.root / "subj_seq_to_idx.pkl"), load_pickle(self.root / "raw_audio_fixed.pkl")
        for path, value in (("subj_seq_to_idx.pkl", rows), ("raw_audio_fixed.pkl", audio)):
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise InvalidInputError(f"{self.root / path}: expected a dict subject -> sentence -> ...")
        keys = {(str(s), str(q)) for s in rows for q in rows[s]}
        audio_keys = {(str(s), str(q)) for s in audio for q in audio[s]}
        pairs = set()
        for subject, sentence in sorted(keys | audio_keys):
            if _sentence_number(sentence) is None or not self._wanted(subject, sentence):
                continue
            clip_id = f"{subject}_{sentence}"
            if (subject, sentence) not in audio_keys:
                self.reject(clip_id, f"has meshes in subj_seq_to_idx.pkl but no audio in {self.root / 'raw_audio_fixed.pkl'}")
            elif (subject, sentence) not in keys:
                self.reject(clip_id, f"has audio but no meshes in {self.root / 'subj_seq_to_idx.pkl'}")
            else:
                pairs.add((subject, sentence))
        self._rows = {f"{s}_{q}": rows[s][q] for s, q in pairs}
        self._audio = {f"{s}_{q}": audio[s][q] for s, q in pairs}
        return pairs

    def load(self, index: int) -> Sample:
        clip_id = self.clip_ids[index]
        subject, sentence = self._entries[index]
        template = self.templates[subject]
        if self.layout == "release":
            vertices, audio = self._load_release(clip_id)
            where = f"{self.root / 'data_verts.npy'} ({clip_id})"
        else:
            path = self.root / "vertices_npy" / f"{clip_id}.npy"
            where = str(path)
            vertices = np.load(path, mmap_mode="r")[:: self.subsample]
            vertices = np.asarray(vertices, dtype=np.float32).reshape(len(vertices), -1)  # (T, 3V)
            audio = load_audio(self.root / "wav" / f"{clip_id}.wav")
        check_finite(vertices, f"{where}: motion")
        check_vertex_count(vertices.shape[1], template)
        return Sample(
            dataset=NAME,
            clip_id=clip_id,
            subject=subject,
            audio=audio,
            motion=Motion(vertices, self.fps, "vertices"),
            template=template,
            sentence_id=sentence,
        )

    def _load_release(self, clip_id: str) -> tuple[np.ndarray, Any]:
        if self._verts is None:
            self._verts = np.load(self.root / "data_verts.npy", mmap_mode="r")  # (N, V, 3)
        frames = self._rows[clip_id]
        if not isinstance(frames, dict) or not frames:
            raise InvalidInputError(f"{self.root / 'subj_seq_to_idx.pkl'}: no frame rows for {clip_id}")
        rows = [int(frames[k]) for k in sorted(frames, key=int)][:: self.subsample]
        vertices = np.asarray(self._verts[rows], dtype=np.float32).reshape(len(rows), -1)  # (T, 3V)
        entry = self._audio[clip_id]
        if not isinstance(entry, dict) or "audio" not in entry or "sample_rate" not in entry:
            raise InvalidInputError(f"{self.root / 'raw_audio_fixed.pkl'}: entry of {clip_id} lacks audio or sample_rate")
        audio = pcm_waveform(entry["audio"], int(entry["sample_rate"]), where=f"{self.root / 'raw_audio_fixed.pkl'} ({clip_id})")
        return vertices, audio
