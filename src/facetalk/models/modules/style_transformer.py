"""Transformer blocks conditioned on a style vector (paper 000, Bozkurt 2023, §3.2 and §3.4).

- `StyleAdaptiveLayerNorm` (SALN): a LayerNorm without its own affine, whose gain and bias are
  predicted from a style vector by linear layers; the style may be one vector per sequence (B, N)
  or one per frame (B, T, N) (emotion transitions blend styles over time).
- `RelativePositionBias`: a learned bias S_rel per head and per frame offset, added to the attention
  logits (Eq. 9); offsets beyond `max_distance` share the bias of the largest one.
- `StyleTransformerBlock`: FastSpeech's feed-forward transformer block (self-attention, then two
  1D convolutions) with SALN after each residual and an optional relative position bias.
- `CausalConvModule`: the "causal sequential module" (§4.1): two causal 1D convolutions, each followed
  by a LeakyReLU, so a frame sees only itself and earlier frames.
- `GradientReversal`: identity forward, gradient times -λ backward (Ganin and Lempitsky 2015).
- `sinusoidal_embedding`: the fixed sinusoidal encoding of (possibly fractional) positions.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.2
SINUSOID_BASE = 10000.0


def sinusoidal_embedding(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Vaswani et al.'s encoding of positions (...,) as (..., dim): sines in the first half, cosines in the second."""
    if dim % 2:
        raise ValueError(f"a sinusoidal embedding needs an even dim, got {dim}")
    half = dim // 2
    frequencies = torch.exp(-math.log(SINUSOID_BASE) * torch.arange(half, device=positions.device) / half)  # (dim/2,)
    angles = positions.to(torch.float32)[..., None] * frequencies  # (..., dim/2)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


class GradientReversal(nn.Module):
    """Identity in the forward pass; multiplies the gradient by -`scale` in the backward pass."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReverseGradient.apply(x, self.scale)  # type: ignore[no-any-return, no-untyped-call]


class StyleAdaptiveLayerNorm(nn.Module):
    """LayerNorm whose gain and bias come from a style vector: (B, T, W) and (B, N) or (B, T, N) to (B, T, W).

    With `style_dim` 0 it is a plain LayerNorm with a learned affine (the "w/o style" ablation).
    The gain starts at 1 and the bias at 0 whatever the style.
    """

    def __init__(self, width: int, style_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=style_dim == 0)
        self.affine = nn.Linear(style_dim, 2 * width) if style_dim > 0 else None
        if self.affine is not None:
            nn.init.zeros_(self.affine.weight)
            nn.init.zeros_(self.affine.bias)

    def forward(self, x: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        x = self.norm(x)
        if self.affine is None or style is None:
            return x
        gain, bias = self.affine(style).chunk(2, dim=-1)  # (B, W) or (B, T, W) each
        if gain.ndim == 2:
            gain, bias = gain[:, None, :], bias[:, None, :]
        return (1.0 + gain) * x + bias


class RelativePositionBias(nn.Module):
    """S_rel of Eq. 9: a learned scalar per head for each offset j - i in [-max_distance, max_distance].

    Returns (H, T, T) for T frames; the bias of frames i, j depends only on clamp(j - i).
    """

    def __init__(self, heads: int, max_distance: int) -> None:
        super().__init__()
        self.max_distance = max_distance
        self.table = nn.Parameter(torch.zeros(heads, 2 * max_distance + 1))

    def forward(self, length: int) -> torch.Tensor:
        positions = torch.arange(length, device=self.table.device)
        offsets = (positions[None, :] - positions[:, None]).clamp(-self.max_distance, self.max_distance)  # (T, T)
        return self.table[:, offsets + self.max_distance]  # (H, T, T)


class StyleTransformerBlock(nn.Module):
    """Self-attention and a convolutional feed-forward net, each residual followed by SALN.

    Args:
        width: W, model channels (divisible by `heads`).
        heads: attention heads.
        style_dim: N, style vector channels (0: plain LayerNorm).
        ffn_width: hidden channels of the feed-forward convolutions.
        kernel_size: their temporal kernel (odd).
        dropout: dropout after attention and the feed-forward net.
        max_distance: offsets of the learned relative position bias; 0 uses none.
    """

    def __init__(self, *, width: int, heads: int, style_dim: int, ffn_width: int, kernel_size: int = 3,
                 dropout: float = 0.0, max_distance: int = 0) -> None:  # fmt: skip
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.bias = RelativePositionBias(heads, max_distance) if max_distance > 0 else None
        self.norm1 = StyleAdaptiveLayerNorm(width, style_dim)
        self.ffn = nn.Sequential(nn.Conv1d(width, ffn_width, kernel_size, padding=kernel_size // 2), nn.ReLU(),
                                 nn.Conv1d(ffn_width, width, kernel_size, padding=kernel_size // 2))  # fmt: skip
        self.norm2 = StyleAdaptiveLayerNorm(width, style_dim)
        self.drop = nn.Dropout(dropout)

    def attention(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Multi-head self-attention of (B, T, W) over the real frames of `mask` (B, T), with the relative bias."""
        b, t, w = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)  # (B, H, T, W/H) each
        bias = torch.zeros(b, 1, 1, t, device=x.device, dtype=x.dtype).masked_fill(mask[:, None, None, :] <= 0, -1e9)
        if self.bias is not None:
            # Eq. 9 adds S_rel before the 1/√d_k scaling; SDPA scales q·k only, so the bias is pre-multiplied
            bias = bias + self.bias(t)[None] / math.sqrt(w // self.heads)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # (B, H, T, W/H)
        return self.out(out.transpose(1, 2).reshape(b, t, w))  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor, mask: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        """(B, T, W) with frame mask (B, T) and style (B, N) or (B, T, N) to (B, T, W); padding frames are zeroed."""
        keep = mask[..., None]
        x = self.norm1(x + self.drop(self.attention(x, mask)), style) * keep
        x = self.norm2(x + self.drop(self.ffn(x.transpose(1, 2)).transpose(1, 2)), style) * keep
        return x


class CausalConvModule(nn.Module):
    """Two causal 1D convolutions, each followed by a LeakyReLU: (B, T, C_in) to (B, T, W).

    Frame t sees frames t - 2(k-1) .. t only (left padding), so earlier context smooths the output.
    """

    def __init__(self, in_dim: int, width: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.pad = kernel_size - 1
        self.conv1 = nn.Conv1d(in_dim, width, kernel_size)
        self.conv2 = nn.Conv1d(width, width, kernel_size)
        self.act = nn.LeakyReLU(LEAKY_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.transpose(1, 2)  # (B, C_in, T)
        h = self.act(self.conv1(F.pad(h, (self.pad, 0))))
        h = self.act(self.conv2(F.pad(h, (self.pad, 0))))
        return h.transpose(1, 2)  # (B, T, W)
