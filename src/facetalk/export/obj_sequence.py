"""A directory of Wavefront OBJ files, one per frame: `frame_000000.obj`, `frame_000001.obj`, ...

Each file holds `v x y z` lines (metres, `%.9g`, which reads back as the same float32) and 1-based
`f a b c` lines, after a comment `# facetalk frame i of T at <fps> fps` from which the reader takes
the frame rate. Vertex motion needs its triangles: the default face's when V is 478 and no
`topology=` is given. Blendshape motion is first turned into vertices by `rig=` (default: the
default face). The directory is written atomically (`facetalk.files.atomic_directory`: a kill at any
moment leaves the whole old sequence or the whole new one) and only replaces an existing directory
that holds nothing but frame files. Reading checks that no frame is missing.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from facetalk.errors import FacetalkError, InvalidInputError, OutputError
from facetalk.export.base import ExportResult, Format, ReadOptions, WriteOptions, register_format, topology_for
from facetalk.face.default_face import default_rig
from facetalk.files import atomic_directory, finish_replacement, read_text
from facetalk.types import Motion

FRAME_PATTERN = "frame_{:06d}.obj"
_FRAME_NAME = re.compile(r"^frame_\d{6,}\.obj$")
_HEADER = re.compile(r"^# facetalk frame (\d+) of (\d+) at (\S+) fps$", re.MULTILINE)


def write_obj_sequence(motion: Motion, path: Path, options: WriteOptions) -> ExportResult:
    topology = options.topology
    if motion.kind == "blendshapes":
        rig = options.rig or default_rig()
        topology = topology or rig.topology
        motion = rig.animate(motion)
    vertices = motion.vertices()  # (T, V, 3)
    triangles = np.asarray(topology_for(vertices.shape[1], topology, path).triangles, dtype=np.int64)
    _check_replaceable(path)
    faces = "\n".join(f"f {a} {b} {c}" for a, b, c in (triangles + 1).tolist()) + "\n"
    with atomic_directory(path) as tmp:
        for i, frame in enumerate(vertices):
            header = f"# facetalk frame {i} of {motion.num_frames} at {motion.fps!r} fps\n"
            positions = "\n".join(f"v {x:.9g} {y:.9g} {z:.9g}" for x, y, z in frame.tolist()) + "\n"
            (tmp / FRAME_PATTERN.format(i)).write_text(header + positions + faces)
    return ExportResult(path, "obj", motion.num_frames)


def _check_replaceable(path: Path) -> None:
    """Refuse to replace anything but an earlier OBJ sequence: the whole directory is swapped out."""
    if path.is_dir():
        others = [p.name for p in path.iterdir() if not _FRAME_NAME.match(p.name)]
        if others:
            raise OutputError(f"{path}: directory holds other files ({others[0]}, ...); choose an empty or new directory")
    elif path.exists():
        raise OutputError(f"{path}: exists and is not a directory")


def read_obj_sequence(path: Path, options: ReadOptions) -> Motion:
    """Vertex motion from a directory of `frame_*.obj` files, in frame order.

    An interrupted replacement of the directory is finished first (`facetalk.files.finish_replacement`).
    The frames must be numbered 0, 1, ... without gaps and, in files facetalk wrote, agree with
    their `frame i of T` comments, so a damaged directory is an error, never a shorter motion.
    """
    finish_replacement(path)
    if not path.is_dir():
        raise InvalidInputError(f"{path}: no such directory" if not path.exists() else f"{path}: not a directory")
    files = sorted((p for p in path.iterdir() if _FRAME_NAME.match(p.name)), key=lambda p: int(p.name[6:-4]))
    if not files:
        raise InvalidInputError(f"{path}: no frame_*.obj files")
    numbers = [int(p.name[6:-4]) for p in files]
    if numbers != list(range(len(files))):
        missing = next(i for i, n in enumerate(numbers) if n != i)
        raise InvalidInputError(f"{path}: frame {missing} is missing (the frames must be numbered 0 to {len(files) - 1})")
    frames = []
    fps = options.fps
    for i, file in enumerate(files):
        text = read_text(file, what="OBJ file")
        header = _HEADER.search(text)
        if header is not None:
            index, total = int(header.group(1)), int(header.group(2))
            if total != len(files) or index != i:
                raise InvalidInputError(f"{file}: says frame {index} of {total}, but the directory has {len(files)} frames")
            if fps is None:
                fps = _fps(header.group(3), file)
        elif fps is None:
            raise InvalidInputError(f"{file}: no facetalk frame-rate comment; pass fps=")
        frames.append(_vertices(text, file))
    if fps is None:  # unreachable: set from the first file
        raise InvalidInputError(f"{path}: no frame rate; pass fps=")
    if len({len(f) for f in frames}) != 1:
        raise InvalidInputError(f"{path}: frames have different vertex counts")
    try:
        return Motion.from_vertices(np.stack(frames), fps)
    except FacetalkError as exc:
        raise InvalidInputError(f"{path}: {exc}") from None


def _fps(text: str, file: Path) -> float:
    try:
        fps = float(text)
    except ValueError:
        raise InvalidInputError(f"{file}: frame rate {text!r} is not a number") from None
    if not (math.isfinite(fps) and fps > 0):
        raise InvalidInputError(f"{file}: frame rate must be positive, got {text}")
    return fps


def _vertices(text: str, file: Path) -> np.ndarray:
    """The `v x y z` positions of one OBJ file, shape (V, 3); a vertex's optional w or colour is ignored."""
    rows = [line.split()[1:4] for line in text.splitlines() if line.startswith("v ")]
    if any(len(row) != 3 for row in rows):
        raise InvalidInputError(f"{file}: malformed vertex line (fewer than 3 coordinates)")
    try:
        return np.array(rows, dtype=np.float32).reshape(-1, 3)
    except ValueError:
        raise InvalidInputError(f"{file}: malformed vertex line (a coordinate is not a number)") from None


OBJ = register_format(
    Format("obj", (".obj", ""), ("vertices", "blendshapes"), write_obj_sequence, read_obj_sequence, directory=True)
)
