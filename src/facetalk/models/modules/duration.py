"""Phoneme duration modelling (paper 000, §3.3, after FastSpeech 2): phoneme-averaged downsampling
(Eqs. 4-5), a duration predictor (Eq. 6), a length regulator, and duration-based positions (Eq. 7).

B sequences, N phone tokens, T' speech frames, T motion frames, W channels. Durations are integer
frame counts per token, 0 on padding tokens; a row's durations sum to its real frames. Speech and
motion rates may differ (the paper: 100 and 25 fps): durations are rescaled from one rate to the
other by `rescale_durations`, which rounds the cumulative boundaries, so no frame is lost or doubled.
"""

from __future__ import annotations

import torch
from torch import nn


def segment_matrix(durations: torch.Tensor, length: int) -> torch.Tensor:
    """Which frame lies in which token: (B, N) durations to a 0/1 (B, N, length) float matrix."""
    ends = durations.cumsum(dim=1)  # (B, N)
    starts = ends - durations
    frames = torch.arange(length, device=durations.device)
    return ((frames >= starts[..., None]) & (frames < ends[..., None])).float()


def phoneme_average(hidden: torch.Tensor, durations: torch.Tensor) -> torch.Tensor:
    """Eqs. 4-5: the mean of each token's frames, (B, T', W) and (B, N) to (B, N, W); zero for empty tokens."""
    matrix = segment_matrix(durations, hidden.shape[1])  # (B, N, T')
    return matrix @ hidden / durations.clamp_min(1)[..., None].to(hidden.dtype)


def length_regulate(phones: torch.Tensor, durations: torch.Tensor, length: int) -> torch.Tensor:
    """Repeat each token's vector over its frames: (B, N, W) and (B, N) to (B, length, W); frames past the sum are zero."""
    return segment_matrix(durations, length).transpose(1, 2) @ phones


def duration_positions(durations: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each of `length` frames, the frames since its token started and the frames left until it ends.

    Returns:
        (B, length) each: for a token of d frames, 0 .. d-1 and d-1 .. 0; zero past the durations' sum.
    """
    matrix = segment_matrix(durations, length)  # (B, N, T)
    ends = durations.cumsum(dim=1).to(matrix.dtype)  # (B, N)
    frames = torch.arange(length, device=durations.device, dtype=matrix.dtype)
    start = ((ends - durations.to(matrix.dtype))[..., None] * matrix).sum(dim=1)  # (B, T)
    end = (ends[..., None] * matrix).sum(dim=1)
    inside = matrix.sum(dim=1)
    return (frames - start) * inside, (end - 1 - frames) * inside


def cumulative_round(durations: torch.Tensor) -> torch.Tensor:
    """Integer durations (B, N) whose cumulative sums are the rounded cumulative sums of `durations` (float)."""
    ends = durations.cumsum(dim=1).round().long()
    return torch.diff(ends, dim=1, prepend=torch.zeros_like(ends[:, :1]))


def rescale_durations(durations: torch.Tensor, ratio: float) -> torch.Tensor:
    """Durations at one frame rate (B, N) to another `ratio` times faster (e.g. 25 to 100 fps: 4), boundaries rounded."""
    return cumulative_round(durations.to(torch.float64) * ratio)


def fit_durations(predicted: torch.Tensor, token_mask: torch.Tensor, totals: torch.Tensor) -> torch.Tensor:
    """Predicted (float) durations (B, N) made integer and scaled so that each row's sum is its total (B,).

    Negative predictions count as 0; a row whose predictions are all 0 spreads its frames evenly.
    """
    weights = predicted.clamp_min(0.0) * token_mask
    empty = weights.sum(dim=1, keepdim=True) <= 0
    weights = torch.where(empty, token_mask.to(weights.dtype), weights)
    scaled = weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-8) * totals[:, None].to(weights.dtype)
    return cumulative_round(scaled.to(torch.float64))


def label_runs(labels: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Runs of equal labels (predicted phones) as token durations: (B, T') labels and (B,) real frames to
    durations (B, N) and tokens per row (B,)."""
    rows = []
    for row, length in zip(labels, lengths.tolist(), strict=True):
        values = row[: int(length)]
        if len(values) == 0:
            rows.append(values.new_zeros(0))
            continue
        _, counts = torch.unique_consecutive(values, return_counts=True)
        rows.append(counts)
    tokens = torch.tensor([len(r) for r in rows], device=labels.device)
    durations = labels.new_zeros(len(rows), max(1, int(tokens.max())) if len(rows) else 1)
    for i, counts in enumerate(rows):
        durations[i, : len(counts)] = counts
    return durations, tokens


class DurationPredictor(nn.Module):
    """FastSpeech 2's variance predictor: two (conv, ReLU, LayerNorm, dropout) layers and a linear head,
    (B, N, W) token vectors to (B, N) durations in motion frames."""

    def __init__(self, width: int, *, kernel_size: int = 3, dropout: float = 0.1) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(width, width, kernel_size, padding=kernel_size // 2) for _ in range(2))
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(2))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, 1)

    def forward(self, phones: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor:
        h = phones
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = self.drop(norm(torch.relu(conv(h.transpose(1, 2)).transpose(1, 2)))) * token_mask[..., None]
        return self.head(h)[..., 0] * token_mask  # type: ignore[no-any-return]
