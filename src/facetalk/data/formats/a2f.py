"""NVIDIA Audio2Face blendshape exports with their audio (FORMATS.md §6).

Layout: any tree under `root` of Audio2Face JSON exports (`{"exportFps", "trackPath", "numPoses",
"numFrames", "facsNames", "weightMat"}`), each with its audio found as, in order:

1. a file beside the JSON with the same stem (`{name}.wav`, see `AUDIO_SUFFIXES`);
2. the export's `trackPath`: as written when it exists (absolute, or relative to the JSON's
   folder), else its file name in the JSON's folder (Audio2Face records the path on the machine
   that exported, which rarely exists where the data is trained on).

- The JSON is read with facetalk's Audio2Face reader (`facetalk.export.read_motion`): `facsNames`
  matched by name, the 52 ARKit weights in canonical order then any other names, fps `exportFps`.
- Clip id: the JSON's path under `root` without its suffix. Subject: the first folder under
  `root`, or `root`'s own name for exports directly in it.
- Splits: "all", or the ones listed in `root/splits.json` (`{"train": [clip ids], ...}`).
- An export without findable audio (or whose JSON cannot be read for its `trackPath`) is reported
  when the dataset is opened; audio is resampled to 16 kHz. `splits.json` itself is never a clip.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PureWindowsPath

from facetalk.audio.io import load_audio
from facetalk.data.formats import DATASETS
from facetalk.data.formats._common import ALL_SPLITS, clip_files, find_audio, folder_subject, user_split
from facetalk.data.sample import Sample
from facetalk.data.validate import LENGTH_TOLERANCE_S, CheckedClips, OnBad
from facetalk.types import Seconds

NAME = "a2f"


def _track_audio(export: Path) -> Path | None:
    """The audio that the export's `trackPath` names, if it can be found."""
    try:
        track = json.loads(export.read_text()).get("trackPath")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(track, str) or not track.strip():
        return None
    candidates = [export.parent / track, export.parent / PureWindowsPath(track).name]
    return next((c for c in candidates if c.is_file()), None)


@DATASETS.register(NAME)
class Audio2FaceDataset(CheckedClips):
    """Audio2Face blendshape JSON exports and their audio under `root`.

    Args:
        root: the directory searched (recursively) for `.json` exports.
        split: "all", or a split of `root/splits.json`.
        on_bad: what to do with a malformed clip (`facetalk.data.validate`).
        length_tolerance: largest allowed audio/motion duration difference, seconds.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        split: str = ALL_SPLITS,
        on_bad: OnBad = "skip",
        length_tolerance: Seconds = LENGTH_TOLERANCE_S,
    ) -> None:
        super().__init__(NAME, root, on_bad=on_bad, length_tolerance=length_tolerance)
        wanted = user_split(self.root, split)
        self.split = split
        self.paths: list[tuple[Path, Path]] = []  # (export, audio) of each clip
        for clip_id, export in clip_files(self.root, self.root.rglob("*.json"), wanted):
            audio = find_audio(export.with_suffix("")) or _track_audio(export)
            if audio is None:
                self.reject(
                    clip_id, f"{export} has no audio (no {export.with_suffix('.wav').name} beside it, no trackPath found)"
                )
                continue
            self.clip_ids.append(clip_id)
            self.paths.append((export, audio))

    def load(self, index: int) -> Sample:
        from facetalk.export import read_motion

        clip_id = self.clip_ids[index]
        export, audio = self.paths[index]
        return Sample(
            dataset=NAME,
            clip_id=clip_id,
            subject=folder_subject(self.root, clip_id),
            audio=load_audio(audio),
            motion=read_motion(export, format="arkit-json"),
        )
