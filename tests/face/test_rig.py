"""The default blendshape rig as a linear model: conditioning, round trip, clamping."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from facetalk.errors import InvalidInputError
from facetalk.face import rig as rig_module
from facetalk.face.default_face import default_rig
from facetalk.face.identity import random_identity, subject_topology

MAX_CONDITION = 1e3  # the 52 shapes stay well apart (measured: about 2.3e2)
ROUND_TRIP_TOLERANCE = 1e-3
LSQ_TOLERANCE = 1e-4  # the fit must equal scipy's bounded least squares to this on every weight
NOISE_M = 1e-3  # vertex noise, about a tenth of a typical blendshape displacement


def _posed_frames(frames: int, seed: int) -> np.ndarray:
    """Vertices of sparse in-bounds weights, some pushed past [0, 1], plus noise: (T, V, 3)."""
    rng = np.random.default_rng(seed)
    rig = default_rig()
    weights = rng.uniform(0.0, 1.0, (frames, rig.num_shapes)) * (rng.uniform(size=(frames, rig.num_shapes)) < 0.4)
    weights[rng.uniform(size=weights.shape) < 0.05] = 1.0
    weights[rng.uniform(size=weights.shape) < 0.03] = 1.3
    weights[rng.uniform(size=weights.shape) < 0.03] = -0.3
    vertices = rig.to_vertices(weights.astype(np.float32))
    return vertices + rng.normal(0.0, NOISE_M, vertices.shape).astype(np.float32)


def _lsq_linear(vertices: np.ndarray) -> np.ndarray:
    rig = default_rig()
    basis = rig.deltas.reshape(rig.num_shapes, -1).T.astype(np.float64)
    targets = (vertices.astype(np.float64) - rig.neutral[None]).reshape(len(vertices), -1)
    return np.stack([lsq_linear(basis, target, bounds=(0.0, 1.0), method="bvls").x for target in targets])


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


def test_fit_equals_lsq_linear_and_respects_bounds() -> None:
    vertices = _posed_frames(60, seed=2)
    fitted = default_rig().fit(vertices)
    assert fitted.min() >= 0.0 and fitted.max() <= 1.0
    assert ((fitted == 0.0) | (fitted == 1.0)).any(axis=1).all()  # every frame has weights at a bound
    assert np.abs(fitted - _lsq_linear(vertices)).max() < LSQ_TOLERANCE


def test_fit_rows_that_do_not_settle_fall_back_to_lsq_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rig_module, "FIT_MAX_ITERATIONS", 1)  # too few rounds for most frames
    vertices = _posed_frames(12, seed=3)
    assert np.abs(default_rig().fit(vertices) - _lsq_linear(vertices)).max() < LSQ_TOLERANCE


def test_fit_chunks_agree_with_one_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    vertices = _posed_frames(50, seed=4)
    whole = default_rig().fit(vertices)
    monkeypatch.setattr(rig_module, "FIT_CHUNK_FRAMES", 7)
    monkeypatch.setattr(rig_module, "FIT_GROUP_FRAMES", 3)
    np.testing.assert_allclose(default_rig().fit(vertices), whole, atol=1e-6)


def test_subject_rig_round_trip() -> None:
    rig = default_rig().with_topology(subject_topology(random_identity(3)))
    weights = np.random.default_rng(1).uniform(0.0, 1.0, (2, rig.num_shapes)).astype(np.float32)
    assert np.abs(rig.fit(rig.to_vertices(weights)) - weights).max() < ROUND_TRIP_TOLERANCE


def test_wrong_weight_shape_is_rejected() -> None:
    with pytest.raises(InvalidInputError):
        default_rig().to_vertices(np.zeros((3, 51), np.float32))
