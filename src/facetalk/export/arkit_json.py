"""ARKit blendshape weights in NVIDIA Audio2Face's JSON export layout (shared FORMATS.md §6).

    {"exportFps": 30, "trackPath": "speech.wav", "numPoses": 52, "numFrames": T,
     "facsNames": ["eyeBlinkLeft", ...], "weightMat": [[w_0 .. w_51], ...]}

`weightMat` is frame-major, T × numPoses. The writer always writes the 52 ARKit names in canonical
order (channels are matched by name, case-insensitively; missing ones are zero; any other channel is
an error). Weights are written as the shortest decimal that reads back as the same float32, so a
round trip is exact. The reader accepts `facsNames` in any order and ignores the keys newer exports
add (`joints`, `rotations`, `translations`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from facetalk.errors import InvalidInputError
from facetalk.export.base import ExportResult, Format, ReadOptions, WriteOptions, frame_chunks, register_format, weights_in
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.files import atomic_output, read_json
from facetalk.types import Motion

REQUIRED_KEYS = ("exportFps", "numPoses", "numFrames", "facsNames", "weightMat")


def write_arkit_json(motion: Motion, path: Path, options: WriteOptions) -> ExportResult:
    weights = weights_in(motion, ARKIT_NAMES, path, "ARKit-52 blendshape names")  # (T, 52)
    fps: float | int = int(motion.fps) if float(motion.fps).is_integer() else float(motion.fps)
    header = {
        "exportFps": fps,
        "trackPath": options.track_path,
        "numPoses": len(ARKIT_NAMES),
        "numFrames": motion.num_frames,
        "facsNames": list(ARKIT_NAMES),
    }
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(header, separators=(",", ":"))[:-1] + ',"weightMat":[')  # the document, streamed
        for start, cells in frame_chunks(weights):
            f.write(("," if start else "") + ",".join("[" + ",".join(row) + "]" for row in cells.tolist()))
        f.write("]}")
    return ExportResult(path, "arkit-json", motion.num_frames)


def read_arkit_json(path: Path, options: ReadOptions) -> Motion:
    """Blendshape motion from an Audio2Face-style JSON file.

    Channels are the 52 ARKit names in canonical order (names the file lacks are zero), followed by
    any non-ARKit `facsNames` in file order.
    """
    document = read_json(path, what="JSON file")
    if not isinstance(document, dict):
        raise InvalidInputError(f"{path}: not an Audio2Face blendshape export (top level is not an object)")
    missing = [key for key in REQUIRED_KEYS if key not in document]
    if missing:
        raise InvalidInputError(f"{path}: not an Audio2Face blendshape export (missing {', '.join(missing)})")
    names = _names(document["facsNames"], path)
    matrix = _matrix(document["weightMat"], path)  # (T, P)
    num_poses, num_frames = _count(document, "numPoses", path), _count(document, "numFrames", path)
    if num_poses != len(names):
        raise InvalidInputError(f"{path}: numPoses is {num_poses} but facsNames has {len(names)} names")
    if num_frames != matrix.shape[0]:
        raise InvalidInputError(f"{path}: numFrames is {num_frames} but weightMat has {matrix.shape[0]} rows")
    if matrix.shape[0] and matrix.shape[1] != num_poses:
        raise InvalidInputError(f"{path}: weightMat rows have {matrix.shape[1]} values but numPoses is {num_poses}")
    fps = options.fps if options.fps is not None else _fps(document["exportFps"], path)

    canonical = {name.lower(): i for i, name in enumerate(ARKIT_NAMES)}
    extra = [name for name in names if name.lower() not in canonical]
    channels = (*ARKIT_NAMES, *extra)
    column = {**canonical, **{name.lower(): len(ARKIT_NAMES) + i for i, name in enumerate(extra)}}
    data = np.zeros((num_frames, len(channels)), dtype=np.float32)
    data[:, [column[name.lower()] for name in names]] = matrix.reshape(num_frames, num_poses)
    return Motion(data, fps, "blendshapes", channels)


def _names(value: Any, path: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise InvalidInputError(f"{path}: facsNames must be a list of strings")
    lowered = [name.lower() for name in value]
    if len(set(lowered)) != len(lowered):
        raise InvalidInputError(f"{path}: facsNames has duplicate names")
    return list(value)


def _matrix(value: Any, path: Path) -> np.ndarray:
    if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
        raise InvalidInputError(f"{path}: weightMat must be a list of rows")
    if len({len(row) for row in value}) > 1:
        raise InvalidInputError(f"{path}: weightMat rows have different lengths")
    if not value:
        return np.zeros((0, 0), dtype=np.float32)
    try:
        matrix = np.array(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInputError(f"{path}: weightMat holds values that are not numbers") from None
    if matrix.ndim != 2:
        raise InvalidInputError(f"{path}: weightMat must be a matrix of numbers")
    if not np.isfinite(matrix).all():
        raise InvalidInputError(f"{path}: weightMat holds non-finite values")
    return matrix.astype(np.float32)


def _count(document: dict[str, Any], key: str, path: Path) -> int:
    value = document[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"{path}: {key} must be a count, got {value!r}")
    return value


def _fps(value: Any, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= sys.float_info.max:
        raise InvalidInputError(f"{path}: exportFps must be a positive number, got {value!r}"[:200])
    return float(value)


ARKIT_JSON = register_format(Format("arkit-json", (".json",), ("blendshapes",), write_arkit_json, read_arkit_json))
