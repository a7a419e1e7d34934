"""A tiny synthetic corpus under a session cache, shared by the training tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

DEBUG_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "conv_baseline" / "debug.yaml"
# 6 clips (5 to train on, 1 to validate), a small model, no progress bar: each run takes a second or two
FAST = ["data.synth.max_clips=6", "data.holdout_clips=1", "data.batch_size=4", "model.options.width=16",
        "train.progress=false", "train.num_threads=1"]  # fmt: skip


@pytest.fixture(scope="session")
def debug_config() -> Path:
    return DEBUG_CONFIG


@pytest.fixture(scope="session")
def fast() -> list[str]:
    """Overrides of the debug config for second-long test runs."""
    return list(FAST)


@pytest.fixture(scope="session")
def train_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """FACETALK_CACHE for the session, with the debug corpus and its features built once."""
    cache = tmp_path_factory.mktemp("cache")
    before = os.environ.get("FACETALK_CACHE")
    os.environ["FACETALK_CACHE"] = str(cache)
    from facetalk.config import load_config
    from facetalk.train.distributed import DistInfo
    from facetalk.train.recipe import build_recipe

    build_recipe(load_config(DEBUG_CONFIG, FAST), DistInfo(), cache)
    yield cache
    if before is None:
        del os.environ["FACETALK_CACHE"]
    else:
        os.environ["FACETALK_CACHE"] = before
