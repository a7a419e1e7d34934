"""livelink-csv: the app's header and timecodes, exact round trips, and reading columns by name."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from facetalk.errors import InvalidInputError
from facetalk.export import export_motion, read_motion
from facetalk.export.livelink_csv import CSV_HEADER
from facetalk.face.arkit import ARKIT_NAMES, HEAD_AND_EYE_ROTATIONS
from facetalk.types import Motion

# The app's header, typed out from FORMATS.md §6 rather than derived from the module under test.
APP_HEADER = (
    "Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,EyeLookInLeft,EyeLookOutLeft,EyeLookUpLeft,EyeSquintLeft,"
    "EyeWideLeft,EyeBlinkRight,EyeLookDownRight,EyeLookInRight,EyeLookOutRight,EyeLookUpRight,EyeSquintRight,"
    "EyeWideRight,JawForward,JawRight,JawLeft,JawOpen,MouthClose,MouthFunnel,MouthPucker,MouthRight,MouthLeft,"
    "MouthSmileLeft,MouthSmileRight,MouthFrownLeft,MouthFrownRight,MouthDimpleLeft,MouthDimpleRight,MouthStretchLeft,"
    "MouthStretchRight,MouthRollLower,MouthRollUpper,MouthShrugLower,MouthShrugUpper,MouthPressLeft,MouthPressRight,"
    "MouthLowerDownLeft,MouthLowerDownRight,MouthUpperUpLeft,MouthUpperUpRight,BrowDownLeft,BrowDownRight,BrowInnerUp,"
    "BrowOuterUpLeft,BrowOuterUpRight,CheekPuff,CheekSquintLeft,CheekSquintRight,NoseSneerLeft,NoseSneerRight,TongueOut,"
    "HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll"
)


def rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_header_count_and_timecodes(tmp_path: Path, blendshape_motion: Motion) -> None:
    path = tmp_path / "take.csv"
    export_motion(blendshape_motion, path)
    table = rows(path)
    assert ",".join(table[0]) == APP_HEADER == ",".join(CSV_HEADER)
    assert len(table[0]) == 2 + 61
    assert all(row[1] == "61" and len(row) == 63 for row in table[1:])
    # 30 fps: the frame counter runs 00..29, then the seconds tick.
    assert [row[0] for row in table[1:]][28:32] == ["00:00:00:28.000", "00:00:00:29.000", "00:00:01:00.000", "00:00:01:01.000"]
    jaw_open = table[0].index("JawOpen")
    assert float(table[1][jaw_open]) == blendshape_motion.data[0, ARKIT_NAMES.index("jawOpen")]


def test_round_trip_is_exact(tmp_path: Path, blendshape_motion: Motion) -> None:
    path = tmp_path / "take.csv"
    export_motion(blendshape_motion, path)
    back = read_motion(path)
    assert back.kind == "blendshapes" and back.channels == ARKIT_NAMES and back.fps == blendshape_motion.fps
    np.testing.assert_array_equal(back.data, blendshape_motion.data)


def test_timecode_rate_below_motion_rate_writes_subframes(tmp_path: Path, rng: np.random.Generator) -> None:
    motion = Motion(rng.random((150, 52)).astype(np.float32), 60.0, "blendshapes", ARKIT_NAMES)
    path = tmp_path / "take.csv"
    export_motion(motion, path, fps=30)
    timecodes = [row[0] for row in rows(path)[1:]]
    assert timecodes[:4] == ["00:00:00:00.000", "00:00:00:00.500", "00:00:00:01.000", "00:00:00:01.500"]
    assert timecodes[60] == "00:00:01:00.000"
    back = read_motion(path)
    assert back.fps == 60.0
    np.testing.assert_array_equal(back.data, motion.data)


def test_rotations_are_written_and_optionally_kept(tmp_path: Path, rng: np.random.Generator) -> None:
    names = ("jawOpen", *HEAD_AND_EYE_ROTATIONS)
    motion = Motion(rng.normal(size=(40, len(names))).astype(np.float32), 30.0, "blendshapes", names)
    path = tmp_path / "head.csv"
    export_motion(motion, path)
    assert read_motion(path).channels == ARKIT_NAMES
    kept = read_motion(path, keep_rotations=True)
    assert kept.channels == (*ARKIT_NAMES, *HEAD_AND_EYE_ROTATIONS)
    np.testing.assert_array_equal(kept.select(names), motion.data)


def hand_written_take(path: Path, fps: int, frames: int, start: int = 0) -> dict[str, np.ndarray]:
    """A take as the app writes it, with two columns swapped, one dropped and two unknown ones added."""
    header = APP_HEADER.split(",")
    header.remove("CheekPuff")
    a, b = header.index("JawOpen"), header.index("BrowInnerUp")
    header[a], header[b] = header[b], header[a]
    header = [*header[:5], "Unknown", *header[5:], "extra_column"]
    header[header.index("EyeBlinkLeft")] = "eyeblinkleft"  # case does not matter
    values = {name: np.round(np.linspace(0, 1, frames) * (k + 1) / 70, 6) for k, name in enumerate(header[2:])}
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i in range(frames):
            seconds, ff = divmod(start + i, fps)
            timecode = f"17:42:{seconds:02d}:{ff:02d}.000"  # wall-clock start, as the app does
            writer.writerow([timecode, "61", *(f"{values[name][i]:.6f}" for name in header[2:])])
    return values


def test_reads_hand_written_file_by_column_name(tmp_path: Path) -> None:
    path = tmp_path / "MySlate_3_iPhone.csv"
    values = hand_written_take(path, fps=60, frames=150)
    motion = read_motion(path)
    assert motion.fps == 60.0 and motion.num_frames == 150 and motion.channels == ARKIT_NAMES
    np.testing.assert_allclose(motion.select(["jawOpen"])[:, 0], values["JawOpen"], atol=1e-7)
    np.testing.assert_allclose(motion.select(["browInnerUp"])[:, 0], values["BrowInnerUp"], atol=1e-7)
    np.testing.assert_allclose(motion.select(["mouthLeft"])[:, 0], values["MouthLeft"], atol=1e-7)
    np.testing.assert_allclose(motion.select(["jawRight"])[:, 0], values["JawRight"], atol=1e-7)
    np.testing.assert_allclose(motion.select(["eyeBlinkLeft"])[:, 0], values["eyeblinkleft"], atol=1e-7)
    assert not motion.select(["cheekPuff"]).any()  # missing column reads as zero

    swapped = read_motion(path, swap_mouth_left_right=True)
    assert swapped.channels == ARKIT_NAMES
    np.testing.assert_array_equal(swapped.select(["mouthLeft"]), motion.select(["mouthRight"]))
    np.testing.assert_array_equal(swapped.select(["mouthRight"]), motion.select(["mouthLeft"]))


def test_fps_explicit_or_derived_from_the_counter_wrap(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    hand_written_take(path, fps=60, frames=30)  # half a second: no second boundary
    with pytest.raises(InvalidInputError, match="pass fps=") as info:
        read_motion(path)
    assert str(path) in str(info.value)
    assert read_motion(path, fps=60).fps == 60
    hand_written_take(path, fps=60, frames=70, start=20)  # wraps once, no complete second
    assert read_motion(path).fps == pytest.approx(60.0)


def test_malformed_rows_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(APP_HEADER + "\n00:00:00:00.000,61,abc\n")
    with pytest.raises(InvalidInputError, match=r"bad\.csv: line 2") as info:
        read_motion(path)
    assert "\n" not in str(info.value)
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(InvalidInputError, match="not a Live Link Face CSV"):
        read_motion(path)


def test_trailing_commas_are_not_columns(tmp_path: Path, blendshape_motion: Motion) -> None:
    path = tmp_path / "take.csv"
    export_motion(blendshape_motion, path)
    path.write_text("".join(line + ",\n" for line in path.read_text().splitlines()))
    np.testing.assert_array_equal(read_motion(path).data, blendshape_motion.data)
