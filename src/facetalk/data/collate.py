"""Items of `WindowDataset` to padded batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

Batch = dict[str, torch.Tensor]
"""A training batch; its keys and shapes are listed in `collate`."""

OPTIONAL_KEYS = ("emotion", "template", "audio")


def _pad(arrays: Sequence[np.ndarray], length: int) -> torch.Tensor:
    """Stack arrays of shape (T_i, ...) into (B, length, ...), zero-padded at the end."""
    out = np.zeros((len(arrays), length, *arrays[0].shape[1:]), dtype=np.float32)
    for row, array in enumerate(arrays):
        out[row, : len(array)] = array
    return torch.from_numpy(out)


def _mask(lengths: Sequence[int], length: int) -> torch.Tensor:
    return (torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]).float()


def collate(items: Sequence[dict[str, Any]], *, pad_to: int | None = None) -> Batch:
    """Pad windows to the longest (or `pad_to` frames) and stack them.

    Keys (B windows, T motion frames, C feature channels, D motion channels, S audio samples):

    - `features` (B, T, C) float32: speech features at the motion frame rate.
    - `motion` (B, T, D) float32: target motion.
    - `mask` (B, T) float32: 1 on real frames, 0 on padding.
    - `lengths` (B,) int64: real frames per window.
    - `subject` (B,) int64: the speaker's index, -1 when unknown.
    - `emotion` (B, T, 7) float32: per-frame emotion vectors, when every item has them.
    - `template` (B, D) float32: the neutral face (3V,), when every item has one.
    - `audio` (B, S) float32 and `audio_mask` (B, S) float32: the window's speech, when every item has it.

    Args:
        items: `WindowDataset` items.
        pad_to: pad to at least this many frames (fixed shapes across batches).
    """
    lengths = [len(item["motion"]) for item in items]
    length = max([*lengths, pad_to or 0])
    batch: Batch = {
        "features": _pad([item["features"] for item in items], length),
        "motion": _pad([item["motion"] for item in items], length),
        "mask": _mask(lengths, length),
        "lengths": torch.tensor(lengths, dtype=torch.int64),
        "subject": torch.tensor([item["subject"] for item in items], dtype=torch.int64),
    }
    if all("emotion" in item for item in items):
        batch["emotion"] = _pad([item["emotion"] for item in items], length)
    if all("template" in item for item in items):
        batch["template"] = torch.from_numpy(np.stack([item["template"] for item in items]).astype(np.float32))
    if all("audio" in item for item in items):
        samples = [len(item["audio"]) for item in items]
        batch["audio"] = _pad([item["audio"] for item in items], max(samples))
        batch["audio_mask"] = _mask(samples, max(samples))
    return batch
