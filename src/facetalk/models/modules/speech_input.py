"""Speech at the motion rate for models that read cached features or fine-tune their own speech encoder.

Shared by `composite_regional` (paper 001) and `faceformer` (FaceFormer), which both either read the
batch's cached `features` (B, T, C) or run a registered speech encoder on its `audio` (B, S) and
resample the encoder's frames to the motion rate.
"""

from __future__ import annotations

from typing import Any

import torch

from facetalk.audio.encoders import SpeechEncoder
from facetalk.data.collate import Batch
from facetalk.errors import InvalidInputError


def resample_frames(frames: torch.Tensor, *, frame_rate: float, fps: float, num_frames: int) -> torch.Tensor:
    """Encoder frames to motion frames by linear interpolation in time, differentiably.

    The convention of `facetalk.audio.rate.to_motion_rate`: encoder frame i is at i / frame_rate,
    motion frame j at j / fps; times past the last encoder frame hold its value.

    Args:
        frames: encoder frames, shape (B, F, C) with F >= 1.
        frame_rate: encoder frames per second.
        fps: motion frames per second.
        num_frames: T, motion frames wanted.

    Returns:
        Frames, shape (B, T, C).
    """
    last = frames.shape[1] - 1
    position = torch.arange(num_frames, dtype=torch.float64, device=frames.device) * (frame_rate / fps)  # (T,)
    position = position.clamp(max=last)
    left = position.floor().long()  # (T,)
    right = (left + 1).clamp(max=last)
    fraction = (position - left).to(frames.dtype)[None, :, None]  # (1, T, 1)
    return (1.0 - fraction) * frames[:, left] + fraction * frames[:, right]  # (B, T, C)


def fine_tuned_encoder(name: str | None, options: dict[str, Any], *, feature_dim: int, model: str) -> SpeechEncoder | None:
    """The registered speech encoder `name` to fine-tune end to end (trainable unless `options` says
    `freeze: true`); None for a model that reads cached features (`name` None).

    Raises:
        InvalidInputError: the encoder's channels are not the `feature_dim` the model is built for.
    """
    if name is None:
        return None
    from facetalk.audio import build_encoder

    options = dict(options)
    freeze = bool(options.pop("freeze", False))  # builders freeze by default; here fine-tuning is the point
    encoder = build_encoder(name, **options)
    encoder.requires_grad_(not freeze)
    if encoder.dim != feature_dim:
        raise InvalidInputError(f"{model}: feature_dim {feature_dim} does not match encoder {name!r} ({encoder.dim} channels)")
    return encoder


def speech_frames(batch: Batch, encoder: SpeechEncoder | None, *, channels: int, fps: float, model: str) -> torch.Tensor:
    """A batch's speech at the motion rate, shape (B, T, C): its cached `features`, or `encoder` run on its `audio`.

    Args:
        batch: a training or inference batch.
        encoder: the model's own speech encoder; None reads `batch["features"]`.
        channels: C, the channels the model expects.
        fps: motion frames per second.
        model: the model's name, for errors.

    Raises:
        InvalidInputError: features of the wrong shape, no audio for an encoder, or audio too short for it.
    """
    if encoder is None:
        features = batch["features"]  # (B, T, C)
        if features.ndim != 3 or features.shape[-1] != channels:
            raise InvalidInputError(f"{model}: features of shape {tuple(features.shape)}, expected (B, T, {channels})")
        return features
    if "audio" not in batch:
        raise InvalidInputError(f"{model}: a model with its own speech encoder reads the batch's audio")
    num_frames = batch["mask"].shape[1]
    frames = encoder(batch["audio"])  # (B, F, C)
    if frames.shape[1] == 0:
        raise InvalidInputError(f"{model}: the audio is too short for the speech encoder (no frames)")
    return resample_frames(frames, frame_rate=encoder.frame_rate, fps=fps, num_frames=num_frames)  # (B, T, C)
