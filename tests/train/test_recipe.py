"""Wiring from a config: sizes passed to the model, vertex targets, config errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facetalk.config import load_config
from facetalk.data.collate import collate
from facetalk.errors import InvalidInputError
from facetalk.train.distributed import DistInfo
from facetalk.train.recipe import build_recipe


def test_vertex_target_recipe(train_cache: Path, debug_config: Path, fast: list[str]) -> None:
    config = load_config(debug_config, [*fast, "data.target=vertices", "data.max_clips=3",
                                        "data.holdout_clips=1"])  # fmt: skip
    recipe = build_recipe(config, DistInfo(), train_cache)
    batch = collate([recipe.train_set[0], recipe.train_set[1]])
    vertices = batch["motion"].shape[-1]
    # conv_baseline declares emotion and not the template: the batch has exactly what the model reads
    assert vertices % 3 == 0 and "template" not in batch and batch["emotion"].shape[-1] == 7
    assert "text" not in batch and "phone_ids" not in batch and "style" not in batch
    output = recipe.model(batch)
    assert output.motion.shape == batch["motion"].shape and recipe.model.kind == "vertices"
    total, terms = recipe.objective(output, batch)
    assert set(terms) == {"reconstruction", "velocity"} and total.item() > 0


def test_unknown_loss_term_and_missing_root(train_cache: Path, debug_config: Path, fast: list[str]) -> None:
    with pytest.raises(InvalidInputError, match="unknown loss term 'lip'"):
        build_recipe(load_config(debug_config, [*fast, "loss.lip=1.0"]), DistInfo(), train_cache)
    with pytest.raises(InvalidInputError, match=r"data\.root is empty"):
        build_recipe(load_config(debug_config, [*fast, "data.synth.build=false"]), DistInfo(), train_cache)


def test_adapter_options_reach_the_dataset(train_cache: Path, debug_config: Path, fast: list[str]) -> None:
    config = load_config(debug_config, [*fast, "data.max_clips=3", "data.holdout_clips=1", "data.options.on_bad=stop"])
    assert len(build_recipe(config, DistInfo(), train_cache).train_set) > 0
    with pytest.raises(InvalidInputError, match="has no option 'no_such_option'"):  # when the config loads
        load_config(debug_config, [*fast, "data.max_clips=3", "data.options.no_such_option=1"])


def test_composite_regional_debug_run_learns(train_cache: Path, tmp_path: Path) -> None:
    """Paper 001's model through the whole loop: vertices of the shared tiny corpus, Eq. 4 + β‖W‖₁."""
    from facetalk.models.base import load_model
    from facetalk.train.loop import train

    config = Path(__file__).resolve().parents[2] / "configs" / "composite_regional" / "debug.yaml"
    overrides = ["data.synth.max_clips=6", "data.holdout_clips=1", "data.batch_size=4", "train.max_steps=60",
                 "train.val_every=30", "train.progress=false", "train.num_threads=1", "train.tensorboard=false"]  # fmt: skip
    result = train(config, tmp_path / "run", overrides=overrides)
    losses = [float(line.split(",")[3]) for line in (tmp_path / "run" / "train.csv").read_text().splitlines()[1:]]
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])
    assert set(result.val_losses) == {0, 30, 60}  # 5 training clips: the one held-out clip is noise, not a target
    model = load_model(tmp_path / "run" / "best")
    assert model.metadata["features"]["encoder"] == "mel" and model.kind == "vertices"
    assert float(model.template_mean.abs().max()) > 0.01  # fitted to the training speakers' faces (metres)
