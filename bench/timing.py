"""Timing helpers shared by the benchmark scripts: best-of-N wall time, speech tiled to a length, and a
trained model's inputs for a waveform (what `facetalk animate` builds), so that every script times models
the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from facetalk.animate import model_inputs as animate_model_inputs
from facetalk.data.collate import Batch
from facetalk.models.base import Animator
from facetalk.types import Waveform

REPEATS = 3


def best_of(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """The fastest of `repeats` runs after one warm-up run, in seconds."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def tiled(waveform: Waveform, seconds: float) -> Waveform:
    """`waveform` repeated (or cut) to `seconds`."""
    samples = np.resize(waveform.samples, round(seconds * waveform.sample_rate))
    return Waveform(samples.astype(np.float32), waveform.sample_rate)


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def model_inputs(model: Animator, directory: Path, waveform: Waveform) -> Callable[[], Batch]:
    """A function that builds `model`'s inference batch for `waveform` from scratch (speech encoding and text
    features included) as `facetalk animate` does (`facetalk.animate.model_inputs`: the default face, the
    style reference shipped in `directory`). The speech encoder is loaded, and the speech of a model that
    reads text or phones transcribed and aligned, once, before timing."""
    from facetalk.text.align import align

    alignment = align(waveform, None) if model.inputs.needs_alignment else None
    pipeline, clip, conditions = animate_model_inputs(waveform, model, directory, alignment=alignment)

    def build() -> Batch:
        fresh = pipeline.clip(clip_id="bench", waveform=waveform, fps=model.fps, num_frames=clip.num_frames,
                              alignment=alignment, template=clip.template)  # fmt: skip
        return pipeline.batch(fresh, conditions)

    return build


def model_speed(model: Animator, directory: Path, waveform: Waveform, *,
                end_to_end: bool = True) -> tuple[float, float | None]:  # fmt: skip
    """Seconds of compute per second of animation of `model` on `waveform`: the model alone (from a batch
    built beforehand) and end to end (speech encoding, the batch, and the model; None unless `end_to_end`)."""
    inputs = model_inputs(model, directory, waveform)
    batch = inputs()
    alone = best_of(lambda: model.generate(batch)) / waveform.duration
    if not end_to_end:
        return alone, None
    return alone, best_of(lambda: model.generate(inputs())) / waveform.duration
