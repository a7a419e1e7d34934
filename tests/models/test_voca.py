"""VOCA: shapes, each frame from its window only, the speaker one-hot, the template, overfitting."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from facetalk.data.collate import Batch
from facetalk.models import Animator, build_model
from facetalk.models.modules.conditioning import subject_one_hot

C, D, T, SUBJECTS = 8, 15, 24, 3
WINDOW = 8  # voca_tiny's


RandomModel = Callable[..., Animator]


def _batch(seed: int = 1) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    return {"features": torch.randn(2, T, C, generator=generator), "subject": torch.tensor([0, 2]), "mask": torch.ones(2, T),
            "template": torch.randn(2, D, generator=generator)}  # fmt: skip


def test_shapes_and_the_untrained_model_outputs_the_template(random_vertex_model: RandomModel) -> None:
    batch = _batch()
    assert random_vertex_model("voca_tiny")(batch).motion.shape == (2, T, D)
    untrained = build_model("voca_tiny", feature_dim=C, motion_dim=D, num_subjects=SUBJECTS, kind="vertices")
    assert torch.equal(untrained(batch).motion, batch["template"][:, None, :].expand(-1, T, -1))


def test_each_frame_reads_only_its_window(random_vertex_model: RandomModel) -> None:
    """Frame t reads speech frames t - W/2 ... t + W/2 - 1: a change at frame 10 reaches frames 7 to 14 only."""
    model, batch = random_vertex_model("voca_tiny"), _batch()
    changed = {**batch, "features": batch["features"].clone()}
    changed["features"][:, 10] += 3.0
    moved = (model(batch).motion - model(changed).motion).abs().amax(dim=(0, 2)) > 0  # (T,)
    assert moved.nonzero().flatten().tolist() == list(range(10 - WINDOW // 2 + 1, 10 + WINDOW // 2 + 1))


def test_projected_input_reads_the_features_through_input_dim(random_vertex_model: RandomModel) -> None:
    model = random_vertex_model("voca_tiny", input_dim=5)
    assert model.projection is not None and model.projection.out_features == 5
    assert model(_batch()).motion.shape == (2, T, D)


def test_speaker_one_hot_changes_the_output_and_an_unseen_speaker_is_the_average(
    random_vertex_model: RandomModel,
) -> None:
    model, batch = random_vertex_model("voca_tiny"), _batch()
    other = model({**batch, "subject": torch.tensor([1, 2])}).motion
    assert not torch.allclose(other[0], model(batch).motion[0]) and torch.equal(other[1], model(batch).motion[1])
    assert torch.allclose(subject_one_hot(torch.tensor([1, -1, 7]), 4),
                          torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.25] * 4, [0.25] * 4]))  # fmt: skip


def test_overfits_one_clip_with_position_and_velocity_losses() -> None:
    torch.manual_seed(0)
    model = build_model("voca_tiny", feature_dim=C, motion_dim=D, num_subjects=1, kind="vertices")
    generator = torch.Generator().manual_seed(3)
    target = torch.sin(torch.arange(T, dtype=torch.float32)[:, None] / 3.0 + torch.arange(D)[None, :]) * 0.5
    batch = {"features": torch.randn(1, T, C, generator=generator), "subject": torch.tensor([0]), "mask": torch.ones(1, T),
             "template": torch.zeros(1, D)}  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(200):
        motion = model(batch).motion[0]
        velocity = (motion.diff(dim=0) - target.diff(dim=0)).square().mean()
        loss = (motion - target).square().mean() + 10.0 * velocity  # the paper's weights
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]


def test_subject_names_a_training_speaker() -> None:
    from facetalk.animate import subject_index
    from facetalk.errors import InvalidInputError

    assert subject_index(["spk00", "spk03"], "spk03", "m") == 1 and subject_index(["spk00"], None, "m") == -1
    with pytest.raises(InvalidInputError, match=r"m: no training speaker 'bob' \(the model's speakers: spk00\)"):
        subject_index(["spk00"], "bob", "m")
