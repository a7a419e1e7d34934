"""FLAME parameter sequences: BEAT2 npz and MEAD/EMOTE-style files, as named params channels."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile

from facetalk.data.formats import DATASETS, open_dataset
from facetalk.data.formats.flame_seq import EXPRESSION_CHANNELS, GLOBAL_CHANNELS, JAW_CHANNELS, FlameSequenceDataset
from facetalk.data.validate import BadClipWarning
from facetalk.errors import InvalidInputError
from facetalk.types import EmotionKey, EmotionSchedule

DURATION = 0.2
BEAT2 = ["beat_english_v2.0.0/smplxflame_30/2_scott_0_111_111"]


def _wav(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.zeros(int(16000 * DURATION), dtype=np.int16), 16000)


def _ramp(frames: int, width: int, scale: float) -> np.ndarray:
    return (scale * np.arange(frames * width).reshape(frames, width)).astype(np.float32)


@pytest.fixture(scope="module")
def sequences(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("flame")
    # BEAT2: smplxflame_30/{take}.npz with its audio in wave16k/.
    beat2 = root / "beat_english_v2.0.0"
    (beat2 / "smplxflame_30").mkdir(parents=True)
    frames = int(30 * DURATION)
    poses = np.zeros((frames, 165), dtype=np.float32)
    poses[:, 66:69] = [0.1, 0.2, 0.3]
    np.savez(
        beat2 / "smplxflame_30" / "2_scott_0_111_111.npz",
        betas=np.zeros(300, dtype=np.float32),
        poses=poses,
        expressions=_ramp(frames, 100, 1e-3),
        trans=np.zeros((frames, 3), dtype=np.float32),
        model="smplx2020",
        gender="neutral",
        mocap_frame_rate=30,
    )
    _wav(beat2 / "wave16k" / "2_scott_0_111_111.wav")
    # MEAD/EMOTE-style npz at 25 fps (no fps stored), audio in MEAD's raw audio tree.
    frames = int(25 * DURATION)
    mead = root / "M003" / "flame" / "happy" / "level_2"
    mead.mkdir(parents=True)
    np.savez(mead / "001.npz", expcode=_ramp(frames, 100, 1e-2), jawpose=np.full((frames, 3), 0.05, dtype=np.float32))
    _wav(root / "M003" / "audio" / "happy" / "level_2" / "001.wav")
    # A pickle with ψ of 50 and FLAME_PyTorch's 6-value pose, fps stored, audio beside it.
    neutral = root / "W009" / "neutral" / "level_1"
    neutral.mkdir(parents=True)
    params = {"exp": _ramp(6, 50, 1.0), "pose": np.tile(np.arange(6, dtype=np.float32), (6, 1)), "fps": 30.0}
    (neutral / "002.pkl").write_bytes(pickle.dumps(params, protocol=2))
    _wav(neutral / "002.wav")
    # Contempt (excluded by default) and a file without audio.
    contempt = root / "M003" / "flame" / "contempt" / "level_3"
    contempt.mkdir(parents=True)
    np.savez(contempt / "003.npz", expcode=_ramp(5, 100, 0.0), jawpose=np.zeros((5, 3)), fps=25)
    _wav(contempt / "003.wav")
    np.savez(root / "M003" / "flame" / "happy" / "level_2" / "004.npz", expcode=np.zeros((5, 50)), jawpose=np.zeros((5, 3)))
    return root


def test_flame_seq_is_registered() -> None:
    assert DATASETS.get("flame_seq") is FlameSequenceDataset


def test_sequences_load_as_named_params(sequences: Path) -> None:
    with pytest.warns(BadClipWarning, match=r"flame_seq/M003/flame/happy/level_2/004: .*has no audio"):
        dataset = open_dataset("flame_seq", sequences, split="all", fps=25.0)
    samples = {s.clip_id: s for s in dataset}
    assert sorted(samples) == ["M003/flame/happy/level_2/001", "W009/neutral/level_1/002", *BEAT2]

    beat2 = samples[BEAT2[0]]
    assert beat2.motion.kind == "params" and beat2.motion.channels == EXPRESSION_CHANNELS + JAW_CHANNELS
    assert beat2.fps == 30.0 and beat2.num_frames == 6 and beat2.subject == "2_scott"
    np.testing.assert_allclose(beat2.motion.select(JAW_CHANNELS), [[0.1, 0.2, 0.3]] * 6)
    np.testing.assert_allclose(beat2.motion.select(["expr_99"])[:, 0], _ramp(6, 100, 1e-3)[:, 99])
    assert beat2.emotion == EmotionSchedule.constant("disgust")

    mead = samples["M003/flame/happy/level_2/001"]
    assert mead.fps == 25.0 and mead.num_frames == 5 and mead.subject == "M003"
    assert mead.emotion == EmotionSchedule((EmotionKey(0.0, "happy", 2 / 3),))
    np.testing.assert_allclose(mead.motion.select(["jaw_y"]), 0.05)

    padded = samples["W009/neutral/level_1/002"]
    assert padded.motion.channels == EXPRESSION_CHANNELS + JAW_CHANNELS + GLOBAL_CHANNELS
    assert padded.fps == 30.0 and padded.emotion == EmotionSchedule.constant("neutral")
    np.testing.assert_allclose(padded.motion.select(["expr_49", "expr_50", "expr_99"])[1], [99.0, 0.0, 0.0])  # zero-padded
    np.testing.assert_allclose(padded.motion.select(GLOBAL_CHANNELS + JAW_CHANNELS)[0], np.arange(6))
    for sample in samples.values():
        assert sample.audio.sample_rate == 16000 and abs(sample.duration - sample.motion.duration) < 1e-3


def test_contempt_and_missing_fps(sequences: Path) -> None:
    with pytest.warns(BadClipWarning):
        dataset = FlameSequenceDataset(sequences, fps=25.0, contempt="disgust")
        assert dataset[0].clip_id == "M003/flame/contempt/level_3/003"
        assert dataset[0].emotion == EmotionSchedule.constant("disgust")
    with pytest.warns(BadClipWarning) as record:
        assert [s.clip_id for s in FlameSequenceDataset(sequences)] == ["W009/neutral/level_1/002", *BEAT2]  # fps stored
    assert any("level_2/001: " in str(w.message) and "no frame rate stored" in str(w.message) for w in record)
    with pytest.raises(InvalidInputError, match=r"^flame_seq/M003/flame/happy/level_2/004: .*has no audio"):
        FlameSequenceDataset(sequences, on_bad="stop")
