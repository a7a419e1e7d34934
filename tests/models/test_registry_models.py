"""Every registered model: shapes, finite output, seeded determinism, save/load, generate, and typed options.

Models zero-initialise their output layers (an untrained model outputs the template), which would make
every comparison below compare zeros with zeros; so each model gets fixed random weights first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import facetalk
import facetalk.models.inputs
from facetalk.data.collate import Batch
from facetalk.errors import InvalidInputError
from facetalk.models import MODELS, Animator, Conditions, build_model, load_model, save_model
from facetalk.models.base import model_config

FEATURE_DIM = 8
B, T = 2, 12


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    style = torch.rand(B, 20, 52, generator=generator)
    return {"features": torch.randn(B, T, FEATURE_DIM, generator=generator), "subject": torch.tensor([0, -1]),
            "mask": torch.ones(B, T), "lengths": torch.full((B,), T), "motion": torch.rand(B, T, 52, generator=generator),
            "style": style, "style_mask": torch.ones(B, 20)}  # fmt: skip


def _randomize(model: torch.nn.Module, seed: int = 7) -> None:
    """Fixed random weights in every parameter, so that no output is zero by construction."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(0.2 * torch.randn(param.shape, generator=generator))


def _model(name: str, seed: int = 0) -> Animator:
    torch.manual_seed(seed)
    model = build_model(name, feature_dim=FEATURE_DIM, num_subjects=3)
    _randomize(model)
    return model.eval()


@pytest.mark.parametrize("name", MODELS.names())
def test_forward_shapes_finite_and_deterministic(name: str) -> None:
    out = _model(name)(_batch()).motion
    assert out.shape == (B, T, 52) and torch.isfinite(out).all()
    assert out.abs().max() > 1e-3  # not a zero output layer
    assert torch.equal(out, _model(name)(_batch()).motion)
    assert not torch.equal(out[0], out[1])  # the two clips differ, so the output depends on the input


@pytest.mark.parametrize("name", MODELS.names())
def test_save_load_round_trip_and_generate(name: str, tmp_path: Path, clip_batch: Callable[..., Batch]) -> None:
    model = _model(name)
    save_model(model, tmp_path)
    loaded = facetalk.load_model(tmp_path)
    assert torch.equal(loaded(_batch()).motion, model(_batch()).motion)
    features = np.random.default_rng(0).standard_normal((30, FEATURE_DIM)).astype(np.float32)
    conditions = Conditions(subject=1, style=np.full((20, 52), 0.2, dtype=np.float32))
    motion = loaded.generate(clip_batch(loaded, features, conditions))
    assert motion.data.shape == (30, 52) and motion.kind == "blendshapes" and motion.fps == 30.0
    assert motion.data.min() >= 0.0 and motion.data.max() <= 1.0 and motion.data.std() > 0


def test_conv_baseline_regression_value() -> None:
    out = _model("conv_baseline_tiny")(_batch()).motion
    assert out.sum().item() == pytest.approx(REGRESSION_SUM, rel=1e-4)


REGRESSION_SUM = -229.29443359375  # torch 2.13 CPU, seed 0, weights from _randomize(seed=7)


def test_load_model_errors_name_the_directory(tmp_path: Path) -> None:
    with pytest.raises(facetalk.errors.InvalidInputError, match="not a saved model"):
        load_model(tmp_path)


def test_list_models() -> None:
    assert "conv_baseline" in facetalk.list_models()


def test_options_are_typed_and_checked() -> None:
    assert model_config("composite_regional_small", {}).embed_dim == 128  # a preset is the same model with other defaults
    assert model_config("composite_regional", {"embed_dim": 32}).embed_dim == 32
    with pytest.raises(InvalidInputError, match=r"model conv_baseline: unknown option 'widht' \(options: width, "):
        model_config("conv_baseline", {"widht": 32})
    with pytest.raises(InvalidInputError, match=r"model conv_baseline: .*'wide'"):
        model_config("conv_baseline", {"width": "wide"})


def test_training_only_modules_stay_out_of_inference_saves(tmp_path: Path) -> None:
    model = _model("conv_baseline_adversarial_tiny")
    assert any(name.startswith("discriminator.") for name in model.state_dict())
    save_model(model, tmp_path / "best", inference=True)
    from safetensors.torch import load_file

    assert not any(name.startswith("discriminator.") for name in load_file(str(tmp_path / "best" / "model.safetensors")))
    loaded = load_model(tmp_path / "best")
    assert torch.equal(loaded(_batch()).motion, model(_batch()).motion)


def test_half_precision_save_keeps_metadata_and_float32_buffers(tmp_path: Path) -> None:
    model = _model("conv_baseline_tiny")
    model.metadata = {"features": {"encoder": "mel", "options": {"n_mels": 8}}, "subjects": ["a", "b", "c"]}
    save_model(model, tmp_path / "half", half=True)
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / "half" / "model.safetensors"))
    assert stored["head.weight"].dtype == torch.float16 and stored["norm.mean"].dtype == torch.float32
    loaded = load_model(tmp_path / "half")
    assert loaded.metadata == model.metadata and loaded.head.weight.dtype == torch.float32
    assert torch.allclose(loaded(_batch()).motion, model(_batch()).motion, atol=5e-2)


def test_conv_baseline_conditions_change_the_output(clip_batch: Callable[..., Batch]) -> None:
    """Speaker, emotion, text and phones each reach the output through the pipeline's batch."""
    torch.manual_seed(0)
    model = build_model("conv_baseline_tiny", feature_dim=FEATURE_DIM, num_subjects=3, text_dim=4, text=True, phones=True)
    _randomize(model)
    model.eval()
    features = np.random.default_rng(0).standard_normal((20, FEATURE_DIM)).astype(np.float32)
    anger = np.zeros((20, 7), np.float32)
    anger[:, 6] = 1.0
    batch = clip_batch(model, features, Conditions(subject=0), inputs=facetalk.models.inputs.InputSpec(emotion=True))
    batch["text"], batch["phone_ids"] = torch.zeros(1, 20, 4), torch.full((1, 20), 2)
    base = model(batch).motion

    def changed(**replace: torch.Tensor) -> bool:
        return not torch.allclose(model({**batch, **replace}).motion, base)

    assert changed(subject=torch.tensor([1]))
    assert changed(emotion=torch.from_numpy(anger)[None], emotion_mask=torch.ones(1, 20))
    assert changed(text=torch.ones(1, 20, 4))
    assert changed(phone_ids=torch.full((1, 20), 5))
