"""glb: re-parse with pygltflib (and trimesh for the base mesh) and check every number against the input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pygltflib
import pytest
import trimesh

from facetalk.errors import InvalidInputError
from facetalk.export import export_motion, read_motion
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.face.default_face import default_rig, scene_mesh
from facetalk.face.rig import BlendshapeRig
from facetalk.face.topology import FaceTopology, face_topology
from facetalk.types import Motion

FLOAT = 5126
ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
COMPONENTS = {"SCALAR": 1, "VEC3": 3}
MM = 1000.0


def accessor_data(gltf: pygltflib.GLTF2, index: int) -> np.ndarray:
    """Accessor `index` as (count, components), read straight from the binary chunk."""
    accessor = gltf.accessors[index]
    view = gltf.bufferViews[accessor.bufferView]
    dtype = {FLOAT: "<f4", 5123: "<u2", 5125: "<u4"}[accessor.componentType]
    components = COMPONENTS[accessor.type]
    start = view.byteOffset + (accessor.byteOffset or 0)
    data = np.frombuffer(gltf.binary_blob(), dtype=dtype, count=accessor.count * components, offset=start)
    return data.reshape(accessor.count, components)


def target_index(target: object) -> int:
    return int(target["POSITION"] if isinstance(target, dict) else target.POSITION)  # type: ignore[attr-defined,index]


def rebuilt_weights(gltf: pygltflib.GLTF2) -> tuple[np.ndarray, np.ndarray]:
    """(times (T,), weights (T, K)) of the first animation, assuming the frame-major layout."""
    sampler = gltf.animations[0].samplers[0]
    times = accessor_data(gltf, sampler.input).reshape(-1)
    num_targets = len(gltf.meshes[0].primitives[0].targets)
    return times, accessor_data(gltf, sampler.output).reshape(len(times), num_targets)


def check_position_bounds(gltf: pygltflib.GLTF2) -> None:
    primitive = gltf.meshes[0].primitives[0]
    for index in [primitive.attributes.POSITION, *(target_index(t) for t in primitive.targets)]:
        data = accessor_data(gltf, index)
        accessor = gltf.accessors[index]
        np.testing.assert_array_equal(np.float32(accessor.min), data.min(axis=0))
        np.testing.assert_array_equal(np.float32(accessor.max), data.max(axis=0))


def test_blendshape_glb_structure(tmp_path: Path, blendshape_motion: Motion) -> None:
    path = tmp_path / "face.glb"
    result = export_motion(blendshape_motion, path)
    assert result.format == "glb" and result.pca is None and result.num_frames == blendshape_motion.num_frames
    gltf = pygltflib.GLTF2.load_binary(str(path))
    scene = scene_mesh(default_rig().neutral)
    num_scene = scene.vertices.shape[1]
    mesh = gltf.meshes[0]
    assert len(gltf.meshes) == 1 and len(mesh.primitives) == 1
    primitive = mesh.primitives[0]
    assert gltf.accessors[primitive.attributes.POSITION].count == num_scene
    assert gltf.accessors[primitive.attributes.NORMAL].count == num_scene
    assert gltf.accessors[primitive.attributes.COLOR_0].count == num_scene
    assert gltf.accessors[primitive.indices].count == scene.triangles.size
    np.testing.assert_allclose(accessor_data(gltf, primitive.attributes.COLOR_0), scene.colors)
    normals = accessor_data(gltf, primitive.attributes.NORMAL)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    assert len(primitive.targets) == len(ARKIT_NAMES)
    assert mesh.extras["targetNames"] == list(ARKIT_NAMES)
    assert mesh.weights == [0.0] * len(ARKIT_NAMES)
    check_position_bounds(gltf)

    # One node instances the mesh, and the animation's only channel drives its weights.
    assert [n.mesh for n in gltf.nodes] == [0]
    (animation,) = gltf.animations
    (sampler,) = animation.samplers
    (channel,) = animation.channels
    assert sampler.interpolation == "LINEAR"
    assert channel.target.node == 0 and channel.target.path == "weights"
    times_accessor, weights_accessor = gltf.accessors[sampler.input], gltf.accessors[sampler.output]
    assert (times_accessor.componentType, times_accessor.type) == (FLOAT, "SCALAR")
    assert weights_accessor.count == blendshape_motion.num_frames * len(ARKIT_NAMES)
    times, weights = rebuilt_weights(gltf)
    np.testing.assert_array_equal(times, (np.arange(blendshape_motion.num_frames) / blendshape_motion.fps).astype(np.float32))
    assert times_accessor.min == [float(times[0])] and times_accessor.max == [float(times[-1])]
    np.testing.assert_array_equal(weights, blendshape_motion.data)  # frame-major

    # bufferViews are 4-byte aligned; vertex data 34962, indices 34963, animation data untargeted.
    assert all(view.byteOffset % 4 == 0 for view in gltf.bufferViews)
    view_target = {i: gltf.bufferViews[a.bufferView].target for i, a in enumerate(gltf.accessors)}
    assert view_target[primitive.attributes.POSITION] == ARRAY_BUFFER
    assert view_target[primitive.indices] == ELEMENT_ARRAY_BUFFER
    assert view_target[sampler.input] is None and view_target[sampler.output] is None
    assert gltf.asset.extras["facetalk"] == {"kind": "blendshapes", "fps": 30.0, "frames": blendshape_motion.num_frames}


def test_blendshape_glb_base_mesh_loads_in_trimesh(tmp_path: Path, blendshape_motion: Motion) -> None:
    path = tmp_path / "face.glb"
    export_motion(blendshape_motion, path)
    mesh = trimesh.load(path, force="mesh", process=False)
    assert isinstance(mesh, trimesh.Trimesh)
    scene = scene_mesh(default_rig().neutral)
    assert mesh.vertices.shape == (scene.vertices.shape[1], 3)
    assert mesh.faces.shape == scene.triangles.shape
    np.testing.assert_allclose(mesh.vertices, scene.vertices[0], atol=1e-7)


def test_morph_targets_are_the_rig_deltas(tmp_path: Path, blendshape_motion: Motion, random_rig: BlendshapeRig) -> None:
    path = tmp_path / "subject.glb"
    export_motion(blendshape_motion, path, rig=random_rig)
    gltf = pygltflib.GLTF2.load_binary(str(path))
    primitive = gltf.meshes[0].primitives[0]
    num_face = random_rig.topology.num_vertices
    targets = np.stack([accessor_data(gltf, target_index(t)) for t in primitive.targets])
    np.testing.assert_array_equal(targets[:, :num_face], random_rig.deltas)
    # Accessories follow the face affinely, so each full-scene target is scene(neutral + delta) - scene(neutral).
    scenes = scene_mesh(np.concatenate([random_rig.neutral[None], random_rig.neutral[None] + random_rig.deltas])).vertices
    np.testing.assert_allclose(targets, scenes[1:] - scenes[:1], atol=1e-6)
    check_position_bounds(gltf)


def test_blendshape_glb_round_trip_by_name(tmp_path: Path, rng: np.random.Generator) -> None:
    names = ("jawOpen", "mouthClose", "eyeBlinkLeft")
    motion = Motion(rng.random((10, 3)).astype(np.float32), 25.0, "blendshapes", names)
    path = tmp_path / "few.glb"
    export_motion(motion, path)
    back = read_motion(path)
    assert back.channels == ARKIT_NAMES and back.fps == 25.0
    np.testing.assert_array_equal(back.select(names), motion.data)
    others = [n for n in ARKIT_NAMES if n not in names]
    assert not back.select(others).any()


def test_rig_on_another_topology_exports_its_skin(tmp_path: Path, rng: np.random.Generator) -> None:
    topology = FaceTopology(rng.random((4, 3)).astype(np.float32), np.array([[0, 1, 2], [0, 2, 3]], np.int32))
    rig = BlendshapeRig(topology, rng.normal(size=(2, 4, 3)).astype(np.float32), ("jawOpen", "smile"))
    motion = Motion(rng.random((6, 2)).astype(np.float32), 30.0, "blendshapes", ("jawOpen", "smile"))
    path = tmp_path / "tiny.glb"
    export_motion(motion, path, rig=rig)
    gltf = pygltflib.GLTF2.load_binary(str(path))
    assert gltf.accessors[gltf.meshes[0].primitives[0].attributes.POSITION].count == 4
    assert gltf.meshes[0].extras["targetNames"] == ["jawOpen", "smile"]
    back = read_motion(path)
    np.testing.assert_array_equal(back.data, motion.data)


def test_vertex_glb_rank3_motion_is_exact(tmp_path: Path, rank3_vertex_motion: Motion) -> None:
    path = tmp_path / "vertices.glb"
    result = export_motion(rank3_vertex_motion, path)
    assert result.pca is not None
    assert result.pca.components == 3
    assert result.pca.max_error_mm < 1e-4 and result.pca.mean_error_mm <= result.pca.max_error_mm
    assert result.pca.explained_variance == pytest.approx(1.0)
    gltf = pygltflib.GLTF2.load_binary(str(path))
    stored = gltf.asset.extras["facetalk"]["pca"]
    assert stored["components"] == 3 and stored["max_error_mm"] == result.pca.max_error_mm
    assert gltf.meshes[0].extras["pca"] == stored
    check_position_bounds(gltf)

    # The base is the mean shape; rebuilding from the file reproduces the motion within the report.
    primitive = gltf.meshes[0].primitives[0]
    num_face = face_topology().num_vertices
    base = accessor_data(gltf, primitive.attributes.POSITION)[:num_face].astype(np.float64)
    np.testing.assert_allclose(base, rank3_vertex_motion.vertices().mean(axis=0), atol=1e-7)
    targets = np.stack([accessor_data(gltf, target_index(t)) for t in primitive.targets])[:, :num_face]
    _, weights = rebuilt_weights(gltf)
    assert weights.shape == (rank3_vertex_motion.num_frames, 3) and np.abs(weights).max() <= 1.0
    rebuilt = base[None] + np.einsum("tk,kvc->tvc", weights.astype(np.float64), targets.astype(np.float64))
    error = np.linalg.norm(rebuilt - rank3_vertex_motion.vertices(), axis=2) * MM
    assert error.max() <= result.pca.max_error_mm + 1e-9
    back = read_motion(path)
    assert back.kind == "vertices" and back.fps == rank3_vertex_motion.fps
    np.testing.assert_allclose(back.vertices(), rank3_vertex_motion.vertices(), atol=result.pca.max_error_mm / MM + 1e-9)


def test_vertex_glb_reports_truncation_error(tmp_path: Path, rank3_vertex_motion: Motion, rng: np.random.Generator) -> None:
    clean = rank3_vertex_motion.vertices()
    noisy = Motion.from_vertices(clean + rng.normal(size=clean.shape) * 1e-4, 30.0)
    result = export_motion(noisy, tmp_path / "noisy.glb", pca_max_components=4)
    assert result.pca is not None and result.pca.components == 4
    assert 0.01 < result.pca.max_error_mm < 1.0  # the noise (0.1 mm per axis) is what is lost
    back = read_motion(tmp_path / "noisy.glb")
    distance = np.linalg.norm(back.vertices().astype(np.float64) - noisy.vertices(), axis=2) * MM
    assert distance.max() <= result.pca.max_error_mm + 1e-3  # reader rounds the result to float32


def test_vertex_glb_on_a_given_topology(tmp_path: Path, rng: np.random.Generator) -> None:
    topology = FaceTopology(rng.random((5, 3)).astype(np.float32), np.array([[0, 1, 2], [2, 3, 4]], np.int32))
    motion = Motion.from_vertices(topology.vertices[None] + rng.normal(size=(8, 5, 3)) * 1e-3, 24.0)
    result = export_motion(motion, tmp_path / "mesh.glb", topology=topology, pca_tolerance_mm=0.0)
    assert result.pca is not None and result.pca.components <= 8 and result.pca.max_error_mm < 1e-3
    mesh = trimesh.load(tmp_path / "mesh.glb", force="mesh", process=False)
    assert isinstance(mesh, trimesh.Trimesh) and mesh.vertices.shape == (5, 3)


def test_vertex_glb_needs_topology_for_other_vertex_counts(tmp_path: Path, rng: np.random.Generator) -> None:
    motion = Motion.from_vertices(rng.random((3, 7, 3)), 30.0)
    path = tmp_path / "odd.glb"
    with pytest.raises(InvalidInputError, match="topology=") as info:
        export_motion(motion, path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []
