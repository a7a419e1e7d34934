"""Parametric faces as differentiable torch layers: parameters (B, T, P) to vertices (B, T, V, 3).

A model whose output is a face's parameters (the default face's 52 ARKit weights, or FLAME
expression and jaw parameters) computes its vertex losses through one of these layers (paper 002's
vertex and mouth-shape losses, `facetalk.train.objective`). Each layer knows, besides its mapping,
which vertices count in a vertex loss (`region_weights`: the front of the face, not the eyeballs)
and which vertex pairs measure the mouth's height and width.

The layers hold their arrays as non-persistent buffers: they are rebuilt from their source (the
default face, or the user's FLAME file) and never written into a model's weights.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from facetalk.face.arkit import ARKIT_NAMES
from facetalk.face.topology import LANDMARKS, NUM_MESH_VERTICES

XYZ = 3


class ParametricFace(nn.Module, metaclass=abc.ABCMeta):
    """A face mesh driven by per-frame parameters.

    Attributes:
        channels: the parameter names, in the order of the last axis of `vertices`' input.
        mouth_height_pairs: (top, bottom) lip vertex pairs whose distance is the mouth's height.
        mouth_width_pairs: (left, right) mouth-corner vertex pairs whose distance is its width.
    """

    channels: tuple[str, ...]
    mouth_height_pairs: tuple[tuple[int, int], ...]
    mouth_width_pairs: tuple[tuple[int, int], ...]
    region_weights: torch.Tensor

    @abc.abstractmethod
    def vertices(self, params: torch.Tensor) -> torch.Tensor:
        """Vertex positions (..., V, 3), metres, of parameters (..., P)."""

    @property
    def num_vertices(self) -> int:
        """V."""
        return int(self.region_weights.shape[0])

    def flat_vertices(self, params: torch.Tensor) -> torch.Tensor:
        """Vertices flattened to (..., 3V), xyz-interleaved, as vertex motion is stored."""
        return self.vertices(params).flatten(-2)


def _buffer(module: nn.Module, name: str, array: np.ndarray | torch.Tensor) -> None:
    module.register_buffer(name, torch.as_tensor(np.asarray(array), dtype=torch.float32), persistent=False)


class ArkitFace(ParametricFace):
    """The default face (`facetalk.face.default_face`): neutral + Σ_k w_k Δ_k over the 52 ARKit shapes.

    The region weights are 1 on the face mesh and 0 on the iris points (paper 002's mask keeps the
    front of the face and leaves out the eyes); the mouth pairs are the inner-lip midpoints (height)
    and the mouth corners (width).

    Args:
        neutral: the neutral face (V, 3); default: the default face's.
        deltas: the shapes' displacements (52, V, 3); default: the default face's.
    """

    neutral: torch.Tensor
    deltas: torch.Tensor

    def __init__(self, neutral: np.ndarray | None = None, deltas: np.ndarray | None = None) -> None:
        super().__init__()
        if neutral is None or deltas is None:
            from facetalk.face.default_face import default_rig

            rig = default_rig()
            neutral, deltas = rig.neutral if neutral is None else neutral, rig.deltas if deltas is None else deltas
        num_vertices = int(np.shape(neutral)[0])
        if np.shape(deltas) != (len(ARKIT_NAMES), num_vertices, XYZ):
            raise ValueError(f"ARKit deltas must have shape ({len(ARKIT_NAMES)}, {num_vertices}, 3), got {np.shape(deltas)}")
        self.channels = ARKIT_NAMES
        _buffer(self, "neutral", neutral)
        _buffer(self, "deltas", np.asarray(deltas).reshape(len(ARKIT_NAMES), -1))  # (K, 3V)
        weights = np.zeros(num_vertices, dtype=np.float32)
        weights[: min(NUM_MESH_VERTICES, num_vertices)] = 1.0  # the skin; the iris points follow it
        _buffer(self, "region_weights", weights)
        self.mouth_height_pairs = ((LANDMARKS["upper_lip_inner"], LANDMARKS["lower_lip_inner"]),)
        self.mouth_width_pairs = ((LANDMARKS["mouth_corner_left"], LANDMARKS["mouth_corner_right"]),)

    def vertices(self, params: torch.Tensor) -> torch.Tensor:
        offsets = params @ self.deltas  # (..., 3V)
        return self.neutral + offsets.reshape(*offsets.shape[:-1], -1, XYZ)  # (..., V, 3)


def arkit_channels(channels: Sequence[str]) -> bool:
    """Whether `channels` are the 52 ARKit weights in canonical order."""
    return tuple(channels) == ARKIT_NAMES
