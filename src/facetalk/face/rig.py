"""Linear blendshape rig: weights (T, K) <-> vertices (T, V, 3)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.linalg import cholesky, solve_triangular
from scipy.optimize import lsq_linear

from facetalk.errors import InvalidInputError
from facetalk.face.topology import FaceTopology
from facetalk.types import Motion

FIT_CHUNK_FRAMES = 1024  # frames solved together: bounds the (frames, K, K) systems to about 22 MB
FIT_GROUP_FRAMES = 128  # frames per batched solve, grouped by their number of free weights
FIT_MAX_ITERATIONS = 20  # active-set rounds; frames still changing after them are solved one by one


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

    @cached_property
    def _basis(self) -> np.ndarray:
        return self.deltas.reshape(self.num_shapes, -1).T.astype(np.float64)  # (3V, K)

    @cached_property
    def _gram(self) -> np.ndarray:
        return self._basis.T @ self._basis  # (K, K), the normal equations' matrix

    def fit(self, vertices: np.ndarray) -> np.ndarray:
        """Weights (T, K) in [0, 1] whose shapes best reproduce vertices (T, V, 3), by least squares.

        Every frame is the bounded least-squares problem `scipy.optimize.lsq_linear` solves; all frames
        are solved at once on the normal equations (see `solve_box_qp`), to the same solution.
        """
        vertices = np.asarray(vertices)
        if vertices.ndim != 3 or vertices.shape[1:] != self.neutral.shape:
            raise InvalidInputError(f"vertices must have shape (T, {self.neutral.shape[0]}, 3), got {vertices.shape}")
        rhs = np.zeros((len(vertices), self.num_shapes))  # (T, K): the basis times each frame's offsets
        for start in range(0, len(vertices), FIT_CHUNK_FRAMES):  # in chunks: no (T, 3V) float64 copy
            offsets = vertices[start : start + FIT_CHUNK_FRAMES].astype(np.float64) - self.neutral[None]
            rhs[start : start + FIT_CHUNK_FRAMES] = offsets.reshape(len(offsets), -1) @ self._basis
        weights = solve_box_qp(self._gram, rhs)  # (T, K)
        return np.clip(weights, 0.0, 1.0).astype(np.float32)  # free weights may sit 1e-16 past a bound

    def animate(self, motion: Motion) -> Motion:
        """Vertex motion of a blendshape motion; channels are matched by name, missing ones are 0."""
        if motion.kind != "blendshapes":
            raise InvalidInputError(f"a blendshape rig animates blendshape motion, not {motion.kind!r}")
        return Motion.from_vertices(self.to_vertices(motion.select(self.names)), motion.fps)

    def fit_motion(self, motion: Motion) -> Motion:
        """Blendshape motion that best reproduces a vertex motion of this rig's topology."""
        return Motion(self.fit(motion.vertices()), motion.fps, "blendshapes", self.names)


def solve_box_qp(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Minimise 0.5 x'Gx - b'x over 0 <= x <= 1 for every row b of `rhs`, all rows at once.

    The primal-dual active-set method (Hintermüller, Ito and Kunisch 2002), started from the
    unconstrained solution: guess which weights sit at a bound, solve for the others, move the
    weights whose solution leaves [0, 1] or whose gradient pushes off their bound, and repeat. It
    stops at the exact optimum, where the guess no longer changes, usually after two or three rounds.
    The method can cycle; the few rows that have not settled after `FIT_MAX_ITERATIONS` rounds are
    solved one by one by `scipy.optimize.lsq_linear` on the (K, K) Cholesky factor of G.

    Args:
        gram: G, a symmetric positive definite (K, K) matrix.
        rhs: b, shape (T, K).

    Returns:
        x, shape (T, K).
    """
    inverse = np.linalg.inv(gram)
    free = rhs @ inverse  # (T, K), the unconstrained solution
    weights = free.copy()
    for start in range(0, len(rhs), FIT_CHUNK_FRAMES):
        rows = slice(start, start + FIT_CHUNK_FRAMES)
        weights[rows] = _active_set_rounds(gram, inverse, rhs[rows], free[rows])
    stuck = np.flatnonzero(np.isnan(weights[:, 0]))
    if len(stuck):
        factor = cholesky(gram)  # R with R'R = G: |Rx - c|^2 = x'Gx - 2b'x + const for R'c = b
        for t in stuck:
            target = solve_triangular(factor, rhs[t], trans="T")
            weights[t] = lsq_linear(factor, target, bounds=(0.0, 1.0), method="bvls").x
    return weights


def _active_set_rounds(gram: np.ndarray, inverse: np.ndarray, rhs: np.ndarray, free: np.ndarray) -> np.ndarray:
    """`solve_box_qp` on one chunk of frames, given G's inverse and the unconstrained solution."""
    scale = 1.0 / np.diag(gram)  # a per-weight Newton step turns gradients into weight changes
    x = free.copy()
    lower, upper = x < 0.0, x > 1.0
    todo = np.flatnonzero((lower | upper).any(axis=1))
    for _ in range(FIT_MAX_ITERATIONS):
        if len(todo) == 0:
            return x
        x[todo] = _solve_with_bounds(inverse, free[todo], lower[todo], upper[todo])
        step = x[todo] - scale * (x[todo] @ gram - rhs[todo])
        new_lower, new_upper = step < 0.0, step > 1.0
        changed = ((new_lower != lower[todo]) | (new_upper != upper[todo])).any(axis=1)
        lower[todo], upper[todo] = new_lower, new_upper
        todo = todo[changed]
    x[todo] = np.nan
    return x


def _solve_with_bounds(inverse: np.ndarray, free: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """The minimiser with the weights in `lower` held at 0 and those in `upper` at 1, for each row.

    With H = G^-1 and u the unconstrained solution, holding the active set A at values c gives
    x = u + H[:, A] m, where H[A, A] m = c - u[A]: one system the size of the active set, which is
    a handful of weights on real faces. Rows are grouped by active-set size and padded with identity
    rows to the largest in their group, so one batched solve serves each group.
    """
    active = lower | upper  # (N, K)
    x = free.copy()
    count = active.sum(axis=1)
    order = np.argsort(count, kind="stable")
    for group in np.array_split(order, max(1, len(order) // FIT_GROUP_FRAMES)):
        m = int(count[group].max())
        index = np.argsort(~active[group], axis=1, kind="stable")[:, :m]  # (G, m): active weights first
        valid = np.take_along_axis(active[group], index, axis=1)  # (G, m)
        both = valid[:, :, None] & valid[:, None, :]
        system = np.where(both, inverse[index[:, :, None], index[:, None, :]], np.eye(m)[None])  # (G, m, m)
        target = np.take_along_axis(upper[group] - free[group], index, axis=1)  # c - u on the active set
        multipliers = np.linalg.solve(system, np.where(valid, target, 0.0)[..., None])  # (G, m, 1)
        x[group] += (inverse[:, index].transpose(1, 0, 2) @ multipliers)[..., 0]  # (G, K)
    return np.where(lower, 0.0, np.where(upper, 1.0, x))
