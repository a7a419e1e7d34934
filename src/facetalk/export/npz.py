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
from facetalk.files import atomic_output
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
    if path.is_file() and not zipfile.is_zipfile(path):
        raise InvalidInputError(f"{path}: not a .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InvalidInputError(f"{path}: not a readable .npz file ({exc})") from None


def read_npz(path: Path, options: ReadOptions) -> Motion:
    arrays = _load(path)
    missing = [key for key in NPZ_KEYS if key not in arrays]
    if missing:
        raise InvalidInputError(f"{path}: not a facetalk motion file (missing {', '.join(missing)})")
    kind = str(arrays["kind"])
    if kind not in MOTION_KINDS:
        raise InvalidInputError(f"{path}: unknown motion kind {kind!r}")
    fps = options.fps if options.fps is not None else float(arrays["fps"])
    channels = tuple(str(c) for c in arrays["channels"].reshape(-1))
    try:
        return Motion(arrays["data"], fps, kind, channels)  # type: ignore[arg-type]
    except FacetalkError as exc:
        raise InvalidInputError(f"{path}: {exc}") from None


def read_npz_triangles(path: str | Path) -> np.ndarray | None:
    """The triangles (F, 3) stored with a vertex motion, or None when the file has none."""
    arrays = _load(Path(path))
    return arrays["triangles"].astype(np.int32) if "triangles" in arrays else None


NPZ = register_format(Format("npz", (".npz",), MOTION_KINDS, write_npz, read_npz))
