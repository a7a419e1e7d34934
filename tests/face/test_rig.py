"""The default blendshape rig as a linear model: conditioning, round trip, clamping."""

from __future__ import annotations

import numpy as np
import pytest

from facetalk.errors import InvalidInputError
from facetalk.face.default_face import default_rig
from facetalk.face.identity import random_identity, subject_topology

MAX_CONDITION = 1e3  # the 52 shapes stay well apart (measured: about 2.3e2)
ROUND_TRIP_TOLERANCE = 1e-3


def test_basis_is_well_conditioned() -> None:
    rig = default_rig()
    basis = rig.deltas.reshape(rig.num_shapes, -1).T.astype(np.float64)  # (3V, K)
    singular = np.linalg.svd(basis, compute_uv=False)
    assert singular[0] / singular[-1] < MAX_CONDITION


def test_fit_recovers_random_weights() -> None:
    rig = default_rig()
    weights = np.random.default_rng(0).uniform(0.0, 1.0, (8, rig.num_shapes)).astype(np.float32)
    recovered = rig.fit(rig.to_vertices(weights))
    assert recovered.shape == weights.shape
    assert np.abs(recovered - weights).max() < ROUND_TRIP_TOLERANCE


def test_fit_clamps_to_unit_interval() -> None:
    rig = default_rig()
    weights = np.zeros((2, rig.num_shapes), np.float32)
    weights[0, 17] = 1.6  # jawOpen past its range
    weights[1, 0] = -0.7  # a negative blink
    recovered = rig.fit(rig.to_vertices(weights))
    assert recovered.min() >= 0.0 and recovered.max() <= 1.0
    assert recovered[0, 17] == pytest.approx(1.0, abs=1e-4)
    assert recovered[1, 0] == pytest.approx(0.0, abs=1e-4)


def test_subject_rig_round_trip() -> None:
    rig = default_rig().with_topology(subject_topology(random_identity(3)))
    weights = np.random.default_rng(1).uniform(0.0, 1.0, (2, rig.num_shapes)).astype(np.float32)
    assert np.abs(rig.fit(rig.to_vertices(weights)) - weights).max() < ROUND_TRIP_TOLERANCE


def test_wrong_weight_shape_is_rejected() -> None:
    with pytest.raises(InvalidInputError):
        default_rig().to_vertices(np.zeros((3, 51), np.float32))
