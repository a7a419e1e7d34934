"""The `facetalk` command as a user runs it: real subprocesses, real files, exit codes."""

import subprocess
import sys

import numpy as np
import pytest

from facetalk.face.arkit import ARKIT_NAMES


def facetalk(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "facetalk.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def write_motion(path, data, kind="blendshapes", channels=ARKIT_NAMES, fps=30.0):
    np.savez(path, data=np.asarray(data, np.float32), fps=fps, kind=kind, channels=np.array(channels))


def assert_user_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_export_converts_between_formats(tmp_path):
    weights = np.random.default_rng(0).uniform(0, 1, (12, 52))
    write_motion(tmp_path / "in.npz", weights)
    assert facetalk("export", tmp_path / "in.npz", "-o", tmp_path / "a.csv").returncode == 0
    # 12 frames of Live Link CSV span less than a second of timecode: the rate must be given.
    assert_user_error(facetalk("export", tmp_path / "a.csv", "-o", tmp_path / "b.json"), "a.csv", "fps")
    assert facetalk("export", tmp_path / "a.csv", "-o", tmp_path / "b.json", "--input-fps", 30).returncode == 0
    result = facetalk("export", tmp_path / "b.json", "-o", tmp_path / "c.npz")
    assert result.returncode == 0, result.stderr
    back = np.load(tmp_path / "c.npz")
    np.testing.assert_allclose(back["data"], weights, atol=1e-6)
    assert float(back["fps"]) == 30.0


@pytest.mark.parametrize(
    ("data", "fragment"),
    [(np.full((4, 52), np.nan), "non-finite"), (np.zeros((4, 52, 2)), "shape")],
    ids=["non-finite", "wrong-shape"],
)
def test_bad_motion_is_a_one_line_error_naming_the_file(tmp_path, data, fragment):
    write_motion(tmp_path / "bad.npz", data)
    result = facetalk("export", tmp_path / "bad.npz", "-o", tmp_path / "out.glb")
    assert_user_error(result, "bad.npz", fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npz"]


def test_unknown_format_and_unwritable_output(tmp_path):
    write_motion(tmp_path / "in.npz", np.zeros((3, 52)))
    assert_user_error(facetalk("export", tmp_path / "in.npz", "-o", tmp_path / "out.xyz"), "out.xyz")
    (tmp_path / "blocker").write_text("a regular file")
    assert_user_error(facetalk("export", tmp_path / "in.npz", "-o", tmp_path / "blocker" / "out.glb"), "out.glb")
    assert_user_error(facetalk("render", tmp_path / "in.npz", "-o", tmp_path / "blocker" / "out.mp4"), "out.mp4")
    assert_user_error(facetalk("export", tmp_path / "missing.npz", "-o", tmp_path / "o.npz"), "missing.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "in.npz"]


def test_render_and_sheet_commands_write_their_files(tmp_path):
    weights = np.zeros((6, 52))
    weights[:, ARKIT_NAMES.index("jawOpen")] = np.linspace(0, 1, 6)
    write_motion(tmp_path / "in.npz", weights)
    result = facetalk("render", tmp_path / "in.npz", "-o", tmp_path / "out.mp4", "--width", 96, "--height", 96)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.mp4").stat().st_size > 1000
    result = facetalk("face", "sheet", "-o", tmp_path / "sheet.png", "--cell", 64)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "sheet.png").stat().st_size > 1000
