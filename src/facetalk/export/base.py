"""What every export format shares: the format record, its options, its result and the registry.

A format is a named pair of functions, `write(motion, path, options) -> ExportResult` and, when the
format can be read back, `read(path, options) -> Motion`. Writers receive the final path and must
write through `facetalk.files.atomic_output` / `atomic_directory`, so no partial output is ever left.
Every error a user can cause is a `FacetalkError` whose one-line message starts with the file name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facetalk.errors import InvalidInputError
from facetalk.face.rig import BlendshapeRig
from facetalk.face.topology import FaceTopology, face_topology
from facetalk.registry import Registry
from facetalk.types import Motion

PCA_MAX_COMPONENTS = 32
PCA_TOLERANCE_MM = 0.1  # far below what a viewer can see on a life-size face
MM = 1000.0  # millimetres per metre


@dataclass(frozen=True)
class WriteOptions:
    """Options of `export_motion`; each format uses the ones that concern it.

    Attributes:
        topology: mesh (triangles) of vertex motion; the default face when V matches and this is None.
        rig: blendshape rig that turns weights into a mesh (glb, obj); the default face when None.
        fps: livelink-csv only: the rate of the timecode's frame counter (default: the motion's fps).
            No format resamples: every format writes the motion's own frames at the motion's fps.
        pca_max_components: vertex glb: the most morph targets the PCA may use.
        pca_tolerance_mm: vertex glb: use the fewest components whose max per-vertex error is below this.
        track_path: arkit-json: the `trackPath` (audio file) to record.
    """

    topology: FaceTopology | None = None
    rig: BlendshapeRig | None = None
    fps: float | None = None
    pca_max_components: int = PCA_MAX_COMPONENTS
    pca_tolerance_mm: float = PCA_TOLERANCE_MM
    track_path: str = ""


@dataclass(frozen=True)
class ReadOptions:
    """Options of `read_motion`.

    Attributes:
        fps: frame rate to use instead of the one stored in (or derived from) the file. Nothing is
            resampled: frames are reinterpreted as t_i = i / fps.
        keep_rotations: livelink-csv only: keep the 9 head and eye rotations as channels after the 52.
    """

    fps: float | None = None
    keep_rotations: bool = False


@dataclass(frozen=True)
class PcaReport:
    """How well the morph targets of a vertex glb reproduce the motion (measured on the stored float32 data).

    Attributes:
        components: number of morph targets.
        max_error_mm: largest distance between a rebuilt vertex and the input vertex, over all frames.
        mean_error_mm: mean of that distance over all frames and vertices.
        explained_variance: fraction of the motion's variance about the mean shape that the targets keep.
    """

    components: int
    max_error_mm: float
    mean_error_mm: float
    explained_variance: float


@dataclass(frozen=True)
class ExportResult:
    """What `export_motion` wrote.

    Attributes:
        path: the file or directory written.
        format: the format name.
        num_frames: frames written.
        pca: the reconstruction report of a vertex glb, else None.
    """

    path: Path
    format: str
    num_frames: int
    pca: PcaReport | None = None


Writer = Callable[[Motion, Path, WriteOptions], ExportResult]
Reader = Callable[[Path, ReadOptions], Motion]


@dataclass(frozen=True)
class Format:
    """A named export format.

    Attributes:
        name: the name used by `format=` and the CLI's `--format`.
        extensions: file suffixes that select this format, lower case with the dot.
        kinds: the motion kinds the writer accepts.
        write: the writer.
        read: the reader, or None when the format cannot be read back.
        directory: the output is a directory rather than a file.
    """

    name: str
    extensions: tuple[str, ...]
    kinds: tuple[str, ...]
    write: Writer
    read: Reader | None = None
    directory: bool = False


FORMATS: Registry[Format] = Registry("export format")


def register_format(fmt: Format) -> Format:
    return FORMATS.register(fmt.name)(fmt)


def channel_columns(motion: Motion, names: Sequence[str], path: Path, what: str) -> np.ndarray:
    """Index into `names` of each of the motion's channels, matched case-insensitively.

    Raises:
        InvalidInputError: a channel is not one of `names`, or two channels map to the same name.
    """
    lookup = {name.lower(): i for i, name in enumerate(names)}
    unknown = [c for c in motion.channels if c.lower() not in lookup]
    if unknown:
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        raise InvalidInputError(f"{path}: {len(unknown)} channel(s) are not {what}: {shown}")
    columns = np.array([lookup[c.lower()] for c in motion.channels], dtype=np.int64)
    if len(set(columns.tolist())) != len(columns):
        raise InvalidInputError(f"{path}: motion has duplicate channels (names differ only in case)")
    return columns


def weights_in(motion: Motion, names: Sequence[str], path: Path, what: str) -> np.ndarray:
    """The motion's weights laid out as `names`, shape (T, len(names)); missing channels are zero."""
    columns = channel_columns(motion, names, path, what)
    out = np.zeros((motion.num_frames, len(names)), dtype=np.float32)
    out[:, columns] = motion.data
    return out


WRITE_CHUNK_FRAMES = 2048
"""Text formats (ARKit JSON, Live Link CSV) format and write this many frames at a time, so a long
motion never becomes one list of Python numbers or one string in memory."""


def short_float(value: float) -> str:
    """The shortest decimal that reads back as the same float32, without an exponent."""
    return np.format_float_positional(np.float32(value), unique=True, trim="-")


def short_floats(values: np.ndarray) -> np.ndarray:
    """`short_float` of every value, as a str array of the same shape, about twice as fast.

    numpy's own float32 to str conversion is already the shortest round-trip decimal; only the
    values it writes as "1.0" or with an exponent ("1e-05") go through `short_float`.
    """
    numbers = np.asarray(values, dtype=np.float32)
    text = numbers.astype(str)
    redo = np.char.endswith(text, ".0") | (np.char.find(text, "e") >= 0)
    if redo.any():
        text = text.astype(object)  # the fixed strings may be longer than the array's fixed width
        text[redo] = [short_float(value) for value in numbers[redo]]
    return text


def frame_chunks(values: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(first frame, `short_floats` of the chunk) for chunks of `WRITE_CHUNK_FRAMES` frames of (T, C) values."""
    for start in range(0, len(values), WRITE_CHUNK_FRAMES):
        yield start, short_floats(values[start : start + WRITE_CHUNK_FRAMES])


def topology_for(num_vertices: int, topology: FaceTopology | None, path: Path) -> FaceTopology:
    """`topology`, or the default face when it is None and the vertex count matches.

    Raises:
        InvalidInputError: the counts differ, or V is not the default face's and no topology is given.
    """
    if topology is None:
        topology = face_topology()
        if num_vertices != topology.num_vertices:
            raise InvalidInputError(
                f"{path}: vertex motion has {num_vertices} vertices, not the default face's {topology.num_vertices}; "
                "pass topology= with its triangles"
            )
    if topology.num_vertices != num_vertices:
        raise InvalidInputError(f"{path}: topology has {topology.num_vertices} vertices, motion has {num_vertices}")
    return topology
