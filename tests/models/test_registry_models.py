"""Every registered model: shapes, finite output, seeded determinism, a regression value, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import facetalk
from facetalk.models import MODELS, Conditions, build_model, load_model, save_model

FEATURE_DIM = 8
B, T = 2, 12


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    # "motion" is the target; models that take a style reference use it as one in training
    return {"features": torch.randn(B, T, FEATURE_DIM, generator=generator), "subject": torch.tensor([0, -1]),
            "mask": torch.ones(B, T), "motion": torch.rand(B, T, 52, generator=generator)}  # fmt: skip


def _model(name: str, seed: int = 0) -> facetalk.models.Animator:  # type: ignore[name-defined]
    torch.manual_seed(seed)
    return build_model(name, feature_dim=FEATURE_DIM, num_subjects=3).eval()


@pytest.mark.parametrize("name", MODELS.names())
def test_forward_shapes_finite_and_deterministic(name: str) -> None:
    out = _model(name)(_batch()).motion
    assert out.shape == (B, T, 52) and torch.isfinite(out).all()
    assert torch.equal(out, _model(name)(_batch()).motion)


@pytest.mark.parametrize("name", MODELS.names())
def test_save_load_round_trip_and_generate(name: str, tmp_path: Path) -> None:
    model = _model(name)
    save_model(model, tmp_path)
    loaded = facetalk.load_model(tmp_path)
    assert torch.equal(loaded(_batch()).motion, model(_batch()).motion)
    motion = loaded.generate(
        np.zeros((30, FEATURE_DIM), dtype=np.float32), Conditions(subject=1, style=np.full((20, 52), 0.2, dtype=np.float32))
    )
    assert motion.data.shape == (30, 52) and motion.kind == "blendshapes" and motion.fps == 30.0
    assert motion.data.min() >= 0.0 and motion.data.max() <= 1.0


def test_conv_baseline_regression_value() -> None:
    out = _model("conv_baseline_tiny")(_batch()).motion
    assert out.sum().item() == pytest.approx(REGRESSION_SUM, abs=1e-3)


def test_load_model_errors_name_the_directory(tmp_path: Path) -> None:
    with pytest.raises(facetalk.errors.InvalidInputError, match="not a saved model"):
        load_model(tmp_path)


def test_list_models() -> None:
    assert "conv_baseline" in facetalk.list_models()


REGRESSION_SUM = -33.399696350097656  # torch 2.13 CPU, seed 0


def test_half_precision_save_keeps_metadata_and_float32_buffers(tmp_path: Path) -> None:
    model = _model("conv_baseline_tiny")
    model.metadata = {"features": {"encoder": "mel", "options": {"n_mels": 8}}, "subjects": ["a", "b", "c"]}
    save_model(model, tmp_path / "half", half=True)
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / "half" / "model.safetensors"))
    assert stored["head.weight"].dtype == torch.float16 and stored["encoder.norm.mean"].dtype == torch.float32
    loaded = load_model(tmp_path / "half")
    assert loaded.metadata == model.metadata and loaded.head.weight.dtype == torch.float32
    assert torch.allclose(loaded(_batch()).motion, model(_batch()).motion, atol=1e-2)
