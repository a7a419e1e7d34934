"""The field's evaluation metrics, each computed exactly as the repository that reports it does.

Pure numpy functions, float64 inside. Vertex sequences are arrays (T, V, 3) in the data's own units
(facetalk's native corpus is in metres: multiply distances by 1000 for millimetres, squared distances
by 1e6); index sets are int arrays of vertex indices; vertex masks are 0/1 float weights (V,). One
sequence is one clip. Per-sequence functions need a prediction and a ground truth of the same shape:
call `align_lengths` first, with the policy of the source being replicated. Dataset-level functions
take one sequence per clip and pool the way their source does; each docstring says which pooling
("pooled": every frame of every clip counts once; "mean over sequences": each clip counts once) and
names its source (repository and file, as the shared FORMATS.md §7 does). The formulas, and which
papers report each metric, are in docs/metrics.md.

Several metrics share a name in the literature but not a formula ("LVE" is a squared distance in
CodeTalker and a plain one in MeshTalk's paper), so every variant here has its own function name.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from scipy import linalg

from facetalk.errors import InvalidInputError
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.types import Phone

XYZ = 3
DTW_BLOCK_ELEMENTS = 1 << 16  # frame pairs × vertices × xyz per block of the DTW cost (0.5 MB: stays in cache)
FRECHET_EPS = 1e-6  # added to both covariances when the product's square root is not finite (BEAT, pytorch-fid)
FRECHET_MAX_IMAG = 1e-3  # largest imaginary part of sqrtm's diagonal dropped as numerical noise
LIP_KEYPOINTS = 24  # paper 002, section 4.2
TIME_EPS_S = 1e-9  # frame times j / fps and phone boundaries that agree to this are equal
BILABIALS: tuple[str, ...] = ("P", "B", "M")
MAX_LAG_S = 0.3
STRESS_DIGITS = "0123456789"

AlignPolicy = Literal["codetalker", "truncate"]

_REGION_PREFIXES: dict[str, tuple[str, ...]] = {
    "eyes": ("eye",),
    "brows": ("brow",),
    "jaw": ("jaw",),
    "mouth": ("mouth",),
    "cheeks_nose": ("cheek", "nose"),
    "tongue": ("tongue",),
}
ARKIT_REGIONS: dict[str, tuple[str, ...]] = {
    region: tuple(name for name in ARKIT_NAMES if name.startswith(prefixes)) for region, prefixes in _REGION_PREFIXES.items()
}
"""The 52 ARKit names grouped by face region; every name is in exactly one group."""


# ---------------------------------------------------------------------------------------------------
# Validation helpers


def _vertices(x: np.ndarray, name: str) -> np.ndarray:
    out = np.asarray(x, dtype=np.float64)
    if out.ndim != 3 or out.shape[2] != XYZ:
        raise InvalidInputError(f"{name} must have shape (T, V, 3), got {out.shape}")
    if out.shape[0] == 0:
        raise InvalidInputError(f"{name} has no frames")
    return out


def _pair(prediction: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _vertices(prediction, "prediction"), _vertices(target, "ground truth")
    if pred.shape != gt.shape:
        raise InvalidInputError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape (align_lengths first)")
    return pred, gt


def _pairs(predictions: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(predictions) != len(targets):
        raise InvalidInputError(f"{len(predictions)} predictions but {len(targets)} ground-truth sequences")
    if not predictions:
        raise InvalidInputError("no sequences to evaluate")
    return [_pair(p, g) for p, g in zip(predictions, targets, strict=True)]


def _indices(indices: np.ndarray | Sequence[int], num_vertices: int, name: str) -> np.ndarray:
    out = np.asarray(indices)
    if out.ndim != 1 or out.size == 0:
        raise InvalidInputError(f"{name} must be a non-empty 1-D array of vertex indices, got shape {out.shape}")
    if not np.issubdtype(out.dtype, np.integer):
        raise InvalidInputError(f"{name} must hold integer vertex indices, got dtype {out.dtype}")
    if out.min() < 0 or out.max() >= num_vertices:
        raise InvalidInputError(f"{name} has indices outside [0, {num_vertices}) (range {out.min()}..{out.max()})")
    return out.astype(np.int64)


def _weights(weights: np.ndarray | None, num_vertices: int) -> np.ndarray:
    if weights is None:
        return np.ones(num_vertices)
    out = np.asarray(weights, dtype=np.float64)
    if out.shape != (num_vertices,):
        raise InvalidInputError(f"vertex weights must have shape ({num_vertices},), got {out.shape}")
    if not np.isfinite(out).all() or (out < 0).any() or out.sum() <= 0:
        raise InvalidInputError("vertex weights must be finite, non-negative and not all zero")
    return out


def _fps(fps: float) -> float:
    if not (math.isfinite(fps) and fps > 0):
        raise InvalidInputError(f"fps must be positive, got {fps}")
    return float(fps)


def _series(x: np.ndarray, name: str) -> np.ndarray:
    out = np.asarray(x, dtype=np.float64)
    if out.ndim != 1 or out.size == 0:
        raise InvalidInputError(f"{name} must be a non-empty series of shape (T,), got {out.shape}")
    return out


def _distances(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-vertex L2 distances, (T, V) from (T, V, 3)."""
    return np.sqrt(np.square(prediction - target).sum(axis=-1))


def _pooled_mean(per_frame: Sequence[np.ndarray]) -> float:
    return float(np.concatenate(per_frame).mean())


# ---------------------------------------------------------------------------------------------------
# Lengths


def align_lengths(
    prediction: np.ndarray, target: np.ndarray, *, policy: AlignPolicy = "truncate"
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a prediction and its ground truth to a common number of frames.

    Source: CodeTalker `main/cal_metric.py` ("codetalker"); FaceDiffuser
    `evaluation/compute_objective_metrics.py` ("truncate").

    Args:
        prediction: predicted sequence with frames on the first axis, (T_pred, ...).
        target: ground truth, (T_gt, ...).
        policy: "codetalker" keeps `prediction[:T_gt]` and the whole ground truth; "truncate" cuts
            both to the shorter length.

    Returns:
        (prediction, target) with equal first dimensions.

    Raises:
        InvalidInputError: with "codetalker" when the prediction is shorter than the ground truth,
            where CodeTalker's own script would fail on mismatched shapes.
    """
    pred, gt = np.asarray(prediction), np.asarray(target)
    if pred.ndim == 0 or gt.ndim == 0:
        raise InvalidInputError("align_lengths needs arrays with frames on the first axis")
    if policy == "codetalker":
        if len(pred) < len(gt):
            raise InvalidInputError(f"prediction has {len(pred)} frames, fewer than the ground truth's {len(gt)}")
        return pred[: len(gt)], gt
    if policy == "truncate":
        length = min(len(pred), len(gt))
        return pred[:length], gt[:length]
    raise InvalidInputError(f"unknown length policy {policy!r} (known: codetalker, truncate)")


# ---------------------------------------------------------------------------------------------------
# Lip vertex errors


def lip_max_sq_error_frames(prediction: np.ndarray, target: np.ndarray, lip: np.ndarray | Sequence[int]) -> np.ndarray:
    """Per frame, the largest SQUARED L2 distance over the lip vertices (CodeTalker's LVE per frame).

    Source: CodeTalker `main/cal_metric.py`.

    Args:
        prediction: predicted vertices (T, V, 3).
        target: ground-truth vertices (T, V, 3).
        lip: lip vertex indices (L,).

    Returns:
        e_t = max_{v∈L} ‖x̂_tv − x_tv‖₂², shape (T,). No square root is taken.
    """
    pred, gt = _pair(prediction, target)
    lip = _indices(lip, pred.shape[1], "lip indices")
    return np.square(pred[:, lip] - gt[:, lip]).sum(axis=-1).max(axis=-1)  # (T, L) -> (T,)


def lve(predictions: Sequence[np.ndarray], targets: Sequence[np.ndarray], lip: np.ndarray | Sequence[int]) -> float:
    """CodeTalker's lip vertex error: the squared per-frame max lip error, pooled over all frames.

    Pooling: the mean over all frames of all sequences (a long clip weighs more than a short one).
    The tables' "×10⁻⁴ mm" label is nominal: the value is a squared distance in the data's units.

    Source: CodeTalker `main/cal_metric.py` (also FaceFormer issue #14, torchmetrics `lve.py`).

    Args:
        predictions: one (T, V, 3) array per sequence.
        targets: the matching ground truths, same shapes.
        lip: lip vertex indices (L,).
    """
    return _pooled_mean([lip_max_sq_error_frames(p, g, lip) for p, g in _pairs(predictions, targets)])


def lip_max_l2_error_frames(prediction: np.ndarray, target: np.ndarray, lip: np.ndarray | Sequence[int]) -> np.ndarray:
    """Per frame, the largest L2 distance (not squared, no centring) over the lip vertices.

    Source: the MeshTalk paper's LVE definition as paper 000 (Bozkurt) reports it; no reference code.

    Args:
        prediction: predicted vertices (T, V, 3).
        target: ground-truth vertices (T, V, 3).
        lip: lip vertex indices (L,).

    Returns:
        e_t = max_{v∈L} ‖x̂_tv − x_tv‖₂, shape (T,).
    """
    return np.sqrt(lip_max_sq_error_frames(prediction, target, lip))  # sqrt is monotone: max of norms


def lve_l2(predictions: Sequence[np.ndarray], targets: Sequence[np.ndarray], lip: np.ndarray | Sequence[int]) -> float:
    """Max-L2 lip vertex error (paper 000's LVE): `lip_max_l2_error_frames` pooled over all frames.

    Pooling: the mean over all frames of all sequences.

    Source: the MeshTalk paper's LVE definition as paper 000 (Bozkurt) reports it; no reference code.

    Args:
        predictions: one (T, V, 3) array per sequence.
        targets: the matching ground truths.
        lip: lip vertex indices (L,).
    """
    return _pooled_mean([lip_max_l2_error_frames(p, g, lip) for p, g in _pairs(predictions, targets)])


def meshtalk_lip_error(
    predictions: Sequence[np.ndarray], targets: Sequence[np.ndarray], lip: np.ndarray | Sequence[int]
) -> float:
    """MeshTalk's centred lip error: lips centred per frame, then the max L2 distance, pooled.

    Each frame's lip vertices are centred on their own mean (x_L − mean_{v∈L} x_v, the same for x̂), so
    a rigid shift of the whole mouth does not count; then e_t = max_{v∈L} ‖·‖₂ with the square root.
    The centroid is taken over the distinct lip vertices, so duplicate indices change nothing.

    Pooling: the mean over all frames of all sequences.

    Source: meshtalk issue #32.

    Args:
        predictions: one (T, V, 3) array per sequence.
        targets: the matching ground truths.
        lip: lip vertex indices (L,).
    """
    per_frame = []
    for pred, gt in _pairs(predictions, targets):
        lips = np.unique(_indices(lip, pred.shape[1], "lip indices"))
        p, g = pred[:, lips], gt[:, lips]  # (T, L, 3)
        p = p - p.mean(axis=1, keepdims=True)
        g = g - g.mean(axis=1, keepdims=True)
        per_frame.append(_distances(p, g).max(axis=-1))  # (T,)
    return _pooled_mean(per_frame)


# ---------------------------------------------------------------------------------------------------
# mm2023 "Composite and Regional" (paper 001)


def masked_mean_error(prediction: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> float:
    """mm2023's masked mean error of one sequence: mean_{t,v}(w_v ‖x̂_tv − x_tv‖₂) · V / Σw.

    With a 0/1 mask this is the mean L2 distance over the masked vertices. Paper 001's L^lip_mean uses
    the lip mask, L^upper_mean the upper-face mask, L^face_mean all ones (`weights=None`). mm2023
    de-normalises (x·std + mean) before measuring; pass de-normalised vertices.

    Source: mm2023 `utils.py` `MeshLoss.compute_geometric_mean_euclidean_dist_error` (called in `train.py`).

    Args:
        prediction: predicted vertices (T, V, 3).
        target: ground-truth vertices (T, V, 3).
        weights: 0/1 vertex mask (V,); all ones if None.

    Returns:
        The error of this sequence; average sequences with `mean_over_sequences`.
    """
    pred, gt = _pair(prediction, target)
    w = _weights(weights, pred.shape[1])
    return float((_distances(pred, gt) * w).mean() * pred.shape[1] / w.sum())


def masked_max_error(prediction: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> float:
    """mm2023's masked max error of one sequence: mean_t max_v(w_v ‖x̂_tv − x_tv‖₂), not squared.

    Paper 001's L^lip_max is this with the lip mask.

    Source: mm2023 `utils.py` `MeshLoss.compute_geometric_maximal_euclidean_dist`.

    Args:
        prediction: predicted vertices (T, V, 3).
        target: ground-truth vertices (T, V, 3).
        weights: 0/1 vertex mask (V,); all ones if None.

    Returns:
        The error of this sequence; average sequences with `mean_over_sequences`.
    """
    pred, gt = _pair(prediction, target)
    w = _weights(weights, pred.shape[1])
    return float((_distances(pred, gt) * w).max(axis=-1).mean())


def mean_over_sequences(values: Sequence[float] | np.ndarray) -> float:
    """The mean of per-sequence values: each clip counts once (mm2023's and FDD's pooling)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidInputError(f"need a non-empty list of per-sequence values, got shape {arr.shape}")
    return float(arr.mean())


def _dtw_cost(gt: np.ndarray, pred: np.ndarray, w: np.ndarray) -> np.ndarray:
    """C[i, j] = Σ_v w_v ‖gt_i,v − pred_j,v‖₂ / Σ_v w_v, shape (T_gt, T_pred), in cache-sized blocks."""
    keep = w != 0  # masked-out vertices add nothing; skipping them saves memory and time
    # fancy indexing may return a transposed layout; the block loop needs C order to stay fast
    gt, pred, w = np.ascontiguousarray(gt[:, keep]), np.ascontiguousarray(pred[:, keep]), w[keep]
    per_pair = gt.shape[1] * XYZ
    cols = max(1, min(pred.shape[0], DTW_BLOCK_ELEMENTS // per_pair))
    rows = max(1, DTW_BLOCK_ELEMENTS // (cols * per_pair))
    cost = np.empty((gt.shape[0], pred.shape[0]))
    for i in range(0, gt.shape[0], rows):
        for j in range(0, pred.shape[0], cols):
            diff = gt[i : i + rows, None] - pred[None, j : j + cols]  # (R, J, V, 3)
            dist = np.sqrt(np.einsum("ijvc,ijvc->ijv", diff, diff))  # (R, J, V)
            cost[i : i + rows, j : j + cols] = dist @ w
    return cost / w.sum()


def dtw_error(target: np.ndarray, prediction: np.ndarray, weights: np.ndarray | None = None, *,
              replicate_mm2023_quirk: bool = False) -> float:  # fmt: skip
    """mm2023's F-DTW: dynamic time warping of the masked mean vertex distance, not normalised.

    acc[0,0] = C[0,0]; acc[0,j] = acc[0,j−1] + C[0,j]; acc[i,0] = acc[i−1,0] + C[i,0];
    acc[i,j] = min(acc[i−1,j], acc[i,j−1], acc[i−1,j−1]) + C[i,j]; the result is acc[−1,−1], a sum
    along the best warping path (it grows with the clip's length).

    mm2023's first-row loop is bounded by `seq_b.shape[0]`, which is 1 after its `unsqueeze(0)`, so
    acc[0, j>0] stays 0 and the path may start anywhere in row 0 for free; `replicate_mm2023_quirk`
    reproduces that. Each row is solved without a Python loop over j: with S the row's cumulative cost
    and b[j] = min(acc[i−1,j], acc[i−1,j−1]) + C[i,j], acc[i,j] = S[j] + min_{k≤j}(b[k] − S[k]); this
    equals the sequential recurrence up to floating-point rounding.

    Source: mm2023 `utils.py` `MeshLoss.dtw_error`.

    Args:
        target: ground-truth vertices (T_gt, V, 3), rows i of the cost matrix.
        prediction: predicted vertices (T_pred, V, 3), columns j; lengths may differ.
        weights: 0/1 vertex mask (V,) (mm2023 reports the mouth mask and the whole face); all ones if None.
        replicate_mm2023_quirk: leave acc[0, j>0] = 0 as mm2023's code does.

    Returns:
        acc[−1, −1] for this sequence; average sequences with `mean_over_sequences`.
    """
    gt, pred = _vertices(target, "ground truth"), _vertices(prediction, "prediction")
    if gt.shape[1] != pred.shape[1]:
        raise InvalidInputError(f"ground truth has {gt.shape[1]} vertices but the prediction {pred.shape[1]}")
    cost = _dtw_cost(gt, pred, _weights(weights, gt.shape[1]))  # (T_gt, T_pred)
    if replicate_mm2023_quirk:
        acc = np.zeros(cost.shape[1])
        acc[0] = cost[0, 0]
    else:
        acc = np.cumsum(cost[0])
    for row in cost[1:]:
        best_above = acc.copy()  # min(acc[i−1, j], acc[i−1, j−1]); column 0 has only the cell above
        best_above[1:] = np.minimum(acc[1:], acc[:-1])
        cumulative = np.cumsum(row)
        acc = cumulative + np.minimum.accumulate(best_above + row - cumulative)
    return float(acc[-1])


# ---------------------------------------------------------------------------------------------------
# CodeTalker / FaceFormer / FaceDiffuser


def mve(predictions: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> float:
    """Mean vertex error: the mean L2 distance ‖x̂ − x‖₂ over all pooled frames and all vertices.

    Pooling: every (frame, vertex) of every sequence counts once.

    Source: FaceDiffuser `evaluation/compute_objective_metrics.py`.

    Args:
        predictions: one (T, V, 3) array per sequence.
        targets: the matching ground truths.
    """
    return _pooled_mean([_distances(p, g).ravel() for p, g in _pairs(predictions, targets)])


def fdd_sequence(prediction: np.ndarray, target: np.ndarray, template: np.ndarray, upper: np.ndarray | Sequence[int]) -> float:
    """CodeTalker's upper-face dynamics deviation of one sequence, signed.

    d_tv = ‖x_tv − τ_v‖₂² for v in the upper face; σ_v = std_t d_tv (numpy's ddof = 0);
    FDD_s = mean_v σ_v(gt) − mean_v σ_v(pred). Positive when the prediction moves the upper face less
    than the ground truth. Not torchmetrics' `upper_face_dynamics_deviation`, which is a different
    quantity (the std of frame-to-frame displacement norms).

    Source: CodeTalker `main/cal_metric.py`.

    Args:
        prediction: predicted vertices (T, V, 3).
        target: ground-truth vertices (T, V, 3).
        template: the subject's neutral face (V, 3).
        upper: upper-face vertex indices (U,).
    """
    pred, gt = _pair(prediction, target)
    tau = np.asarray(template, dtype=np.float64)
    if tau.shape != pred.shape[1:]:
        raise InvalidInputError(f"template must have shape {pred.shape[1:]}, got {tau.shape}")
    upper = _indices(upper, pred.shape[1], "upper-face indices")

    def motion_std(x: np.ndarray) -> float:
        offsets = np.square(x[:, upper] - tau[upper]).sum(axis=-1)  # (T, U)
        return float(offsets.std(axis=0).mean())

    return motion_std(gt) - motion_std(pred)


def fdd(predictions: Sequence[np.ndarray], targets: Sequence[np.ndarray], templates: Sequence[np.ndarray] | np.ndarray,
        upper: np.ndarray | Sequence[int]) -> tuple[float, float]:  # fmt: skip
    """FDD over a test set: (signed mean over sequences, mean over sequences of |FDD_s|).

    Pooling: mean over sequences. The signed value is what CodeTalker and the papers report;
    FaceDiffuser also prints the second value as "ABS FDD".

    Source: CodeTalker `main/cal_metric.py`; FaceDiffuser `evaluation/compute_objective_metrics.py` (ABS FDD).

    Args:
        predictions: one (T, V, 3) array per sequence.
        targets: the matching ground truths.
        templates: one neutral face (V, 3) per sequence, or a single (V, 3) array shared by all.
        upper: upper-face vertex indices (U,).
    """
    pairs = _pairs(predictions, targets)
    shared = isinstance(templates, np.ndarray) and templates.ndim == 2
    per_sequence = list(templates) if not shared else [np.asarray(templates)] * len(pairs)
    if len(per_sequence) != len(pairs):
        raise InvalidInputError(f"{len(per_sequence)} templates for {len(pairs)} sequences")
    values = np.array([fdd_sequence(p, g, tau, upper) for (p, g), tau in zip(pairs, per_sequence, strict=True)])
    return float(values.mean()), float(np.abs(values).mean())


def diversity(predictions_by_condition: Sequence[np.ndarray]) -> float:
    """FaceDiffuser's diversity of one (subject, sentence) generated under different style conditions.

    The mean over pairs i<j of mean_{t,v} ‖x̂ⁱ_tv − x̂ʲ_tv‖₂, all sequences cut to the shortest.
    The caller averages the result over the test sequences.

    Source: FaceDiffuser `evaluation/compute_objective_metrics.py`.

    Args:
        predictions_by_condition: two or more (T_i, V, 3) predictions of the same clip.
    """
    seqs = [_vertices(x, "prediction") for x in predictions_by_condition]
    if len(seqs) < 2:
        raise InvalidInputError(f"diversity needs at least two predictions, got {len(seqs)}")
    if len({x.shape[1] for x in seqs}) != 1:
        raise InvalidInputError("diversity needs predictions with the same number of vertices")
    length = min(len(x) for x in seqs)
    return float(np.mean([_distances(a[:length], b[:length]).mean() for a, b in itertools.combinations(seqs, 2)]))


# ---------------------------------------------------------------------------------------------------
# Paper 002: mouth shape and aligned lip key points


def mouth_shape_error(
    prediction: np.ndarray, target: np.ndarray, *, top: int, bottom: int, left: int, right: int
) -> dict[str, float]:
    """Paper 002's mouth-shape measure (its eq. 5 with d1 = d2 = 1), averaged over frames.

    Height H = ‖v_top − v_bottom‖₂ and width W = ‖v_left − v_right‖₂ per frame (the paper's eq. 5
    swaps the letters H and V; the keys here say what is measured).

    Source: paper 002, section 3, "Mouth shape loss" (no reference code).

    Args:
        prediction: predicted vertices (T, V, 3).
        target: ground-truth vertices (T, V, 3).
        top, bottom, left, right: vertex indices of the mouth's extreme points.

    Returns:
        {"height": mean_t |H_p − H_g|, "width": mean_t |W_p − W_g|, "total": their sum}.
    """
    pred, gt = _pair(prediction, target)
    points = _indices([top, bottom, left, right], pred.shape[1], "mouth vertices")

    def extents(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t, b, lft, rgt = (x[:, i] for i in points)
        return np.linalg.norm(t - b, axis=-1), np.linalg.norm(lft - rgt, axis=-1)  # (T,), (T,)

    (h_p, w_p), (h_g, w_g) = extents(pred), extents(gt)
    height, width = float(np.abs(h_p - h_g).mean()), float(np.abs(w_p - w_g).mean())
    return {"height": height, "width": width, "total": height + width}


def _angular_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs((a - b + np.pi) % (2 * np.pi) - np.pi)


def lip_keypoints(template: np.ndarray, lip: np.ndarray | Sequence[int], count: int = LIP_KEYPOINTS) -> np.ndarray:
    """Choose `count` lip vertices spread uniformly by angle around the lip centroid.

    Paper 002 "uniformly selected 24 key-point vertices around the lip"; this is our reading of it.
    In the x-y plane of the template (y up, x to the subject's left, z towards the viewer), the
    angle of each distinct lip vertex is measured around the centroid of the lip vertices, counter-
    clockwise from +x. The circle is split into `count` equal bins centred at k·360°/count (so the
    bins at 0°, 90°, 180° and 270° sit on the mouth corners and the lips' midline when count is a
    multiple of 4); each bin takes its vertex nearest (in angle) to the bin centre, ties going to the
    lowest vertex index. A bin with no vertex takes the nearest vertex not chosen by any other bin,
    bins in order, so the result never repeats a vertex.

    Source: paper 002, section 4.2 (no reference code).

    Args:
        template: neutral face (V, 3).
        lip: lip vertex indices (L,), at least `count` distinct.
        count: number of key points.

    Returns:
        Vertex indices (count,), ordered by bin (by angle from the subject's left, counter-clockwise).
    """
    tau = np.asarray(template, dtype=np.float64)
    if tau.ndim != 2 or tau.shape[1] != XYZ:
        raise InvalidInputError(f"template must have shape (V, 3), got {tau.shape}")
    lips = np.unique(_indices(lip, tau.shape[0], "lip indices"))
    if count < 1 or lips.size < count:
        raise InvalidInputError(f"cannot choose {count} key points from {lips.size} distinct lip vertices")
    xy = tau[lips, :2]
    rel = xy - xy.mean(axis=0)
    angles = np.arctan2(rel[:, 1], rel[:, 0]) % (2 * np.pi)  # (L,)
    width = 2 * np.pi / count
    centres = np.arange(count) * width  # (count,)
    dist = _angular_distance(centres[:, None], angles[None, :])  # (count, L)
    bins = np.floor((angles + width / 2) / width).astype(np.int64) % count  # each vertex's nearest centre
    chosen = np.full(count, -1, dtype=np.int64)
    for k in range(count):
        members = np.flatnonzero(bins == k)
        if members.size:
            chosen[k] = members[np.argmin(dist[k, members])]
    taken = set(chosen[chosen >= 0].tolist())
    for empty in np.flatnonzero(chosen < 0):
        nearest = next(int(j) for j in np.argsort(dist[empty], kind="stable") if int(j) not in taken)
        chosen[empty] = nearest
        taken.add(nearest)
    return lips[chosen]


def _similarity_transform(source: np.ndarray, target: np.ndarray, scale: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares c, R, t with c·R·s + t ≈ y (Umeyama 1991), batched over leading axes.

    Args:
        source: points (..., N, 3).
        target: points (..., N, 3).
        scale: solve for c; otherwise c = 1.

    Returns:
        c (...), R (..., 3, 3) a proper rotation (det +1), t (..., 3).
    """
    mu_s, mu_t = source.mean(axis=-2), target.mean(axis=-2)  # (..., 3)
    s, y = source - mu_s[..., None, :], target - mu_t[..., None, :]
    cov = np.swapaxes(y, -1, -2) @ s / source.shape[-2]  # (..., 3, 3): Σ_ys
    u, d, vt = np.linalg.svd(cov)
    sign = np.where(np.linalg.det(u @ vt) < 0, -1.0, 1.0)  # (...,): flip the weakest axis, never reflect
    flip = np.ones((*sign.shape, XYZ))
    flip[..., -1] = sign
    rotation = (u * flip[..., None, :]) @ vt
    if scale:
        variance = np.square(s).sum(axis=(-1, -2)) / source.shape[-2]  # (...,)
        if (variance <= 0).any():
            raise InvalidInputError("cannot solve a scale: the source points coincide")
        c = (d * flip).sum(axis=-1) / variance
    else:
        c = np.ones(sign.shape)
    t = mu_t - c[..., None] * (rotation @ mu_s[..., None])[..., 0]
    return c, rotation, t


def _apply(points: np.ndarray, c: np.ndarray, rotation: np.ndarray, t: np.ndarray) -> np.ndarray:
    return c[..., None, None] * (points @ np.swapaxes(rotation, -1, -2)) + t[..., None, :]


def rigid_align(source: np.ndarray, target: np.ndarray, *, scale: bool = False) -> np.ndarray:
    """Move `source` onto `target` by the least-squares rotation and translation (and scale).

    Kabsch with Umeyama's scale; the rotation is proper (no reflection).

    Args:
        source: points (V, 3) to move.
        target: corresponding points (V, 3).
        scale: also solve for a uniform scale.

    Returns:
        The moved source, (V, 3).
    """
    src, dst = np.asarray(source, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != XYZ or src.shape != dst.shape:
        raise InvalidInputError(f"rigid_align needs two (V, 3) arrays of one shape, got {src.shape} and {dst.shape}")
    return _apply(src, *_similarity_transform(src, dst, scale))


def lip_keypoint_error(predictions: Sequence[np.ndarray], targets: Sequence[np.ndarray], keypoints: np.ndarray | Sequence[int], *,
                       align_on: np.ndarray | Sequence[int] | None = None, scale: bool = False) -> dict[str, float]:  # fmt: skip
    """Paper 002's lip error: L2 distance of lip key points after aligning each predicted frame.

    Each predicted frame is moved onto its ground-truth frame by the rigid (optionally similarity)
    transform solved on the `align_on` vertices (paper 002: "a linear 3D transformation before metrics
    calculations"), then D_{i,j,k} = ‖x̂_k − x_k‖₂ at each key point (its eq. 6, read as the L2 norm).

    "max" is ambiguous in the paper ("the overall mean and maximal distance"). The maximum over all
    sequences, frames and key points would be an outlier far above the mean, yet its Table 1 reports
    max ≈ 1.7 × mean; so we read it as the per-frame max over key points, averaged over frames.

    Pooling: every frame of every sequence counts once, for both values.

    Source: paper 002, section 4.2 (no reference code).

    Args:
        predictions: one (T, V, 3) array per sequence.
        targets: the matching ground truths.
        keypoints: key-point vertex indices (K,), e.g. from `lip_keypoints`.
        align_on: vertices the alignment is solved on (distinct ones count once); all if None.
        scale: also solve for a uniform scale.

    Returns:
        {"mean": mean over all frames and key points, "max": mean over frames of the per-frame max}.
    """
    dists = []
    for pred, gt in _pairs(predictions, targets):
        num_vertices = pred.shape[1]
        kp = _indices(keypoints, num_vertices, "key-point indices")
        anchor = np.arange(num_vertices) if align_on is None else np.unique(_indices(align_on, num_vertices, "align_on indices"))
        c, rotation, t = _similarity_transform(pred[:, anchor], gt[:, anchor], scale)  # per frame: (T,), (T, 3, 3), (T, 3)
        moved = _apply(pred[:, kp], c, rotation, t)  # (T, K, 3)
        dists.append(_distances(moved, gt[:, kp]))  # (T, K)
    pooled = np.concatenate(dists)  # (ΣT, K)
    return {"mean": float(pooled.mean()), "max": float(pooled.max(axis=-1).mean())}


# ---------------------------------------------------------------------------------------------------
# Blendshape motion


def channel_mae(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean absolute error over frames of each channel, (K,) from (T, K).

    Source: facetalk (blendshape weights have no field-standard metric).
    """
    pred, gt = np.asarray(prediction, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.ndim != 2 or pred.shape != gt.shape or pred.shape[0] == 0:
        raise InvalidInputError(f"channel_mae needs two (T, K) arrays of one shape, got {pred.shape} and {gt.shape}")
    return np.abs(pred - gt).mean(axis=0)


def region_mae(prediction: np.ndarray, target: np.ndarray, channels: Sequence[str],
               regions: Mapping[str, Sequence[str]] = ARKIT_REGIONS) -> dict[str, float]:  # fmt: skip
    """Per region, the mean of the channel MAEs of the region's channels that are present.

    Names match case-insensitively (Live Link Face writes "JawOpen", ARKit "jawOpen"). A region
    none of whose channels is present is left out of the result.

    Source: facetalk.

    Args:
        prediction: predicted weights (T, K).
        target: true weights (T, K).
        channels: the K column names.
        regions: region name -> channel names, e.g. `ARKIT_REGIONS`.
    """
    per_channel = channel_mae(prediction, target)  # (K,)
    if len(channels) != len(per_channel):
        raise InvalidInputError(f"{len(channels)} channel names for {len(per_channel)} columns")
    index = {name.lower(): k for k, name in enumerate(channels)}
    if len(index) != len(channels):
        raise InvalidInputError("channel names repeat (case-insensitively)")
    out = {}
    for region, names in regions.items():
        present = [index[name.lower()] for name in names if name.lower() in index]
        if present:
            out[region] = float(per_channel[present].mean())
    return out


# ---------------------------------------------------------------------------------------------------
# Lip sync without ground truth


def lip_gap(vertices: np.ndarray, upper: np.ndarray | Sequence[int], lower: np.ndarray | Sequence[int]) -> np.ndarray:
    """Per frame, the mean distance between matched upper- and lower-lip vertices.

    Pairs (upper[k], lower[k]) with the same index, such as shared mouth corners, are skipped.

    Source: facetalk.

    Args:
        vertices: (T, V, 3).
        upper: upper-lip vertex indices (P,).
        lower: the matching lower-lip vertex indices (P,).

    Returns:
        Gap per frame (T,), in the data's units.
    """
    x = _vertices(vertices, "vertices")
    up, low = _indices(upper, x.shape[1], "upper-lip indices"), _indices(lower, x.shape[1], "lower-lip indices")
    if up.shape != low.shape:
        raise InvalidInputError(f"{up.size} upper-lip vertices but {low.size} lower-lip vertices")
    distinct = up != low
    if not distinct.any():
        raise InvalidInputError("every upper/lower lip pair is one vertex; there is no gap to measure")
    return _distances(x[:, up[distinct]], x[:, low[distinct]]).mean(axis=-1)  # (T, P) -> (T,)


def _base_phone(label: str) -> str:
    return label.rstrip(STRESS_DIGITS).upper()


def bilabial_closure_rate(gap: np.ndarray, fps: float, phones: Sequence[Phone], *, threshold: float,
                          labels: Sequence[str] = BILABIALS) -> tuple[float, int]:  # fmt: skip
    """Share of bilabial phones (P, B, M) during which the lips close.

    A phone counts as closed when the gap falls below `threshold` in at least one frame whose time
    j / fps lies in [start, end]; a phone too short to contain a frame uses the frame nearest to its
    midpoint. Labels are ARPAbet, compared without stress digits and case-insensitively.

    Source: facetalk.

    Args:
        gap: lip gap per frame (T,), e.g. from `lip_gap`.
        fps: frames per second of `gap`.
        phones: the clip's phones with times in seconds.
        threshold: gap below which the lips count as closed, in the gap's units.
        labels: the phone labels to check.

    Returns:
        (rate, number of such phones); rate is nan when there are none.
    """
    gap = _series(gap, "lip gap")
    fps = _fps(fps)
    wanted = {_base_phone(label) for label in labels}
    times = np.arange(len(gap)) / fps  # (T,)
    checked = closed = 0
    for phone in phones:
        if _base_phone(phone.label) not in wanted:
            continue
        inside = np.flatnonzero((times >= phone.start - TIME_EPS_S) & (times <= phone.end + TIME_EPS_S))
        if inside.size == 0:
            inside = np.array([min(max(round(0.5 * (phone.start + phone.end) * fps), 0), len(gap) - 1)])
        checked += 1
        closed += int(gap[inside].min() < threshold)
    return (closed / checked if checked else math.nan), checked


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    return float(np.dot(a, b)) / denominator if denominator > 0 else math.nan


def opening_energy_correlation(opening: np.ndarray, energy: np.ndarray, fps: float, *,
                               max_lag_s: float = MAX_LAG_S) -> tuple[float, float]:  # fmt: skip
    """Peak Pearson correlation between mouth opening and speech energy over frame lags.

    At lag k frames the pairs are (opening[t], energy[t − k]): a positive lag means the motion follows
    the audio. Every integer lag with |k| / fps ≤ max_lag_s is tried (and at least 2 frames overlap).

    Source: facetalk.

    Args:
        opening: mouth opening per frame (T,), e.g. `lip_gap`.
        energy: speech energy per motion frame (T,).
        fps: frames per second of both.
        max_lag_s: largest lag tried, in seconds.

    Returns:
        (peak correlation, its lag in seconds); (nan, nan) if either series is constant.
    """
    a, b = _series(opening, "opening"), _series(energy, "energy")
    if a.shape != b.shape:
        raise InvalidInputError(f"opening has {a.size} frames but energy {b.size}")
    fps = _fps(fps)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan, math.nan
    num_frames = a.size
    max_lag = min(math.floor(max_lag_s * fps + TIME_EPS_S), num_frames - 2)
    lags = np.arange(-max_lag, max_lag + 1)
    corr = np.array([_pearson(a[k:], b[: num_frames - k]) if k >= 0 else _pearson(a[:k], b[-k:]) for k in lags])
    if np.isnan(corr).all():
        return math.nan, math.nan
    best = int(np.nanargmax(corr))
    return float(corr[best]), float(lags[best] / fps)


# ---------------------------------------------------------------------------------------------------
# Motion statistics


def _motion(x: np.ndarray, order: int) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != XYZ):
        raise InvalidInputError(f"motion must have shape (T, D) or (T, V, 3), got {arr.shape}")
    if arr.shape[0] <= order:
        raise InvalidInputError(f"motion needs more than {order} frames, got {arr.shape[0]}")
    return arr


def _mean_magnitude(delta: np.ndarray) -> float:
    if delta.ndim == 3:
        return float(np.sqrt(np.square(delta).sum(axis=-1)).mean())  # per vertex ‖·‖₂
    return float(np.abs(delta).mean())  # per channel |·|


def mean_speed(x: np.ndarray, fps: float) -> float:
    """Mean magnitude of the velocity: ‖Δx‖·fps per vertex for (T, V, 3), |Δx|·fps per channel for (T, D).

    Source: facetalk. Units: the data's units per second.
    """
    return _mean_magnitude(np.diff(_motion(x, 1), axis=0) * _fps(fps))


def mean_jerk(x: np.ndarray, fps: float) -> float:
    """Mean magnitude of the jerk: the third finite difference times fps³, measured like `mean_speed`.

    Source: facetalk. Units: the data's units per second cubed.
    """
    return _mean_magnitude(np.diff(_motion(x, 3), n=3, axis=0) * _fps(fps) ** 3)


# ---------------------------------------------------------------------------------------------------
# Fréchet distance


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID / FGD for motion).

    d² = ‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2(Σ_a Σ_b)^½), with μ, Σ from `np.mean` and
    `np.cov(rowvar=False)` and the square root from `scipy.linalg.sqrtm`. If the root is not finite,
    1e-6·I is added to both covariances; a negligible imaginary part is dropped.

    Source: BEAT `dataloaders/data_tools.py` `FIDCalculator` (pytorch-fid's formula).

    Args:
        features_a: (N, D), N ≥ 2.
        features_b: (M, D), M ≥ 2.

    Raises:
        ValueError: if the square root has an imaginary diagonal part above 1e-3.
    """
    a, b = np.asarray(features_a, dtype=np.float64), np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise InvalidInputError(f"frechet_distance needs (N, D) and (M, D) features with N, M >= 2, got {a.shape} and {b.shape}")
    mu_a, mu_b = np.mean(a, axis=0), np.mean(b, axis=0)  # (D,)
    sigma_a, sigma_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))  # (D, D)
    diff = mu_a - mu_b
    covmean = linalg.sqrtm(sigma_a @ sigma_b)
    if not np.isfinite(covmean).all():
        offset = np.eye(a.shape[1]) * FRECHET_EPS
        covmean = linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=FRECHET_MAX_IMAG):
            raise ValueError(f"Fréchet distance: imaginary component {np.max(np.abs(covmean.imag)):.3g} in sqrtm")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(covmean))
