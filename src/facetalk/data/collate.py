"""Items of `WindowDataset` to padded batches: the one list of every batch key and its shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

Batch = dict[str, torch.Tensor]
"""A batch of windows (training) or of one whole clip (inference); its keys and shapes are listed in `collate`."""

FRAME_KEYS = ("features", "motion", "text", "emotion", "emotion_prior")
"""Per-frame float arrays (T, ...) padded with zeros to the batch's T."""


def _pad(arrays: Sequence[np.ndarray], length: int, *, dtype: type = np.float32) -> torch.Tensor:
    """Stack arrays of shape (T_i, ...) into (B, length, ...), zero-padded at the end."""
    out = np.zeros((len(arrays), length, *arrays[0].shape[1:]), dtype=dtype)
    for row, array in enumerate(arrays):
        out[row, : len(array)] = array
    return torch.from_numpy(out)


def _mask(lengths: Sequence[int], length: int) -> torch.Tensor:
    return (torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]).float()


def collate(items: Sequence[dict[str, Any]], *, pad_to: int | None = None) -> Batch:
    """Pad windows to the longest (or `pad_to` frames) and stack them.

    Keys (B windows, T motion frames, C feature channels, D motion channels, S audio samples, N phone
    tokens, T' reference frames). Which of the optional ones a batch has is what its model declared
    (`facetalk.models.inputs.InputSpec`) and what the data has:

    - `mask` (B, T) float32: 1 on real frames, 0 on padding. Always.
    - `lengths` (B,) int64: real frames per window. Always.
    - `subject` (B,) int64: the speaker's index among the training subjects, -1 when unknown. Always.
    - `motion` (B, T, D) float32: target motion (training and evaluation, not inference).
    - `features` (B, T, C) float32: speech features at the motion frame rate.
    - `audio` (B, S) float32 and `audio_mask` (B, S) float32: the window's speech (models that own
      their speech encoder).
    - `text` (B, T, C_text) float32: per-frame text features (word vectors spread over the words'
      aligned frames, zero in pauses, smoothed; `facetalk.text.embed`).
    - `phone_ids` (B, T) int64: the phone of every frame (`facetalk.text.phonemes.PHONE_VOCAB`; 0 pads).
    - `phone_tokens` (B, N) int64, `phone_durations` (B, N) int64 (frames) and `phone_lengths` (B,)
      int64: the phone tokens a window overlaps, in order, with the frames of each inside the window
      (so durations sum to `lengths`); pauses are SIL tokens; 0 pads.
    - `emotion` (B, T, 7) float32 and `emotion_mask` (B, T) float32: per-frame emotion vectors over
      `EMOTIONS` (labels in training, the requested emotion at inference); the mask is 0 on padding
      and on every frame of a clip without labels, whose vectors are zero (never silently neutral).
    - `emotion_prior` (B, T, 7) float32: pseudo ground-truth emotion logits of the target motion
      (the motion emotion recognizer's, per frame; training and evaluation batches of models that
      declare them).
    - `template` (B, D) float32: the neutral face (3V,), when every item has one.
    - `style` (B, T', D) float32 and `style_mask` (B, T') float32: a style reference motion, and
      `style_template` (B, D) float32: the neutral face of its speaker, when it has one; `style_emotion` (B,)
      int64: the reference's emotion label (`crop_labels`), -1 for rows without one, when a row has one.

    Args:
        items: `WindowDataset` items.
        pad_to: pad to at least this many frames (fixed shapes across batches).
    """
    lengths = [int(item["length"]) for item in items]
    length = max([*lengths, pad_to or 0])
    mask = _mask(lengths, length)
    batch: Batch = {
        "mask": mask,
        "lengths": torch.tensor(lengths, dtype=torch.int64),
        "subject": torch.tensor([item["subject"] for item in items], dtype=torch.int64),
    }
    for key in FRAME_KEYS:
        if key in items[0] and key != "emotion":
            batch[key] = _pad([item[key] for item in items], length)
    if any("emotion" in item for item in items):
        dim = next(item["emotion"].shape[1] for item in items if "emotion" in item)
        labelled = [item.get("emotion", np.zeros((n, dim), np.float32)) for item, n in zip(items, lengths, strict=True)]
        batch["emotion"] = _pad(labelled, length)
        batch["emotion_mask"] = mask * torch.tensor([float("emotion" in item) for item in items])[:, None]
    if "template" in items[0]:
        batch["template"] = torch.from_numpy(np.stack([item["template"] for item in items]).astype(np.float32))
    if "phone_ids" in items[0]:
        batch["phone_ids"] = _pad([item["phone_ids"] for item in items], length, dtype=np.int64)
        tokens = [len(item["phone_tokens"]) for item in items]
        batch["phone_tokens"] = _pad([item["phone_tokens"] for item in items], max(tokens), dtype=np.int64)
        batch["phone_durations"] = _pad([item["phone_durations"] for item in items], max(tokens), dtype=np.int64)
        batch["phone_lengths"] = torch.tensor(tokens, dtype=torch.int64)
    if "audio" in items[0]:
        samples = [len(item["audio"]) for item in items]
        batch["audio"] = _pad([item["audio"] for item in items], max(samples))
        batch["audio_mask"] = _mask(samples, max(samples))
    if "style" in items[0]:
        frames = [len(item["style"]) for item in items]
        batch["style"] = _pad([item["style"] for item in items], max(frames))
        batch["style_mask"] = _mask(frames, max(frames))
    if any("style_emotion" in item for item in items):
        batch["style_emotion"] = torch.tensor([item.get("style_emotion", -1) for item in items], dtype=torch.int64)
    if "style_template" in items[0]:
        batch["style_template"] = torch.from_numpy(np.stack([item["style_template"] for item in items]).astype(np.float32))
    return batch
