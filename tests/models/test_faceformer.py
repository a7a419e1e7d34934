"""FaceFormer: the biases by hand, causality, the key/value cache against recomputation, conditions, overfitting."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from facetalk.data.collate import Batch
from facetalk.models import Animator, Conditions, build_model
from facetalk.models.faceformer import (
    PeriodicPositionalEncoding,
    alibi_slopes,
    alignment_bias,
    biased_causal_bias,
)

C, D, T, SUBJECTS = 8, 15, 24, 3


RandomModel = Callable[..., Animator]


def _batch(seed: int = 1, frames: int = T) -> Batch:
    generator = torch.Generator().manual_seed(seed)
    return {"features": torch.randn(2, frames, C, generator=generator), "subject": torch.tensor([0, 2]),
            "mask": torch.ones(2, frames), "motion": 0.1 * torch.randn(2, frames, D, generator=generator),
            "template": torch.randn(2, D, generator=generator)}  # fmt: skip


def test_alibi_slopes_are_the_geometric_sequence() -> None:
    assert torch.allclose(alibi_slopes(4), torch.tensor([2**-2, 2**-4, 2**-6, 2**-8]))
    assert torch.allclose(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    # 6 heads: the 4-head slopes, then every other 8-head slope
    assert torch.allclose(alibi_slopes(6), torch.tensor([2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]))


def test_biased_causal_bias_by_hand() -> None:
    bias = biased_causal_bias(5, torch.tensor([0.5]), period=2)[0]
    inf = math.inf
    expected = torch.tensor([[0.0, -inf, -inf, -inf, -inf],
                             [0.0, 0.0, -inf, -inf, -inf],
                             [-0.5, 0.0, 0.0, -inf, -inf],
                             [-0.5, -0.5, 0.0, 0.0, -inf],
                             [-1.0, -0.5, -0.5, 0.0, 0.0]])  # fmt: skip
    assert torch.equal(bias, expected)


def test_alignment_bias_is_the_diagonal_at_the_motion_rate_and_pairs_at_twice_it() -> None:
    assert torch.equal(alignment_bias(4, 4) == 0, torch.eye(4, dtype=torch.bool))
    pairs = alignment_bias(3, 6) == 0
    assert pairs.tolist() == [[True, True, False, False, False, False], [False, False, True, True, False, False],
                              [False, False, False, False, True, True]]  # fmt: skip
    assert ((alignment_bias(4, 3) == 0).sum(dim=1) >= 1).all()  # fewer speech frames: every frame still sees one


def test_periodic_positional_encoding_repeats_every_period() -> None:
    encoding = PeriodicPositionalEncoding(8, period=5, dropout=0.0)
    out = encoding(torch.zeros(1, 12, 8))[0]
    assert torch.equal(out[0], out[5]) and torch.equal(out[3], out[8]) and not torch.equal(out[0], out[1])
    assert torch.equal(encoding(torch.zeros(1, 2, 8), start=5)[0], out[5:7])


def test_shapes_in_training_and_generation(random_vertex_model: RandomModel) -> None:
    model = random_vertex_model("faceformer_tiny")
    assert model.train()(_batch()).motion.shape == (2, T, D)
    assert model.eval()(_batch()).motion.shape == (2, T, D)


@pytest.mark.parametrize("mode", ["teacher_forced", "autoregressive"])
def test_causal_frame_t_ignores_frame_t_plus_one(mode: str, random_vertex_model: RandomModel) -> None:
    """Changing the speech (and the target motion) from frame t + 1 on leaves the output up to frame t unchanged."""
    model = random_vertex_model("faceformer_tiny", dropout=0.0)
    model.train(mode == "teacher_forced")
    batch = _batch()
    t = 10
    changed = dict(batch)
    changed["features"] = batch["features"].clone()
    changed["features"][:, t + 1 :] += 5.0
    changed["motion"] = batch["motion"].clone()
    changed["motion"][:, t:] += 1.0  # frame t's motion is frame t + 1's input
    before, after = model(batch).motion, model(changed).motion
    assert torch.equal(before[:, : t + 1], after[:, : t + 1])
    assert not torch.allclose(before[:, t + 1 :], after[:, t + 1 :])


def test_cached_generation_equals_recomputation_and_teacher_forcing_on_its_own_output(
    random_vertex_model: RandomModel,
) -> None:
    model = random_vertex_model("faceformer_tiny", dropout=0.0)
    batch = _batch()
    cached = model.eval()(batch).motion  # one frame at a time with the key/value cache
    model.train()
    model.teacher_forcing = False
    recomputed = model(batch).motion  # one frame at a time, the whole prefix every frame
    model.teacher_forcing = True
    forced = model({**batch, "motion": cached}).motion  # one pass fed the generated frames
    assert torch.allclose(cached, recomputed, atol=1e-5) and torch.allclose(cached, forced, atol=1e-5)


def test_generate_takes_the_chosen_training_speakers_style(clip_batch: Callable[..., Batch],
                                                           random_vertex_model: RandomModel) -> None:  # fmt: skip
    model = random_vertex_model("faceformer_tiny")
    features = np.random.default_rng(0).standard_normal((T, C)).astype(np.float32)
    template = np.zeros(D, np.float32)
    motions = [model.generate(clip_batch(model, features, Conditions(subject=s, template=template))).data for s in (0, 1, -1)]
    assert motions[0].shape == (T, D) and not np.allclose(motions[0], motions[1])
    # an unseen speaker: the mean of the training speakers' style embeddings
    assert torch.allclose(model.style(torch.full((1, SUBJECTS), 1 / SUBJECTS)), model.style.weight.mean(dim=1)[None])
    assert not np.allclose(motions[2], motions[0])


def test_overfits_one_clip_and_generates_it() -> None:
    torch.manual_seed(0)
    model = build_model("faceformer_tiny", feature_dim=C, motion_dim=D, num_subjects=1, kind="vertices", own_predictions=0.5)
    generator = torch.Generator().manual_seed(3)
    frames = torch.arange(T, dtype=torch.float32)[:, None]
    target = torch.sin(frames / 3.0 + torch.arange(D)[None, :]) * 0.5  # (T, D)
    batch = {"features": torch.randn(1, T, C, generator=generator), "subject": torch.tensor([0]), "mask": torch.ones(1, T),
             "motion": target[None], "template": torch.zeros(1, D)}  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def generated_error() -> float:
        with torch.no_grad():
            return float((model.eval()(batch).motion - target).square().mean())

    first = generated_error()
    model.train()
    for _ in range(150):
        loss = (model(batch).motion - target).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert generated_error() < 0.1 * first
