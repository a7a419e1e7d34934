"""`conv_baseline`: the tiny reference model that exercises the training framework end to end.

Not from a paper: speech features at the motion rate (standardized with the training set's
statistics) go through a linear projection plus a learned speaker embedding and a projection of the
per-frame emotion vectors, a few residual 1D convolutions over time (non-causal, so each frame sees
`layers * (kernel_size - 1)` neighbouring frames), and a linear head to the motion channels. It is
fast enough to train in a minute on a CPU and processes any length.
"""

from __future__ import annotations

import torch
from torch import nn

from facetalk.data.collate import Batch
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.models.base import MODELS, Animator, ModelOutput
from facetalk.models.modules.feature_norm import MIN_FEATURE_STD, FeatureNorm
from facetalk.types import EMOTIONS


class ConvBlock(nn.Module):
    """Residual block: conv over time, GELU, dropout; (B, W, T) to (B, W, T)."""

    def __init__(self, *, width: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(width, width, kernel_size, padding=kernel_size // 2)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.act(self.conv(x)))


class ConvEncoder(nn.Module):
    """Speech features and speaker to hidden frames: (B, T, C) to (B, T, W)."""

    def __init__(self, *, feature_dim: int, width: int, num_subjects: int, layers: int, kernel_size: int, dropout: float) -> None:
        super().__init__()
        self.project = nn.Linear(feature_dim, width)
        self.norm = FeatureNorm(feature_dim)
        # row num_subjects is the "unknown speaker" embedding used for subject index -1
        self.subject = nn.Embedding(num_subjects + 1, width)
        self.emotion = nn.Linear(len(EMOTIONS), width, bias=False)  # per-frame emotion vectors (B, T, 7)
        self.blocks = nn.ModuleList(ConvBlock(width=width, kernel_size=kernel_size, dropout=dropout) for _ in range(layers))

    def forward(self, features: torch.Tensor, subject: torch.Tensor, emotion: torch.Tensor) -> torch.Tensor:
        unknown = self.subject.num_embeddings - 1
        subject = torch.where((subject < 0) | (subject >= unknown), torch.full_like(subject, unknown), subject)  # (B,)
        x = self.project(self.norm(features)) + self.subject(subject)[:, None, :] + self.emotion(emotion)  # (B, T, W)
        x = x.transpose(1, 2)  # (B, W, T)
        for block in self.blocks:
            x = block(x)
        return x.transpose(1, 2)  # (B, T, W)


class ConvBaseline(Animator):
    """A few residual 1D convolutions from speech features to motion.

    Args:
        feature_dim: C, speech feature channels.
        motion_dim: D, motion channels (52 for ARKit weights).
        num_subjects: training speakers; index -1 (or any other) means an unseen speaker.
        width: W, hidden channels.
        layers: residual conv blocks.
        kernel_size: odd temporal kernel size.
        dropout: dropout probability inside the blocks.
        fps: motion frames per second of the output.
        kind: "blendshapes", "vertices" or "params".
        channels: channel names of blendshape or parameter output.
    """

    def __init__(self, *, feature_dim: int, motion_dim: int, num_subjects: int, width: int = 64, layers: int = 4,
                 kernel_size: int = 5, dropout: float = 0.0, fps: float = 30.0, kind: str = "blendshapes",
                 channels: tuple[str, ...] = ()) -> None:  # fmt: skip
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd to keep T frames, got {kernel_size}")
        self.fps, self.kind, self.channels = fps, kind, tuple(channels)
        self.encoder = ConvEncoder(feature_dim=feature_dim, width=width, num_subjects=num_subjects, layers=layers,
                                   kernel_size=kernel_size, dropout=dropout)  # fmt: skip
        self.head = nn.Linear(width, motion_dim)

    def fit_feature_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.encoder.norm.mean.copy_(mean)
        self.encoder.norm.std.copy_(std.clamp_min(MIN_FEATURE_STD))

    def forward(self, batch: Batch) -> ModelOutput:
        features = batch["features"]  # (B, T, C)
        emotion = batch.get("emotion")  # (B, T, 7)
        if emotion is None:  # no labels: neutral throughout
            emotion = torch.zeros(*features.shape[:2], len(EMOTIONS), device=features.device)
            emotion[..., EMOTIONS.index("neutral")] = 1.0
        hidden = self.encoder(features, batch["subject"], emotion)  # (B, T, W)
        return ModelOutput(motion=self.head(hidden))  # (B, T, D)


@MODELS.register("conv_baseline")
def conv_baseline(*, feature_dim: int, motion_dim: int = len(ARKIT_NAMES), num_subjects: int = 0, fps: float = 30.0,
                  kind: str = "blendshapes", channels: list[str] | tuple[str, ...] | None = None, width: int = 64,
                  layers: int = 4, kernel_size: int = 5, dropout: float = 0.1) -> ConvBaseline:  # fmt: skip
    """The reference size: 64 channels, 4 blocks of kernel 5; ARKit-52 output by default."""
    return ConvBaseline(feature_dim=feature_dim, motion_dim=motion_dim, num_subjects=num_subjects, width=width, layers=layers,
                        kernel_size=kernel_size, dropout=dropout, fps=fps, kind=kind,
                        channels=_channels(motion_dim, kind, channels))  # fmt: skip


def _channels(motion_dim: int, kind: str, channels: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The given channel names, else ARKit's names for 52 blendshape channels, else none."""
    if channels is not None:
        return tuple(channels)
    return ARKIT_NAMES if kind == "blendshapes" and motion_dim == len(ARKIT_NAMES) else ()


@MODELS.register("conv_baseline_tiny")
def conv_baseline_tiny(*, feature_dim: int, motion_dim: int = len(ARKIT_NAMES), num_subjects: int = 0, fps: float = 30.0,
                       kind: str = "blendshapes",
                       channels: list[str] | tuple[str, ...] | None = None) -> ConvBaseline:  # fmt: skip
    """Width 16, 2 blocks, no dropout: for tests."""
    return ConvBaseline(feature_dim=feature_dim, motion_dim=motion_dim, num_subjects=num_subjects, width=16, layers=2,
                        kernel_size=3, dropout=0.0, fps=fps, kind=kind,
                        channels=_channels(motion_dim, kind, channels))  # fmt: skip
