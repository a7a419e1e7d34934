"""The `facetalk` command as a user runs it: real subprocesses, real files, exit codes."""

import os
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


def malformed_commands(tmp_path):
    """(arguments, what the one error line must name) for every command, each with one malformed option."""
    npz, text, folder = tmp_path / "in.npz", tmp_path / "words.txt", tmp_path / "folder"
    write_motion(npz, np.zeros((3, 52)))
    text.write_text("hello")
    folder.mkdir()
    speech = tmp_path / "speech.wav"  # never read: every case fails before the speech is loaded
    return [
        (["animate", speech, "--fps", "0"], "--fps"),
        (["animate", speech, "--seed", "abc"], "--seed"),
        (["animate", speech, "--text", "hi", "--text-file", text], "--text-file"),
        (["animate", speech, "--emotion", "happy", "--emotion-schedule", text], "--emotion-schedule"),
        (["animate", speech, "--emotion", "happy:lots"], "--emotion"),
        (["animate", speech, "--emotion-schedule", folder], "folder: is a directory"),
        (["animate", speech, "--format", "gif"], "--format"),
        (["animate", speech, "--no-such-option"], "--no-such-option"),
        (["align", speech, "--text", "hi", "--text-file", text], "--text-file"),
        (["align"], "AUDIO"),
        (["export", npz], "--output"),
        (["export", npz, "-o", tmp_path / "o.npz", "--input-fps", "-1"], "--input-fps"),
        (["export", npz, "-o", tmp_path / "o.npz", "surplus"], "surplus"),
        (["render", npz, "--compare", npz, "--caption", "only one"], "--caption"),
        (["render", npz, "--width", "wide"], "--width"),
        (["synth", "--out", folder, "--hours", "-1"], "--hours"),
        (["synth", "--out", folder, "--workers", "0"], "--workers"),
        (["train", "--config", text], "--out"),
        (["eval", "-m", "procedural", "-d", folder, "--units", "cm"], "--units"),
        (["eval", "-m", "procedural", "-d", folder, "--max-clips", "-3"], "--max-clips"),
        (["compare"], "REPORTS"),
        (["recognizer", "train", "-d", folder, "-o", folder, "--epochs", "0"], "--epochs"),
        (["recognizer", "train", "-d", folder, "-o", folder, "--target", "face"], "--target"),
        (["face", "sheet", "--cell", "8"], "--cell"),
        (["no-such-command"], "no-such-command"),
    ]


def test_every_command_answers_malformed_options_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from facetalk.cli import app

    for args, fragment in malformed_commands(tmp_path):
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], (args, result.stderr)
        assert result.stdout == "", args
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "in.npz", "words.txt"]  # nothing written


BUGGY_COMMAND = """
import warnings
from facetalk.cli import app

@app.command("boom")
def boom() -> None:
    warnings.warn("clip_3: motion has NaN; skipping it\\n(second line)", UserWarning)
    raise ZeroDivisionError("a bug")

app()
"""


def test_a_bug_is_one_line_naming_the_saved_traceback_and_debug_shows_it(tmp_path):
    env = {**os.environ, "FACETALK_CACHE": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", BUGGY_COMMAND, "boom"], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    warning, error = result.stderr.splitlines()
    assert warning == "warning: clip_3: motion has NaN; skipping it (second line)"
    assert error.startswith("error: internal error (ZeroDivisionError: a bug)") and "--debug" in error
    (report,) = (tmp_path / "crashes").iterdir()
    assert str(report) in error and report.read_text().endswith("in boom\nZeroDivisionError: a bug\n")
    debug = subprocess.run([sys.executable, "-c", BUGGY_COMMAND, "--debug", "boom"], capture_output=True, text=True, env=env)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
    assert len(list((tmp_path / "crashes").iterdir())) == 1


def test_export_to_a_dot_obj_path_reads_back_from_the_same_path(tmp_path):
    write_motion(tmp_path / "in.npz", np.zeros((3, 52)))
    assert facetalk("export", tmp_path / "in.npz", "-o", tmp_path / "a.obj").returncode == 0
    assert (tmp_path / "a" / "frame_000002.obj").is_file()
    result = facetalk("export", tmp_path / "a.obj", "-o", tmp_path / "back.npz")
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "back.npz")["data"].shape[0] == 3
    assert_user_error(facetalk("export", tmp_path / "b.obj", "-o", tmp_path / "o.npz"), "b.obj: no such OBJ sequence")
    (tmp_path / "one.obj").write_text("v 0 0 0\n")
    assert_user_error(facetalk("export", tmp_path / "one.obj", "-o", tmp_path / "o.npz"), "one.obj: a single OBJ file")


def test_a_corrupt_npz_field_is_one_line(tmp_path):
    np.savez(
        tmp_path / "fps.npz", data=np.zeros((3, 52), np.float32), fps="fast", kind="blendshapes", channels=np.array(ARKIT_NAMES)
    )
    assert_user_error(facetalk("export", tmp_path / "fps.npz", "-o", tmp_path / "o.csv"), "fps.npz", "fps must be a number")
    write_motion(tmp_path / "empty.npz", np.zeros((0, 52)))
    assert_user_error(facetalk("export", tmp_path / "empty.npz", "-o", tmp_path / "o.csv"), "empty.npz", "no frames")
