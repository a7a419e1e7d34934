"""Shared motions for the export tests: small, seeded, and written to real files in tmp_path."""

from __future__ import annotations

import numpy as np
import pytest

from facetalk.face.arkit import ARKIT_NAMES
from facetalk.face.rig import BlendshapeRig
from facetalk.face.topology import face_topology
from facetalk.types import Motion

FPS = 30.0
FRAMES = 45  # 1.5 s at 30 fps: crosses a second boundary, so Live Link fps can be derived
RANK = 3
BASIS_SCALE_M = 0.004  # a few millimetres of motion per component, like speech


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def blendshape_motion(rng: np.random.Generator) -> Motion:
    return Motion(rng.random((FRAMES, len(ARKIT_NAMES))).astype(np.float32), FPS, "blendshapes", ARKIT_NAMES)


@pytest.fixture
def rank3_vertex_motion(rng: np.random.Generator) -> Motion:
    """Default-face vertices moving in exactly 3 directions about the neutral face."""
    neutral = face_topology().vertices
    basis = rng.normal(size=(RANK, *neutral.shape)) * BASIS_SCALE_M  # (3, V, 3)
    coefficients = rng.normal(size=(FRAMES, RANK))
    return Motion.from_vertices(neutral[None] + np.einsum("tk,kvc->tvc", coefficients, basis), FPS)


@pytest.fixture
def random_rig(rng: np.random.Generator) -> BlendshapeRig:
    """The default topology with random (non-zero) deltas, so morph-target checks mean something."""
    topology = face_topology()
    deltas = rng.normal(size=(len(ARKIT_NAMES), topology.num_vertices, 3)).astype(np.float32) * 1e-3
    return BlendshapeRig(topology, deltas, ARKIT_NAMES)
