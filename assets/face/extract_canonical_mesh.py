"""Extract the MediaPipe canonical face mesh from the npm package `@mediapipe/face_mesh`.

The package bundles `geometry_pipeline_metadata_landmarks.binarypb` inside
`face_mesh_solution_packed_assets.data`; `face_mesh_solution_packed_assets_loader.js` lists the byte
range of every bundled file. The protobuf is decoded here with a small varint parser:

    GeometryPipelineMetadata { 1: Mesh3d canonical_mesh; 2: repeated WeightedLandmarkRef }
    Mesh3d { 1: vertex_type; 2: primitive_type; 3: repeated float vertex_buffer (x, y, z, u, v) * V;
             4: repeated uint32 index_buffer }
    WeightedLandmarkRef { 1: uint32 landmark_id; 2: float weight }

Run it from the repository root (needs `npm` and network access to the npm registry):

    python assets/face/extract_canonical_mesh.py [--package-dir DIR]

It writes `assets/face/canonical_face_mesh.npz` (vertices in centimetres as published, uvs,
triangles, the Procrustes landmark ids and weights) and checks the counts (468 vertices, 898
triangles).
"""

from __future__ import annotations

import argparse
import json
import re
import struct
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "@mediapipe/face_mesh"
BINARYPB = "geometry_pipeline_metadata_landmarks.binarypb"
NUM_VERTICES = 468
NUM_TRIANGLES = 898
OUT = Path(__file__).with_name("canonical_face_mesh.npz")


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, object]]:
    """Decode one protobuf message into (field number, wire type, raw value) triples."""
    out: list[tuple[int, int, object]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        value: object
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((field, wire, value))
    return out


def _packed_varints(buf: bytes) -> list[int]:
    values, pos = [], 0
    while pos < len(buf):
        value, pos = _varint(buf, pos)
        values.append(value)
    return values


def _unpack_package(workdir: Path) -> Path:
    subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=workdir, check=True)
    (tgz,) = workdir.glob("*.tgz")
    with tarfile.open(tgz) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package"


def extract(package_dir: Path) -> dict[str, np.ndarray]:
    loader = (package_dir / "face_mesh_solution_packed_assets_loader.js").read_text()
    match = re.search(r'"filename":\s*"[^"]*' + re.escape(BINARYPB) + r'",\s*"start":\s*(\d+),\s*"end":\s*(\d+)', loader)
    if match is None:
        raise SystemExit(f"{BINARYPB} is not listed in the package's asset loader")
    start, end = int(match.group(1)), int(match.group(2))
    blob = (package_dir / "face_mesh_solution_packed_assets.data").read_bytes()[start:end]

    mesh_bytes = next(v for f, w, v in _fields(blob) if f == 1 and w == 2)
    assert isinstance(mesh_bytes, bytes)
    floats: list[float] = []
    indices: list[int] = []
    # Repeated fields may come packed (wire type 2) or one element at a time; accept both.
    for field, wire, value in _fields(mesh_bytes):
        if field == 3 and isinstance(value, bytes):
            floats.extend(struct.unpack(f"<{len(value) // 4}f", value))
        elif field == 4 and wire == 2 and isinstance(value, bytes):
            indices.extend(_packed_varints(value))
        elif field == 4 and wire == 0 and isinstance(value, int):
            indices.append(value)
    landmark_ids, landmark_weights = [], []
    for field, wire, value in _fields(blob):
        if field == 2 and wire == 2:
            assert isinstance(value, bytes)
            ref = {f: v for f, _, v in _fields(value)}
            landmark_ids.append(ref.get(1, 0))
            landmark_weights.append(struct.unpack("<f", ref[2])[0] if 2 in ref else 0.0)

    buffer = np.asarray(floats, dtype=np.float32).reshape(-1, 5)
    triangles = np.asarray(indices, dtype=np.int32).reshape(-1, 3)
    if len(buffer) != NUM_VERTICES or len(triangles) != NUM_TRIANGLES:
        raise SystemExit(
            f"expected {NUM_VERTICES} vertices and {NUM_TRIANGLES} triangles, got {len(buffer)} and {len(triangles)}"
        )
    return {
        "vertices_cm": buffer[:, :3],
        "uvs": buffer[:, 3:],
        "triangles": triangles,
        "procrustes_landmark_ids": np.asarray(landmark_ids, dtype=np.int32),
        "procrustes_landmark_weights": np.asarray(landmark_weights, dtype=np.float32),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package-dir", type=Path, help="an unpacked @mediapipe/face_mesh package (default: npm pack it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        package_dir = args.package_dir or _unpack_package(Path(tmp))
        version = json.loads((package_dir / "package.json").read_text())["version"]
        arrays = extract(package_dir)
    np.savez_compressed(OUT, source=np.asarray(f"{PACKAGE}@{version}"), **arrays)
    print(f"wrote {OUT}: {NUM_VERTICES} vertices, {NUM_TRIANGLES} triangles from {PACKAGE}@{version}")


if __name__ == "__main__":
    main()
