"""The animated face's mesh: counts, symmetry, regions and winding."""

from __future__ import annotations

import numpy as np

from facetalk.face.topology import (
    IRIS_DEPTH,
    LEFT_IRIS,
    NUM_CANONICAL_TRIANGLES,
    NUM_MESH_VERTICES,
    RIGHT_IRIS,
    canonical_mesh,
    eye_opening_centre,
    face_topology,
    mirror_map,
)

FLIP_X = np.array([-1.0, 1.0, 1.0], dtype=np.float32)


def test_counts() -> None:
    canonical, face = canonical_mesh(), face_topology()
    assert canonical.vertices.shape == (468, 3) and NUM_MESH_VERTICES == 468
    assert canonical.triangles.shape == (898, 3) and NUM_CANONICAL_TRIANGLES == 898
    assert face.vertices.shape == (478, 3)
    assert face.triangles.shape == (852, 3)  # 46 triangles removed to open the mouth and eye slits
    assert face.triangles.max() < NUM_MESH_VERTICES  # the iris points are not part of the skin


def test_metres_and_axes() -> None:
    v = face_topology().vertices
    width = v[:, 0].max() - v[:, 0].min()
    assert 0.14 < width < 0.17  # a 15 cm face
    nose_tip, chin, forehead = v[1], v[152], v[10]
    assert nose_tip[2] > v[:NUM_MESH_VERTICES, 2].mean()  # the face looks toward +Z
    assert forehead[1] > nose_tip[1] > chin[1]  # +Y is up
    assert v[291, 0] > 0 > v[61, 0]  # +X is the subject's left: 291 is the left mouth corner


def test_mirror_map_is_an_exact_involution() -> None:
    v, mirror = face_topology().vertices, mirror_map()
    np.testing.assert_array_equal(mirror[mirror], np.arange(len(v)))
    assert np.abs(v[mirror] * FLIP_X - v).max() < 1e-7
    assert set(mirror[list(RIGHT_IRIS)]) == set(LEFT_IRIS)


def test_regions_are_symmetric() -> None:
    regions, mirror = face_topology().regions, mirror_map()
    for name, indices in regions.items():
        partner = name.replace("left", "@").replace("right", "left").replace("@", "right")
        assert set(mirror[indices]) == set(regions[partner]), name


def test_iris_points_sit_behind_the_eye_openings() -> None:
    v = face_topology().vertices
    for side, iris in (("left", LEFT_IRIS), ("right", RIGHT_IRIS)):
        expected = eye_opening_centre(v, side) - np.array([0.0, 0.0, IRIS_DEPTH])
        np.testing.assert_allclose(v[iris[0]], expected, atol=1e-7)


def test_skin_is_wound_counter_clockwise_from_the_front() -> None:
    face = face_topology()
    tri = face.vertices[face.triangles]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    mean = normals.sum(axis=0) / np.linalg.norm(normals, axis=-1).sum()
    assert mean[2] > 0.5
