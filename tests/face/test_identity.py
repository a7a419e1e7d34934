"""Identity modes: symmetric, smooth, plausible in size, and deterministic random subjects."""

from __future__ import annotations

import numpy as np
import pytest

from facetalk.errors import InvalidInputError
from facetalk.face.identity import IDENTITY_MODES, identity_basis, identity_offsets, random_identity, subject_topology
from facetalk.face.topology import IRIS_DEPTH, LEFT_IRIS, RIGHT_IRIS, eye_opening_centre, face_topology, mirror_map

FLIP_X = np.array([-1.0, 1.0, 1.0], dtype=np.float32)
MAX_SLOPE = 0.5  # metres of displacement change per metre along any mesh edge, at coefficient 1


def test_required_modes_exist() -> None:
    required = {"face_width", "jaw_width", "jaw_length", "lip_fullness", "nose_length", "nose_width", "brow_height"}
    assert required <= set(IDENTITY_MODES)
    assert identity_basis().shape == (len(IDENTITY_MODES), 478, 3)


@pytest.mark.parametrize("mode", range(len(IDENTITY_MODES)))
def test_mode_is_symmetric_plausible_and_smooth(mode: int) -> None:
    field = identity_basis()[mode]
    assert np.abs(field[mirror_map()] * FLIP_X - field).max() < 1e-7
    size = np.linalg.norm(field, axis=-1).max()
    assert 0.002 < size < 0.015, IDENTITY_MODES[mode]  # between 2 mm and 1.5 cm at coefficient 1
    face = face_topology()
    edges = np.concatenate([face.triangles[:, [0, 1]], face.triangles[:, [1, 2]], face.triangles[:, [2, 0]]])
    change = np.linalg.norm(field[edges[:, 0]] - field[edges[:, 1]], axis=-1)
    length = np.linalg.norm(face.vertices[edges[:, 0]] - face.vertices[edges[:, 1]], axis=-1)
    assert (change / length).max() < MAX_SLOPE, IDENTITY_MODES[mode]


def test_irises_stay_in_the_eye_openings() -> None:
    v = subject_topology(random_identity(7, scale=2.0)).vertices
    for side, iris in (("left", LEFT_IRIS), ("right", RIGHT_IRIS)):
        np.testing.assert_allclose(v[iris[0]], eye_opening_centre(v, side) - [0.0, 0.0, IRIS_DEPTH], atol=1e-6)


def test_subjects_differ_and_keep_the_topology() -> None:
    a, b = subject_topology(random_identity(0)), subject_topology(random_identity(1))
    base = face_topology()
    assert np.abs(a.vertices - b.vertices).max() > 0.002
    np.testing.assert_array_equal(a.triangles, base.triangles)
    assert a.regions.keys() == base.regions.keys()


def test_random_identity_is_seeded() -> None:
    np.testing.assert_array_equal(random_identity(5), random_identity(5))
    assert not np.array_equal(random_identity(5), random_identity(6))
    assert random_identity(5).shape == (len(IDENTITY_MODES),)
    np.testing.assert_array_equal(random_identity(5, scale=0.0), np.zeros(len(IDENTITY_MODES)))


def test_mapping_coefficients() -> None:
    offsets = identity_offsets({"face_width": 1.0})
    np.testing.assert_allclose(offsets, identity_basis()[IDENTITY_MODES.index("face_width")], atol=1e-7)
    assert offsets[291, 0] > 0 > offsets[61, 0]  # wider: the left corner moves left (+X)
    with pytest.raises(InvalidInputError):
        identity_offsets({"ear_size": 1.0})
