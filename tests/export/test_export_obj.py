"""obj: a directory of per-frame OBJ files, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh

from facetalk.errors import OutputError
from facetalk.export import export_motion, read_motion
from facetalk.face.rig import BlendshapeRig
from facetalk.face.topology import FaceTopology, face_topology
from facetalk.types import Motion


def test_sequence_frames_load_and_round_trip(tmp_path: Path, rank3_vertex_motion: Motion) -> None:
    out = tmp_path / "frames"
    result = export_motion(rank3_vertex_motion, out)
    assert result.path == out and result.format == "obj"
    files = sorted(p.name for p in out.iterdir())
    assert files == [f"frame_{i:06d}.obj" for i in range(rank3_vertex_motion.num_frames)]
    # maintain_order keeps the 10 iris points, which no triangle uses, so indices match the face.
    mesh = trimesh.load(out / "frame_000007.obj", force="mesh", process=False, maintain_order=True)
    assert isinstance(mesh, trimesh.Trimesh)
    assert mesh.vertices.shape == (face_topology().num_vertices, 3)
    assert mesh.faces.shape == face_topology().triangles.shape
    np.testing.assert_array_equal(np.float32(mesh.vertices), rank3_vertex_motion.vertices()[7])  # %.9g is float32-exact
    back = read_motion(out)
    assert back.fps == rank3_vertex_motion.fps
    np.testing.assert_array_equal(back.data, rank3_vertex_motion.data)
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]  # no temporary directory left


def test_obj_suffix_names_the_directory(tmp_path: Path, rank3_vertex_motion: Motion) -> None:
    result = export_motion(rank3_vertex_motion, tmp_path / "anim.obj")
    assert result.path == tmp_path / "anim" and (tmp_path / "anim" / "frame_000000.obj").is_file()


def test_blendshape_motion_goes_through_the_rig(tmp_path: Path, random_rig: BlendshapeRig, blendshape_motion: Motion) -> None:
    export_motion(blendshape_motion, tmp_path / "seq", rig=random_rig)
    back = read_motion(tmp_path / "seq")
    np.testing.assert_allclose(back.vertices(), random_rig.animate(blendshape_motion).vertices(), atol=1e-8)


def test_given_topology(tmp_path: Path, rng: np.random.Generator) -> None:
    topology = FaceTopology(rng.random((4, 3)).astype(np.float32), np.array([[0, 1, 2], [0, 2, 3]], np.int32))
    motion = Motion.from_vertices(rng.random((3, 4, 3)), 12.0)
    export_motion(motion, tmp_path / "quad", topology=topology)
    assert (tmp_path / "quad" / "frame_000002.obj").read_text().splitlines()[-1] == "f 1 3 4"


def test_refuses_to_replace_a_directory_with_other_files(tmp_path: Path, rank3_vertex_motion: Motion) -> None:
    (tmp_path / "keep.txt").write_text("precious")
    with pytest.raises(OutputError, match="holds other files") as info:
        export_motion(rank3_vertex_motion, tmp_path)
    assert str(tmp_path) in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    # An earlier sequence is replaced as a whole.
    export_motion(rank3_vertex_motion, tmp_path / "seq")
    shorter = Motion(rank3_vertex_motion.data[:2], rank3_vertex_motion.fps, "vertices")
    export_motion(shorter, tmp_path / "seq")
    assert len(list((tmp_path / "seq").iterdir())) == 2
