"""The offscreen renderer: visible, framed, deterministic, responsive to motion, strict on input."""

from __future__ import annotations

import numpy as np
import pytest

from facetalk.errors import InvalidInputError, MissingDependencyError
from facetalk.face.default_face import SceneMesh
from facetalk.face.topology import face_topology
from facetalk.render import offscreen
from facetalk.render.offscreen import BACKEND_ENV, BACKGROUND_SRGB, DEFAULT_MARGIN, Renderer, frame_camera

SIZE = 128
MIN_PIXEL_STD = 20.0  # a blank or flat frame has a standard deviation near 0
FACE_PIXEL_DIFF = 12  # a pixel this far (sum over RGB) from the background shows the face
FACE_FRACTION = (0.25, 0.75)  # a framed face covers a good share of the image, not all of it
JAW_DROP_M = 0.015
MIN_JAW_CHANGED_FRACTION = 0.01


def face_mask(image: np.ndarray) -> np.ndarray:
    background = np.round(np.asarray(BACKGROUND_SRGB) * 255).astype(np.int16)
    return np.abs(image.astype(np.int16) - background).sum(axis=-1) > FACE_PIXEL_DIFF


def render(scene: SceneMesh, vertices: np.ndarray, backend: str | None = None) -> np.ndarray:
    with Renderer(scene.triangles, scene.colors, width=SIZE, height=SIZE, backend=backend) as renderer:
        return renderer.render(vertices)


def test_render_shows_a_framed_face(face_scene: SceneMesh, backend: str) -> None:
    image = render(face_scene, face_scene.vertices[0], backend)
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
    assert image.std() > MIN_PIXEL_STD
    mask = face_mask(image)
    assert FACE_FRACTION[0] < mask.mean() < FACE_FRACTION[1]
    assert mask[SIZE // 2, SIZE // 2], "the face should be centred"
    assert not mask[0].any() and not mask[-1].any() and not mask[:, 0].any() and not mask[:, -1].any(), "the face is cut off"


def test_render_is_deterministic(face_scene: SceneMesh, backend: str) -> None:
    vertices = face_scene.vertices[0]
    with Renderer(face_scene.triangles, face_scene.colors, width=SIZE, height=SIZE, backend=backend) as renderer:
        first, second = renderer.render(vertices), renderer.render(vertices)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, render(face_scene, vertices, backend))


def test_jaw_drop_changes_the_lower_face(face_scene: SceneMesh, backend: str) -> None:
    topology = face_topology()
    opened = face_scene.vertices[0].copy()
    opened[topology.region("jaw"), 1] -= JAW_DROP_M
    with Renderer(face_scene.triangles, face_scene.colors, width=SIZE, height=SIZE, backend=backend) as renderer:
        neutral, jaw = renderer.render(face_scene.vertices[0]), renderer.render(opened)
    changed = np.abs(neutral.astype(np.int16) - jaw.astype(np.int16)).sum(axis=-1) > FACE_PIXEL_DIFF
    assert changed.mean() > MIN_JAW_CHANGED_FRACTION
    rows = np.flatnonzero(changed.any(axis=1))
    assert rows.mean() > SIZE / 2, "the jaw moves the lower half of the image"


def test_frames_yields_one_image_per_frame(face_scene: SceneMesh) -> None:
    vertices = np.repeat(face_scene.vertices[:1], 3, axis=0)
    with Renderer(face_scene.triangles, face_scene.colors, width=48, height=32) as renderer:
        images = list(renderer.frames(vertices))
    assert [image.shape for image in images] == [(32, 48, 3)] * 3


@pytest.mark.parametrize("yaw", [0.0, 35.0])
def test_frame_camera_fits_the_box_with_margin(yaw: float) -> None:
    points = face_topology().vertices
    camera = frame_camera(points, yaw=yaw)
    homogeneous = np.concatenate([points, np.ones((len(points), 1), np.float32)], axis=1)
    clip = homogeneous @ (camera.projection_matrix(1.0) @ camera.view_matrix()).T
    ndc = clip[:, :2] / clip[:, 3:]
    assert np.abs(ndc).max() <= 1.0 / DEFAULT_MARGIN + 1e-3  # inside the frame and its margin
    assert np.abs(ndc).max() > 0.6 / DEFAULT_MARGIN  # and not lost in the middle


def test_wrong_vertex_count_is_rejected(face_scene: SceneMesh) -> None:
    with Renderer(face_scene.triangles, face_scene.colors, width=SIZE, height=SIZE) as renderer, pytest.raises(InvalidInputError):
        renderer.render(face_scene.vertices[0, :-5])


def test_triangles_must_fit_the_colours(face_scene: SceneMesh) -> None:
    with pytest.raises(InvalidInputError):
        Renderer(face_scene.triangles, face_scene.colors[:100])


def test_unknown_backend_is_rejected(face_scene: SceneMesh, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BACKEND_ENV, "vulkan")
    with pytest.raises(InvalidInputError, match=BACKEND_ENV):
        Renderer(face_scene.triangles, face_scene.colors)


def _no_egl() -> None:
    raise RuntimeError("libEGL.so.1: cannot open shared object file")


def test_automatic_choice_falls_back_to_osmesa(face_scene: SceneMesh, monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        offscreen._osmesa_module()
    except Exception as exc:
        pytest.skip(f"osmesa unavailable: {exc}")
    monkeypatch.setattr(offscreen, "_egl_context", _no_egl)
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    with Renderer(face_scene.triangles, face_scene.colors, width=32, height=32) as renderer:
        assert renderer.backend == "osmesa"
        assert renderer.render(face_scene.vertices[0]).std() > MIN_PIXEL_STD


def test_no_working_backend_names_the_apt_packages(face_scene: SceneMesh, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(offscreen, "_egl_context", _no_egl)
    monkeypatch.setattr(offscreen, "_osmesa_module", _no_egl)
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    with pytest.raises(MissingDependencyError, match="libegl1 libegl-mesa0 libgl1-mesa-dri / libosmesa6") as info:
        Renderer(face_scene.triangles, face_scene.colors)
    assert "\n" not in str(info.value)
    with pytest.raises(MissingDependencyError, match="libegl1") as info:
        Renderer(face_scene.triangles, face_scene.colors, backend="egl")
    assert "libosmesa6" not in str(info.value)
