"""Fixtures of the render tests: the default face scene and the offscreen backends that work here."""

from __future__ import annotations

import pytest

from facetalk.errors import MissingDependencyError
from facetalk.face.default_face import SceneMesh, scene_mesh
from facetalk.face.topology import face_topology
from facetalk.render.offscreen import BACKENDS, Renderer


@pytest.fixture(scope="session")
def face_scene() -> SceneMesh:
    """The default face at rest with its accessories, one frame: vertices (1, N, 3)."""
    return scene_mesh(face_topology().vertices)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, face_scene: SceneMesh) -> str:
    """Each offscreen backend that works on this machine."""
    name = str(request.param)
    try:
        Renderer(face_scene.triangles, face_scene.colors, width=8, height=8, backend=name).close()
    except MissingDependencyError as exc:
        pytest.skip(f"{name} backend unavailable: {exc}")
    return name
