"""`facetalk animate` end to end on the bundled example speech, as a user runs it."""

import subprocess
import sys

import numpy as np
import pytest

from facetalk.animate import animate, write_animation
from facetalk.assets import asset_path
from facetalk.errors import InvalidInputError, UnsupportedFormatError
from facetalk.export import read_motion
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.types import EmotionSchedule

EXAMPLE = asset_path("speech/example.wav")
TRANSCRIPT = asset_path("speech/example.txt").read_text()


@pytest.fixture(scope="module")
def example():
    return animate(EXAMPLE, text=TRANSCRIPT, fps=30.0)


def test_animation_covers_the_speech_and_follows_the_transcript(example):
    motion = example.motion
    assert motion.kind == "blendshapes" and motion.channels == ARKIT_NAMES
    assert motion.num_frames == int(np.ceil(example.waveform.duration * 30.0 - 1e-6))
    assert example.alignment_method == "forced"
    assert [w.text for w in example.alignment.words][:4] == ["hello", "my", "name", "is"]
    jaw = motion.data[:, ARKIT_NAMES.index("jawOpen")]
    assert jaw.max() > 0.2 and jaw[-3:].max() < 0.1  # it speaks, and comes back to rest after the last word


def test_emotion_changes_the_face(example):
    happy = animate(example.waveform, text=TRANSCRIPT, emotion=EmotionSchedule.parse("happy:1"))
    smile = [ARKIT_NAMES.index("mouthSmileLeft"), ARKIT_NAMES.index("mouthSmileRight")]
    assert happy.motion.data[:, smile].mean() > example.motion.data[:, smile].mean() + 0.1


def test_write_animation_writes_every_format_and_the_alignment(example, tmp_path):
    paths = write_animation(example, tmp_path, name="example", formats=("npz", "livelink-csv", "glb", "mp4"), progress=False)
    assert sorted(p.name for p in paths) == sorted(
        ["example.npz", "example.csv", "example.glb", "example.TextGrid", "example.mp4"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no leftovers
    np.testing.assert_allclose(read_motion(tmp_path / "example.npz").data, example.motion.data)
    assert (tmp_path / "example.mp4").stat().st_size > 10_000


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(UnsupportedFormatError, match="persona"):
        animate(EXAMPLE, text=TRANSCRIPT, persona="nobody")
    with pytest.raises(UnsupportedFormatError, match="backend"):
        animate(EXAMPLE, text=TRANSCRIPT, backend="magic")
    with pytest.raises(InvalidInputError, match=r"missing\.wav"):
        animate(tmp_path / "missing.wav")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "facetalk.cli",
            "animate",
            str(EXAMPLE),
            "--text",
            "hi",
            "-f",
            "npz,gif",
            "-o",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: unknown output format 'gif' (known: npz, arkit-json, livelink-csv, glb, obj, mp4)"
    ]
    assert not (tmp_path / "o").exists()
