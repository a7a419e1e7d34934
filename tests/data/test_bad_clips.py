"""Malformed clips are reported by name, then skipped or stopped at, as `on_bad` says."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile

from facetalk.data.formats import open_dataset
from facetalk.data.formats.vocaset import TRAIN_SUBJECTS, VocasetDataset
from facetalk.data.validate import BadClipWarning
from facetalk.errors import InvalidInputError

AUDIO_RATE = 22000
FRAMES_60 = 12  # 0.2 s
NUM_VERTICES = 4

SUBJECT = TRAIN_SUBJECTS[0]
GOOD = f"{SUBJECT}_sentence01"
NO_WAV = f"{SUBJECT}_sentence02"
TOO_LONG = f"{SUBJECT}_sentence03"
HAS_NAN = f"{SUBJECT}_sentence04"
WRONG_V = f"{SUBJECT}_sentence05"
LAZY_BAD = (TOO_LONG, HAS_NAN, WRONG_V)


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A processed VOCASET with two good train clips (sentences 1 and 21) and four bad ones."""
    root = tmp_path / "vocaset"
    (root / "vertices_npy").mkdir(parents=True)
    (root / "wav").mkdir()
    (root / "templates.pkl").write_bytes(pickle.dumps({SUBJECT: np.zeros((NUM_VERTICES, 3))}, protocol=2))
    good = np.linspace(0.0, 0.01, FRAMES_60 * NUM_VERTICES * 3).reshape(FRAMES_60, -1)  # (T60, 3V), metres
    audio = np.zeros(AUDIO_RATE * FRAMES_60 // 60, dtype=np.int16)
    for clip in (GOOD, f"{SUBJECT}_sentence21", NO_WAV, TOO_LONG, HAS_NAN, WRONG_V):
        motion = good.copy()
        if clip == HAS_NAN:
            motion[2, 1] = np.nan  # frame 2 at 60 fps is frame 1 at 30 fps
        if clip == WRONG_V:
            motion = motion[:, :-3]
        if clip == TOO_LONG:
            motion = np.concatenate([motion] * 5)  # 1 s of motion for 0.2 s of audio
        np.save(root / "vertices_npy" / f"{clip}.npy", motion)
        if clip != NO_WAV:
            soundfile.write(root / "wav" / f"{clip}.wav", audio, AUDIO_RATE, subtype="PCM_16")
    return root


def _messages(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, BadClipWarning)]


def test_skip_reports_each_bad_clip_once_and_never_raises(broken: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = VocasetDataset(broken, split="train")
        assert NO_WAV not in dataset.clip_ids  # found at index time: never enters the index
        missing = f"vocaset/{NO_WAV}: {broken}/vertices_npy/{NO_WAV}.npy has no audio {broken}/wav/{NO_WAV}.wav; skipping it"
        assert _messages(caught) == [missing]
        assert set(LAZY_BAD) <= set(dataset.clip_ids)

        good = [sample.clip_id for sample in dataset]  # iteration yields only the good clips
        assert good == [GOOD, f"{SUBJECT}_sentence21"]
        for _ in range(2):  # two "epochs" of random access: bad clips are replaced by the next good one
            for index in range(len(dataset)):
                assert dataset[index].clip_id in good
    messages = _messages(caught)
    assert len(messages) == 1 + len(LAZY_BAD)  # once per bad clip, however often it is indexed
    reasons = {clip: next(m for m in messages if m.startswith(f"vocaset/{clip}:")) for clip in LAZY_BAD}
    assert "motion lasts 1.00 s" in reasons[TOO_LONG] and "audio 0.20 s" in reasons[TOO_LONG]
    assert "non-finite values (first at frame 1)" in reasons[HAS_NAN] and f"{HAS_NAN}.npy" in reasons[HAS_NAN]
    assert "the template has 4 vertices" in reasons[WRONG_V]
    assert set(dataset.bad) == {NO_WAV, *LAZY_BAD}


def test_scan_lists_the_bad_clips(broken: Path) -> None:
    with pytest.warns(BadClipWarning):
        dataset = VocasetDataset(broken, split="train")
        assert set(dataset.scan()) == {NO_WAV, *LAZY_BAD}


@pytest.mark.parametrize("clip", LAZY_BAD)
def test_stop_raises_naming_the_clip(broken: Path, clip: str) -> None:
    # Remove the other bad clips' files, so that only `clip` (and the missing wav) is malformed.
    for other in (*LAZY_BAD, NO_WAV):
        if other != clip:
            (broken / "vertices_npy" / f"{other}.npy").unlink()
            (broken / "wav" / f"{other}.wav").unlink(missing_ok=True)
    dataset = open_dataset("vocaset", broken, split="train", on_bad="stop")
    index = dataset.clip_ids.index(clip)  # type: ignore[attr-defined]
    dataset[1 - index if index < 2 else 0]  # a good clip loads
    with pytest.raises(InvalidInputError, match=f"^vocaset/{clip}: "):
        dataset[index]
    with pytest.raises(InvalidInputError, match=f"^vocaset/{clip}: "):
        list(dataset)


def test_stop_raises_at_index_time_for_a_missing_wav(broken: Path) -> None:
    with pytest.raises(InvalidInputError, match=f"^vocaset/{NO_WAV}: .*has no audio"):
        VocasetDataset(broken, split="train", on_bad="stop")


def test_all_bad_or_bad_options_raise(broken: Path) -> None:
    for clip in (GOOD, f"{SUBJECT}_sentence21"):
        (broken / "wav" / f"{clip}.wav").write_bytes(b"not a wav")
    with pytest.warns(BadClipWarning):
        dataset = VocasetDataset(broken, split="train")
        assert list(dataset) == []
        with pytest.raises(InvalidInputError, match="every one of the 5 clips is malformed"):
            dataset[0]
    with pytest.raises(InvalidInputError, match="on_bad must be one of skip, stop"):
        VocasetDataset(broken, on_bad="ignore")  # type: ignore[arg-type]


@pytest.mark.parametrize("part", ["vertices_npy", "wav"])
def test_a_clip_file_of_any_bytes_is_loaded_or_skipped_by_name(broken: Path, part: str) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    file = broken / part / f"{GOOD}.{'npy' if part == 'vertices_npy' else 'wav'}"
    original = file.read_bytes()

    @settings(max_examples=150, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(cut=st.integers(0, len(original)), noise=st.binary(max_size=64), at=st.integers(0, len(original)))
    def check(cut: int, noise: bytes, at: int) -> None:
        for damaged in (original[:cut], original[:at] + noise + original[at + len(noise) :]):
            file.write_bytes(damaged)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                loaded = [sample.clip_id for sample in VocasetDataset(broken, split="train")]
            assert GOOD in loaded or any(m.startswith(f"vocaset/{GOOD}: ") for m in _messages(caught))
            assert all("\n" not in m for m in _messages(caught))

    check()
