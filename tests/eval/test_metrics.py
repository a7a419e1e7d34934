"""Evaluation metrics against values computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facetalk.errors import InvalidInputError
from facetalk.eval import metrics
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.types import Phone

# Prediction offsets from a ground truth of zeros: 3 frames × 4 vertices.
#   frame 0: (1,0,0) (0,2,0) (0,0,0) (3,4,0)  -> distances 1, 2, 0, 5   squared 1, 4, 0, 25
#   frame 1: (0,0,2) (1,2,2) (0,3,0) (0,0,0)  -> distances 2, 3, 3, 0   squared 4, 9, 9, 0
#   frame 2: (0,0,0) (0,0,0) (2,0,0) (0,0,1)  -> distances 0, 0, 2, 1   squared 0, 0, 4, 1
OFFSETS = np.array(
    [
        [[1, 0, 0], [0, 2, 0], [0, 0, 0], [3, 4, 0]],
        [[0, 0, 2], [1, 2, 2], [0, 3, 0], [0, 0, 0]],
        [[0, 0, 0], [0, 0, 0], [2, 0, 0], [0, 0, 1]],
    ],
    dtype=np.float64,
)
BASE = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5]], dtype=np.float64)  # a face; errors do not depend on it
GT = np.broadcast_to(BASE, (3, 4, 3)).copy()
PRED = GT + OFFSETS
# A second, one-frame clip: vertex 0 off by (0,0,6) -> distances 6, 0, 0, 0
GT2 = BASE[None].copy()
PRED2 = GT2 + np.array([[[0, 0, 6], [0, 0, 0], [0, 0, 0], [0, 0, 0]]], dtype=np.float64)
LIP = np.array([0, 1, 2])


def test_align_lengths_policies() -> None:
    long, short = np.arange(5.0), np.arange(3.0)
    pred, gt = metrics.align_lengths(long, short, policy="codetalker")
    assert pred.tolist() == [0.0, 1.0, 2.0] and gt.tolist() == [0.0, 1.0, 2.0]
    pred, gt = metrics.align_lengths(short, long, policy="truncate")  # FaceDiffuser cuts the ground truth too
    assert len(pred) == len(gt) == 3
    with pytest.raises(InvalidInputError, match=r"3 frames.*5"):
        metrics.align_lengths(short, long, policy="codetalker")
    pred3, gt3 = metrics.align_lengths(np.zeros((4, 2, 3)), np.zeros((2, 2, 3)))
    assert pred3.shape == gt3.shape == (2, 2, 3)


def test_codetalker_lve_is_squared_and_pooled() -> None:
    # per-frame max of squared lip distances: max(1,4,0)=4, max(4,9,9)=9, max(0,0,4)=4
    assert metrics.lip_max_sq_error_frames(PRED, GT, LIP).tolist() == [4.0, 9.0, 4.0]
    assert metrics.lve([PRED], [GT], LIP) == pytest.approx(17 / 3)
    # pooled over frames of both clips: (4 + 9 + 4 + 36) / 4, not the mean of per-clip means (17/3 + 36) / 2
    assert metrics.lve([PRED, PRED2], [GT, GT2], LIP) == pytest.approx(53 / 4)
    # duplicate lip indices leave the max unchanged
    assert metrics.lve([PRED, PRED2], [GT, GT2], [0, 1, 2, 2, 1, 0]) == pytest.approx(53 / 4)


def test_max_l2_lip_error() -> None:
    # distances: max(1,2,0)=2, max(2,3,3)=3, max(0,0,2)=2; second clip 6 -> pooled (2+3+2+6)/4
    assert metrics.lip_max_l2_error_frames(PRED, GT, LIP).tolist() == [2.0, 3.0, 2.0]
    assert metrics.lve_l2([PRED, PRED2], [GT, GT2], LIP) == pytest.approx(13 / 4)
    assert metrics.lve_l2([PRED, PRED2], [GT, GT2], [2, 1, 0, 1]) == pytest.approx(13 / 4)


def test_meshtalk_lip_error_centres_the_lips() -> None:
    # frame 0: lip offsets (1,0,0) (1,0,0) (1,3,0), mean (1,1,0) -> centred (0,-1,0) (0,-1,0) (0,2,0) -> max 2
    # frame 1: lip offsets 0, (0,0,6), 0, mean (0,0,2) -> centred (0,0,-2) (0,0,4) (0,0,-2) -> max 4
    offsets = np.zeros((2, 4, 3))
    offsets[0, :3] = [[1, 0, 0], [1, 0, 0], [1, 3, 0]]
    offsets[1, 1] = [0, 0, 6]
    offsets[:, 3] = [50, 50, 50]  # not a lip vertex
    gt = np.broadcast_to(BASE, (2, 4, 3)).copy()
    assert metrics.meshtalk_lip_error([gt + offsets], [gt], LIP) == pytest.approx(3.0)
    assert metrics.meshtalk_lip_error([gt + offsets], [gt], [0, 1, 2, 1, 1]) == pytest.approx(3.0)
    # a rigid shift of the lips costs nothing
    assert metrics.meshtalk_lip_error([gt + np.array([7.0, -2.0, 1.0])], [gt], LIP) == pytest.approx(0.0)


def test_mm2023_masked_mean_and_max() -> None:
    lip_mask = np.array([1.0, 1.0, 1.0, 0.0])
    # lip distances 1+2+0 + 2+3+3 + 0+0+2 = 13; mean over 12 (t, v) = 13/12; × V/Σw = 4/3 -> 13/9
    assert metrics.masked_mean_error(PRED, GT, lip_mask) == pytest.approx(13 / 9)
    # per-frame max of w·d: 2, 3, 2 -> 7/3
    assert metrics.masked_max_error(PRED, GT, lip_mask) == pytest.approx(7 / 3)
    # whole face: (8 + 8 + 3) / 12; maxima 5, 3, 2
    assert metrics.masked_mean_error(PRED, GT) == pytest.approx(19 / 12)
    assert metrics.masked_max_error(PRED, GT) == pytest.approx(10 / 3)
    assert metrics.mean_over_sequences([metrics.masked_max_error(PRED, GT), 2.0]) == pytest.approx((10 / 3 + 2) / 2)
    with pytest.raises(InvalidInputError):
        metrics.masked_mean_error(PRED, GT, np.zeros(4))
    with pytest.raises(InvalidInputError, match="align_lengths"):
        metrics.masked_mean_error(PRED, GT[:2])


def _dtw_reference(cost: np.ndarray, quirk: bool) -> float:
    """mm2023's double loop, written out plainly."""
    acc = np.zeros_like(cost)
    acc[0, 0] = cost[0, 0]
    if not quirk:
        for j in range(1, cost.shape[1]):
            acc[0, j] = acc[0, j - 1] + cost[0, j]
    for i in range(1, cost.shape[0]):
        acc[i, 0] = acc[i - 1, 0] + cost[i, 0]
        for j in range(1, cost.shape[1]):
            acc[i, j] = min(acc[i - 1, j], acc[i, j - 1], acc[i - 1, j - 1]) + cost[i, j]
    return float(acc[-1, -1])


def _points_on_x(xs: list[float]) -> np.ndarray:
    out = np.zeros((len(xs), 1, 3))
    out[:, 0, 0] = xs
    return out


def test_dtw_identical_shifted_and_quirk() -> None:
    assert metrics.dtw_error(PRED, PRED) == 0.0
    # gt x = 0,0,1,2,3 and its copy shifted one frame earlier 0,1,2,3,3: the frame-wise sum is 0+1+1+1+0 = 3,
    # the path (0,0) (1,0) (2,1) (3,2) (4,3) (4,4) costs 0
    gt, pred = _points_on_x([0, 0, 1, 2, 3]), _points_on_x([0, 1, 2, 3, 3])
    assert metrics.dtw_error(gt, pred) == 0.0 < metrics.masked_mean_error(pred, gt) * 5
    # gt x = 5, 1; pred x = 0, 5, 0 -> C = [[5, 0, 5], [1, 4, 1]]
    # standard: row 0 = 5, 5, 10; row 1 = 6, min(5,6,5)+4 = 9, min(10,9,5)+1 = 6
    # quirk:    row 0 = 5, 0, 0;  row 1 = 6, min(0,6,5)+4 = 4, min(0,4,0)+1 = 1 (the path starts at (0,1) for free)
    gt, pred = _points_on_x([5, 1]), _points_on_x([0, 5, 0])
    assert metrics.dtw_error(gt, pred) == 6.0
    assert metrics.dtw_error(gt, pred, replicate_mm2023_quirk=True) == 1.0


def test_dtw_cost_is_the_masked_mean_distance() -> None:
    gt = np.zeros((1, 3, 3))
    pred = np.array([[[1.0, 0, 0], [0, 3.0, 0], [0, 0, 100.0]]])
    # mask (1, 1, 0): (1 + 3) / 2 = 2; weights (1, 3, 0): (1 + 9) / 4 = 2.5
    assert metrics.dtw_error(gt, pred, np.array([1.0, 1.0, 0.0])) == pytest.approx(2.0)
    assert metrics.dtw_error(gt, pred, np.array([1.0, 3.0, 0.0])) == pytest.approx(2.5)


def test_dtw_matches_the_double_loop() -> None:
    rng = np.random.default_rng(0)
    gt, pred = rng.normal(size=(17, 5, 3)), rng.normal(size=(23, 5, 3))
    weights = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    dist = np.linalg.norm(gt[:, None] - pred[None], axis=-1)  # (17, 23, 5)
    cost = (dist * weights).sum(axis=-1) / weights.sum()
    for quirk in (False, True):
        expected = _dtw_reference(cost, quirk)
        assert metrics.dtw_error(gt, pred, weights, replicate_mm2023_quirk=quirk) == pytest.approx(expected, rel=1e-12)


def test_mve_is_pooled_over_frames_and_vertices() -> None:
    # (19 + 6) / (12 + 4)
    assert metrics.mve([PRED, PRED2], [GT, GT2]) == pytest.approx(25 / 16)


def test_fdd_signed_and_absolute() -> None:
    template = np.array([[2.0, 0, 0], [0, 1, 0], [0, 0, 3]])
    offsets_gt = np.array([[[0, 0, 0], [1, 0, 0], [0, 0, 0]], [[2, 0, 0], [1, 0, 0], [0, 0, 0]]], dtype=np.float64)
    offsets_pred = np.array([[[0, 0, 0], [0, 1, 0], [9, 0, 0]], [[1, 0, 0], [0, 3, 0], [0, 0, 0]]], dtype=np.float64)
    gt, pred = template + offsets_gt, template + offsets_pred
    upper = [0, 1]  # vertex 2 moves a lot in the prediction but is not upper face
    # gt:   v0 d = 0, 4 -> σ = 2; v1 d = 1, 1 -> σ = 0; mean 1
    # pred: v0 d = 0, 1 -> σ = 0.5; v1 d = 1, 9 -> σ = 4; mean 2.25   (σ of two values = |a − b| / 2, ddof 0)
    assert metrics.fdd_sequence(pred, gt, template, upper) == pytest.approx(1 - 2.25)
    assert metrics.fdd_sequence(gt, pred, template, upper) == pytest.approx(2.25 - 1)
    signed, absolute = metrics.fdd([pred, gt], [gt, pred], [template, template], upper)
    assert signed == pytest.approx(0.0) and absolute == pytest.approx(1.25)
    assert metrics.fdd([pred], [gt], template, upper) == pytest.approx((-1.25, 1.25))


def test_diversity_truncates_to_the_shortest() -> None:
    a = np.zeros((2, 1, 3))
    b = np.array([[[3.0, 4, 0]], [[0, 0, 0]], [[99.0, 0, 0]]])
    c = np.array([[[0.0, 0, 0]], [[0, 2, 0]]])
    # pairs over 2 frames: ab mean(5, 0) = 2.5; ac mean(0, 2) = 1; bc mean(5, 2) = 3.5 -> 7/3
    assert metrics.diversity([a, b, c]) == pytest.approx(7 / 3)
    with pytest.raises(InvalidInputError):
        metrics.diversity([a])


def test_mouth_shape_error() -> None:
    gt = np.array([[[0.0, 1, 0], [0, -1, 0], [2, 0, 0], [-2, 0, 0]]] * 2)  # height 2, width 4
    pred = np.array(
        [
            [[0.0, 2, 0], [0, -1, 0], [1, 0, 0], [-2, 0, 0]],  # height 3, width 3
            [[0.0, 1, 0], [0, -1, 0], [3, 0, 0], [-3, 0, 0]],  # height 2, width 6
        ]
    )
    # height mean(|3−2|, |2−2|) = 0.5; width mean(|3−4|, |6−4|) = 1.5
    got = metrics.mouth_shape_error(pred, gt, top=0, bottom=1, left=2, right=3)
    assert got == pytest.approx({"height": 0.5, "width": 1.5, "total": 2.0})


def test_lip_keypoints_on_a_ring() -> None:
    # 40 ring points at 9° steps (vertex 5 + i at angle 9i°) around (5, -3); bin k is centred at 15k°,
    # whose nearest ring point is i = round(15k / 9) = round(5k / 3) (fractions are 0, 1/3, 2/3: no ties)
    angles = np.deg2rad(9.0 * np.arange(40))
    ring = np.stack([5 + 2 * np.cos(angles), -3 + 2 * np.sin(angles), 0.1 * np.arange(40)], axis=1)
    template = np.concatenate([np.full((5, 3), 50.0), ring])
    lip = np.random.default_rng(0).permutation(np.arange(5, 45))
    got = metrics.lip_keypoints(template, lip)
    assert len(set(got.tolist())) == 24
    assert got.tolist() == [5 + round(5 * k / 3) % 40 for k in range(24)]
    assert got[[0, 1, 6, 12, 18]].tolist() == [5, 7, 15, 25, 35]  # 0°, 18°, 90°, 180°, 270°


def test_lip_keypoints_fill_empty_bins_without_duplicates() -> None:
    angles = np.deg2rad(5.0 * np.arange(24))  # 24 points within 115°: most bins are empty
    template = np.stack([np.cos(angles), np.sin(angles), np.zeros(24)], axis=1)
    got = metrics.lip_keypoints(template, np.arange(24))
    assert sorted(got.tolist()) == list(range(24))
    with pytest.raises(InvalidInputError):
        metrics.lip_keypoints(template, np.arange(20))


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    k = axis / np.linalg.norm(axis)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross  # Rodrigues


def test_rigid_align_recovers_rotation_translation_and_scale() -> None:
    points = np.random.default_rng(1).normal(size=(10, 3))
    moved = points @ _rotation(np.array([1.0, 2.0, -0.5]), 0.7).T + [0.3, -2.0, 5.0]
    assert np.abs(metrics.rigid_align(moved, points) - points).max() < 1e-12
    assert np.abs(metrics.rigid_align(2.5 * moved, points, scale=True) - points).max() < 1e-12


def test_rigid_align_never_reflects() -> None:
    points = np.random.default_rng(2).normal(size=(8, 3))
    mirrored = points * [1.0, 1.0, -1.0]
    out = metrics.rigid_align(mirrored, points)

    def volume(x: np.ndarray) -> float:
        return float(np.linalg.det(x[1:4] - x[0]))

    # a rotation keeps the signed volume of the mirrored tetrahedron; a reflection would flip it
    assert volume(out) == pytest.approx(volume(mirrored))
    assert np.abs(out - points).max() > 0.1


def test_lip_keypoint_error_after_alignment() -> None:
    rng = np.random.default_rng(3)
    gt = rng.normal(size=(4, 12, 3))
    rotated = np.stack(
        [g @ _rotation(rng.normal(size=3), a).T + rng.normal(size=3) for g, a in zip(gt, [0.1, 1.0, 2.0, 3.0], strict=True)]
    )
    got = metrics.lip_keypoint_error([rotated], [gt], np.arange(6))
    assert got["mean"] < 1e-12 and got["max"] < 1e-12
    # anchors 0-3 match; key point 4 is off by 1 and key point 5 by 3 in frame 0, both by 1 in frame 1:
    # mean (1 + 3 + 1 + 1) / 4 = 1.5; max mean(3, 1) = 2
    offsets = np.zeros((2, 6, 3))
    offsets[0, 4, 2], offsets[0, 5, 0], offsets[1, 4, 1], offsets[1, 5, 2] = 1, 3, 1, 1
    gt = np.broadcast_to(rng.normal(size=(6, 3)), (2, 6, 3))
    rotation = _rotation(np.array([0.0, 1.0, 1.0]), 1.2)
    pred = (gt + offsets) @ rotation.T + [1.0, 2.0, 3.0]
    got = metrics.lip_keypoint_error([pred], [gt], [4, 5], align_on=[0, 1, 2, 3])
    assert got == pytest.approx({"mean": 1.5, "max": 2.0}, abs=1e-12)


def test_arkit_regions_partition_the_52_names() -> None:
    grouped = [name for names in metrics.ARKIT_REGIONS.values() for name in names]
    assert sorted(grouped) == sorted(ARKIT_NAMES) and len(grouped) == 52
    sizes = {region: len(names) for region, names in metrics.ARKIT_REGIONS.items()}
    assert sizes == {"eyes": 14, "brows": 5, "jaw": 4, "mouth": 23, "cheeks_nose": 5, "tongue": 1}


def test_channel_and_region_mae() -> None:
    pred = np.array([[1.0, 2.0, 4.0], [1.0, -2.0, 4.0]])
    gt = np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    # |1|, |1| -> 1; |2|, |2| -> 2; 4, 4 -> 4
    assert metrics.channel_mae(pred, gt).tolist() == [1.0, 2.0, 4.0]
    channels = ("jawOpen", "MouthClose", "eyeBlinkLeft")  # Live Link capitalisation matches too
    assert metrics.region_mae(pred, gt, channels, metrics.ARKIT_REGIONS) == {"eyes": 4.0, "jaw": 1.0, "mouth": 2.0}
    assert metrics.region_mae(pred, gt, channels, {"lower": ("jawOpen", "mouthClose", "tongueOut")}) == {"lower": 1.5}


def test_lip_gap_skips_shared_corners() -> None:
    x = np.zeros((2, 5, 3))
    x[0, 0], x[0, 2] = [0, 1, 0], [0, -1, 0]  # gap 2
    x[0, 1], x[0, 3] = [1, 1, 0], [1, -3, 0]  # gap 4
    x[0, 4] = [9, 9, 9]  # the corner, shared by both lips
    assert metrics.lip_gap(x, [0, 1, 4], [2, 3, 4]).tolist() == [3.0, 0.0]


def test_bilabial_closure_rate() -> None:
    gap = np.full(10, 5.0)  # 10 fps: frame j at j / 10 s
    gap[2], gap[3] = 0.5, 0.2
    phones = [
        Phone("AH0", 0.0, 0.1),  # not bilabial
        Phone("M", 0.15, 0.25),  # frame 2 (0.2 s): 0.5 < 1 -> closed
        Phone("p", 0.31, 0.33),  # no frame inside; nearest to 0.32 s is frame 3: 0.2 -> closed
        Phone("B", 0.5, 0.7),  # frames 5, 6, 7 (ends included): 5 -> open
        Phone("P", 0.81, 0.84),  # nearest frame 8: open
    ]
    assert metrics.bilabial_closure_rate(gap, 10.0, phones, threshold=1.0) == (0.5, 4)
    assert metrics.bilabial_closure_rate(gap, 10.0, phones, threshold=0.5) == (0.25, 4)  # strictly below
    rate, count = metrics.bilabial_closure_rate(gap, 10.0, phones[:1], threshold=1.0)
    assert math.isnan(rate) and count == 0


def test_opening_energy_correlation_recovers_the_lag() -> None:
    fps = 30.0
    t = np.arange(120)
    energy = np.sin(2 * np.pi * t / 40)
    late = np.sin(2 * np.pi * (t - 3) / 40)  # the mouth follows the audio by 3 frames
    # at lag 3 the overlapping parts are the same numbers: r = 1
    peak, lag = metrics.opening_energy_correlation(late, energy, fps)
    assert peak == pytest.approx(1.0) and lag == pytest.approx(0.1)
    peak, lag = metrics.opening_energy_correlation(energy, late, fps)
    assert peak == pytest.approx(1.0) and lag == pytest.approx(-0.1)
    peak, lag = metrics.opening_energy_correlation(np.ones(120), energy, fps)
    assert math.isnan(peak) and math.isnan(lag)


def test_mean_speed_and_jerk() -> None:
    # (T, D): Δ = (1, -2), (2, 0) -> mean |Δ| = 5/4, × 10 fps
    assert metrics.mean_speed(np.array([[0.0, 0.0], [1.0, -2.0], [3.0, -2.0]]), 10.0) == pytest.approx(12.5)
    # (T, V, 3): vertex 0 moves 5, vertex 1 moves 1 -> 3 per frame, × 30 fps
    x = np.zeros((2, 2, 3))
    x[1, 0], x[1, 1] = [3, 4, 0], [0, 0, 1]
    assert metrics.mean_speed(x, 30.0) == pytest.approx(90.0)
    # third differences: channel 0 (0, 0, 0, 1) -> 1, channel 1 linear -> 0; mean 0.5 × 2³
    y = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [1.0, 3.0]])
    assert metrics.mean_jerk(y, 2.0) == pytest.approx(4.0)
    with pytest.raises(InvalidInputError):
        metrics.mean_jerk(y[:3], 2.0)


def test_frechet_distance() -> None:
    # 1-D: a = 0, 2 (μ 1, var 2); b = 1, 3, 5 (μ 3, var 4): (1 − 3)² + 2 + 4 − 2·√8 = 10 − 4√2
    assert metrics.frechet_distance(np.array([[0.0], [2.0]]), np.array([[1.0], [3.0], [5.0]])) == pytest.approx(
        10 - 4 * math.sqrt(2)
    )
    rng = np.random.default_rng(4)
    a = rng.normal(size=(500, 4))
    assert abs(metrics.frechet_distance(a, a)) < 1e-6
    shift = np.array([1.0, 2.0, 2.0])  # ‖Δμ‖² = 9
    b1, b2 = rng.normal(size=(20000, 3)), rng.normal(size=(20000, 3)) + shift
    assert metrics.frechet_distance(b1, b2) == pytest.approx(9.0, abs=0.1)
