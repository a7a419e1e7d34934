"""Linear blendshape rig: weights (T, K) <-> vertices (T, V, 3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import lsq_linear

from facetalk.errors import InvalidInputError
from facetalk.face.topology import FaceTopology
from facetalk.types import Motion

FIT_BOUND_SLACK = 1e-6  # unconstrained solutions this close to [0, 1] need no bounded solve


@dataclass(frozen=True)
class BlendshapeRig:
    """A neutral face plus one displacement field per blendshape.

    Attributes:
        topology: the face mesh; its vertices are the neutral pose.
        deltas: displacement of every vertex at weight 1, shape (K, V, 3).
        names: one name per blendshape, shape (K,).
    """

    topology: FaceTopology
    deltas: np.ndarray
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        deltas = np.asarray(self.deltas, dtype=np.float32)
        if deltas.shape != (len(self.names), self.topology.num_vertices, 3):
            raise ValueError(
                f"rig deltas have shape {deltas.shape}, expected ({len(self.names)}, {self.topology.num_vertices}, 3)"
            )
        object.__setattr__(self, "deltas", deltas)
        object.__setattr__(self, "names", tuple(self.names))

    @property
    def neutral(self) -> np.ndarray:
        return self.topology.vertices

    @property
    def num_shapes(self) -> int:
        return len(self.names)

    def with_topology(self, topology: FaceTopology) -> BlendshapeRig:
        """The same shapes on another neutral face of the same topology (e.g. a new identity)."""
        return BlendshapeRig(topology, self.deltas, self.names)

    def to_vertices(self, weights: np.ndarray) -> np.ndarray:
        """Vertex positions (T, V, 3) for weights (T, K)."""
        weights = np.asarray(weights, dtype=np.float32)
        if weights.ndim != 2 or weights.shape[1] != self.num_shapes:
            raise InvalidInputError(f"blendshape weights must have shape (T, {self.num_shapes}), got {weights.shape}")
        flat = self.deltas.reshape(self.num_shapes, -1)  # (K, 3V)
        return self.neutral[None] + (weights @ flat).reshape(len(weights), -1, 3)

    def fit(self, vertices: np.ndarray) -> np.ndarray:
        """Weights (T, K) in [0, 1] whose shapes best reproduce vertices (T, V, 3), by least squares."""
        vertices = np.asarray(vertices, dtype=np.float64)
        if vertices.ndim != 3 or vertices.shape[1:] != self.neutral.shape:
            raise InvalidInputError(f"vertices must have shape (T, {self.neutral.shape[0]}, 3), got {vertices.shape}")
        basis = self.deltas.reshape(self.num_shapes, -1).T.astype(np.float64)  # (3V, K)
        target = (vertices - self.neutral[None]).reshape(len(vertices), -1)  # (T, 3V)
        weights = np.linalg.lstsq(basis, target.T, rcond=None)[0].T  # (T, K)
        outside = ((weights < -FIT_BOUND_SLACK) | (weights > 1 + FIT_BOUND_SLACK)).any(axis=1)
        for t in np.flatnonzero(outside):
            weights[t] = lsq_linear(basis, target[t], bounds=(0.0, 1.0), method="bvls").x
        return np.clip(weights, 0.0, 1.0).astype(np.float32)

    def animate(self, motion: Motion) -> Motion:
        """Vertex motion of a blendshape motion; channels are matched by name, missing ones are 0."""
        if motion.kind != "blendshapes":
            raise InvalidInputError(f"a blendshape rig animates blendshape motion, not {motion.kind!r}")
        return Motion.from_vertices(self.to_vertices(motion.select(self.names)), motion.fps)

    def fit_motion(self, motion: Motion) -> Motion:
        """Blendshape motion that best reproduces a vertex motion of this rig's topology."""
        return Motion(self.fit(motion.vertices()), motion.fps, "blendshapes", self.names)
