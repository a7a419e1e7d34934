"""The embedded default face: the MediaPipe canonical mesh with 52 ARKit blendshapes authored here.

(Work in progress in this session: the authored blendshapes and accessories are being written.)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from facetalk.face.arkit import ARKIT_NAMES
from facetalk.face.rig import BlendshapeRig
from facetalk.face.topology import face_topology

SKIN_COLOR = (0.87, 0.70, 0.60)


@dataclass(frozen=True)
class SceneMesh:
    """Everything a renderer or exporter draws for a face: skin plus accessories.

    Attributes:
        vertices: positions in metres, shape (T, N, 3); the first V rows are the face vertices.
        triangles: shape (F, 3) into the N vertices.
        colors: linear RGB in [0, 1] per vertex, shape (N, 3).
    """

    vertices: np.ndarray
    triangles: np.ndarray
    colors: np.ndarray


@functools.cache
def default_rig() -> BlendshapeRig:
    topology = face_topology()
    return BlendshapeRig(topology, np.zeros((len(ARKIT_NAMES), topology.num_vertices, 3), np.float32), ARKIT_NAMES)


def scene_mesh(face_vertices: np.ndarray) -> SceneMesh:
    """The drawable scene for face vertices of shape (T, V, 3) (or (V, 3)) of the default topology."""
    topology = face_topology()
    vertices = np.asarray(face_vertices, dtype=np.float32)
    if vertices.ndim == 2:
        vertices = vertices[None]
    colors = np.tile(np.asarray(SKIN_COLOR, np.float32), (topology.num_vertices, 1))
    return SceneMesh(vertices, topology.triangles, colors)
