"""Binary glTF 2.0 (.glb) with morph-target animation (shared FORMATS.md §8), via pygltflib.

One mesh with one primitive (so every primitive trivially has the same targets), one node
instancing it, and one animation whose LINEAR sampler maps frame times t_i = i / fps to the target
weights, frame-major (`out[i * K + k]` is target k at frame i), on the node's "weights" path.

- Blendshape motion: the mesh is the rig's drawable scene. For the default face (or any rig on the
  default topology) that is `default_face.scene_mesh`: skin plus mouth interior, teeth and eyeballs,
  whose vertices are affine in the face vertices, so each blendshape's scene-wide morph target is
  exactly `scene(neutral + delta_k) - scene(neutral)`; its face rows are the rig's deltas verbatim.
  A rig on another topology exports its skin alone. Targets are named by `mesh.extras.targetNames`.
- Vertex motion: the sequence is compressed by PCA about the mean shape. The base mesh is the mean
  shape; the targets are the fewest principal components (at most `pca_max_components`) whose
  reconstruction stays within `pca_tolerance_mm` of every vertex in every frame. Each target is
  scaled so its weight track spans [-1, 1]: glTF allows any float weight, and keeping the mean as
  the rest pose (weights 0) gives static viewers a sensible face where a [0, 1] remap would not.
  The error of the data as stored (float32) is returned as a `PcaReport` and written to
  `asset.extras["facetalk"]["pca"]`.

Every file carries `asset.extras["facetalk"] = {"kind", "fps", "frames", ...}` so that
`read_glb` can return the motion that was written: blendshape weights, or the rebuilt vertices.
Positions and normals carry COLOR_0 (linear RGB) and a double-sided non-metallic material, since
glTF's default material is fully metallic and renders nearly black.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pygltflib

from facetalk.errors import FacetalkError, InvalidInputError
from facetalk.export.base import (
    MM,
    ExportResult,
    Format,
    PcaReport,
    ReadOptions,
    WriteOptions,
    register_format,
    topology_for,
    weights_in,
)
from facetalk.face.default_face import SKIN_COLOR, default_rig, scene_mesh
from facetalk.face.rig import BlendshapeRig
from facetalk.face.topology import FaceTopology, face_topology
from facetalk.files import atomic_output
from facetalk.types import Motion

ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
FLOAT = 5126
UNSIGNED_SHORT = 5123
UNSIGNED_INT = 5125
GLB_ALIGNMENT = 4
GLB_MAGIC = b"glTF"
GLB_VERSION = 2
GLB_HEADER_BYTES = 8  # the magic and the version
MATERIAL_ROUGHNESS = 0.6
EXTRAS_KEY = "facetalk"
MAX_COORDINATE_M = 1e6
"""Vertex glb refuses positions beyond this: no face is a thousand kilometres across, and the PCA and
float32 morph targets of coordinates near the float32 limit overflow."""
_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


class _Scene:
    """Drawable geometry with morph targets.

    Attributes:
        base: rest positions (N, 3).
        targets: displacements (K, N, 3).
        triangles: (F, 3) into the N vertices.
        colors: linear RGB (N, 3).
        face_rows: how many leading rows are the motion's own vertices.
    """

    def __init__(self, base: np.ndarray, targets: np.ndarray, triangles: np.ndarray, colors: np.ndarray, face_rows: int):
        self.base = np.asarray(base, dtype=np.float32)
        self.targets = np.asarray(targets, dtype=np.float32)
        self.triangles = np.asarray(triangles, dtype=np.int64)
        self.colors = np.asarray(colors, dtype=np.float32)
        self.face_rows = face_rows


def _on_default_topology(topology: FaceTopology) -> bool:
    default = face_topology()
    return topology.num_vertices == default.num_vertices and np.array_equal(topology.triangles, default.triangles)


def _scene(base: np.ndarray, deltas: np.ndarray, topology: FaceTopology) -> _Scene:
    """The scene of face `base` (V, 3) with face displacements `deltas` (K, V, 3) as morph targets."""
    num_face = len(base)
    if _on_default_topology(topology):
        # One batched call: row 0 is the rest scene, rows 1.. the scene at each target.
        scene = scene_mesh(np.concatenate([base[None], base[None] + deltas]))
        rest = scene.vertices[0]
        targets = scene.vertices[1:] - rest[None]
        targets[:, :num_face] = deltas  # exact, rather than (base + delta) - base in float32
        return _Scene(rest, targets, scene.triangles, scene.colors, num_face)
    colors = np.tile(np.asarray(SKIN_COLOR, np.float32), (num_face, 1))
    return _Scene(base, deltas, topology.triangles, colors, num_face)


def write_glb(motion: Motion, path: Path, options: WriteOptions) -> ExportResult:
    if motion.num_frames == 0:
        raise InvalidInputError(f"{path}: motion has no frames, and a glTF animation needs at least one")
    if motion.kind == "vertices":
        return _write_vertex_glb(motion, path, options)
    rig = options.rig or default_rig()
    weights = weights_in(motion, rig.names, path, "blendshapes of the rig")  # (T, K)
    scene = _rig_scene(rig)
    extras = {"kind": "blendshapes", "fps": motion.fps, "frames": motion.num_frames}
    _save(path, scene, list(rig.names), weights, motion.fps, extras)
    return ExportResult(path, "glb", motion.num_frames)


def _rig_scene(rig: BlendshapeRig) -> _Scene:
    return _scene(rig.neutral, rig.deltas, rig.topology)


def _write_vertex_glb(motion: Motion, path: Path, options: WriteOptions) -> ExportResult:
    vertices = motion.vertices()  # (T, V, 3)
    topology = topology_for(vertices.shape[1], options.topology, path)
    if options.pca_max_components < 1:
        raise InvalidInputError(f"{path}: pca_max_components must be at least 1, got {options.pca_max_components}")
    if np.abs(vertices).max() > MAX_COORDINATE_M:
        raise InvalidInputError(f"{path}: vertex positions beyond {MAX_COORDINATE_M:g} m are not a face (units must be metres)")
    mean, targets, weights, explained = _pca(vertices, options.pca_max_components, options.pca_tolerance_mm / MM)
    scene = _scene(mean, targets, topology)
    # Measure what a reader rebuilds from the stored float32 arrays.
    rebuilt = _rebuild(scene.base[: scene.face_rows], scene.targets[:, : scene.face_rows], weights.astype(np.float32))
    error = np.linalg.norm(rebuilt - vertices.astype(np.float64), axis=2) * MM  # (T, V)
    report = PcaReport(len(targets), float(error.max()), float(error.mean()), explained)
    names = [f"pca_{k:03d}" for k in range(len(targets))]
    extras = {
        "kind": "vertices",
        "fps": motion.fps,
        "frames": motion.num_frames,
        "face_vertices": scene.face_rows,
        "pca": {
            "components": report.components,
            "max_error_mm": report.max_error_mm,
            "mean_error_mm": report.mean_error_mm,
            "explained_variance": report.explained_variance,
        },
    }
    _save(path, scene, names, weights, motion.fps, extras)
    return ExportResult(path, "glb", motion.num_frames, report)


def _pca(vertices: np.ndarray, max_components: int, tolerance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Mean shape (V, 3), targets (K, V, 3) and weights (T, K) in [-1, 1] of vertices (T, V, 3)."""
    frames, num_vertices, _ = vertices.shape
    x = vertices.astype(np.float64)
    mean = x.mean(axis=0)
    centred = (x - mean).reshape(frames, -1)  # (T, 3V)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    coefficients = u * s  # (T, R)
    residual = centred.copy()
    k = 1
    for k in range(1, min(max_components, len(s)) + 1):
        residual -= np.outer(coefficients[:, k - 1], vt[k - 1])
        if np.linalg.norm(residual.reshape(frames, num_vertices, 3), axis=2).max() <= tolerance:
            break
    # T >= 1 and 3V >= 3, so there is at least one component: a static motion gets one zero target.
    weights, components = coefficients[:, :k], vt[:k]
    scale = np.abs(weights).max(axis=0)
    scale[scale == 0] = 1.0
    total = float((s**2).sum())
    explained = float((s[:k] ** 2).sum() / total) if total > 0 else 1.0
    targets = (components * scale[:, None]).reshape(k, num_vertices, 3)
    return mean, targets, weights / scale, explained


def _rebuild(base: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Positions (T, N, 3) of base (N, 3) plus targets (K, N, 3) at weights (T, K), in float64."""
    flat = targets.reshape(len(targets), -1).astype(np.float64)
    return base.astype(np.float64)[None] + (weights.astype(np.float64) @ flat).reshape(len(weights), -1, 3)


def _vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit normals (N, 3); vertices in no triangle get +Z (glTF needs unit normals)."""
    v = vertices.astype(np.float64)
    face_normals = np.cross(v[triangles[:, 1]] - v[triangles[:, 0]], v[triangles[:, 2]] - v[triangles[:, 0]])
    normals = np.zeros_like(v)
    for corner in range(3):
        np.add.at(normals, triangles[:, corner], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 0, normals / np.where(length > 0, length, 1.0), np.array([0.0, 0.0, 1.0]))
    return normals.astype(np.float32)


class _GlbBuilder:
    """Collects arrays into one binary buffer, each in its own 4-byte-aligned bufferView."""

    def __init__(self) -> None:
        self.gltf = pygltflib.GLTF2()
        self.blob = bytearray()

    def add(self, array: np.ndarray, accessor_type: str, *, target: int | None, bounds: bool) -> int:
        self.blob.extend(b"\0" * (-len(self.blob) % GLB_ALIGNMENT))
        data = np.ascontiguousarray(array)
        view = pygltflib.BufferView(buffer=0, byteOffset=len(self.blob), byteLength=data.nbytes, target=target)
        self.blob.extend(data.tobytes())
        self.gltf.bufferViews.append(view)
        component = {np.dtype(np.float32): FLOAT, np.dtype(np.uint16): UNSIGNED_SHORT, np.dtype(np.uint32): UNSIGNED_INT}
        rows = data.reshape(len(data), -1)
        accessor = pygltflib.Accessor(
            bufferView=len(self.gltf.bufferViews) - 1,
            componentType=component[data.dtype],
            count=len(data),
            type=accessor_type,
            min=[float(v) for v in rows.min(axis=0)] if bounds else None,
            max=[float(v) for v in rows.max(axis=0)] if bounds else None,
        )
        self.gltf.accessors.append(accessor)
        return len(self.gltf.accessors) - 1

    def save(self, path: Path) -> None:
        self.blob.extend(b"\0" * (-len(self.blob) % GLB_ALIGNMENT))
        self.gltf.buffers = [pygltflib.Buffer(byteLength=len(self.blob))]
        self.gltf.set_binary_blob(bytes(self.blob))
        self.gltf.save_binary(str(path))


def _save(path: Path, scene: _Scene, names: list[str], weights: np.ndarray, fps: float, extras: dict[str, Any]) -> None:
    """Write the scene with `weights` (T, K) animating its K targets at `fps`."""
    builder = _GlbBuilder()
    gltf = builder.gltf
    index_type = np.uint16 if len(scene.base) <= np.iinfo(np.uint16).max else np.uint32
    position = builder.add(scene.base, "VEC3", target=ARRAY_BUFFER, bounds=True)
    normal = builder.add(_vertex_normals(scene.base, scene.triangles), "VEC3", target=ARRAY_BUFFER, bounds=False)
    color = builder.add(scene.colors, "VEC3", target=ARRAY_BUFFER, bounds=False)
    indices = builder.add(scene.triangles.reshape(-1).astype(index_type), "SCALAR", target=ELEMENT_ARRAY_BUFFER, bounds=False)
    targets = [
        pygltflib.Attributes(POSITION=builder.add(delta, "VEC3", target=ARRAY_BUFFER, bounds=True)) for delta in scene.targets
    ]
    times = (np.arange(len(weights), dtype=np.float64) / fps).astype(np.float32)  # t_i = i / fps
    time_accessor = builder.add(times, "SCALAR", target=None, bounds=True)
    weight_accessor = builder.add(weights.astype(np.float32).reshape(-1), "SCALAR", target=None, bounds=False)

    gltf.asset = pygltflib.Asset(generator="facetalk", version="2.0", extras={EXTRAS_KEY: extras})
    gltf.materials = [
        pygltflib.Material(
            name="skin",
            pbrMetallicRoughness=pygltflib.PbrMetallicRoughness(
                baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=MATERIAL_ROUGHNESS
            ),
            doubleSided=True,
        )
    ]
    primitive = pygltflib.Primitive(
        attributes=pygltflib.Attributes(POSITION=position, NORMAL=normal, COLOR_0=color),
        indices=indices,
        material=0,
        targets=targets,
    )
    mesh_extras: dict[str, Any] = {"targetNames": names}
    if "pca" in extras:
        mesh_extras["pca"] = extras["pca"]
    gltf.meshes = [pygltflib.Mesh(name="face", primitives=[primitive], weights=[0.0] * len(names), extras=mesh_extras)]
    gltf.nodes = [pygltflib.Node(name="face", mesh=0)]
    gltf.scenes = [pygltflib.Scene(nodes=[0])]
    gltf.scene = 0
    gltf.animations = [
        pygltflib.Animation(
            name="speech",
            samplers=[pygltflib.AnimationSampler(input=time_accessor, output=weight_accessor, interpolation="LINEAR")],
            channels=[pygltflib.AnimationChannel(sampler=0, target=pygltflib.AnimationChannelTarget(node=0, path="weights"))],
        )
    ]
    with atomic_output(path) as tmp:
        builder.save(tmp)


def read_glb(path: Path, options: ReadOptions) -> Motion:
    """The motion of a .glb's first morph-weight animation.

    Returns blendshape motion (channels = `mesh.extras.targetNames`, else `target_000`, ...), or, for
    files written from vertex motion by facetalk, the rebuilt vertices of the face. Frames are the
    sampler's keyframes, taken as uniformly spaced; CUBICSPLINE tangents are dropped.
    """
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    with open(path, "rb") as f:
        header = f.read(GLB_HEADER_BYTES)
    if header[: len(GLB_MAGIC)] != GLB_MAGIC:
        raise InvalidInputError(f"{path}: not a binary glTF file (no glTF header)")
    version = int.from_bytes(header[len(GLB_MAGIC) :], "little")
    if len(header) < GLB_HEADER_BYTES:
        raise InvalidInputError(f"{path}: not a readable .glb file (truncated header)")
    if version != GLB_VERSION:
        raise InvalidInputError(f"{path}: binary glTF version {version}; only version {GLB_VERSION} is read")
    try:
        with warnings.catch_warnings():  # what pygltflib would warn about ends in a one-line error, or does not matter
            warnings.simplefilter("ignore")
            gltf = pygltflib.GLTF2.load_binary(str(path))
        blob = gltf.binary_blob()
    except Exception as exc:  # pygltflib raises anything from struct.error to KeyError on bad input
        raise InvalidInputError(f"{path}: not a readable .glb file ({type(exc).__name__})") from None
    if gltf is None or blob is None:
        raise InvalidInputError(f"{path}: not a readable .glb file (no binary chunk)")
    try:
        return _read_animation(gltf, blob, path, options)
    except FacetalkError:
        raise
    except (IndexError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InvalidInputError(f"{path}: malformed glTF ({type(exc).__name__}: {exc})") from None


def _read_animation(gltf: pygltflib.GLTF2, blob: bytes, path: Path, options: ReadOptions) -> Motion:
    found = [(a, c) for a in gltf.animations for c in a.channels if c.target.path == "weights"]
    if not found:
        raise InvalidInputError(f"{path}: has no morph-target weight animation")
    animation, channel = found[0]
    sampler = animation.samplers[channel.sampler]
    mesh = gltf.meshes[gltf.nodes[channel.target.node].mesh]
    num_targets = len(mesh.primitives[0].targets or [])
    if num_targets == 0:
        raise InvalidInputError(f"{path}: the animated mesh has no morph targets")
    names = list((mesh.extras or {}).get("targetNames") or [f"target_{k:03d}" for k in range(num_targets)])
    times = _accessor(gltf, blob, sampler.input, path).reshape(-1)
    output = _accessor(gltf, blob, sampler.output, path).reshape(-1)
    frames = len(times)
    per_frame = 3 if sampler.interpolation == "CUBICSPLINE" else 1
    if output.size != frames * num_targets * per_frame or len(names) != num_targets:
        expected = frames * num_targets * per_frame
        raise InvalidInputError(f"{path}: animation output has {output.size} values, expected {expected}")
    weights = output.reshape(frames, per_frame, num_targets)[:, per_frame // 2]  # (T, K), values between tangents
    info = (gltf.asset.extras or {}).get(EXTRAS_KEY, {})
    fps = options.fps or info.get("fps") or _fps_from_times(times, path)
    if info.get("kind") != "vertices":
        return Motion(weights, float(fps), "blendshapes", tuple(str(n) for n in names))
    primitive = mesh.primitives[0]
    face_rows = int(info["face_vertices"])
    base = _accessor(gltf, blob, primitive.attributes.POSITION, path)[:face_rows]
    targets = np.stack([_accessor(gltf, blob, _target_position(t), path)[:face_rows] for t in primitive.targets])
    return Motion.from_vertices(_rebuild(base, targets, weights).astype(np.float32), float(fps))


def _target_position(target: pygltflib.Attributes | dict[str, int]) -> int:
    """A morph target's POSITION accessor; pygltflib loads targets as plain dicts."""
    return int(target["POSITION"] if isinstance(target, dict) else target.POSITION)


def _fps_from_times(times: np.ndarray, path: Path) -> float:
    steps = np.diff(times.astype(np.float64))
    if len(steps) == 0 or np.median(steps) <= 0:
        raise InvalidInputError(f"{path}: cannot derive the frame rate from the animation times; pass fps=")
    return float(1.0 / np.median(steps))


def _accessor(gltf: pygltflib.GLTF2, blob: bytes, index: int, path: Path) -> np.ndarray:
    """The float data of accessor `index`, shape (count, components)."""
    accessor = gltf.accessors[index]
    if accessor.componentType != FLOAT or accessor.sparse is not None or accessor.bufferView is None:
        raise InvalidInputError(f"{path}: accessor {index} is not plain float data, which this reader does not support")
    view = gltf.bufferViews[accessor.bufferView]
    components = _COMPONENTS[accessor.type]
    if view.byteStride not in (None, 4 * components):
        raise InvalidInputError(f"{path}: accessor {index} is interleaved, which this reader does not support")
    start = (view.byteOffset or 0) + (accessor.byteOffset or 0)
    return np.frombuffer(blob, dtype="<f4", count=accessor.count * components, offset=start).reshape(accessor.count, components)


GLB = register_format(Format("glb", (".glb",), ("blendshapes", "vertices"), write_glb, read_glb))
