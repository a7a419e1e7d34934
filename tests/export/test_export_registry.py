"""Every registered format: choice by name and extension, write-read, determinism, and user errors.

User errors must be `FacetalkError`s with a one-line message naming the file, leaving nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pygltflib
import pytest

from facetalk.errors import FacetalkError, InvalidInputError, OutputError, UnsupportedFormatError
from facetalk.export import FORMATS, export_motion, format_for, read_motion
from facetalk.types import Motion

SUFFIX = {"npz": ".npz", "arkit-json": ".json", "livelink-csv": ".csv", "glb": ".glb", "obj": ""}


def motions(blendshapes: Motion, vertices: Motion) -> dict[str, Motion]:
    return {"blendshapes": blendshapes, "vertices": vertices}


def snapshot(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir())}
    return {path.name: path.read_bytes()}


def expect_error(error: type[FacetalkError], named: Path, work: Callable[[], object], match: str | None = None) -> str:
    """Run `work`, check it raises `error` with a one-line message naming `named`, return the message."""
    with pytest.raises(error, match=match) as info:
        work()
    message = str(info.value)
    assert str(named) in message, message
    assert "\n" not in message
    return message


def test_format_names() -> None:
    assert FORMATS.names() == ["arkit-json", "glb", "livelink-csv", "npz", "obj"]


@pytest.mark.parametrize("name", FORMATS.names())
@pytest.mark.parametrize("kind", ["blendshapes", "vertices"])
def test_every_format_writes_reads_and_is_deterministic(
    tmp_path: Path, name: str, kind: str, blendshape_motion: Motion, rank3_vertex_motion: Motion
) -> None:
    fmt = FORMATS.get(name)
    if kind not in fmt.kinds:
        pytest.skip(f"{name} does not write {kind}")
    motion = motions(blendshape_motion, rank3_vertex_motion)[kind]
    first, second = tmp_path / f"a{SUFFIX[name]}", tmp_path / f"b{SUFFIX[name]}"
    assert format_for(first) is fmt
    export_motion(motion, first, format=name)
    export_motion(motion, second)
    assert list(snapshot(first).values()) == list(snapshot(second).values())
    back = read_motion(first)
    # obj turns blendshape motion into the rig's vertices; everything else reads back the written kind.
    assert back.kind == ("vertices" if name == "obj" else kind)
    assert back.num_frames == motion.num_frames and back.fps == motion.fps
    assert np.isfinite(back.data).all()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("x.NPZ", "npz"), ("x.json", "arkit-json"), ("x.csv", "livelink-csv"), ("x.glb", "glb"), ("x.obj", "obj"), ("x", "obj")],
)
def test_extension_selects_the_format(name: str, expected: str, tmp_path: Path) -> None:
    assert format_for(tmp_path / name).name == expected
    assert format_for(tmp_path).name == "obj"  # an existing directory


def test_unknown_extension_or_name(tmp_path: Path, blendshape_motion: Motion) -> None:
    path = tmp_path / "face.fbx"
    message = expect_error(UnsupportedFormatError, path, lambda: export_motion(blendshape_motion, path))
    assert ".glb" in message
    expect_error(UnsupportedFormatError, path, lambda: read_motion(path))
    expect_error(UnsupportedFormatError, path, lambda: export_motion(blendshape_motion, path, format="fbx"), "known: arkit-json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["arkit-json", "livelink-csv", "glb"])
def test_unknown_channels_are_an_error(tmp_path: Path, name: str) -> None:
    motion = Motion(np.zeros((3, 2), np.float32), 30.0, "blendshapes", ("jawOpen", "lipsTogether"))
    path = tmp_path / f"out{SUFFIX[name]}"
    expect_error(InvalidInputError, path, lambda: export_motion(motion, path), "lipsTogether")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["glb", "obj"])
def test_wrong_vertex_count_without_topology(tmp_path: Path, name: str, rng: np.random.Generator) -> None:
    motion = Motion.from_vertices(rng.random((2, 10, 3)), 30.0)
    path = tmp_path / f"out{SUFFIX[name]}"
    expect_error(InvalidInputError, path, lambda: export_motion(motion, path, format=name), "pass topology=")
    assert list(tmp_path.iterdir()) == []


def test_kind_fps_and_empty_motion_errors(tmp_path: Path, blendshape_motion: Motion, rank3_vertex_motion: Motion) -> None:
    json_path, glb_path = tmp_path / "a.json", tmp_path / "a.glb"
    expect_error(InvalidInputError, json_path, lambda: export_motion(rank3_vertex_motion, json_path), "not vertices")
    expect_error(InvalidInputError, glb_path, lambda: export_motion(blendshape_motion, glb_path, fps=60), "resample")
    empty = Motion(np.zeros((0, 52), np.float32), 30.0, "blendshapes", blendshape_motion.channels)
    expect_error(InvalidInputError, glb_path, lambda: export_motion(empty, glb_path), "no frames")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", FORMATS.names())
def test_unwritable_path(tmp_path: Path, name: str, blendshape_motion: Motion) -> None:
    blocker = tmp_path / "not_a_directory"
    blocker.write_text("a regular file")
    path = blocker / f"out{SUFFIX[name]}"
    expect_error(OutputError, path, lambda: export_motion(blendshape_motion, path, format=name))
    assert [p.name for p in tmp_path.iterdir()] == ["not_a_directory"]


def test_failure_midway_leaves_old_file_and_no_temporary(
    tmp_path: Path, blendshape_motion: Motion, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "face.glb"
    export_motion(blendshape_motion, path)
    before = path.read_bytes()

    def full_disk(self: pygltflib.GLTF2, name: str) -> None:
        Path(name).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pygltflib.GLTF2, "save_binary", full_disk)
    expect_error(OutputError, path, lambda: export_motion(blendshape_motion, path), "No space left")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["face.glb"]


@pytest.mark.parametrize("name", ["npz", "arkit-json", "livelink-csv", "glb"])
def test_missing_or_garbage_input(tmp_path: Path, name: str) -> None:
    path = tmp_path / f"in{SUFFIX[name]}"
    expect_error(InvalidInputError, path, lambda: read_motion(path), "no such file")
    path.write_bytes(b"\x00\x01 not this format")
    expect_error(InvalidInputError, path, lambda: read_motion(path))


def test_missing_obj_directory(tmp_path: Path) -> None:
    path = tmp_path / "frames"
    expect_error(InvalidInputError, path, lambda: read_motion(path, format="obj"), "no such directory")
