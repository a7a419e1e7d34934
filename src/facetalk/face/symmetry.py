"""Bilateral symmetry: the mirror image of facial motion through the plane x = 0, and its symmetric part.

Paper 002 refines its predicted FLAME parameters "to ensure the bilateral symmetry of the animated
face" (supplement) and says no more. Here mirroring is a linear map of a frame's values, and the
refinement keeps the symmetric part, (x + mirror(x)) / 2 (`symmetric`; `facetalk animate --symmetric`):

- **Weights** (ARKit and any rig named the same way): mirroring swaps each `…Left`/`…Right` pair
  (`mirror_name`; jawLeft and mouthLeft are directions and swap too). Exact on the default face,
  whose right shapes are the mirror images of its left ones.
- **FLAME parameters**: an expression's vertex offsets S·ψ, mirrored vertex by vertex (a template
  vertex's partner is the nearest vertex to its mirror image), projected back on the expression
  basis by least squares: mirror(ψ) = Q·ψ with Q = S⁺·M·S (E × E; exact when the basis spans its
  own mirror images, as a basis built from symmetric faces does). A rotation's axis angle (x, y, z)
  mirrors to (x, −y, −z): a nod stays a nod, a turn or tilt reverses. Needs the user's FLAME file.
- **Vertices** of the default face's topology: each vertex takes its partner's position, mirrored
  (`mirror_map`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from facetalk.errors import InvalidInputError
from facetalk.face.arkit import mirror_name
from facetalk.face.flame import NUM_SHAPE, FlameFace, FlameModel
from facetalk.face.topology import X_FLIP, mirror_map, mirror_partners
from facetalk.types import Motion

ROTATION_FLIP = np.array([1.0, -1.0, -1.0], dtype=np.float32)
"""An axis-angle rotation mirrored through x = 0 (the reflection's determinant times its action)."""


def weight_mirror(channels: tuple[str, ...]) -> np.ndarray:
    """The mirror image of weights as a column permutation (P,): mirrored = weights[:, index]."""
    position = {name: i for i, name in enumerate(channels)}
    return np.array([position.get(mirror_name(name), i) for i, name in enumerate(channels)])


def flame_mirror(model: FlameModel, channels: tuple[str, ...]) -> np.ndarray:
    """The mirror image of FLAME parameter frames as a matrix M (P, P): mirrored = params @ M.T.

    Raises:
        InvalidInputError: channels `FlameFace` does not drive (not expression, jaw or global rotation).
    """
    face = FlameFace(model, channels)  # checks the channels and finds each kind's columns
    expression = face.expression_index
    basis = model.shapedirs[..., NUM_SHAPE : NUM_SHAPE + len(expression)].astype(np.float64)  # (V, 3, E)
    mirrored = basis[mirror_partners(model.v_template)] * X_FLIP[:, None]  # (V, 3, E)
    q, *_ = np.linalg.lstsq(basis.reshape(-1, len(expression)), mirrored.reshape(-1, len(expression)), rcond=None)
    matrix = np.zeros((len(channels), len(channels)))
    matrix[np.ix_(expression, expression)] = q  # Q = S⁺ M S: mirrored ψ = Q ψ
    for rotation in (face.jaw_index, face.global_index):
        matrix[rotation, rotation] = ROTATION_FLIP[: len(rotation)]
    return matrix


def symmetric(motion: Motion, *, flame: FlameModel | None = None) -> Motion:
    """The symmetric part of `motion`, (x + mirror(x)) / 2 per frame (see the module docstring).

    Args:
        motion: weights, FLAME parameters (with `flame`) or vertices of the default face's topology.
        flame: the FLAME model the parameters drive; needed for FLAME parameters only.

    Raises:
        InvalidInputError: FLAME parameters without `flame`, or vertices of another topology.
    """
    data = motion.data
    if motion.kind == "blendshapes":
        mirrored = data[:, weight_mirror(motion.channels)]
    elif motion.kind == "params":
        if flame is None:
            raise InvalidInputError("symmetric FLAME parameters need the FLAME model file (--flame)")
        mirrored = data @ flame_mirror(flame, motion.channels).T.astype(np.float32)
    else:
        partner = mirror_map()
        if data.shape[1] != 3 * len(partner):
            vertices = data.shape[1] // 3
            raise InvalidInputError(f"can mirror vertices of the default face ({len(partner)}), not of a {vertices}-vertex mesh")
        frames = data.reshape(len(data), -1, 3)
        mirrored = (frames[:, partner] * X_FLIP).reshape(data.shape)
    return replace(motion, data=0.5 * (data + mirrored))
