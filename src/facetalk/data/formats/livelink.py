"""Live Link Face captures: the app's CSV exports paired with their audio (FORMATS.md §6).

Layout: any tree under `root` of `{name}.csv` files, each with its audio beside it under the same
stem (`{name}.wav`, or the app's own `{name}.mov`, decoded by ffmpeg; see `AUDIO_SUFFIXES`). The app
writes one folder per take, `{slate}_{take}_{device}/{slate}_{take}_{device}_iPhone.csv` next to
`..._iPhone.mov`, which fits this as it is.

- The CSV is read with facetalk's Live Link reader (`facetalk.export.read_motion`): columns matched
  by name, the 52 ARKit weights in canonical order, fps from the timecodes.
  `swap_mouth_left_right=True` undoes the app's mouthLeft/mouthRight bug.
- Clip id: the CSV's path under `root` without its suffix. Subject: the first folder under `root`
  (captures are usually filed per performer), or `root`'s own name for CSVs directly in it.
- Splits: "all", or the ones listed in `root/splits.json` (`{"train": [clip ids], ...}`).
- A CSV without audio is reported when the dataset is opened; audio is resampled to 16 kHz.
"""

from __future__ import annotations

import os
from pathlib import Path

from facetalk.audio.io import load_audio
from facetalk.data.formats import DATASETS
from facetalk.data.formats._common import ALL_SPLITS, clip_files, find_audio, folder_subject, user_split
from facetalk.data.sample import Sample
from facetalk.data.validate import LENGTH_TOLERANCE_S, CheckedClips, OnBad
from facetalk.types import Seconds

NAME = "livelink"


@DATASETS.register(NAME)
class LiveLinkDataset(CheckedClips):
    """Live Link Face CSV + audio pairs under `root`.

    Args:
        root: the directory searched (recursively) for `.csv` files.
        split: "all", or a split of `root/splits.json`.
        swap_mouth_left_right: exchange mouthLeft and mouthRight (the app's known bug).
        on_bad: what to do with a malformed clip (`facetalk.data.validate`).
        length_tolerance: largest allowed audio/motion duration difference, seconds.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        split: str = ALL_SPLITS,
        swap_mouth_left_right: bool = False,
        on_bad: OnBad = "skip",
        length_tolerance: Seconds = LENGTH_TOLERANCE_S,
    ) -> None:
        super().__init__(NAME, root, on_bad=on_bad, length_tolerance=length_tolerance)
        wanted = user_split(self.root, split)
        self.split = split
        self.swap_mouth_left_right = swap_mouth_left_right
        self.paths: list[tuple[Path, Path]] = []  # (csv, audio) of each clip
        for clip_id, csv in clip_files(self.root, self.root.rglob("*.csv"), wanted):
            audio = find_audio(csv.with_suffix(""))
            if audio is None:
                self.reject(clip_id, f"{csv} has no audio beside it ({csv.with_suffix('.wav').name} or .mov, ...)")
                continue
            self.clip_ids.append(clip_id)
            self.paths.append((csv, audio))

    def load(self, index: int) -> Sample:
        from facetalk.export import read_motion

        clip_id = self.clip_ids[index]
        csv, audio = self.paths[index]
        return Sample(
            dataset=NAME,
            clip_id=clip_id,
            subject=folder_subject(self.root, clip_id),
            audio=load_audio(audio),
            motion=read_motion(csv, format="livelink-csv", swap_mouth_left_right=self.swap_mouth_left_right),
        )
