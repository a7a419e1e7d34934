"""ResNet over time: 1D convolutions of kernel 3 on channels-first frame sequences (B, C, T).

He et al. 2016's ResNet with its 2D convolutions replaced by 1D convolutions over the frame axis, as
paper 001 (Wu et al. 2023, §4.4) uses for both its motion decoder and its face-motion encoder. Two
departures from the image network:

- Normalisation is either a per-frame LayerNorm over the channels (`FrameLayerNorm`, `norm="layer"`),
  which depends on nothing but the frame, or BatchNorm over the real frames only (`MaskedBatchNorm1d`,
  `norm="batch"`), whose statistics leave padding out in training and are the running averages at
  inference. A per-frame norm removes each frame's overall scale: right for a decoder fed speech,
  wrong for an encoder that must tell a large movement from a small one (paper 001's face encoder,
  whose per-frame LayerNorm left it blind to a speaker's amplitude until its ReLUs all died).
- The stem is a single kernel-3, stride-1 convolution (no stride-2 stem, no max-pool), so the time
  resolution only changes where a stage's stride says so.

Padding: every convolution zero-pads the sequence at both ends. Given a frame mask, the blocks zero
the padded frames before each convolution, so a padded frame looks exactly like the convolution's
own zero padding and the real frames of a padded sequence come out as if it were unpadded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

KERNEL_SIZE = 3
"""Temporal kernel of every convolution but the 1x1 projections (paper 001: kernel 3)."""


def masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero the padded frames of `x` (B, C, T) where `mask` (B, T) is 0; unchanged when `mask` is None."""
    return x if mask is None else x * mask[:, None, :].to(x.dtype)


def downsample_mask(mask: torch.Tensor, stride: int) -> torch.Tensor:
    """The frame mask (B, T) after a kernel-3, padding-1 convolution of `stride`: (B, ceil(T / stride)).

    Output frame t of such a convolution is centred on input frame t·stride, so it is real when that
    frame is (masks are 1 on a prefix of real frames).
    """
    return mask[:, ::stride]


class FrameLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of each frame of a channels-first sequence: (B, C, T) to (B, C, T)."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics count the real frames only: (B, C, T) with a (B, T) mask."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if not self.training or mask is None:
            return super().forward(x)
        weights = mask.to(x.dtype)[:, None, :]  # (B, 1, T)
        count = weights.sum().clamp_min(2.0)
        mean = (x * weights).sum(dim=(0, 2)) / count  # (C,)
        var = ((x - mean[None, :, None]).square() * weights).sum(dim=(0, 2)) / count  # (C,)
        assert self.running_mean is not None and self.running_var is not None
        with torch.no_grad():
            self.running_mean.lerp_(mean, self.momentum or 0.1)
            self.running_var.lerp_(var * count / (count - 1.0), self.momentum or 0.1)
        y = (x - mean[None, :, None]) / torch.sqrt(var[None, :, None] + self.eps)
        return y * self.weight[None, :, None] + self.bias[None, :, None]


Norm = FrameLayerNorm | MaskedBatchNorm1d
NORMS = {"layer": FrameLayerNorm, "batch": MaskedBatchNorm1d}


class BasicBlock1d(nn.Module):
    """ResNet basic block over time: two kernel-3 convolutions and a residual connection.

    conv(stride) -> norm -> ReLU -> conv -> norm, plus the input (through a 1x1 convolution of the
    same stride and a norm when the channels or the frame rate change), then ReLU.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        stride: temporal stride of the first convolution; T frames become ceil(T / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, norm: str = "layer") -> None:
        super().__init__()
        self.stride = stride
        pad = KERNEL_SIZE // 2
        self.conv1 = nn.Conv1d(in_channels, out_channels, KERNEL_SIZE, stride=stride, padding=pad, bias=False)
        self.norm1: Norm = NORMS[norm](out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, KERNEL_SIZE, padding=pad, bias=False)
        self.norm2: Norm = NORMS[norm](out_channels)
        self.act = nn.ReLU()
        self.shortcut: nn.ModuleList | None = None  # a 1x1 convolution and a norm, when the shape changes
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.ModuleList([nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=False),
                                           NORMS[norm](out_channels)])  # fmt: skip

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Run the block.

        Args:
            x: frames, shape (B, C_in, T).
            mask: 1 on real frames, 0 on padding, shape (B, T); None when every frame is real.

        Returns:
            Frames, shape (B, C_out, ceil(T / stride)).
        """
        out_mask = None if mask is None else downsample_mask(mask, self.stride)
        h = self.act(self.norm1(self.conv1(masked(x, mask)), out_mask))  # (B, C_out, T / stride)
        h = self.norm2(self.conv2(masked(h, out_mask)), out_mask)  # (B, C_out, T / stride)
        shortcut = x
        if self.shortcut is not None:  # frame-local: padding cannot leak through it
            projection, norm = self.shortcut
            shortcut = norm(projection(x), out_mask)
        return self.act(h + shortcut)


class ResNet1D(nn.Module):
    """Stem convolution, stages of basic blocks, and a 1x1 convolution to `out_channels`.

    ResNet-18 is `blocks=(2, 2, 2, 2)` with `widths=(64, 128, 256, 512)`. Stage i runs `blocks[i]`
    blocks of `widths[i]` channels; its first block has stride `strides[i]`.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        widths: channels of each stage.
        blocks: basic blocks in each stage.
        strides: temporal stride of each stage (1 everywhere keeps the frame rate).
        norm: "layer" (per-frame LayerNorm) or "batch" (masked BatchNorm).
    """

    def __init__(self, in_channels: int, out_channels: int, *, widths: Sequence[int] = (64, 128, 256, 512),
                 blocks: Sequence[int] = (2, 2, 2, 2), strides: Sequence[int] = (1, 1, 1, 1),
                 norm: str = "layer") -> None:  # fmt: skip
        super().__init__()
        if not len(widths) == len(blocks) == len(strides) >= 1:
            raise ValueError(f"widths, blocks and strides must name the same stages, got {widths}, {blocks}, {strides}")
        if min(blocks) < 1 or min(strides) < 1:
            raise ValueError(f"every stage needs a block and a positive stride, got blocks {blocks}, strides {strides}")
        self.time_stride = math.prod(strides)
        self.stem = nn.Conv1d(in_channels, widths[0], KERNEL_SIZE, padding=KERNEL_SIZE // 2, bias=False)
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
        self.stem_norm: Norm = NORMS[norm](widths[0])
        self.act = nn.ReLU()
        layers: list[BasicBlock1d] = []
        channels = widths[0]
        for width, count, stride in zip(widths, blocks, strides, strict=True):
            for index in range(count):
                layers.append(BasicBlock1d(channels, width, stride=stride if index == 0 else 1, norm=norm))
                channels = width
        self.blocks = nn.ModuleList(layers)
        self.block_strides = tuple(block.stride for block in layers)
        self.head = nn.Conv1d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Run the network.

        Args:
            x: frames, shape (B, C_in, T).
            mask: 1 on real frames, 0 on padding, shape (B, T); None when every frame is real.

        Returns:
            Frames, shape (B, C_out, T') with T' = ceil(T / s) applied stage by stage (T / `time_stride`
            when the strides divide T); `output_mask(mask)` tells its real frames.
        """
        h = self.act(self.stem_norm(self.stem(masked(x, mask)), mask))  # (B, W_0, T)
        for block, stride in zip(self.blocks, self.block_strides, strict=True):
            h = block(h, mask)  # (B, W_i, T_i)
            if mask is not None:
                mask = downsample_mask(mask, stride)
        return self.head(h)  # (B, C_out, T')

    def output_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """The real frames (B, T') of the output for the input frame mask `mask` (B, T)."""
        for stride in self.block_strides:
            mask = downsample_mask(mask, stride)
        return mask
