"""Wiring from a config: sizes passed to the model, vertex targets, config errors."""

from __future__ import annotations

from pathlib import Path

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
    assert vertices % 3 == 0 and batch["template"].shape == (2, vertices) and batch["emotion"].shape[-1] == 7
    output = recipe.model(batch)
    assert output.motion.shape == batch["motion"].shape and recipe.model.kind == "vertices"
    total, terms = recipe.loss(output, batch)
    assert set(terms) == {"reconstruction", "velocity"} and total.item() > 0


def test_unknown_loss_term_and_missing_root(train_cache: Path, debug_config: Path, fast: list[str]) -> None:
    with pytest.raises(InvalidInputError, match="unknown loss term 'lip'"):
        build_recipe(load_config(debug_config, [*fast, "loss.lip=1.0"]), DistInfo(), train_cache)
    with pytest.raises(InvalidInputError, match=r"data\.root is empty"):
        build_recipe(load_config(debug_config, [*fast, "data.synth.build=false"]), DistInfo(), train_cache)


def test_adapter_options_reach_the_dataset(train_cache: Path, debug_config: Path, fast: list[str]) -> None:
    config = load_config(debug_config, [*fast, "data.max_clips=3", "data.holdout_clips=1", "data.options.on_bad=stop"])
    assert len(build_recipe(config, DistInfo(), train_cache).train_set) > 0
    bad = load_config(debug_config, [*fast, "data.max_clips=3", "data.options.no_such_option=1"])
    with pytest.raises(InvalidInputError, match="has no option 'no_such_option'"):
        build_recipe(bad, DistInfo(), train_cache)
