"""Offscreen rendering of a vertex-coloured triangle mesh on the CPU, one frame at a time.

Two OpenGL backends, both software (Mesa) so that rendering works without a GPU or a display:

- "egl": moderngl on a standalone EGL context (Mesa llvmpipe). The primary backend: the programs
  and buffers are built once, and each frame only uploads positions and normals.
- "osmesa": pyrender on OSMesa. The fallback: pyrender rebuilds its mesh every frame, so it is
  slower, and its PBR shading looks a little different from the egl backend's.

The backend is chosen by the `backend` argument, else the `FACETALK_RENDER_BACKEND` environment
variable, else automatically (egl, then osmesa). Both render smooth per-frame vertex normals lit by
a three-point light (key, fill, rim) with 4x multisampling, and return sRGB uint8 frames.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import numpy as np
import scipy.sparse

from facetalk.errors import InvalidInputError, MissingDependencyError

BACKENDS: tuple[str, ...] = ("egl", "osmesa")
BACKEND_ENV = "FACETALK_RENDER_BACKEND"
APT_PACKAGES = {"egl": "libegl1 libegl-mesa0 libgl1-mesa-dri", "osmesa": "libosmesa6"}

DEFAULT_SIZE = 512
DEFAULT_FOV_Y = 25.0  # degrees: long enough a lens that the face is not distorted, short enough to keep depth
DEFAULT_MARGIN = 1.2  # the framed bounding box fills 1 / 1.2 of the frame, leaving room for the jaw to move
MSAA_SAMPLES = 4
BACKGROUND_SRGB = (0.40, 0.42, 0.45)  # mid grey with a hint of blue: pale, warm skin stands out against it
NORMAL_EPS = 1e-12

# Lights live in camera space (x right, y up, z toward the viewer), so a 3/4 view is lit like a front
# view. Directions point from the surface toward the light; colours are linear RGB intensities.
KEY_DIRECTION = (-0.45, 0.50, 0.75)  # upper left of the viewer, the classic portrait key
KEY_COLOR = (0.72, 0.69, 0.64)  # slightly warm
FILL_DIRECTION = (0.65, 0.05, 0.75)  # right, at eye height: lifts the shadow side
FILL_COLOR = (0.16, 0.18, 0.21)  # slightly cool
RIM_DIRECTION = (0.35, 0.55, -0.75)  # behind and above: separates the silhouette from the background
RIM_COLOR = (0.45, 0.45, 0.48)
# Wrap lighting spreads each light past the terminator, which reads as soft, skin-like shading.
LIGHT_WRAP = (0.2, 0.4, 0.0)
AMBIENT_SKY = (0.13, 0.13, 0.15)  # hemisphere ambient: from above ...
AMBIENT_GROUND = (0.05, 0.045, 0.045)  # ... and from below
SPECULAR_STRENGTH = 0.08  # skin is mostly matte: a faint sheen only
SPECULAR_SHININESS = 24.0

_VERTEX_SHADER = """
#version 330
uniform mat4 u_view;
uniform mat4 u_proj;
in vec3 in_position;
in vec3 in_normal;
in vec3 in_color;
out vec3 v_position;
out vec3 v_normal;
out vec3 v_color;
void main() {
    vec4 p = u_view * vec4(in_position, 1.0);
    v_position = p.xyz;
    v_normal = mat3(u_view) * in_normal;  // the view matrix is rigid
    v_color = in_color;
    gl_Position = u_proj * p;
}
"""

_FRAGMENT_SHADER = """
#version 330
uniform vec3 u_light_dir[3];
uniform vec3 u_light_color[3];
uniform float u_light_wrap[3];
uniform vec3 u_ambient_sky;
uniform vec3 u_ambient_ground;
uniform float u_specular;
uniform float u_shininess;
in vec3 v_position;
in vec3 v_normal;
in vec3 v_color;
out vec4 f_color;

vec3 linear_to_srgb(vec3 c) {
    c = clamp(c, 0.0, 1.0);
    return mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(0.0031308, c));
}

void main() {
    vec3 n = normalize(v_normal);
    vec3 v = normalize(-v_position);
    // Two-sided lighting: the mouth interior and eyelid edges are seen from their back side.
    if (dot(n, v) < 0.0) n = -n;
    vec3 irradiance = mix(u_ambient_ground, u_ambient_sky, 0.5 + 0.5 * n.y);
    vec3 specular = vec3(0.0);
    for (int i = 0; i < 3; ++i) {
        vec3 l = normalize(u_light_dir[i]);
        float n_dot_l = dot(n, l);
        float w = u_light_wrap[i];
        irradiance += u_light_color[i] * max((n_dot_l + w) / (1.0 + w), 0.0);
        vec3 h = normalize(l + v);
        specular += u_light_color[i] * pow(max(dot(n, h), 0.0), u_shininess) * step(0.0, n_dot_l);
    }
    vec3 color = v_color * irradiance + u_specular * specular;
    f_color = vec4(linear_to_srgb(color), 1.0);
}
"""


@dataclass(frozen=True)
class Camera:
    """A perspective pinhole camera.

    Attributes:
        eye: camera position in metres.
        target: the point the camera looks at.
        up: the world direction that appears up in the image.
        fov_y: vertical field of view in degrees.
        near: near clipping distance in metres.
        far: far clipping distance in metres.
    """

    eye: tuple[float, float, float]
    target: tuple[float, float, float]
    up: tuple[float, float, float] = (0.0, 1.0, 0.0)
    fov_y: float = DEFAULT_FOV_Y
    near: float = 0.01
    far: float = 10.0

    def view_matrix(self) -> np.ndarray:
        """World-to-camera transform, shape (4, 4); the camera looks down its -Z axis."""
        eye, target, up = (np.asarray(a, dtype=np.float64) for a in (self.eye, self.target, self.up))
        forward = target - eye
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, up)
        right /= np.linalg.norm(right)
        true_up = np.cross(right, forward)
        view = np.eye(4)
        view[0, :3], view[1, :3], view[2, :3] = right, true_up, -forward
        view[:3, 3] = -view[:3, :3] @ eye
        return view.astype(np.float32)

    def projection_matrix(self, aspect: float) -> np.ndarray:
        """OpenGL perspective projection for width / height `aspect`, shape (4, 4)."""
        f = 1.0 / math.tan(math.radians(self.fov_y) / 2)
        near, far = self.near, self.far
        proj = np.zeros((4, 4))
        proj[0, 0], proj[1, 1] = f / aspect, f
        proj[2, 2], proj[2, 3] = (far + near) / (near - far), 2 * far * near / (near - far)
        proj[3, 2] = -1.0
        return proj.astype(np.float32)


def frame_camera(
    points: np.ndarray,
    *,
    aspect: float = 1.0,
    fov_y: float = DEFAULT_FOV_Y,
    yaw: float = 0.0,
    pitch: float = 0.0,
    margin: float = DEFAULT_MARGIN,
) -> Camera:
    """A camera that frames the axis-aligned bounding box of `points` with a margin.

    Args:
        points: positions of shape (..., 3), e.g. the first frame's vertices (N, 3), several frames
            (T, N, 3), or just the box's corners (2, 3).
        aspect: image width / height.
        fov_y: vertical field of view in degrees.
        yaw: degrees to orbit the camera around the box centre toward +X (the subject's left);
            0 is a front view, about 35 a 3/4 view.
        pitch: degrees to orbit the camera upward, looking down on the face.
        margin: the box spans 1 / margin of the frame in its tighter direction.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(pts) == 0 or not np.isfinite(pts).all():
        raise InvalidInputError("cannot frame a camera on empty or non-finite points")
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]) - centre
    yaw_r, pitch_r = math.radians(yaw), math.radians(pitch)
    back = np.array([math.sin(yaw_r) * math.cos(pitch_r), math.sin(pitch_r), math.cos(yaw_r) * math.cos(pitch_r)])
    right = np.cross(-back, [0.0, 1.0, 0.0])
    right /= max(np.linalg.norm(right), NORMAL_EPS)
    up = np.cross(right, -back)
    tan_y = math.tan(math.radians(fov_y) / 2)
    tan_x = tan_y * aspect
    x, y, z = corners @ right, corners @ up, corners @ back
    # Each corner at depth (distance - z) must project inside the frame shrunk by `margin`.
    distance = float(np.max(np.maximum(z + np.abs(x) * margin / tan_x, z + np.abs(y) * margin / tan_y)))
    radius = float(np.linalg.norm(hi - lo)) / 2
    distance = max(distance, radius * 1.01, 1e-3)
    eye = centre + back * distance
    return Camera(
        eye=(float(eye[0]), float(eye[1]), float(eye[2])),
        target=(float(centre[0]), float(centre[1]), float(centre[2])),
        up=(0.0, 1.0, 0.0),
        fov_y=fov_y,
        # Generous clip planes: later frames may move beyond the framed box.
        near=max((distance - radius) * 0.25, 1e-4),
        far=distance + radius * 4,
    )


class _Backend(Protocol):
    name: str

    def draw(self, vertices: np.ndarray, normals: np.ndarray, view: np.ndarray, proj: np.ndarray) -> np.ndarray: ...

    def release(self) -> None: ...


def resolve_backend(backend: str | None = None) -> str | None:
    """The requested backend name: `backend`, else `$FACETALK_RENDER_BACKEND`, else None (automatic)."""
    name = backend if backend is not None else os.environ.get(BACKEND_ENV) or None
    if name is not None and name not in BACKENDS:
        source = "backend" if backend is not None else f"${BACKEND_ENV}"
        raise InvalidInputError(f"{source} {name!r} is not a render backend (known: {', '.join(BACKENDS)})")
    return name


class Renderer:
    """Renders one triangle mesh with per-vertex colours, frame after frame, to RGB images.

    The camera is fixed for the renderer's life: either given, or framed on the first rendered
    frame. Use it as a context manager (or call `close`) to free the OpenGL resources.

    Args:
        triangles: vertex indices, shape (F, 3).
        colors: linear RGB in [0, 1] per vertex, shape (N, 3).
        width: image width in pixels.
        height: image height in pixels.
        camera: the camera; None frames the first rendered frame from the front.
        backend: "egl", "osmesa" or None for `$FACETALK_RENDER_BACKEND` or automatic choice.
    """

    def __init__(
        self,
        triangles: np.ndarray,
        colors: np.ndarray,
        *,
        width: int = DEFAULT_SIZE,
        height: int = DEFAULT_SIZE,
        camera: Camera | None = None,
        backend: str | None = None,
    ) -> None:
        colors = np.asarray(colors, dtype=np.float32)
        triangles = np.asarray(triangles)
        if colors.ndim != 2 or colors.shape[1] != 3 or len(colors) == 0:
            raise InvalidInputError(f"vertex colours must have shape (N, 3), got {colors.shape}")
        integer = np.issubdtype(triangles.dtype, np.integer)
        if triangles.ndim != 2 or triangles.shape[1] != 3 or len(triangles) == 0 or not integer:
            raise InvalidInputError(f"triangles must be integer indices of shape (F, 3), got {triangles.shape} {triangles.dtype}")
        if triangles.min() < 0 or triangles.max() >= len(colors):
            raise InvalidInputError(f"triangles index vertices 0..{triangles.max()}, but the mesh has {len(colors)} vertices")
        if width <= 0 or height <= 0:
            raise InvalidInputError(f"image size must be positive, got {width}x{height}")
        self.triangles = triangles.astype(np.int32)
        self.colors = np.clip(colors, 0.0, 1.0)
        self.width, self.height = int(width), int(height)
        self.camera = camera
        self.num_vertices = len(colors)
        # Area-weighted smooth normals as one sparse product: (N, F) incidence @ (F, 3) face normals.
        num_faces = len(self.triangles)
        self._incidence = scipy.sparse.csr_matrix(
            (np.ones(3 * num_faces, np.float32), (self.triangles.reshape(-1), np.repeat(np.arange(num_faces), 3))),
            shape=(self.num_vertices, num_faces),
        )
        self._backend = _open_backend(resolve_backend(backend), self.triangles, self.colors, self.width, self.height)

    @property
    def backend(self) -> str:
        """The name of the backend in use, "egl" or "osmesa"."""
        return self._backend.name

    def normals(self, vertices: np.ndarray) -> np.ndarray:
        """Unit smooth vertex normals of the mesh at `vertices` (N, 3), shape (N, 3)."""
        v0, v1, v2 = (vertices[self.triangles[:, k]] for k in range(3))
        face_normals = np.cross(v1 - v0, v2 - v0)  # (F, 3), length = twice the area
        normals = np.asarray(self._incidence @ face_normals, dtype=np.float32)
        length = np.sqrt((normals * normals).sum(axis=1, keepdims=True))
        return normals / np.maximum(length, NORMAL_EPS)

    def render(self, vertices: np.ndarray) -> np.ndarray:
        """The image of the mesh at `vertices` (N, 3), shape (H, W, 3) uint8 sRGB."""
        vertices = np.ascontiguousarray(vertices, dtype=np.float32)
        if vertices.shape != (self.num_vertices, 3):
            raise InvalidInputError(f"vertices must have shape ({self.num_vertices}, 3), got {vertices.shape}")
        if not np.isfinite(vertices).all():
            raise InvalidInputError("vertices have non-finite values")
        if self.camera is None:
            self.camera = frame_camera(vertices, aspect=self.width / self.height)
        view = self.camera.view_matrix()
        proj = self.camera.projection_matrix(self.width / self.height)
        return self._backend.draw(vertices, self.normals(vertices), view, proj)

    def frames(self, vertices: np.ndarray) -> Iterator[np.ndarray]:
        """Images of each frame of `vertices` (T, N, 3), each (H, W, 3) uint8."""
        for frame in vertices:
            yield self.render(frame)

    def close(self) -> None:
        self._backend.release()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _open_backend(name: str | None, triangles: np.ndarray, colors: np.ndarray, width: int, height: int) -> _Backend:
    """The first backend (of `name`, or of all in order) whose OpenGL context can be created."""
    candidates = [name] if name else list(BACKENDS)
    failures: list[str] = []
    for candidate in candidates:
        try:
            # Only creating the context may fail for want of system libraries; later errors are bugs.
            _egl_context() if candidate == "egl" else _osmesa_module()
        except Exception as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            failures.append(f"{candidate}: {message}")
            continue
        if candidate == "egl":
            return _ModernGLBackend(triangles, colors, width, height)
        return _PyrenderBackend(triangles, colors, width, height)
    packages = " / ".join(APT_PACKAGES[b] for b in candidates)
    raise MissingDependencyError(f"no offscreen OpenGL backend works ({'; '.join(failures)}); apt install {packages}")


@functools.cache
def _egl_context() -> Any:
    """One standalone EGL context per process, shared by all renderers (contexts are expensive)."""
    import moderngl

    # moderngl's type stub declares `backend` as a dict, but it is the backend's name.
    return moderngl.create_standalone_context(backend="egl")  # type: ignore[arg-type]


class _ModernGLBackend:
    name = "egl"

    def __init__(self, triangles: np.ndarray, colors: np.ndarray, width: int, height: int) -> None:
        ctx = _egl_context()
        self._ctx = ctx
        with ctx:
            self._create(triangles, colors, width, height)

    def _create(self, triangles: np.ndarray, colors: np.ndarray, width: int, height: int) -> None:
        ctx = self._ctx
        self._width, self._height = width, height
        num_vertices = len(colors)
        self._program = _egl_program()
        self._positions = ctx.buffer(reserve=num_vertices * 12, dynamic=True)
        self._normals = ctx.buffer(reserve=num_vertices * 12, dynamic=True)
        self._colors = ctx.buffer(np.ascontiguousarray(colors, dtype=np.float32).tobytes())
        self._indices = ctx.buffer(np.ascontiguousarray(triangles, dtype=np.int32).tobytes())
        self._vao = ctx.vertex_array(
            self._program,
            [(self._positions, "3f", "in_position"), (self._normals, "3f", "in_normal"), (self._colors, "3f", "in_color")],
            index_buffer=self._indices,
            index_element_size=4,
        )
        samples = min(MSAA_SAMPLES, int(ctx.max_samples))
        self._msaa = ctx.framebuffer(
            color_attachments=[ctx.renderbuffer((width, height), 4, samples=samples)],
            depth_attachment=ctx.depth_renderbuffer((width, height), samples=samples),
        )
        self._resolved = ctx.framebuffer(color_attachments=[ctx.renderbuffer((width, height), 4)])
        self._pixels = bytearray(width * height * 3)

    def draw(self, vertices: np.ndarray, normals: np.ndarray, view: np.ndarray, proj: np.ndarray) -> np.ndarray:
        # Another GL user in this thread (the osmesa backend, a viewer) may have made its own
        # context current: `with ctx` makes ours current and restores theirs afterwards.
        with self._ctx:
            return self._draw(vertices, normals, view, proj)

    def _draw(self, vertices: np.ndarray, normals: np.ndarray, view: np.ndarray, proj: np.ndarray) -> np.ndarray:
        import moderngl

        ctx = self._ctx
        self._positions.write(vertices)
        self._normals.write(np.ascontiguousarray(normals, dtype=np.float32))
        # moderngl takes matrices column-major: the transpose of numpy's row-major layout.
        self._program["u_view"].write(np.ascontiguousarray(view.T))
        self._program["u_proj"].write(np.ascontiguousarray(proj.T))
        self._msaa.use()
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.CULL_FACE)
        self._msaa.clear(*BACKGROUND_SRGB, 1.0)
        self._vao.render(moderngl.TRIANGLES)
        ctx.copy_framebuffer(self._resolved, self._msaa)
        self._resolved.read_into(self._pixels, components=3, alignment=1)
        image = np.frombuffer(self._pixels, dtype=np.uint8).reshape(self._height, self._width, 3)
        return image[::-1].copy()  # OpenGL's first row is the bottom one

    def release(self) -> None:
        with self._ctx:
            self._release()

    def _release(self) -> None:
        for obj in (self._vao, self._positions, self._normals, self._colors, self._indices, self._msaa, self._resolved):
            obj.release()


@functools.cache
def _egl_program() -> Any:
    """The shader program, built once per process on the shared context."""
    program = _egl_context().program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
    program["u_light_dir"].value = [KEY_DIRECTION, FILL_DIRECTION, RIM_DIRECTION]
    program["u_light_color"].value = [KEY_COLOR, FILL_COLOR, RIM_COLOR]
    program["u_light_wrap"].value = list(LIGHT_WRAP)
    program["u_ambient_sky"].value = AMBIENT_SKY
    program["u_ambient_ground"].value = AMBIENT_GROUND
    program["u_specular"].value = SPECULAR_STRENGTH
    program["u_shininess"].value = SPECULAR_SHININESS
    return program


@functools.cache
def _osmesa_module() -> Any:
    """pyrender, imported for OSMesa after checking that an OSMesa context can be created."""
    if "OpenGL" in sys.modules and os.environ.get("PYOPENGL_PLATFORM") != "osmesa":
        raise RuntimeError("PyOpenGL is already loaded for another platform; set PYOPENGL_PLATFORM=osmesa at start-up")
    # PyOpenGL picks its platform once, at import: this must precede the first pyrender import.
    os.environ["PYOPENGL_PLATFORM"] = "osmesa"
    import pyrender

    pyrender.OffscreenRenderer(1, 1).delete()
    return pyrender


# pyrender's metallic-roughness shading divides diffuse light by pi; scale the intensities to match.
PYRENDER_LIGHT_SCALE = math.pi
PYRENDER_ROUGHNESS = 0.65


class _PyrenderBackend:
    name = "osmesa"

    def __init__(self, triangles: np.ndarray, colors: np.ndarray, width: int, height: int) -> None:
        pyrender = _osmesa_module()
        self._pyrender = pyrender
        self._renderer = pyrender.OffscreenRenderer(width, height)
        self._triangles = triangles
        self._colors = np.concatenate([colors, np.ones((len(colors), 1), np.float32)], axis=1)
        self._material = pyrender.MetallicRoughnessMaterial(
            baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=PYRENDER_ROUGHNESS, doubleSided=True
        )
        ambient = np.asarray(AMBIENT_SKY) * 0.5 + np.asarray(AMBIENT_GROUND) * 0.5
        self._scene = pyrender.Scene(bg_color=[*BACKGROUND_SRGB, 1.0], ambient_light=ambient)
        self._camera_node: Any = None
        self._proj = np.eye(4, dtype=np.float32)
        self._light_nodes: list[Any] = []
        lights = zip((KEY_DIRECTION, FILL_DIRECTION, RIM_DIRECTION), (KEY_COLOR, FILL_COLOR, RIM_COLOR), strict=True)
        for direction, color in lights:
            peak = max(color)
            light = pyrender.DirectionalLight(color=np.asarray(color) / peak, intensity=peak * PYRENDER_LIGHT_SCALE)
            self._light_nodes.append((self._scene.add(light), np.asarray(direction, dtype=np.float64)))
        self._mesh_node: Any = None

    def draw(self, vertices: np.ndarray, normals: np.ndarray, view: np.ndarray, proj: np.ndarray) -> np.ndarray:
        pyrender = self._pyrender
        camera_pose = np.linalg.inv(view.astype(np.float64))
        if self._camera_node is not None and not np.array_equal(proj, self._proj):
            self._scene.remove_node(self._camera_node)  # the caller swapped in another camera
            self._camera_node = None
        if self._camera_node is None:
            self._proj = proj.copy()
            # Recover the projection's parameters: P[1,1] = 1 / tan(fov/2), P[0,0] = P[1,1] / aspect.
            near = proj[2, 3] / (proj[2, 2] - 1.0)
            far = proj[2, 3] / (proj[2, 2] + 1.0)
            camera = pyrender.PerspectiveCamera(
                yfov=2 * math.atan(1.0 / proj[1, 1]),
                aspectRatio=float(proj[1, 1] / proj[0, 0]),
                znear=float(near),
                zfar=float(far),
            )
            self._camera_node = self._scene.add(camera, pose=camera_pose)
        self._scene.set_pose(self._camera_node, camera_pose)
        for node, direction in self._light_nodes:
            # A directional light shines down its -Z axis: point +Z from the surface toward the light.
            self._scene.set_pose(node, camera_pose @ _pose_with_z(direction))
        primitive = pyrender.Primitive(
            positions=vertices, normals=normals, color_0=self._colors, indices=self._triangles, material=self._material
        )
        if self._mesh_node is not None:
            self._scene.remove_node(self._mesh_node)
        self._mesh_node = self._scene.add(pyrender.Mesh([primitive]))
        color, _ = self._renderer.render(self._scene)
        return np.ascontiguousarray(color[..., :3], dtype=np.uint8)

    def release(self) -> None:
        # pyrender deletes its GL objects in whatever context is current: make that its own.
        self._renderer._platform.make_current()
        self._renderer.delete()


def _pose_with_z(direction: np.ndarray) -> np.ndarray:
    """A rotation (4, 4) whose +Z axis is `direction`."""
    z = direction / np.linalg.norm(direction)
    helper = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = x, np.cross(z, x), z
    return pose
