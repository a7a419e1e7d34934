"""npz: lossless round trips of every motion kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facetalk.errors import InvalidInputError
from facetalk.export import export_motion, read_motion
from facetalk.export.npz import read_npz_triangles
from facetalk.face.topology import face_topology
from facetalk.types import Motion


def assert_same(a: Motion, b: Motion) -> None:
    assert (a.kind, a.fps, a.channels) == (b.kind, b.fps, b.channels)
    assert a.data.dtype == b.data.dtype == np.float32
    np.testing.assert_array_equal(a.data, b.data)


def test_blendshapes(tmp_path: Path, blendshape_motion: Motion) -> None:
    export_motion(blendshape_motion, tmp_path / "m.npz")
    assert_same(read_motion(tmp_path / "m.npz"), blendshape_motion)
    with np.load(tmp_path / "m.npz") as data:
        assert sorted(data.files) == ["channels", "data", "fps", "kind"]


def test_vertices_with_triangles(tmp_path: Path, rank3_vertex_motion: Motion) -> None:
    path = tmp_path / "v.npz"
    export_motion(rank3_vertex_motion, path, topology=face_topology())
    assert_same(read_motion(path), rank3_vertex_motion)
    triangles = read_npz_triangles(path)
    assert triangles is not None
    np.testing.assert_array_equal(triangles, face_topology().triangles)
    export_motion(rank3_vertex_motion, path)
    assert read_npz_triangles(path) is None


def test_params(tmp_path: Path, rng: np.random.Generator) -> None:
    motion = Motion(rng.normal(size=(7, 3)).astype(np.float32), 25.0, "params", ("expr_0", "expr_1", "jaw_pose"))
    export_motion(motion, tmp_path / "p.npz")
    assert_same(read_motion(tmp_path / "p.npz"), motion)


def test_not_a_motion_file(tmp_path: Path) -> None:
    path = tmp_path / "other.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(InvalidInputError, match="missing data, fps, kind, channels") as info:
        read_motion(path)
    assert str(path) in str(info.value)
