import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from facetalk.errors import InvalidInputError, OutputError, UnsupportedFormatError
from facetalk.export import export_motion, read_motion
from facetalk.face.topology import FaceTopology
from facetalk.files import (
    _umask,
    atomic_directory,
    atomic_output,
    finish_replacement,
    load_safetensors,
    read_json,
    read_text,
)
from facetalk.registry import Registry
from facetalk.types import Motion


def test_atomic_output_renames_on_success_and_cleans_up_on_error(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_output(target) as tmp:
        assert tmp.suffix == ".txt" and tmp.parent == target.parent
        tmp.write_text("done")
    assert target.read_text() == "done"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()

    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash midway")
    assert target.read_text() == "done"  # the old file is untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_atomic_output_under_a_regular_file_is_a_one_line_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write here") as info, atomic_output(blocker / "out.npz"):
        raise AssertionError("unreachable: no temporary file can be made under a regular file")
    assert "\n" not in str(info.value) and str(blocker / "out.npz") in str(info.value)


def test_atomic_directory_replaces_only_on_success(tmp_path):
    target = tmp_path / "seq"
    with atomic_directory(target) as tmp:
        (tmp / "a.obj").write_text("v 0 0 0\n")
    assert [p.name for p in target.iterdir()] == ["a.obj"]
    with pytest.raises(ValueError), atomic_directory(target) as tmp:
        (tmp / "b.obj").write_text("")
        raise ValueError("bad frame")
    assert [p.name for p in target.iterdir()] == ["a.obj"]
    assert [p.name for p in tmp_path.iterdir()] == ["seq"]


def test_registry_lookup_and_errors():
    registry: Registry[int] = Registry("thing")
    registry.register("b")(2)
    registry.register("a")(1)
    assert registry.get("a") == 1 and registry.names() == ["a", "b"] and "b" in registry
    with pytest.raises(UnsupportedFormatError, match=r"unknown thing 'c' \(known: a, b\)"):
        registry.get("c")
    with pytest.raises(ValueError, match="twice"):
        registry.register("a")(3)


# --- kills: a process SIGKILLed at any moment of a write loses nothing -------------------------------------

FILESYSTEM_EVENTS = frozenset({"open", "os.mkdir", "os.rename", "os.remove", "os.rmdir", "shutil.rmtree"})


def killed_at(step: int, work: Callable[[], object], under: Path) -> int:
    """Run `work` in a forked child that SIGKILLs itself just before its `step`-th filesystem change
    under `under` (counting from 0); return how many such changes it made when it was not killed.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: count the audited filesystem calls and die at the chosen one
        os.close(read_fd)
        count = 0

        def hook(event: str, args: tuple[object, ...]) -> None:
            nonlocal count
            if event not in FILESYSTEM_EVENTS or not args or not isinstance(args[0], str | bytes | os.PathLike):
                return
            name = os.fsdecode(args[0])
            if os.path.isabs(name) and not name.startswith(str(under)):
                return  # e.g. a module imported on first use; relative names are rmtree's, under `under`
            if event == "open" and not (isinstance(args[1], str) and set(args[1]) & set("wax")) and args[2] == os.O_RDONLY:
                return  # reads change nothing
            if count == step:
                os.kill(os.getpid(), signal.SIGKILL)
            count += 1

        sys.addaudithook(hook)
        work()
        os.write(write_fd, str(count).encode())
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        reported = pipe.read()
    _, status = os.waitpid(pid, 0)
    if reported:
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        return int(reported)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    return -1


def frames(value: float, count: int) -> Motion:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32)
    return Motion.from_vertices(np.stack([vertices + value + i for i in range(count)]), 30.0)


TRIANGLE = FaceTopology(np.zeros((3, 3), np.float32), np.array([[0, 1, 2]]))


def test_a_kill_at_any_step_of_a_directory_replacement_leaves_the_old_or_the_new_sequence(tmp_path: Path) -> None:
    old, new = frames(0.0, 5), frames(100.0, 3)
    target = tmp_path / "out" / "seq"

    def start() -> None:
        shutil.rmtree(target.parent, ignore_errors=True)
        export_motion(old, target, topology=TRIANGLE)

    def replace() -> None:
        export_motion(new, target, topology=TRIANGLE)

    start()
    steps = killed_at(-1, replace, target.parent)
    assert steps >= 10  # make the tree, write 3 frames, rename, move aside, rename, remove 5 frames and the tree
    outcomes = []
    for step in range(steps):
        start()
        assert killed_at(step, replace, target.parent) == -1
        back = read_motion(target)  # finishes an interrupted swap first
        assert back.num_frames in (old.num_frames, new.num_frames), step
        expected = old if back.num_frames == old.num_frames else new
        np.testing.assert_array_equal(back.data, expected.data)
        outcomes.append("new" if expected is new else "old")
        replace()  # the next write cleans up whatever the killed one left
        assert sorted(p.name for p in target.parent.iterdir()) == ["seq"], step
        np.testing.assert_array_equal(read_motion(target).data, new.data)
    assert outcomes[0] == "old" and outcomes[-1] == "new"  # both sides of the swap were reached


def test_a_killed_single_file_write_leaves_the_old_file_and_its_temporary_file_is_cleaned_next_time(tmp_path: Path) -> None:
    target = tmp_path / "motion.npz"
    target.write_text("old")

    def half_write() -> None:
        with atomic_output(target) as tmp:
            tmp.write_text("half")
            os.kill(os.getpid(), signal.SIGKILL)

    assert killed_at(-1, half_write, tmp_path) == -1
    left = [p.name for p in tmp_path.iterdir() if p != target]
    assert len(left) == 1 and left[0].startswith(".motion.") and left[0].endswith(".tmp.npz")
    assert target.read_text() == "old"
    alive = tmp_path / f".motion.{os.getpid()}-abcdefgh.tmp.npz"  # a write still under way in a live process
    alive.write_text("busy")
    with atomic_output(target) as tmp:
        tmp.write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, alive.name])
    assert target.read_text() == "new"


def test_a_swap_left_half_done_is_finished_or_rolled_back(tmp_path: Path) -> None:
    target = tmp_path / "seq"
    (tmp_path / ".seq.new").mkdir()
    (tmp_path / ".seq.new" / "frame_000000.obj").write_text("new")
    (tmp_path / ".seq.old").mkdir()  # killed after moving the old tree aside, before renaming the new one in
    finish_replacement(target)
    assert (target / "frame_000000.obj").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["seq"]
    os.rename(target, tmp_path / ".seq.old")  # only the old tree, aside: it is put back
    finish_replacement(target)
    assert (target / "frame_000000.obj").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["seq"]


def test_reading_text_json_and_safetensors_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "dir.json").mkdir()
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9")
    (tmp_path / "cut.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    cases = [
        (lambda: read_json(tmp_path / "dir.json"), "dir.json: is a directory"),
        (lambda: read_json(tmp_path / "bad.json"), "bad.json: not a JSON file (invalid JSON"),
        (lambda: read_text(tmp_path / "latin.txt", what="transcript file"), "latin.txt: not a transcript file (not UTF-8"),
        (lambda: read_text(tmp_path / "missing.txt"), "missing.txt: no such file"),
        (lambda: load_safetensors(tmp_path / "cut.safetensors"), "cut.safetensors: not a readable safetensors file"),
        (lambda: load_safetensors(tmp_path / "dir.json"), "dir.json: is a directory, not a safetensors file"),
    ]
    for work, fragment in cases:
        with pytest.raises(InvalidInputError) as info:
            work()
        assert fragment in str(info.value) and "\n" not in str(info.value)
