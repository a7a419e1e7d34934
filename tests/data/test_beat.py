"""BEAT takes: face JSON at 60 fps, wav, TextGrid; emotion from the take id, speaker from the name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from facetalk.data.formats import DATASETS, open_dataset
from facetalk.data.formats.beat import BeatDataset, speech_emotion
from facetalk.data.validate import BadClipWarning
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.types import EmotionSchedule

FRAMES = 12  # 0.2 s at 60 fps
TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 0.2
tiers? <exists>
size = 1
item []:
    item [1]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 0.2
        intervals: size = 3
        intervals [1]:
            xmin = 0
            xmax = 0.05
            text = " "
        intervals [2]:
            xmin = 0.05
            xmax = 0.12
            text = "hello"
        intervals [3]:
            xmin = 0.12
            xmax = 0.2
            text = "there"
"""


def _take(folder: Path, name: str, *, num_weights: int = 52, wav: bool = True, textgrid: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frames = [{"weights": [0.5 if k == 17 else 0.0 for k in range(num_weights)], "time": t / 60} for t in range(FRAMES)]
    (folder / f"{name}.json").write_text(json.dumps({"frames": frames}))
    if wav:
        soundfile.write(folder / f"{name}.wav", np.zeros(16000 * FRAMES // 60, dtype=np.int16), 16000)
    if textgrid:
        (folder / f"{name}.TextGrid").write_text(TEXTGRID)


@pytest.fixture(scope="module")
def beat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("beat") / "beat_english_v0.2.1"
    _take(root / "1", "1_wayne_0_1_1", textgrid=True)  # neutral speech
    _take(root / "1", "1_wayne_0_72_72", num_weights=51)  # happy (inclusive range end), 51 weights
    _take(root / "1", "1_wayne_0_90_90")  # contempt
    _take(root / "1", "1_wayne_1_3_4")  # conversation: neutral
    _take(root / "2", "2_scott_0_111_111")  # disgust
    _take(root / "2", "2_scott_0_95_95", wav=False)  # missing audio
    return root


def test_beat_is_registered() -> None:
    assert DATASETS.get("beat") is BeatDataset


def test_emotion_ranges_are_inclusive() -> None:
    assert [speech_emotion(i) for i in (0, 64, 65, 72, 73, 86, 87, 94, 95, 110, 111, 118, 119)] == [
        "neutral", "neutral", "happy", "happy", "anger", "sad", "contempt", "contempt", "surprise", "fear", "disgust",
        "disgust", None,
    ]  # fmt: skip


def test_takes_load_with_emotion_speaker_and_alignment(beat: Path) -> None:
    with pytest.warns(BadClipWarning, match=r"beat/2_scott_0_95_95: .*has no audio"):
        dataset = open_dataset("beat", beat, split="all")
    samples = {s.clip_id: s for s in dataset}
    assert sorted(samples) == ["1_wayne_0_1_1", "1_wayne_0_72_72", "1_wayne_1_3_4", "2_scott_0_111_111"]  # no contempt
    first = samples["1_wayne_0_1_1"]
    assert first.dataset == "beat" and first.subject == "1_wayne" and first.sentence_id == "0_1_1"
    assert first.fps == 60.0 and first.num_frames == FRAMES and first.motion.channels == ARKIT_NAMES
    np.testing.assert_allclose(first.motion.select(["jawOpen"]), 0.5)
    assert first.text == "hello there" and first.alignment is not None and len(first.alignment.words) == 2
    assert first.audio.sample_rate == 16000 and abs(first.duration - 0.2) < 1e-3
    short = samples["1_wayne_0_72_72"]
    assert short.motion.data.shape[1] == 51 and "tongueOut" not in short.motion.channels and short.text is None
    emotions = {k: s.emotion for k, s in samples.items()}
    assert emotions["1_wayne_0_72_72"] == EmotionSchedule.constant("happy")
    assert emotions["1_wayne_1_3_4"] == EmotionSchedule.constant("neutral")
    assert emotions["2_scott_0_111_111"] == EmotionSchedule.constant("disgust")


def test_splits_speakers_and_contempt(beat: Path) -> None:
    with pytest.warns(BadClipWarning):
        speech = BeatDataset(beat, split="speech", contempt="disgust")
    assert speech.clip_ids == ["1_wayne_0_1_1", "1_wayne_0_72_72", "1_wayne_0_90_90", "2_scott_0_111_111"]
    assert speech[2].emotion == EmotionSchedule.constant("disgust")
    assert BeatDataset(beat, split="conversation").clip_ids == ["1_wayne_1_3_4"]
    assert BeatDataset(beat, speakers=[1], contempt="neutral").clip_ids == [
        "1_wayne_0_1_1", "1_wayne_0_72_72", "1_wayne_0_90_90", "1_wayne_1_3_4",
    ]  # fmt: skip
