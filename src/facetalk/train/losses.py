"""Training losses as pure functions of tensors.

Every function takes predictions and targets of shape (B, T, D) (D channels: blendshape weights,
parameters, or 3V vertex coordinates) and an optional frame mask (B, T) that is 1 on real frames and
0 on padding, and returns a scalar: the mean over real frames. Channel weights (D,) or vertex
weights (V,) weight regions (a vertex mask is a 0/1 vertex weight); a frame's error is the weighted
mean over its channels, so weights change the balance of regions, not the scale of the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

Distance = Literal["l1", "l2"]
XYZ = 3


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of per-frame values (B, T) over the frames where `mask` (B, T) is nonzero."""
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def _distance(error: torch.Tensor, kind: Distance) -> torch.Tensor:
    if kind == "l1":
        return error.abs()
    if kind == "l2":
        return error.square()
    raise ValueError(f"unknown distance {kind!r} (known: l1, l2)")


def _channel_weights(dim: int, channel_weights: torch.Tensor | None, vertex_weights: torch.Tensor | None) -> torch.Tensor | None:
    if channel_weights is not None and vertex_weights is not None:
        raise ValueError("give channel_weights or vertex_weights, not both")
    if vertex_weights is not None:
        if vertex_weights.shape != (dim // XYZ,) or dim % XYZ:
            raise ValueError(f"vertex weights of shape {tuple(vertex_weights.shape)} do not fit D = {dim}")
        return vertex_weights.repeat_interleave(XYZ)  # (3V,): x, y, z of each vertex share its weight
    if channel_weights is not None and channel_weights.shape != (dim,):
        raise ValueError(f"channel weights of shape {tuple(channel_weights.shape)} do not fit D = {dim}")
    return channel_weights


def reconstruction_loss(prediction: torch.Tensor, target: torch.Tensor, *, mask: torch.Tensor | None = None,
                        channel_weights: torch.Tensor | None = None, vertex_weights: torch.Tensor | None = None,
                        kind: Distance = "l2") -> torch.Tensor:  # fmt: skip
    """L1 or L2 reconstruction error.

    Args:
        prediction: predicted motion, shape (B, T, D).
        target: ground truth, shape (B, T, D).
        mask: frame mask (B, T); padding frames do not count.
        channel_weights: per-channel weights (D,), e.g. a region's channels weighted higher.
        vertex_weights: per-vertex weights (V,) for vertex motion (D = 3V), e.g. a 0/1 lip mask.
        kind: "l1" (mean absolute error) or "l2" (mean squared error).

    Returns:
        Scalar: the mean over real frames of the weighted mean over channels.
    """
    per_value = _distance(prediction - target, kind)  # (B, T, D)
    weights = _channel_weights(prediction.shape[-1], channel_weights, vertex_weights)
    if weights is None:
        per_frame = per_value.mean(dim=-1)  # (B, T)
    else:
        weights = weights.to(per_value.dtype)
        per_frame = (per_value * weights).sum(dim=-1) / weights.sum().clamp_min(torch.finfo(per_value.dtype).tiny)
    return masked_mean(per_frame, mask)


def velocity_loss(prediction: torch.Tensor, target: torch.Tensor, *, mask: torch.Tensor | None = None,
                  channel_weights: torch.Tensor | None = None, vertex_weights: torch.Tensor | None = None,
                  kind: Distance = "l2") -> torch.Tensor:  # fmt: skip
    """Reconstruction error of the frame-to-frame differences (motion velocity, per frame).

    Args:
        prediction: predicted motion, shape (B, T, D), T >= 2.
        target: ground truth, shape (B, T, D).
        mask: frame mask (B, T); a difference counts when both of its frames are real.
        channel_weights: per-channel weights (D,).
        vertex_weights: per-vertex weights (V,) for vertex motion.
        kind: "l1" or "l2".
    """
    pair_mask = None if mask is None else mask[:, 1:] * mask[:, :-1]  # (B, T-1)
    return reconstruction_loss(prediction.diff(dim=1), target.diff(dim=1), mask=pair_mask, channel_weights=channel_weights,
                               vertex_weights=vertex_weights, kind=kind)  # fmt: skip


def _pair_distances(vertices: torch.Tensor, pairs: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Euclidean distances between landmark pairs, shape (B, T, P) from vertices (B, T, 3V)."""
    points = vertices.reshape(*vertices.shape[:-1], -1, XYZ)  # (B, T, V, 3)
    first = torch.tensor([a for a, _ in pairs], device=vertices.device)
    second = torch.tensor([b for _, b in pairs], device=vertices.device)
    return (points[..., first, :] - points[..., second, :]).norm(dim=-1)  # (B, T, P)


def mouth_shape_loss(prediction: torch.Tensor, target: torch.Tensor, *, height_pairs: Sequence[tuple[int, int]],
                     width_pairs: Sequence[tuple[int, int]], mask: torch.Tensor | None = None,
                     height_weight: float = 1.0, width_weight: float = 1.0) -> torch.Tensor:  # fmt: skip
    """Paper 002's mouth-shape loss: L1 between predicted and true mouth heights and widths.

    The mouth's height is the distance between a top and a bottom lip vertex, its width the distance
    between the leftmost and rightmost mouth vertices (paper 002, section 3, "Mouth shape loss");
    several pairs of each may be given and their errors are averaged.

    Args:
        prediction: predicted vertex motion, shape (B, T, 3V).
        target: true vertex motion, shape (B, T, 3V).
        height_pairs: (top, bottom) vertex index pairs.
        width_pairs: (left, right) vertex index pairs.
        mask: frame mask (B, T).
        height_weight: weight of the height error (paper 002's d₂ = 1 / 0.017 m).
        width_weight: weight of the width error (paper 002's d₁ = 1 / 0.0476 m).
    """
    if not height_pairs or not width_pairs:
        raise ValueError("mouth_shape_loss needs at least one height pair and one width pair")
    pairs = [*height_pairs, *width_pairs]
    error = (_pair_distances(prediction, pairs) - _pair_distances(target, pairs)).abs()  # (B, T, P)
    height, width = error[..., : len(height_pairs)].mean(dim=-1), error[..., len(height_pairs) :].mean(dim=-1)  # (B, T)
    per_frame = 0.5 * (height_weight * height + width_weight * width)  # (B, T)
    return masked_mean(per_frame, mask)


def frame_norm_loss(prediction: torch.Tensor, target: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Paper 001's ℓ2 term (Eq. 4): Σ_t ‖Ŝ_t − S_t‖₂ over a clip's real frames, averaged over clips.

    The norm is of each frame's whole error vector (all D channels), not squared, and frames are
    summed, not averaged, as Eq. 4 writes it; so the balance against a regularizer weight such as
    paper 001's β depends on the window length and the data's units.

    Args:
        prediction: predicted motion, shape (B, T, D).
        target: ground truth, shape (B, T, D).
        mask: frame mask (B, T).
    """
    per_frame = (prediction - target).norm(dim=-1)  # (B, T)
    if mask is not None:
        per_frame = per_frame * mask.to(per_frame.dtype)
    return per_frame.sum(dim=1).mean()


def sparsity_loss(weights: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
    """L1 sparsity: the mean absolute value of `weights` (B, T, K) over real frames."""
    return masked_mean(weights.abs().mean(dim=-1), mask)


def cross_entropy_loss(logits: torch.Tensor, labels: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of class logits.

    Args:
        logits: (B, K) per clip or (B, T, K) per frame.
        labels: class indices (B,) or (B, T), or class probabilities of the logits' shape.
        mask: frame mask (B, T) for per-frame logits.
    """
    if labels.shape == logits.shape:  # soft targets, e.g. per-frame emotion mixtures
        per_item = -(labels.to(logits.dtype) * F.log_softmax(logits, dim=-1)).sum(dim=-1)
    else:
        per_item = F.cross_entropy(logits.movedim(-1, 1), labels.long(), reduction="none")  # (B,) or (B, T)
    return masked_mean(per_item, mask)


def lsgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """LSGAN generator term: mean (D(fake) - 1)², pulling the discriminator's scores of fakes to 1."""
    return (fake_scores - 1.0).square().mean()


def lsgan_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """LSGAN discriminator term: ½ mean (D(real) - 1)² + ½ mean D(fake)²."""
    return 0.5 * ((real_scores - 1.0).square().mean() + fake_scores.square().mean())
