"""Per-channel standardization of speech features with the training set's statistics."""

from __future__ import annotations

import torch
from torch import nn

MIN_FEATURE_STD = 1e-3  # channels that never vary are centred, not blown up


class FeatureNorm(nn.Module):
    """Standardize each feature channel with the training set's statistics (saved with the weights).

    Not a per-frame LayerNorm: that would erase loudness, and with it the difference between speech
    and silence in a mel spectrogram.

    Args:
        dim: C, feature channels.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the per-channel mean and std (C,); stds below `MIN_FEATURE_STD` are raised to it."""
        if mean.shape != self.mean.shape or std.shape != self.std.shape:
            shapes = f"{tuple(mean.shape)} and {tuple(std.shape)}"
            raise ValueError(f"feature statistics of shapes {shapes} do not fit C = {len(self.mean)}")
        self.mean.copy_(mean)
        self.std.copy_(std.clamp_min(MIN_FEATURE_STD))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std  # (B, T, C)
