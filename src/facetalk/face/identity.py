"""Identity shape modes of the default face: smooth, symmetric changes of a subject's neutral face.

Each mode is a displacement field of shape (V, 3), in metres, at coefficient 1; coefficients of about
±1 give plausible faces (each mode moves its part of the face by up to about 1 cm). A subject is the
default neutral plus a weighted sum of modes, and its rig is the default rig on that neutral:

    rig = default_rig().with_topology(subject_topology(random_identity(seed)))

The 10 iris points are not moved by the mode fields directly: each eye's 5 iris points move by the
mean offset of that eye's lid contour, which is exactly how `topology` places them (the contour centre
minus a constant depth), so a subject's irises always sit in its eye openings.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from facetalk.errors import InvalidInputError
from facetalk.face.topology import (
    CM,
    LEFT_EYE_LOWER,
    LEFT_EYE_UPPER,
    LEFT_IRIS,
    LOWER_OUTER_LIP,
    NUM_MESH_VERTICES,
    RIGHT_EYE_LOWER,
    RIGHT_EYE_UPPER,
    RIGHT_IRIS,
    UPPER_OUTER_LIP,
    FaceTopology,
    face_topology,
    mirror_map,
)

IDENTITY_MODES: tuple[str, ...] = (
    "face_width",
    "face_length",
    "jaw_width",
    "jaw_length",
    "lip_fullness",
    "mouth_width",
    "nose_length",
    "nose_width",
    "brow_height",
    "eye_spacing",
    "cheek_fullness",
)
NUM_IDENTITY_MODES = len(IDENTITY_MODES)

RANDOM_STD = 0.5  # random subjects draw coefficients from N(0, 0.5²) ...
RANDOM_LIMIT = 1.5  # ... clipped to ±1.5, so that no random face is a caricature

# Landmarks (canonical-mesh indices) that anchor the modes.
_NOSE_TIP = 1
_BETWEEN_EYES = 168


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _bump(distance: np.ndarray, radius: float) -> np.ndarray:
    """1 at distance 0, falling smoothly to exactly 0 at `radius` and beyond."""
    return 1.0 - _smoothstep(distance / radius)


@functools.cache
def identity_basis() -> np.ndarray:
    """All identity modes at coefficient 1, in metres, shape (M, V, 3) in `IDENTITY_MODES` order."""
    vertices = face_topology().vertices
    p = vertices[:NUM_MESH_VERTICES].astype(np.float64) / CM  # authored in centimetres
    x, y = p[:, 0], p[:, 1]
    zero = np.zeros_like(x)
    nose_tip, between_eyes = p[_NOSE_TIP], p[_BETWEEN_EYES]
    lips = p[list(UPPER_OUTER_LIP + LOWER_OUTER_LIP)]
    mouth_centre = lips.mean(axis=0)
    lip_region = p[face_topology().regions["lips"]]
    lip_distance = np.linalg.norm(p[:, None] - lip_region[None], axis=-1).min(axis=1)
    below_nose = _smoothstep((nose_tip[1] - y) / 4.0)  # 0 above the nose tip, 1 from the mouth down
    below_mouth = _smoothstep((mouth_centre[1] - y) / 4.5)  # 0 above the mouth, 1 at the chin
    brow_band = _bump(np.abs(y - 4.7), 2.2)  # brows and the skin just above and below them

    fields: dict[str, np.ndarray] = {
        # 0.1 of x widens the 15.5 cm face by 1.5 cm, 0.75 cm on each side.
        "face_width": np.stack([0.1 * x, zero, zero], axis=-1),
        # Forehead up and chin down, the eyes and nose in between staying put.
        "face_length": np.stack([zero, 0.6 * _smoothstep((y - 3.0) / 5.0) - 0.6 * below_mouth, zero], axis=-1),
        "jaw_width": np.stack([0.12 * x * below_nose, zero, zero], axis=-1),
        "jaw_length": np.stack([zero, -0.8 * below_mouth, 0.2 * below_mouth], axis=-1),
        # Lips swell away from the mouth line and forward.
        "lip_fullness": _bump(lip_distance, 1.0)[:, None]
        * np.stack([zero, 0.25 * np.tanh((y - mouth_centre[1]) / 0.7), 0.3 + zero], axis=-1),
        "mouth_width": (_bump(np.abs(y - mouth_centre[1]), 1.8) * _bump(np.abs(x), 4.5))[:, None]
        * np.stack([0.18 * x, zero, zero], axis=-1),
        # The nose tip forward and down, fading toward the bridge and cheeks.
        "nose_length": _bump(np.linalg.norm(p - nose_tip, axis=-1), 3.2)[:, None] * np.array([0.0, -0.25, 0.6]),
        "nose_width": (_bump(np.linalg.norm((p - nose_tip)[:, :2] * [1.0, 0.7], axis=-1), 3.5))[:, None]
        * np.stack([0.6 * np.tanh(x / 1.2), zero, zero], axis=-1),
        "brow_height": (brow_band * _bump(np.abs(x), 7.0))[:, None] * np.array([0.0, 0.5, 0.0]),
        # The eye regions move apart, their lids with them.
        "eye_spacing": (
            _bump(np.linalg.norm((p - between_eyes)[:, :2] * [0.0, 1.0], axis=-1), 2.8) * _smoothstep(np.abs(x) / 2.5)
        )[:, None]
        * np.stack([0.3 * np.sign(x), zero, zero], axis=-1),
        "cheek_fullness": _bump(np.hypot(np.abs(x) - 4.4, 0.8 * (y + 2.6)), 2.6)[:, None]
        * np.stack([0.4 * np.sign(x), zero, 0.35 + zero], axis=-1),
    }
    mirror = mirror_map()[:NUM_MESH_VERTICES]
    basis = np.zeros((NUM_IDENTITY_MODES, len(vertices), 3), dtype=np.float64)
    for m, name in enumerate(IDENTITY_MODES):
        field = fields[name]
        # Exact symmetry: average the field with its own mirror image.
        basis[m, :NUM_MESH_VERTICES] = 0.5 * (field + field[mirror] * [-1.0, 1.0, 1.0])
        for iris, contour in ((RIGHT_IRIS, RIGHT_EYE_UPPER + RIGHT_EYE_LOWER), (LEFT_IRIS, LEFT_EYE_UPPER + LEFT_EYE_LOWER)):
            basis[m, list(iris)] = basis[m, list(contour)].mean(axis=0)
    return (basis * CM).astype(np.float32)


def _coefficient_vector(coefficients: Mapping[str, float] | np.ndarray) -> np.ndarray:
    if isinstance(coefficients, Mapping):
        unknown = sorted(set(coefficients) - set(IDENTITY_MODES))
        if unknown:
            raise InvalidInputError(f"unknown identity modes {unknown} (known: {', '.join(IDENTITY_MODES)})")
        return np.array([float(coefficients.get(name, 0.0)) for name in IDENTITY_MODES])
    vector = np.asarray(coefficients, dtype=np.float64)
    if vector.shape != (NUM_IDENTITY_MODES,):
        raise InvalidInputError(f"identity coefficients must have shape ({NUM_IDENTITY_MODES},), got {vector.shape}")
    return vector


def identity_offsets(coefficients: Mapping[str, float] | np.ndarray) -> np.ndarray:
    """Displacement of every vertex from the default neutral, in metres, shape (V, 3).

    Args:
        coefficients: mode name -> coefficient (missing modes are 0), or one coefficient per mode
            in `IDENTITY_MODES` order, shape (M,).
    """
    vector = _coefficient_vector(coefficients).astype(np.float32)
    return np.tensordot(vector, identity_basis(), axes=1)


def subject_topology(coefficients: Mapping[str, float] | np.ndarray) -> FaceTopology:
    """The default topology (same triangles, regions and uvs) with a subject's neutral vertices."""
    base = face_topology()
    vertices = (base.vertices + identity_offsets(coefficients)).astype(np.float32)
    return FaceTopology(vertices, base.triangles, base.regions, base.uvs)


def random_identity(seed: int, scale: float = 1.0) -> np.ndarray:
    """Deterministic random coefficients, shape (M,), in `IDENTITY_MODES` order.

    Args:
        seed: the same seed always gives the same subject.
        scale: multiplies the spread; 0 gives the default face.
    """
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.0, RANDOM_STD, NUM_IDENTITY_MODES), -RANDOM_LIMIT, RANDOM_LIMIT) * scale
