"""Checkpoint round trip: weights, optimizer, random states and training state come back exactly."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from facetalk.errors import InvalidInputError
from facetalk.models import build_model
from facetalk.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint

BATCH = {"features": torch.linspace(-1, 1, 48).reshape(2, 6, 4), "subject": torch.tensor([0, 1]), "mask": torch.ones(2, 6)}


def _step(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    loss = model(BATCH).motion.square().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def test_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("conv_baseline_tiny", feature_dim=4, num_subjects=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    _step(model, optimizer)
    assert latest_checkpoint(tmp_path) is None
    save_checkpoint(tmp_path, step=1, model=model, optimizers={"model": optimizer}, state={"epoch": 3})
    _step(model, optimizer)
    save_checkpoint(tmp_path, step=2, model=model, optimizers={"model": optimizer}, state={"epoch": 4})
    expected = (torch.rand(3), np.random.rand(3), random.random())
    _step(model, optimizer)  # one more step from the saved state

    torch.manual_seed(123)
    other = build_model("conv_baseline_tiny", feature_dim=4, num_subjects=2)
    other_optimizer = torch.optim.AdamW(other.parameters(), lr=1e-2)
    latest = latest_checkpoint(tmp_path)
    assert latest is not None and latest.name == "step-00000002"
    assert [p.name for p in (tmp_path / "checkpoints").glob("step-*")] == ["step-00000002"]
    state = load_checkpoint(latest, model=other, optimizers={"model": other_optimizer})
    assert state["epoch"] == 4 and state["step"] == 2
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]
    _step(other, other_optimizer)  # the same step from the restored state: Adam moments must match
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, other.state_dict()[name]), name


def test_incomplete_checkpoint_is_a_user_error(tmp_path: Path) -> None:
    model = build_model("conv_baseline_tiny", feature_dim=4, num_subjects=2)
    with pytest.raises(InvalidInputError, match="incomplete checkpoint"):
        load_checkpoint(tmp_path, model=model, optimizers={"model": torch.optim.AdamW(model.parameters())})
