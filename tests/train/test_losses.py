"""Losses against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from facetalk.train import losses


def test_reconstruction_l1_l2_with_frame_mask() -> None:
    prediction = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # (1, 3, 2); frame 2 is padding
    target = torch.zeros(1, 3, 2)
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    # L1: frames' means are 1.5 and 3.5 -> 2.5; L2: (1 + 4) / 2 = 2.5 and (9 + 16) / 2 = 12.5 -> 7.5
    assert losses.reconstruction_loss(prediction, target, mask=mask, kind="l1").item() == pytest.approx(2.5)
    assert losses.reconstruction_loss(prediction, target, mask=mask, kind="l2").item() == pytest.approx(7.5)


def test_reconstruction_channel_and_vertex_weights() -> None:
    prediction = torch.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]])  # one frame, two vertices
    target = torch.zeros(1, 1, 6)
    # vertex mask (0, 1): only the second vertex's |4| + |5| + |6| over 3 channels = 5
    assert losses.reconstruction_loss(prediction, target, vertex_weights=torch.tensor([0.0, 1.0]), kind="l1").item() == 5.0
    weights = torch.tensor([3.0, 1.0, 0.0, 0.0, 0.0, 0.0])  # (3·1 + 1·2) / 4 = 1.25
    assert losses.reconstruction_loss(prediction, target, channel_weights=weights, kind="l1").item() == 1.25
    with pytest.raises(ValueError):
        losses.reconstruction_loss(prediction, target, vertex_weights=torch.ones(3))


def test_velocity_loss_ignores_pairs_touching_padding() -> None:
    prediction = torch.tensor([[[0.0], [2.0], [3.0], [50.0]]])  # velocities 2, 1, 47
    target = torch.tensor([[[0.0], [1.0], [1.0], [0.0]]])  # velocities 1, 0, -1
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    # differences of velocities: 1, 1 (the third pair touches padding) -> L2 mean 1
    assert losses.velocity_loss(prediction, target, mask=mask).item() == pytest.approx(1.0)
    assert losses.velocity_loss(prediction, target, kind="l1").item() == pytest.approx((1 + 1 + 48) / 3)


def test_mouth_shape_loss() -> None:
    # vertices: 0 top, 1 bottom, 2 left, 3 right
    target = torch.tensor([[0, 1, 0], [0, -1, 0], [-2, 0, 0], [2, 0, 0]], dtype=torch.float32).reshape(1, 1, 12)
    prediction = torch.tensor([[0, 2, 0], [0, -1, 0], [-1, 0, 0], [1, 0, 0]], dtype=torch.float32).reshape(1, 1, 12)
    # height 3 vs 2 -> 1; width 2 vs 4 -> 2; mean of the two terms = 1.5
    value = losses.mouth_shape_loss(prediction, target, height_pairs=[(0, 1)], width_pairs=[(2, 3)])
    assert value.item() == pytest.approx(1.5)


def test_sparsity_cross_entropy_and_lsgan() -> None:
    weights = torch.tensor([[[0.5, -0.5], [1.0, 0.0]]])
    assert losses.sparsity_loss(weights, mask=torch.tensor([[1.0, 0.0]])).item() == pytest.approx(0.5)
    logits = torch.tensor([[0.0, math.log(3.0)]])  # softmax = (1/4, 3/4)
    assert losses.cross_entropy_loss(logits, torch.tensor([1])).item() == pytest.approx(-math.log(0.75))
    soft = torch.tensor([[0.5, 0.5]])
    assert losses.cross_entropy_loss(logits, soft).item() == pytest.approx(-0.5 * (math.log(0.25) + math.log(0.75)))
    assert losses.lsgan_generator_loss(torch.tensor([0.0, 1.0])).item() == pytest.approx(0.5)
    discriminator = losses.lsgan_discriminator_loss(torch.tensor([1.0, 0.0]), torch.tensor([1.0]))
    assert discriminator.item() == pytest.approx(0.5 * (0.5 + 1.0))


def test_losses_have_gradients() -> None:
    prediction = torch.zeros(2, 4, 6, requires_grad=True)
    total = losses.reconstruction_loss(prediction, torch.ones(2, 4, 6)) + losses.velocity_loss(prediction, torch.ones(2, 4, 6))
    total.backward()  # type: ignore[no-untyped-call]
    assert prediction.grad is not None and torch.isfinite(prediction.grad).all()


def test_frame_norm_loss_sums_frames_and_averages_clips() -> None:
    prediction = torch.tensor([[[3.0, 4.0], [0.0, 1.0], [9.0, 9.0]], [[6.0, 8.0], [0.0, 0.0], [0.0, 0.0]]])  # (2, 3, 2)
    target = torch.zeros(2, 3, 2)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    # clip 0: ‖(3, 4)‖ + ‖(0, 1)‖ = 5 + 1 = 6 (frame 2 is padding); clip 1: ‖(6, 8)‖ = 10; mean 8
    assert losses.frame_norm_loss(prediction, target, mask=mask).item() == pytest.approx(8.0)
