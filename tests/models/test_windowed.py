"""Long clips generated in overlapping windows match whole-clip generation (`facetalk.models.windowed`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facetalk.assets import asset_path
from facetalk.audio.rate import num_motion_frames
from facetalk.errors import InvalidInputError
from facetalk.face.default_face import default_rig
from facetalk.models.base import Conditions, build_model
from facetalk.models.inputs import InputPipeline
from facetalk.models.windowed import generate_windowed
from facetalk.synth.voices import espeak

WINDOWED_TOLERANCE_M = 1e-5
"""Largest vertex difference from whole-clip generation (0.01 mm; measured 2.2e-6 m on motion of 1.9 mm)."""
SENTENCES = 3  # about 9 s of espeak-ng speech


@pytest.fixture(scope="module")
def clip_and_model():
    """A tiny composite_regional on the default face (mel features, a moving output layer) and a clip of speech."""
    torch.manual_seed(0)
    rig = default_rig()
    model = build_model("composite_regional_tiny", feature_dim=32, motion_dim=rig.neutral.size, kind="vertices",
                        motion_scale=1000.0)  # fmt: skip
    torch.nn.init.normal_(model.decoder.head.weight, std=20.0)  # the output layer starts at zero: make it move (mm)
    model.metadata = {"features": {"encoder": "mel", "options": {"fps": 30.0, "n_mels": 32}}}
    pipeline = InputPipeline.for_model(model)
    text = ". ".join(asset_path("speech/paragraph.txt").read_text().split(". ")[:SENTENCES])
    waveform = espeak(text, "en-us")
    neutral = rig.neutral.reshape(-1)
    frames = num_motion_frames(waveform.duration, model.fps)
    clip = pipeline.clip(clip_id="windowed", waveform=waveform, fps=model.fps, num_frames=frames, alignment=None,
                         template=neutral)  # fmt: skip
    style = rig.animate(_swaying(rig.num_shapes)).data  # a reference that moves, so the modulation is not flat
    return model, pipeline, clip, Conditions(style=style, style_template=neutral)


def _swaying(num_shapes: int):  # type: ignore[no-untyped-def]
    from facetalk.face.arkit import ARKIT_NAMES
    from facetalk.types import Motion

    t = np.arange(90)[:, None] / 30.0
    data = 0.5 + 0.4 * np.sin(2 * np.pi * t * (1 + np.arange(num_shapes)[None] / 10))
    return Motion(data.astype(np.float32), 30.0, "blendshapes", ARKIT_NAMES)


def test_windows_stitch_to_the_whole_clip(clip_and_model):
    model, pipeline, clip, conditions = clip_and_model
    assert clip.num_frames > 250  # several 3 s windows
    windowed = generate_windowed(model, pipeline, clip, conditions, window_s=3.0, margin_s=1.0)
    whole = model.generate(pipeline.batch(clip, conditions))
    assert windowed.num_frames == whole.num_frames == clip.num_frames
    # Given the same clip statistics, every kept frame is exactly what the whole clip gives.
    context = model.clip_context(batch for _, batch in pipeline.batches(clip, conditions, length=90))
    np.testing.assert_array_equal(windowed.data, model.generate({**pipeline.batch(clip, conditions), **context}).data)
    # Against plain whole-clip generation, only the statistics' rounding differs (float64 sums, float32 two-pass).
    difference = np.abs(windowed.data - whole.data).max()
    moves = np.abs(whole.data - whole.data.mean(axis=0)).max()
    print(f"\nlargest difference from whole-clip generation: {difference:.1e} m, motion up to {moves:.1e} m")
    assert difference < WINDOWED_TOLERANCE_M
    assert moves > 1e-3  # the motion moves by millimetres: the comparison means something


def test_the_clip_statistics_are_what_makes_windows_match(clip_and_model):
    model, pipeline, clip, conditions = clip_and_model
    whole = model.generate(pipeline.batch(clip, conditions))
    without = [model.generate(batch) for _, batch in pipeline.batches(clip, conditions, length=90)]  # own statistics
    first = without[0].data
    assert np.abs(first - whole.data[: len(first)]).max() > 100 * WINDOWED_TOLERANCE_M


def test_one_window_is_the_whole_clip_and_finish_runs_per_window(clip_and_model):
    model, pipeline, clip, conditions = clip_and_model
    rig = default_rig()
    whole = model.generate(pipeline.batch(clip, conditions))
    one = generate_windowed(model, pipeline, clip, conditions, window_s=clip.num_frames / clip.fps)
    np.testing.assert_array_equal(one.data, whole.data)
    vertices = generate_windowed(model, pipeline, clip, conditions, window_s=3.0, margin_s=1.0)
    fitted = generate_windowed(model, pipeline, clip, conditions, window_s=3.0, margin_s=1.0, finish=rig.fit_motion)
    assert fitted.kind == "blendshapes" and fitted.num_frames == clip.num_frames
    np.testing.assert_allclose(fitted.data, rig.fit_motion(vertices).data, atol=1e-6)  # the fit is per frame


def test_margins_must_leave_frames(clip_and_model):
    model, pipeline, clip, conditions = clip_and_model
    with pytest.raises(InvalidInputError, match="margins"):
        generate_windowed(model, pipeline, clip, conditions, window_s=2.0, margin_s=1.0)
