"""Offscreen render speed at 512x512: moderngl on EGL against pyrender on OSMesa, in one run.

The mesh is the default face subdivided once (about 2k vertices, the size of the face with its
accessories), animated with a jaw motion, so every frame pays for normals, upload and readback.

    .venv/bin/python bench/render_speed.py [--frames 120] [--size 512]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from facetalk.face.topology import face_topology
from facetalk.render.offscreen import BACKENDS, Renderer, frame_camera

WARMUP_FRAMES = 5
JAW_DROP_M = 0.012  # how far the animated jaw opens, in metres


def subdivide(vertices: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step of midpoint subdivision: each triangle becomes four. Returns (vertices, triangles)."""
    edges = np.sort(np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]]), axis=1)
    unique, inverse = np.unique(edges, axis=0, return_inverse=True)
    mids = len(vertices) + inverse.reshape(3, -1).T  # (F, 3): midpoints of edges 01, 12, 20
    new_vertices = np.concatenate([vertices, vertices[unique].mean(axis=1)])
    a, b, c = triangles.T
    ab, bc, ca = mids.T
    new_triangles = np.concatenate([np.stack(t, axis=1) for t in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    return new_vertices.astype(np.float32), new_triangles.astype(np.int32)


def animated_mesh(num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """A subdivided face opening and closing its jaw: vertices (T, N, 3) and triangles (F, 3)."""
    topology = face_topology()
    vertices, triangles = subdivide(topology.vertices, topology.triangles)
    jaw_y = topology.vertices[topology.region("jaw"), 1].max()
    below = np.clip((jaw_y - vertices[:, 1]) / 0.02, 0.0, 1.0)  # (N,) ramps in over 2 cm
    opening = JAW_DROP_M * np.abs(np.sin(np.linspace(0.0, 4 * np.pi, num_frames)))  # (T,)
    frames = np.repeat(vertices[None], num_frames, axis=0)
    frames[:, :, 1] -= opening[:, None] * below[None]
    return frames, triangles


def measure(backend: str, frames: np.ndarray, triangles: np.ndarray, size: int) -> float:
    """Frames per second of `Renderer.render` on `backend`, after a warm-up."""
    colors = np.tile(np.array([0.87, 0.70, 0.60], np.float32), (frames.shape[1], 1))
    camera = frame_camera(frames[0])
    with Renderer(triangles, colors, width=size, height=size, camera=camera, backend=backend) as renderer:
        for frame in frames[:WARMUP_FRAMES]:
            renderer.render(frame)
        start = time.perf_counter()
        for frame in frames:
            renderer.render(frame)
        return len(frames) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    frames, triangles = animated_mesh(args.frames)
    print(f"mesh: {frames.shape[1]} vertices, {len(triangles)} triangles; {args.frames} frames at {args.size}x{args.size}")
    # egl first: the osmesa backend imports PyOpenGL for OSMesa, which moderngl does not use.
    fps = {backend: measure(backend, frames, triangles, args.size) for backend in BACKENDS}
    for backend, value in fps.items():
        print(f"{backend:>7}: {value:6.1f} fps")
    print(f"ratio egl / osmesa: {fps['egl'] / fps['osmesa']:.2f}x")


if __name__ == "__main__":
    main()
