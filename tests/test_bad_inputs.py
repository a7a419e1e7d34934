"""Every reader and writer against inputs made to break it: random bytes, every truncation of a small
valid file, flipped bytes, wrong dtypes, shapes and JSON types.

The only acceptable answers are a valid result or a `FacetalkError` with a one-line message naming
the file; any other exception fails the test (and hypothesis shrinks it to a minimal input). The
runs are derandomized (the same examples every time) and sized to take seconds.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors.torch import save_file

from facetalk.audio.io import load_audio
from facetalk.errors import FacetalkError
from facetalk.export import FORMATS, export_motion, read_motion
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.face.topology import FaceTopology
from facetalk.files import load_safetensors, load_weights
from facetalk.text.textgrid import read_textgrid, write_textgrid
from facetalk.types import Alignment, EmotionSchedule, Motion, Phone, Word

SUFFIX = {"npz": ".npz", "arkit-json": ".json", "livelink-csv": ".csv", "glb": ".glb"}
FILE_READERS = (*SUFFIX, "emotion-schedule", "textgrid", "safetensors", "wav")


def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip


def answered(work: Callable[[], object], named: Path) -> object | None:
    """The result of `work`, or None when it raised a one-line FacetalkError naming `named` (and no warning)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = work()
        except FacetalkError as exc:
            message = str(exc)
            assert message and "\n" not in message, message
            assert named.name in message, message
            assert not caught, [str(w.message) for w in caught]  # the error is the whole answer
            return None
    if isinstance(result, Motion):
        assert result.num_frames > 0 and result.data.shape[1] > 0 and np.isfinite(result.data).all()
    return result


def tiny_topology() -> FaceTopology:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=np.float32) * 0.01
    return FaceTopology(vertices, np.array([[0, 1, 2], [1, 3, 2]]))


def tiny_vertex_motion(frames: int = 3) -> Motion:
    base = tiny_topology().vertices
    wobble = np.linspace(0, 0.002, frames, dtype=np.float32)[:, None, None] * np.array([0, 0, 1], dtype=np.float32)
    return Motion.from_vertices(base[None] + wobble, 30.0)


def write_valid(kind: str, directory: Path) -> tuple[Path, Callable[[Path], object]]:
    """A small valid file of `kind` in `directory`, and the function that reads it."""
    directory.mkdir(parents=True, exist_ok=True)
    # 6 frames at 5 fps span a whole second of timecode, from which Live Link's frame rate is derived
    weights = np.random.default_rng(0).random((6, len(ARKIT_NAMES)), dtype=np.float32).round(2)
    blendshapes = Motion(weights, 5.0, "blendshapes", ARKIT_NAMES)
    if kind in SUFFIX:
        path = directory / f"valid{SUFFIX[kind]}"
        small = {"glb": tiny_vertex_motion(), "npz": Motion(weights[:, :3], 5.0, "params", ("a", "b", "c"))}
        motion = small.get(kind, blendshapes)
        export_motion(motion, path, topology=tiny_topology() if kind == "glb" else None)
        return path, read_motion
    if kind == "emotion-schedule":
        path = directory / "schedule.json"
        path.write_text(json.dumps([{"time": 0.0, "emotion": "happy", "intensity": 0.5}, {"time": 1, "emotion": "sad"}]))
        return path, EmotionSchedule.from_json
    if kind == "textgrid":
        path = directory / "valid.TextGrid"
        alignment = Alignment((Word("hi", 0.0, 0.3),), (Phone("HH", 0.0, 0.1), Phone("AY1", 0.1, 0.3)))
        write_textgrid(alignment, path)
        return path, read_textgrid
    if kind == "safetensors":
        path = directory / "valid.safetensors"
        save_file({"weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "bias": torch.zeros(2)}, str(path))
        return path, load_safetensors
    if kind == "wav":  # the shortest speech load_audio accepts, 8-bit at 8 kHz: about 1 kB
        path = directory / "valid.wav"
        samples = 0.5 * np.sin(np.linspace(0, 200, 1000))
        sf.write(path, samples, 8000, subtype="PCM_U8")
        return path, load_audio
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", FILE_READERS)
def test_every_truncation_of_a_valid_file_is_read_or_refused_in_one_line(tmp_path: Path, kind: str) -> None:
    valid, read = write_valid(kind, tmp_path / "valid")
    data = valid.read_bytes()
    assert answered(lambda: read(valid), valid) is not None  # the untouched file reads
    target = tmp_path / valid.name
    for end in range(len(data)):
        target.write_bytes(data[:end])
        answered(lambda: read(target), target)


@pytest.mark.parametrize("kind", FILE_READERS)
def test_random_bytes_and_flipped_bytes_are_read_or_refused_in_one_line(tmp_path: Path, kind: str) -> None:
    valid, read = write_valid(kind, tmp_path / "valid")
    data = valid.read_bytes()
    target = tmp_path / valid.name
    examples = 60 if kind == "wav" else 300  # a wav that libsndfile refuses goes on to an ffmpeg process
    flip = st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255))

    @fuzz(examples)
    @given(noise=st.binary(max_size=2 * len(data)), flips=st.lists(flip, max_size=4))
    def check(noise: bytes, flips: list[tuple[int, int]]) -> None:
        target.write_bytes(noise)
        answered(lambda: read(target), target)
        flipped = bytearray(data)
        for offset, value in flips:
            flipped[offset] = value
        target.write_bytes(bytes(flipped))
        answered(lambda: read(target), target)

    check()


@pytest.mark.parametrize("kind", FILE_READERS)
def test_a_directory_where_a_file_is_expected_is_refused_in_one_line(tmp_path: Path, kind: str) -> None:
    valid, read = write_valid(kind, tmp_path / "valid")
    target = tmp_path / valid.name
    target.mkdir()
    assert answered(lambda: read(target), target) is None


# --- npz: every field with the wrong dtype, shape or value -------------------------------------------------

DTYPES = hnp.scalar_dtypes() | hnp.unicode_string_dtypes() | hnp.byte_string_dtypes()
ANY_ARRAY = hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
VALID_FIELDS = {
    "data": np.zeros((2, 3), np.float32),
    "fps": np.float64(30.0),
    "kind": np.array("params"),
    "channels": np.array(["a", "b", "c"]),
}


@fuzz(800)
@given(fields=st.fixed_dictionaries({}, optional={key: ANY_ARRAY for key in (*VALID_FIELDS, "triangles")}),
       keep=st.sets(st.sampled_from(sorted(VALID_FIELDS))))  # fmt: skip
def test_npz_fields_of_any_dtype_and_shape(tmp_path: Path, fields: dict[str, np.ndarray], keep: set[str]) -> None:
    from facetalk.export.npz import read_npz_triangles

    path = tmp_path / "fields.npz"
    arrays = {**{key: VALID_FIELDS[key] for key in keep}, **fields}
    np.savez(path, **arrays)
    motion = answered(lambda: read_motion(path), path)
    if motion is not None:
        assert isinstance(motion, Motion) and motion.data.shape == np.shape(arrays["data"])
    answered(lambda: read_npz_triangles(path), path)


# --- JSON readers: any JSON value in any field ---------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


ARKIT_FIELDS = st.dictionaries(st.sampled_from(["exportFps", "numPoses", "numFrames", "facsNames", "weightMat"]), JSON)
EMOTION_KEYS = st.lists(
    st.dictionaries(st.sampled_from(["time", "emotion", "intensity"]), JSON | st.sampled_from(["happy", 0.5])), max_size=3
)


@fuzz(600)
@given(document=JSON, fields=ARKIT_FIELDS, keys=EMOTION_KEYS)
def test_json_readers_with_any_json_values(
    tmp_path: Path, document: object, fields: dict[str, object], keys: list[object]
) -> None:
    path = tmp_path / "in.json"
    valid = {"exportFps": 30, "numPoses": 1, "numFrames": 1, "facsNames": ["jawOpen"], "weightMat": [[0.5]]}
    for value in (document, {**valid, **fields}, keys, {"keys": keys}):
        path.write_text(json.dumps(value, allow_nan=True))
        answered(lambda: read_motion(path), path)
        answered(lambda: EmotionSchedule.from_json(path), path)


# --- OBJ sequences: damaged frame files, missing and extra frames ------------------------------------------


@fuzz(400)
@given(frame=st.integers(0, 2), noise=st.binary(max_size=300), cut=st.integers(0, 400), drop=st.booleans())
def test_damaged_obj_sequences_are_read_whole_or_refused(tmp_path: Path, frame: int, noise: bytes, cut: int, drop: bool) -> None:
    directory = tmp_path / "seq"
    shutil.rmtree(directory, ignore_errors=True)
    export_motion(tiny_vertex_motion(), directory, topology=tiny_topology())
    file = directory / f"frame_{frame:06d}.obj"
    if drop:
        file.unlink()
    else:
        file.write_bytes(file.read_bytes()[:cut] + noise)
    motion = answered(lambda: read_motion(directory), directory)
    assert motion is None or (isinstance(motion, Motion) and motion.num_frames == 3)  # never fewer frames


# --- safetensors models: corrupt weights beside a config of any JSON ----------------------------------------


@fuzz(300)
@given(config=JSON, cut=st.integers(0, 200))
def test_saved_weights_with_corrupt_files(tmp_path: Path, config: object, cut: int) -> None:
    valid, _ = write_valid("safetensors", tmp_path / "valid")
    (tmp_path / "model.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").write_bytes(valid.read_bytes()[:cut])
    answered(lambda: load_weights(tmp_path, weights_name="model.safetensors", config_name="model.json", what="model"), tmp_path)


# --- writers: any motion, to every format ------------------------------------------------------------------

FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOATS = st.floats(-FLOAT32_MAX, FLOAT32_MAX, width=32)


@st.composite
def any_motion(draw: st.DrawFn) -> Motion:
    kind = draw(st.sampled_from(["blendshapes", "vertices", "params"]))
    frames = draw(st.integers(0, 4))
    if kind == "vertices":
        columns = 3 * draw(st.sampled_from([0, 4, 478]))
        channels: tuple[str, ...] = ()
    else:
        names = st.sampled_from(ARKIT_NAMES) | st.text(min_size=1, max_size=6)
        channels = tuple(draw(st.lists(names, max_size=6, unique_by=str.lower)))
        columns = len(channels)
    data = draw(hnp.arrays(np.float32, (frames, columns), elements=FLOATS | st.floats(0, 1, width=32)))
    fps = draw(st.floats(1e-3, 1e4) | st.sampled_from([24.0, 30.0, 59.94]))
    return Motion(data, fps, kind, channels)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_writers_write_a_readable_file_or_refuse_in_one_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / ("out" if name == "obj" else f"out{SUFFIX[name]}")

    @fuzz(40 if name in ("glb", "obj") else 150)
    @given(motion=any_motion())
    def check(motion: Motion) -> None:
        written = answered(lambda: export_motion(motion, path, format=name), path)
        if written is None:
            return
        # A Live Link CSV shorter than a second of timecode cannot tell its rate (docs/formats.md).
        fps = motion.fps if name == "livelink-csv" else None
        back = answered(lambda: read_motion(path, format=name, fps=fps), path)
        assert isinstance(back, Motion) and back.num_frames == motion.num_frames
        if name == "npz":
            np.testing.assert_array_equal(back.data, motion.data)
            assert back.channels == motion.channels and math.isclose(back.fps, motion.fps)

    check()


def test_an_npz_member_with_a_broken_array_header_is_one_line(tmp_path: Path) -> None:
    import zipfile

    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,\x00\x00"  # numpy's tokenizer fails on this
    path = tmp_path / "broken.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for key in VALID_FIELDS:
            archive.writestr(f"{key}.npy", b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
    assert answered(lambda: read_motion(path), path) is None
