"""The default face's 52 authored blendshapes and its scene (skin plus accessories)."""

from __future__ import annotations

import numpy as np
import pytest

from facetalk.face.arkit import ARKIT_NAMES, MIRROR_PAIRS, mirror_name
from facetalk.face.default_face import (
    BLENDSHAPE_REGIONS,
    LIP_COLOR,
    SCLERA_COLOR,
    SKIN_COLOR,
    TEETH_COLOR,
    TONGUE_COLOR,
    SceneMesh,
    default_rig,
    scene_mesh,
)
from facetalk.face.identity import random_identity, subject_topology
from facetalk.face.topology import (
    EYEBALL_RADIUS,
    LEFT_IRIS,
    LOWER_INNER_LIP,
    NUM_MESH_VERTICES,
    RIGHT_IRIS,
    UPPER_INNER_LIP,
    canonical_mesh,
    face_topology,
    mirror_map,
)

MM = 1e-3
FLIP_X = np.array([-1.0, 1.0, 1.0], dtype=np.float32)
NUM_FACE = 478


def pose(**weights: float) -> np.ndarray:
    """Face vertices (V, 3) of the default rig with some named weights."""
    rig = default_rig()
    w = np.zeros((1, rig.num_shapes), np.float32)
    for name, value in weights.items():
        w[0, ARKIT_NAMES.index(name)] = value
    return rig.to_vertices(w)[0]


def gap(vertices: np.ndarray, a: int, b: int) -> float:
    return float(np.linalg.norm(vertices[a] - vertices[b]))


def test_every_shape_has_a_region() -> None:
    assert set(BLENDSHAPE_REGIONS) == set(ARKIT_NAMES)
    assert set(BLENDSHAPE_REGIONS.values()) <= set(face_topology().regions)


@pytest.mark.parametrize("name", ARKIT_NAMES)
def test_shape_moves_only_its_region(name: str) -> None:
    rig = default_rig()
    moved = np.linalg.norm(rig.deltas[ARKIT_NAMES.index(name)], axis=-1)
    inside = face_topology().mask(BLENDSHAPE_REGIONS[name])
    assert moved[~inside].max() < 1e-6
    assert moved[inside].max() > 1 * MM
    assert moved.max() < 3.0e-2  # nothing flies off: jawOpen, the largest, moves the chin about 2 cm


@pytest.mark.parametrize(("left", "right"), MIRROR_PAIRS)
def test_left_and_right_shapes_mirror(left: str, right: str) -> None:
    deltas, mirror = default_rig().deltas, mirror_map()
    d_left, d_right = deltas[ARKIT_NAMES.index(left)], deltas[ARKIT_NAMES.index(right)]
    assert np.abs(d_left - d_right[mirror] * FLIP_X).max() < 1e-7


@pytest.mark.parametrize("name", [n for n in ARKIT_NAMES if mirror_name(n) == n])
def test_unpaired_shapes_are_symmetric(name: str) -> None:
    d = default_rig().deltas[ARKIT_NAMES.index(name)]
    assert np.abs(d - d[mirror_map()] * FLIP_X).max() < 1e-7


def test_jaw_open_and_mouth_close() -> None:
    neutral = default_rig().neutral
    assert 0 < gap(neutral, 13, 14) < 1 * MM  # the lips rest closed, 0.1 mm apart
    assert 12 * MM < gap(pose(jawOpen=1.0), 13, 14) < 22 * MM
    assert gap(pose(jawOpen=1.0, mouthClose=1.0), 13, 14) < 2 * MM
    chin_drop = neutral[152, 1] - pose(jawOpen=1.0)[152, 1]
    assert 10 * MM < chin_drop < 25 * MM
    upper_lip = np.linalg.norm(pose(jawOpen=1.0)[13] - neutral[13])
    assert upper_lip < 0.1 * MM  # the jaw rotates the lower face only


def test_lips_rest_closed_along_the_whole_slit() -> None:
    neutral, canonical = default_rig().neutral, canonical_mesh().vertices
    pairs = list(zip(UPPER_INNER_LIP[1:-1], LOWER_INNER_LIP[1:-1], strict=True))
    gaps = np.array([gap(neutral, a, b) for a, b in pairs])
    assert (gaps > 0.05 * MM).all() and (gaps < 0.3 * MM).all()  # touching (a dark line), never crossing
    assert all(neutral[a, 1] > neutral[b, 1] for a, b in pairs)  # upper above lower: no crossing
    assert gap(canonical, 13, 14) > 5 * MM  # the published mesh is untouched
    moved = np.linalg.norm(neutral[:NUM_MESH_VERTICES] - canonical, axis=-1)
    assert moved[~face_topology().mask("mouth")[:NUM_MESH_VERTICES]].max() == 0.0
    assert moved.max() < 5 * MM


@pytest.mark.parametrize(("name", "upper", "lower"), [("eyeBlinkRight", 159, 145), ("eyeBlinkLeft", 386, 374)])
def test_blink_closes_the_lids(name: str, upper: int, lower: int) -> None:
    assert gap(default_rig().neutral, upper, lower) > 5 * MM
    assert gap(pose(**{name: 1.0}), upper, lower) < 1 * MM


def test_smile_raises_and_widens_the_corner() -> None:
    neutral, smile = default_rig().neutral, pose(mouthSmileLeft=1.0)
    assert smile[291, 1] - neutral[291, 1] > 3 * MM
    assert smile[291, 0] - neutral[291, 0] > 2 * MM  # the left corner moves out, toward +X
    assert np.linalg.norm(smile[61] - neutral[61]) < 0.1 * MM  # the other corner stays


def test_pucker_narrows_and_funnel_opens() -> None:
    neutral = default_rig().neutral
    assert gap(neutral, 61, 291) - gap(pose(mouthPucker=1.0), 61, 291) > 5 * MM
    assert pose(mouthPucker=1.0)[0, 2] - neutral[0, 2] > 4 * MM  # lips protrude
    assert gap(pose(mouthFunnel=1.0), 13, 14) > gap(neutral, 13, 14) + 3 * MM


def test_directions_of_sideways_and_gaze_shapes() -> None:
    neutral = default_rig().neutral
    assert pose(jawLeft=1.0)[152, 0] - neutral[152, 0] > 5 * MM  # toward the subject's left, +X
    assert pose(mouthLeft=1.0)[14, 0] - neutral[14, 0] > 4 * MM
    assert pose(jawForward=1.0)[152, 2] - neutral[152, 2] > 5 * MM
    left_iris, right_iris = LEFT_IRIS[0], RIGHT_IRIS[0]
    assert pose(eyeLookInLeft=1.0)[left_iris, 0] - neutral[left_iris, 0] < -4 * MM  # toward the nose
    assert pose(eyeLookInRight=1.0)[right_iris, 0] - neutral[right_iris, 0] > 4 * MM
    assert pose(eyeLookOutLeft=1.0)[left_iris, 0] - neutral[left_iris, 0] > 4 * MM  # toward the ear
    assert pose(eyeLookUpLeft=1.0)[left_iris, 1] - neutral[left_iris, 1] > 4 * MM
    assert pose(eyeLookDownLeft=1.0)[left_iris, 1] - neutral[left_iris, 1] < -4 * MM
    assert pose(eyeLookUpLeft=1.0)[386, 1] > neutral[386, 1]  # the upper lid follows the gaze up
    assert pose(eyeLookDownLeft=1.0)[386, 1] < neutral[386, 1]
    puff = pose(cheekPuff=1.0) - neutral
    cheek = int(np.argmax(np.linalg.norm(puff, axis=-1)))
    assert puff[cheek, 0] * np.sign(neutral[cheek, 0]) > 2 * MM and puff[cheek, 2] > 1 * MM


def test_gaze_turns_the_iris_about_the_eyeball_centre() -> None:
    neutral, looked = default_rig().neutral, pose(eyeLookUpLeft=1.0)
    iris = list(LEFT_IRIS)
    centre = neutral[LEFT_IRIS[0]] - [0.0, 0.0, EYEBALL_RADIUS]
    np.testing.assert_allclose(
        np.linalg.norm(looked[iris] - centre, axis=-1), np.linalg.norm(neutral[iris] - centre, axis=-1), atol=1e-6
    )
    pairwise = np.linalg.norm(neutral[iris][:, None] - neutral[iris][None], axis=-1)
    np.testing.assert_allclose(np.linalg.norm(looked[iris][:, None] - looked[iris][None], axis=-1), pairwise, atol=1e-6)
    moved = np.linalg.norm(looked[LEFT_IRIS[0]] - neutral[LEFT_IRIS[0]])
    assert moved == pytest.approx(2 * EYEBALL_RADIUS * np.sin(np.deg2rad(25.0) / 2), abs=1e-5)  # a 25° turn


# --------------------------------------------------------------------------------------------
# The scene


def scene_deltas(scene: SceneMesh, color: tuple[float, float, float], name: str) -> np.ndarray:
    """Displacement (N_part,) of the accessory vertices with a colour, for one shape at weight 1."""
    rows = np.flatnonzero(np.all(np.isclose(scene.colors, color), axis=-1))
    rows = rows[rows >= NUM_FACE]
    return np.linalg.norm(scene_mesh(pose(**{name: 1.0})).vertices[0, rows] - scene.vertices[0, rows], axis=-1)


def test_scene_layout() -> None:
    neutral = default_rig().neutral
    scene = scene_mesh(neutral)
    n = scene.vertices.shape[1]
    assert scene.vertices.shape == (1, n, 3) and n > NUM_FACE + 500
    np.testing.assert_array_equal(scene.vertices[0, :NUM_FACE], neutral)
    assert scene.colors.shape == (n, 3) and scene.colors.min() >= 0.0 and scene.colors.max() <= 1.0
    assert scene.triangles.min() >= 0 and scene.triangles.max() < n
    assert np.isfinite(scene.vertices).all()
    np.testing.assert_array_equal(scene.triangles[: len(face_topology().triangles)], face_topology().triangles)
    # Lips are tinted red, the rest of the skin is skin.
    np.testing.assert_allclose(scene.colors[152], SKIN_COLOR, atol=1e-6)
    np.testing.assert_allclose(scene.colors[13], LIP_COLOR, atol=1e-6)


def test_scene_is_affine_in_the_face() -> None:
    neutral = default_rig().neutral.astype(np.float64)
    rng = np.random.default_rng(0)
    d1, d2 = rng.normal(0, 2 * MM, (2, *neutral.shape))
    base = scene_mesh(neutral).vertices[0].astype(np.float64)
    one = scene_mesh(neutral + d1).vertices[0] - base
    two = scene_mesh(neutral + d2).vertices[0] - base
    both = scene_mesh(neutral + 0.5 * d1 - 2.0 * d2).vertices[0] - base
    assert np.abs(both - (0.5 * one - 2.0 * two)).max() < 1e-5  # float32 arithmetic
    # A batch (T, V, 3) gives the same as one frame at a time.
    batch = scene_mesh(np.stack([neutral, neutral + d1])).vertices
    np.testing.assert_allclose(batch[1] - base, one, atol=1e-6)


def test_scene_follows_a_translated_head() -> None:
    neutral = default_rig().neutral
    shift = np.array([0.01, -0.02, 0.03], np.float32)
    moved = scene_mesh(neutral + shift).vertices[0] - scene_mesh(neutral).vertices[0]
    np.testing.assert_allclose(moved, np.broadcast_to(shift, moved.shape), atol=1e-5)


def test_accessory_winding_faces_outward() -> None:
    scene = scene_mesh(default_rig().neutral)
    v = scene.vertices[0]
    skin = scene.triangles[: len(face_topology().triangles)]
    tri = v[skin]
    assert np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]).sum(axis=0)[2] > 0
    # Every eyeball triangle faces away from its eyeball's centre.
    white = np.all(np.isclose(scene.colors, SCLERA_COLOR), axis=-1)
    balls = scene.triangles[white[scene.triangles].all(axis=1)]
    tri = v[balls]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centre = np.where(tri.mean(axis=1)[:, :1] > 0, v[white & (v[:, 0] > 0)].mean(axis=0), v[white & (v[:, 0] < 0)].mean(axis=0))
    assert (np.einsum("fk,fk->f", normal, tri.mean(axis=1) - centre) > 0).all()


def test_teeth_tongue_and_eyeballs_follow_the_right_shapes() -> None:
    scene = scene_mesh(default_rig().neutral)
    tongue_out = scene_deltas(scene, TONGUE_COLOR, "tongueOut")
    assert tongue_out.max() > 20 * MM  # the tongue slides out past the lips
    teeth_jaw = scene_deltas(scene, TEETH_COLOR, "jawOpen")
    assert teeth_jaw.max() > 10 * MM and teeth_jaw.min() < 0.2 * MM  # lower teeth drop, upper teeth stay
    for name in ARKIT_NAMES:
        if name != "tongueOut":
            assert scene_deltas(scene, TONGUE_COLOR, name).max() < 4 * MM + 1.1 * teeth_jaw.max() * name.startswith("jaw"), name
        if not name.startswith("jaw") and name != "tongueOut":
            assert scene_deltas(scene, TEETH_COLOR, name).max() < 1 * MM, name
        assert scene_deltas(scene, SCLERA_COLOR, name).max() < 0.5 * MM, name


def test_subject_scene_keeps_the_eyeballs_behind_the_irises() -> None:
    subject = subject_topology(random_identity(11, scale=2.0)).vertices
    scene = scene_mesh(subject)
    white = np.all(np.isclose(scene.colors, SCLERA_COLOR), axis=-1)
    for iris in (LEFT_IRIS, RIGHT_IRIS):
        side = np.sign(subject[iris[0], 0])
        ball = scene.vertices[0, white & (np.sign(scene.vertices[0, :, 0]) == side)]
        assert ball[:, 2].max() < subject[iris[0], 2]  # the iris centre stays in front of the white
        assert np.linalg.norm(ball.mean(axis=0)[:2] - subject[iris[0], :2]) < 1 * MM


def test_scene_accepts_a_single_frame_of_the_right_size() -> None:
    assert scene_mesh(default_rig().neutral).vertices.ndim == 3
    assert NUM_MESH_VERTICES + 10 == NUM_FACE
