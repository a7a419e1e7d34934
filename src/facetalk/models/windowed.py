"""Generation of long clips in overlapping windows, so memory does not grow with the clip's length.

`generate_windowed` cuts a clip's inputs into windows of `WINDOW_S` seconds, each overlapping the
next by twice `MARGIN_S`, generates every window on its own, and keeps from each the frames at
least `MARGIN_S` away from the window's cut edges (the clip's own start and end are not cuts), each
frame from exactly one window. Before that it hands the model the clip's non-overlapping windows
(`Animator.clip_context`) for anything that depends on the whole clip.

For a model whose output at a frame depends only on the inputs within `MARGIN_S` of it and on what
it computes in `clip_context`, the stitched result equals whole-clip generation up to rounding.
`composite_regional` with cached speech features is such a model: its decoder sees 17 frames either
side and its adaptive modulation uses the clip's feature statistics, which `clip_context` computes.
A model with longer reach (attention over the whole clip, autoregression) is only approximated
beyond one window, each window seeing `WINDOW_S` seconds.

A clip of one window or less is generated whole, exactly as `Animator.generate` would. `finish`
(e.g. the ARKit fit of vertex output) runs on each window's kept frames as soon as they are made,
so only the finished motion of the whole clip is ever held.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from facetalk.errors import InvalidInputError
from facetalk.types import Motion

if TYPE_CHECKING:
    from facetalk.data.windows import ClipArrays
    from facetalk.models.base import Animator, Conditions
    from facetalk.models.inputs import InputPipeline

WINDOW_S = 60.0
"""Frames generated in one pass: at 30 fps, 1,800 frames of activations."""
MARGIN_S = 2.0
"""Frames this close to a window's cut edge are taken from the neighbouring window instead."""


def generate_windowed(animator: Animator, pipeline: InputPipeline, clip: ClipArrays, conditions: Conditions | None = None, *,
                      window_s: float = WINDOW_S, margin_s: float = MARGIN_S,
                      finish: Callable[[Motion], Motion] | None = None) -> Motion:  # fmt: skip
    """Motion for a clip of any length, window by window (see the module docstring).

    Args:
        animator: the model.
        pipeline: its input pipeline.
        clip: the clip's inputs (`InputPipeline.clip`).
        conditions: what the clip is generated under.
        window_s: window length in seconds.
        margin_s: frames kept from a window start this far from its cut edges, in seconds.
        finish: applied to each window's kept frames (a motion of those frames); None keeps them as generated.

    Returns:
        The stitched motion, one frame per frame of the clip.

    Raises:
        InvalidInputError: the margins leave no frame of a window to keep.
    """
    length = max(1, round(window_s * clip.fps))
    margin = round(margin_s * clip.fps)
    if clip.num_frames <= length:
        motion = animator.generate(pipeline.batch(clip, conditions))
        return finish(motion) if finish is not None else motion
    if length <= 2 * margin:
        raise InvalidInputError(f"windows of {window_s:g} s leave nothing between their {margin_s:g} s margins")
    context = animator.clip_context(batch for _, batch in pipeline.batches(clip, conditions, length=length))
    parts: list[Motion] = []
    kept = 0  # frames of the clip generated so far
    for window, batch in pipeline.batches(clip, conditions, length=length, stride=length - 2 * margin):
        end = clip.num_frames if window.start + window.length == clip.num_frames else window.start + window.length - margin
        motion = animator.generate({**batch, **context})
        piece = Motion(motion.data[kept - window.start : end - window.start], motion.fps, motion.kind, motion.channels)
        parts.append(finish(piece) if finish is not None else piece)
        kept = end
    first = parts[0]
    return Motion(np.concatenate([part.data for part in parts]), first.fps, first.kind, first.channels)
