"""Bilateral symmetry refinement: the symmetric part of weights, FLAME parameters and vertices is a face
that equals its own mirror image (posed on the default face, or through a FLAME basis built from mirror pairs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facetalk.data.formats.flame_seq import EXPRESSION_CHANNELS, JAW_CHANNELS
from facetalk.errors import InvalidInputError
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.face.default_face import default_rig
from facetalk.face.flame import NUM_SHAPE, FlameModel, rodrigues
from facetalk.face.symmetry import flame_mirror, symmetric
from facetalk.face.topology import X_FLIP, mirror_map, mirror_partners
from facetalk.types import Motion

CH = {name: i for i, name in enumerate(ARKIT_NAMES)}


def _mirror_vertices(frames: np.ndarray, partner: np.ndarray) -> np.ndarray:
    return frames[:, partner] * X_FLIP


def test_symmetric_weights_pose_a_face_that_is_its_own_mirror_image() -> None:
    rng = np.random.default_rng(0)
    weights = Motion(rng.random((5, len(ARKIT_NAMES))).astype(np.float32), 30.0, "blendshapes", ARKIT_NAMES)
    refined = symmetric(weights)
    left, right = refined.data[:, CH["mouthSmileLeft"]], refined.data[:, CH["mouthSmileRight"]]
    np.testing.assert_allclose(left, right)
    np.testing.assert_allclose(left, 0.5 * (weights.data[:, CH["mouthSmileLeft"]] + weights.data[:, CH["mouthSmileRight"]]))
    np.testing.assert_array_equal(refined.data[:, CH["jawOpen"]], weights.data[:, CH["jawOpen"]])  # unpaired: kept
    np.testing.assert_allclose(symmetric(refined).data, refined.data, atol=1e-7)  # idempotent
    rig, partner = default_rig(), mirror_map()
    posed = rig.neutral + np.einsum("tk,kvc->tvc", refined.data, rig.deltas)  # (T, V, 3)
    before = rig.neutral + np.einsum("tk,kvc->tvc", weights.data, rig.deltas)
    assert np.abs(_mirror_vertices(before, partner) - before).max() > 1e-3  # the random face was lopsided
    np.testing.assert_allclose(_mirror_vertices(posed, partner), posed, atol=1e-6)


def test_weights_in_another_order_mirror_by_name() -> None:
    channels = ("jawOpen", "eyeBlinkRight", "browDownLeft", "eyeBlinkLeft")
    refined = symmetric(Motion(np.array([[0.5, 1.0, 0.4, 0.0]], np.float32), 30.0, "blendshapes", channels))
    np.testing.assert_allclose(refined.data, [[0.5, 0.5, 0.4, 0.5]])  # browDownRight absent: browDownLeft kept


def test_symmetric_vertices_equal_their_mirror_image() -> None:
    rng = np.random.default_rng(1)
    partner = mirror_map()
    frames = default_rig().neutral + 1e-3 * rng.standard_normal((3, len(partner), 3))
    refined = symmetric(Motion.from_vertices(frames, 30.0)).data.reshape(frames.shape)
    np.testing.assert_allclose(_mirror_vertices(refined, partner), refined, atol=1e-6)
    with pytest.raises(InvalidInputError, match="100-vertex"):
        symmetric(Motion.from_vertices(np.zeros((2, 100, 3)), 30.0))


def _mirror_pair_flame(expression: int, seed: int = 0) -> FlameModel:
    """A FLAME-shaped model whose template is mirror-symmetric and whose expression basis mixes symmetric and
    antisymmetric fields (so that it spans its own mirror images, as a basis of symmetric faces does)."""
    rng = np.random.default_rng(seed)
    half = 0.05 * rng.standard_normal((12, 3)) + [0.06, 0.0, 0.0]
    middle = 0.05 * rng.standard_normal((4, 3)) * [0.0, 1.0, 1.0]
    template = np.concatenate([half, half * X_FLIP, middle]).astype(np.float32)  # (28, 3)
    partner = mirror_partners(template)
    fields = rng.standard_normal((expression, len(template), 3))
    mirrored = fields[:, partner] * X_FLIP
    parts = [0.5 * (fields[: expression // 2] + mirrored[: expression // 2]),
             0.5 * (fields[expression // 2 :] - mirrored[expression // 2 :])]  # fmt: skip
    basis = np.einsum("evc,ef->vcf", np.concatenate(parts), rng.standard_normal((expression, expression)))  # mixed
    shapedirs = np.concatenate([np.zeros((len(template), 3, NUM_SHAPE)), 1e-3 * basis], axis=2).astype(np.float32)
    vertices = len(template)
    return FlameModel(v_template=template, shapedirs=shapedirs, posedirs=np.zeros((vertices, 3, 36), np.float32),
                      j_regressor=np.full((5, vertices), 1.0 / vertices, np.float32),
                      weights=np.full((vertices, 5), 0.2, np.float32), parents=np.array([-1, 0, 1, 1, 1]),
                      faces=np.zeros((1, 3), np.int64))  # fmt: skip


def test_symmetric_flame_expression_is_its_own_mirror_image_and_the_jaw_only_nods() -> None:
    model = _mirror_pair_flame(expression=8)
    channels = EXPRESSION_CHANNELS[:8] + JAW_CHANNELS
    assert mirror_partners(model.v_template)[0] == 12  # the template's mirror pairs are found
    rng = np.random.default_rng(2)
    params = Motion(rng.standard_normal((4, len(channels))).astype(np.float32), 30.0, "params", channels)
    refined = symmetric(params, flame=model).data
    basis = model.shapedirs[..., NUM_SHAPE : NUM_SHAPE + 8]  # (V, 3, 8)
    offsets = np.einsum("vce,te->tvc", basis, refined[:, :8])
    before = np.einsum("vce,te->tvc", basis, params.data[:, :8])
    partner = mirror_partners(model.v_template)
    assert np.abs(_mirror_vertices(before, partner) - before).max() > 1e-3
    np.testing.assert_allclose(_mirror_vertices(offsets, partner), offsets, atol=1e-6)
    np.testing.assert_allclose(refined[:, 9:], 0.0, atol=1e-7)  # the jaw's turn and tilt cancel
    np.testing.assert_allclose(refined[:, 8], params.data[:, 8])  # its nod is kept
    # the mirror of a rotation is the reflected rotation: R(mirror(ω)) = D R(ω) D
    omega = torch.tensor(params.data[:, 8:11])
    flip = torch.diag(torch.tensor(X_FLIP))
    mirror = torch.tensor(flame_mirror(model, channels)[8:, 8:], dtype=torch.float32)
    torch.testing.assert_close(rodrigues(omega @ mirror.T), flip @ rodrigues(omega) @ flip, atol=1e-6, rtol=0)
    with pytest.raises(InvalidInputError, match="--flame"):
        symmetric(params)
