"""facetalk's own lossless format: a numpy .npz with the fields of `Motion`.

Keys: `data` float32 (T, D), `fps` float64 scalar, `kind` str scalar, `channels` str (D,) (empty for
vertices) and, for vertex motion written with `topology=`, `triangles` int32 (F, 3).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from facetalk.errors import FacetalkError, InvalidInputError
from facetalk.export.base import ExportResult, Format, ReadOptions, WriteOptions, register_format
from facetalk.files import DECODE_ERRORS, atomic_output
from facetalk.types import MOTION_KINDS, Motion

NPZ_KEYS = ("data", "fps", "kind", "channels")


def write_npz(motion: Motion, path: Path, options: WriteOptions) -> ExportResult:
    arrays: dict[str, np.ndarray] = {
        "data": motion.data,
        "fps": np.asarray(motion.fps, dtype=np.float64),
        "kind": np.asarray(motion.kind),
        "channels": np.asarray(motion.channels, dtype=np.str_).reshape(len(motion.channels)),
    }
    if motion.kind == "vertices" and options.topology is not None:
        if options.topology.num_vertices != motion.data.shape[1] // 3:
            raise InvalidInputError(
                f"{path}: topology has {options.topology.num_vertices} vertices, motion has {motion.data.shape[1] // 3}"
            )
        arrays["triangles"] = np.asarray(options.topology.triangles, dtype=np.int32)
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, allow_pickle=False, **arrays)
    return ExportResult(path, "npz", motion.num_frames)


def _load(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file")
    if not path.is_file():
        raise InvalidInputError(f"{path}: is a directory, not a .npz file")
    if not zipfile.is_zipfile(path):
        raise InvalidInputError(f"{path}: not a .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except DECODE_ERRORS as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InvalidInputError(f"{path}: not a readable .npz file ({reason})") from None


def read_npz(path: Path, options: ReadOptions) -> Motion:
    arrays = _load(path)
    missing = [key for key in NPZ_KEYS if key not in arrays]
    if missing:
        raise InvalidInputError(f"{path}: not a facetalk motion file (missing {', '.join(missing)})")
    kind, fps_value, channels, data = arrays["kind"], arrays["fps"], arrays["channels"], arrays["data"]
    if kind.ndim != 0 or kind.dtype.kind != "U" or str(kind) not in MOTION_KINDS:
        raise InvalidInputError(f"{path}: kind must be one of {', '.join(MOTION_KINDS)}, got {_shown(kind)}")
    if fps_value.ndim != 0 or fps_value.dtype.kind not in "iuf":
        raise InvalidInputError(f"{path}: fps must be a number, got {_shown(fps_value)}")
    if channels.ndim != 1 or (channels.size and channels.dtype.kind != "U"):
        raise InvalidInputError(f"{path}: channels must be a list of names, got {_shown(channels)}")
    if data.dtype.kind not in "iuf":
        raise InvalidInputError(f"{path}: data must be numbers, got {data.dtype} values")
    fps = options.fps if options.fps is not None else float(fps_value)
    try:
        return Motion(data, fps, str(kind), tuple(str(c) for c in channels))  # type: ignore[arg-type]
    except FacetalkError as exc:
        raise InvalidInputError(f"{path}: {exc}") from None


def _shown(array: np.ndarray) -> str:
    """A short description of a stored value that is not what it should be."""
    if array.ndim == 0 and array.dtype.kind in "Uiufb":
        return repr(array.item())[:60]
    return f"a {array.dtype} array of shape {array.shape}"


def read_npz_triangles(path: str | Path) -> np.ndarray | None:
    """The triangles (F, 3) stored with a vertex motion, or None when the file has none.

    Raises:
        InvalidInputError: the file is unreadable, or its triangles are not (F, 3) integers.
    """
    arrays = _load(Path(path))
    if "triangles" not in arrays:
        return None
    triangles = arrays["triangles"]
    if triangles.ndim != 2 or triangles.shape[1] != 3 or triangles.dtype.kind not in "iu":
        raise InvalidInputError(f"{path}: triangles must be (F, 3) integers, got {_shown(triangles)}")
    return triangles.astype(np.int32)


NPZ = register_format(Format("npz", (".npz",), MOTION_KINDS, write_npz, read_npz))
