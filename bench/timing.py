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

from facetalk.animate import STYLE_REF_FILE
from facetalk.audio.rate import num_motion_frames
from facetalk.data.collate import Batch
from facetalk.export import read_motion
from facetalk.face.default_face import default_rig
from facetalk.models.base import Animator, Conditions
from facetalk.models.inputs import InputPipeline
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


def model_inputs(model: Animator, directory: Path | None, waveform: Waveform, *,
                 subject: int = -1) -> Callable[[], Batch]:  # fmt: skip
    """A function that builds `model`'s inference batch for `waveform` from scratch (speech encoding included),
    on the default face, with the style reference shipped in `directory` (for models that take one).

    Args:
        model: a trained or untrained model.
        directory: the model's directory, for its `style_ref.npz`; None gives no style reference.
        waveform: the speech.
        subject: the training speaker whose style to take (speaker-conditioned models); -1: none.
    """
    pipeline = InputPipeline.for_model(model)
    rig = default_rig()
    neutral = rig.neutral.reshape(-1)
    style = None
    if directory is not None and (directory / STYLE_REF_FILE).is_file():
        reference = read_motion(directory / STYLE_REF_FILE)
        style = (rig.animate(reference) if reference.kind == "blendshapes" and model.kind == "vertices" else reference).data
    conditions = Conditions(subject=subject, style=style, style_template=neutral)
    frames = num_motion_frames(waveform.duration, model.fps)

    def build() -> Batch:
        clip = pipeline.clip(clip_id="bench", waveform=waveform, fps=model.fps, num_frames=frames, alignment=None,
                             template=neutral)  # fmt: skip
        return pipeline.batch(clip, conditions)

    return build


def model_speed(model: Animator, directory: Path | None, waveform: Waveform, *,
                end_to_end: bool = True) -> tuple[float, float | None]:  # fmt: skip
    """Seconds of compute per second of animation of `model` on `waveform`: the model alone (from a batch
    built beforehand) and end to end (speech encoding, the batch, and the model; None unless `end_to_end`)."""
    inputs = model_inputs(model, directory, waveform)
    batch = inputs()
    alone = best_of(lambda: model.generate(batch)) / waveform.duration
    if not end_to_end:
        return alone, None
    return alone, best_of(lambda: model.generate(inputs())) / waveform.duration
