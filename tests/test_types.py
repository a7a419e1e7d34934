import json

import numpy as np
import pytest

from facetalk.errors import InvalidInputError
from facetalk.types import EMOTIONS, Alignment, EmotionKey, EmotionSchedule, Motion, Phone, Waveform, Word


def test_motion_validates_shape_fps_kind_and_values():
    data = np.zeros((4, 6), np.float64)
    motion = Motion(data, 30.0, "vertices")
    assert motion.data.dtype == np.float32
    assert motion.vertices().shape == (4, 2, 3)
    assert motion.duration == pytest.approx(4 / 30)
    with pytest.raises(InvalidInputError, match="shape"):
        Motion(np.zeros(5), 30.0, "vertices")
    with pytest.raises(InvalidInputError, match="fps"):
        Motion(data, 0.0, "vertices")
    with pytest.raises(InvalidInputError, match="kind"):
        Motion(data, 30.0, "mesh")  # type: ignore[arg-type]
    bad = data.copy()
    bad[2, 1] = np.nan
    with pytest.raises(InvalidInputError, match="frame 2"):
        Motion(bad, 30.0, "vertices")
    with pytest.raises(InvalidInputError, match="3V"):
        Motion(np.zeros((4, 5)), 30.0, "vertices")
    with pytest.raises(InvalidInputError, match="channel names"):
        Motion(np.zeros((4, 2)), 30.0, "blendshapes", ("jawOpen",))


def test_motion_select_orders_by_name_and_zero_fills():
    motion = Motion(np.array([[0.1, 0.2], [0.3, 0.4]]), 25.0, "blendshapes", ("jawOpen", "mouthClose"))
    picked = motion.select(["mouthClose", "eyeBlinkLeft", "jawOpen"])
    np.testing.assert_allclose(picked, [[0.2, 0.0, 0.1], [0.4, 0.0, 0.3]], rtol=1e-6)
    np.testing.assert_allclose(motion.times, [0.0, 0.04])


def test_waveform_and_alignment_validation():
    wave = Waveform(np.zeros(1600), 16000)
    assert wave.duration == pytest.approx(0.1)
    with pytest.raises(InvalidInputError):
        Waveform(np.zeros((2, 10)), 16000)
    with pytest.raises(InvalidInputError, match="non-finite"):
        Waveform(np.array([0.0, np.inf]), 16000)
    alignment = Alignment([Word("hello", 0.1, 0.5)], [Phone("HH", 0.1, 0.2), Phone("AH0", 0.2, 0.3)])
    assert alignment.duration == pytest.approx(0.5)
    with pytest.raises(InvalidInputError, match="overlaps"):
        Alignment(phones=[Phone("HH", 0.1, 0.3), Phone("AH0", 0.2, 0.4)])
    with pytest.raises(InvalidInputError, match="invalid time span"):
        Alignment(words=[Word("x", 0.5, 0.4)])


def test_emotion_schedule_interpolates_between_keys():
    schedule = EmotionSchedule((EmotionKey(1.0, "happy", 1.0), EmotionKey(0.0, "neutral")))
    vectors = schedule.at_frames(num_frames=5, fps=4.0)  # t = 0, .25, .5, .75, 1
    happy = EMOTIONS.index("happy")
    np.testing.assert_allclose(vectors[:, happy], [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(vectors.sum(axis=1), 1.0)
    held = schedule.at_frames(num_frames=12, fps=4.0)[-1]  # after the last key it holds
    assert held[happy] == pytest.approx(1.0)


def test_emotion_schedule_parse_and_json(tmp_path):
    constant = EmotionSchedule.parse("sad:0.25")
    vec = constant.at_frames(2, 30.0)[0]
    assert vec[EMOTIONS.index("sad")] == pytest.approx(0.25) and vec[0] == pytest.approx(0.75)
    path = tmp_path / "s.json"
    path.write_text(json.dumps([{"time": 0, "emotion": "anger", "intensity": 0.5}, {"time": 2, "emotion": "fear"}]))
    schedule = EmotionSchedule.from_json(path)
    assert schedule.to_json()[1] == {"time": 2.0, "emotion": "fear", "intensity": 1.0}
    with pytest.raises(InvalidInputError, match="unknown emotion"):
        EmotionSchedule.parse("joy")
    with pytest.raises(InvalidInputError, match="intensity"):
        EmotionSchedule.parse("happy:1.5")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InvalidInputError, match=r"bad\.json"):
        EmotionSchedule.from_json(tmp_path / "bad.json")


def test_emotion_schedule_parses_keys_with_times():
    schedule = EmotionSchedule.parse("sad:0.3@0, anger:1.0@4")
    assert schedule.keys == (EmotionKey(0.0, "sad", 0.3), EmotionKey(4.0, "anger", 1.0))
    halfway = schedule.at_frames(3, 0.5)[1]  # t = 2 s
    assert halfway[EMOTIONS.index("sad")] == pytest.approx(0.15) and halfway[EMOTIONS.index("anger")] == pytest.approx(0.5)
    with pytest.raises(InvalidInputError, match="category"):
        EmotionSchedule.parse("happy@soon")
