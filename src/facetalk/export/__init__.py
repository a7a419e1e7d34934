"""Write motion to files other tools read, and read those files back.

Formats (names as in the CLI's `--format`):

| name           | chosen by              | writes                          | reads |
|----------------|------------------------|---------------------------------|-------|
| `npz`          | `.npz`                 | any motion, lossless            | yes   |
| `arkit-json`   | `.json`                | ARKit-52 weights, Audio2Face    | yes   |
| `livelink-csv` | `.csv`                 | ARKit-52 (+9 rotations), app    | yes   |
| `glb`          | `.glb`                 | blendshape or vertex animation  | yes   |
| `obj`          | a directory or `.obj`  | one OBJ per frame               | yes   |

A `.obj` path names the directory without its suffix, for writing and reading alike: `out/anim.obj`
writes `out/anim/frame_*.obj`, and reading `out/anim.obj` reads that directory back (a directory
actually named `anim.obj` is read as it is). Every writer goes through `facetalk.files`, so a failure
or a kill leaves no partial output. Every reader refuses a motion without frames or channels. Every
error a user can cause is a one-line `FacetalkError` that names the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from facetalk.errors import FacetalkError, InvalidInputError, OutputError, UnsupportedFormatError
from facetalk.export import arkit_json, gltf, livelink_csv, npz, obj_sequence
from facetalk.export.base import (
    FORMATS,
    PCA_MAX_COMPONENTS,
    PCA_TOLERANCE_MM,
    ExportResult,
    Format,
    PcaReport,
    ReadOptions,
    WriteOptions,
)
from facetalk.face.rig import BlendshapeRig
from facetalk.face.topology import FaceTopology
from facetalk.types import Motion

__all__ = [
    "FORMATS",
    "ExportResult",
    "Format",
    "PcaReport",
    "ReadOptions",
    "WriteOptions",
    "arkit_json",
    "export_motion",
    "format_for",
    "gltf",
    "livelink_csv",
    "npz",
    "obj_sequence",
    "read_motion",
]

MOUTH_SWAP = ("mouthLeft", "mouthRight")
R = TypeVar("R")


def format_for(path: str | os.PathLike[str], format: str | None = None) -> Format:
    """The format named `format`, or else the one the path's extension (or being a directory) selects.

    Raises:
        UnsupportedFormatError: unknown format name or extension.
    """
    path = Path(path)
    if format is not None:
        try:
            return FORMATS.get(format)
        except UnsupportedFormatError as exc:
            raise UnsupportedFormatError(f"{path}: {exc}") from None
    suffix = "" if path.is_dir() else path.suffix.lower()
    for name in FORMATS:
        if suffix in FORMATS.get(name).extensions:
            return FORMATS.get(name)
    known = sorted({ext for name in FORMATS for ext in FORMATS.get(name).extensions if ext})
    raise UnsupportedFormatError(
        f"{path}: unknown extension {suffix!r}; use one of {', '.join(known)}, a directory, or format= ({', '.join(FORMATS)})"
    )


def export_motion(
    motion: Motion,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    topology: FaceTopology | None = None,
    fps: float | None = None,
    rig: BlendshapeRig | None = None,
    pca_max_components: int = PCA_MAX_COMPONENTS,
    pca_tolerance_mm: float = PCA_TOLERANCE_MM,
    track_path: str = "",
) -> ExportResult:
    """Write `motion` to `path` in the named format, or the one its extension selects.

    Args:
        motion: the motion; each format accepts the kinds listed in the module docstring.
        path: output file, or directory for `obj`.
        format: a format name (see `FORMATS.names()`); None chooses by extension.
        topology: triangles of vertex motion; needed unless V is the default face's 478.
        fps: livelink-csv only: the timecode's frame-counter rate (default the motion's fps). No
            format resamples, so for other formats it must be None or the motion's own fps.
        rig: the rig of blendshape motion for glb and obj (default: the default face).
        pca_max_components: vertex glb: the most morph targets to use.
        pca_tolerance_mm: vertex glb: the fewest targets whose max per-vertex error is below this.
        track_path: arkit-json: the audio file to record as `trackPath`.

    Returns:
        What was written, with the PCA reconstruction report for vertex glb.

    Raises:
        UnsupportedFormatError: unknown format or extension.
        InvalidInputError: the motion does not fit the format.
        OutputError: the path cannot be written.
    """
    path = Path(path)
    fmt = format_for(path, format)
    if fmt.directory and path.suffix.lower() == ".obj":
        path = path.with_suffix("")
    if motion.kind not in fmt.kinds:
        raise InvalidInputError(f"{path}: {fmt.name} writes {' or '.join(fmt.kinds)} motion, not {motion.kind}")
    if motion.num_frames == 0 or motion.data.shape[1] == 0:
        raise InvalidInputError(f"{path}: the motion has no {'frames' if motion.num_frames == 0 else 'channels'}")
    if fps is not None and fmt.name != livelink_csv.LIVELINK_CSV.name and fps != motion.fps:
        raise InvalidInputError(
            f"{path}: {fmt.name} writes the motion's frames at its own {motion.fps:g} fps; resample the motion to change it"
        )
    _check_parent(path)
    options = WriteOptions(
        topology=topology,
        rig=rig,
        fps=fps,
        pca_max_components=pca_max_components,
        pca_tolerance_mm=pca_tolerance_mm,
        track_path=track_path,
    )
    return _naming(path, lambda: fmt.write(motion, path, options), "write")


def read_motion(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    fps: float | None = None,
    keep_rotations: bool = False,
    swap_mouth_left_right: bool = False,
) -> Motion:
    """Read a motion file written by `export_motion` or by the tools each format comes from.

    Args:
        path: input file, or directory for `obj`.
        format: a format name; None chooses by extension.
        fps: frame rate to use instead of the stored or derived one (frames are not resampled).
        keep_rotations: livelink-csv: keep the 9 head and eye rotations as channels after the 52.
        swap_mouth_left_right: exchange mouthLeft and mouthRight, undoing the Live Link Face app bug.

    Raises:
        UnsupportedFormatError: unknown format or extension, or a format without a reader.
        InvalidInputError: the file is missing or malformed.
    """
    path = Path(path)
    fmt = format_for(path, format)
    if fmt.read is None:
        raise UnsupportedFormatError(f"{path}: format {fmt.name} cannot be read")
    if fmt.directory and path.suffix.lower() == ".obj" and not path.is_dir():
        if path.is_file():
            raise InvalidInputError(f"{path}: a single OBJ file; facetalk reads OBJ sequences (a directory of frame_*.obj)")
        directory = path.with_suffix("")  # as export_motion wrote it
        if not directory.exists():
            raise InvalidInputError(f"{path}: no such OBJ sequence (no directory {directory})")
        path = directory
    reader = fmt.read
    motion = _naming(path, lambda: reader(path, ReadOptions(fps=fps, keep_rotations=keep_rotations)), "read")
    if motion.num_frames == 0 or motion.data.shape[1] == 0:
        raise InvalidInputError(f"{path}: the motion has no {'frames' if motion.num_frames == 0 else 'channels'}")
    if swap_mouth_left_right:
        if motion.kind != "blendshapes":
            raise InvalidInputError(f"{path}: swap_mouth_left_right needs blendshape motion, got {motion.kind}")
        motion = _swap_mouth(motion)
    return motion


def _swap_mouth(motion: Motion) -> Motion:
    """Exchange the mouthLeft and mouthRight values, keeping the channel order."""
    left, right = MOUTH_SWAP
    channels, data = list(motion.channels), motion.data.copy()
    if left in channels and right in channels:
        i, j = channels.index(left), channels.index(right)
        data[:, [i, j]] = data[:, [j, i]]
    elif left in channels or right in channels:
        k = channels.index(left if left in channels else right)
        channels[k] = right if channels[k] == left else left
    return Motion(data, motion.fps, "blendshapes", tuple(channels))


def _check_parent(path: Path) -> None:
    """Fail early, and clearly, when a would-be parent directory of `path` is a file."""
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{path}: cannot write here ({parent} is not a directory)")
            return


def _naming(path: Path, work: Callable[[], R], action: str) -> R:
    """Run `work`, making sure every error it raises is a one-line FacetalkError naming `path`."""
    try:
        return work()
    except FacetalkError as exc:
        message = str(exc).replace("\n", " ")
        if str(path) in message and "\n" not in str(exc):
            raise
        raise type(exc)(f"{path}: {message}") from None
    except OSError as exc:
        if action == "read":
            raise InvalidInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
        raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from None
