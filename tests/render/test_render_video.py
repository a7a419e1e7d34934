"""Videos: streams, frame counts and durations, side-by-side panels, and clean failures."""

from __future__ import annotations

import re
import subprocess
import wave
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from facetalk.errors import InvalidInputError, OutputError, UnsupportedFormatError
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.face.topology import face_topology
from facetalk.render import offscreen
from facetalk.render.video import render_side_by_side, render_video
from facetalk.types import Motion

SAMPLE_RATE = 16000
FPS = 25.0
NUM_FRAMES = 20  # 0.8 s
SIZE = 96
JAW_DROP_M = 0.012
CAPTION_MIN_DIFF = 4.0  # mean difference of the caption strips of two panels with different captions
CODEC_NOISE = 1.5  # mean difference that H.264 leaves between two identical panels


def talking_face(num_frames: int = NUM_FRAMES, fps: float = FPS) -> Motion:
    """The default face opening and closing its jaw, as vertex motion."""
    topology = face_topology()
    vertices = np.repeat(topology.vertices[None], num_frames, axis=0)
    opening = JAW_DROP_M * np.abs(np.sin(np.linspace(0.0, 2 * np.pi, num_frames)))
    vertices[:, topology.region("jaw"), 1] -= opening[:, None]
    return Motion.from_vertices(vertices, fps)


def write_chirp(path: Path, seconds: float) -> Path:
    """A mono 16-bit wav of a rising tone, made here so the tests need no downloads."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    samples = 0.3 * np.sin(2 * np.pi * (220 + 300 * t) * t)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


def stream_kinds(path: Path) -> list[str]:
    """The kinds ("Video", "Audio", ...) of a media file's streams, from `ffmpeg -i`'s description."""
    info = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    return re.findall(r"Stream #\d+:\d+.*?: (\w+):", info.stderr)


def audio_seconds(path: Path) -> float:
    """Duration of a file's audio track, by decoding all of it."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0"]
    command += ["-f", "s16le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
    pcm = subprocess.run(command, capture_output=True, check=True).stdout
    return len(pcm) / 2 / SAMPLE_RATE


def first_frame(path: Path) -> np.ndarray:
    """The first decoded frame of a video, (H, W, 3) uint8."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frame = np.frombuffer(next(reader), dtype=np.uint8).reshape(height, width, 3)
    reader.close()
    return frame


def leftovers(directory: Path) -> list[str]:
    """Files in `directory`, to check that a failed write left nothing behind."""
    return sorted(p.name for p in directory.iterdir())


def video_frames_and_seconds(path: Path) -> tuple[int, float]:
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    return int(frames), float(seconds)


@pytest.mark.parametrize("audio_seconds_in", [0.4, 1.3], ids=["short-audio-padded", "long-audio-trimmed"])
def test_video_has_one_video_and_one_audio_stream_of_the_motions_duration(tmp_path: Path, audio_seconds_in: float) -> None:
    speech = write_chirp(tmp_path / "speech.wav", audio_seconds_in)
    out = render_video(talking_face(), tmp_path / "talk.mp4", audio=speech, width=SIZE, height=SIZE)
    assert stream_kinds(out) == ["Video", "Audio"]
    frames, seconds = video_frames_and_seconds(out)
    duration = NUM_FRAMES / FPS
    assert frames == NUM_FRAMES
    assert abs(seconds - duration) <= 1 / FPS
    assert abs(audio_seconds(out) - duration) <= 1 / FPS


def test_blendshape_motion_renders_on_the_default_face(tmp_path: Path) -> None:
    weights = np.zeros((5, len(ARKIT_NAMES)), np.float32)
    weights[:, ARKIT_NAMES.index("jawOpen")] = np.linspace(0.0, 1.0, 5)
    out = render_video(Motion(weights, 30.0, "blendshapes", ARKIT_NAMES), tmp_path / "shapes.mp4", width=64, height=64)
    assert stream_kinds(out) == ["Video"]
    assert video_frames_and_seconds(out)[0] == 5
    assert first_frame(out).std() > 10


def test_other_meshes_render_with_their_triangles(tmp_path: Path) -> None:
    square = np.array([[[-0.1, -0.1, 0.0], [0.1, -0.1, 0.0], [0.1, 0.1, 0.0], [-0.1, 0.1, 0.0]]] * 3, np.float32)
    out = render_video(
        Motion.from_vertices(square, FPS), tmp_path / "quad.mp4", triangles=np.array([[0, 1, 2], [0, 2, 3]]), width=32, height=32
    )
    assert video_frames_and_seconds(out)[0] == 3


def test_side_by_side_panels_share_a_camera_and_carry_captions(tmp_path: Path) -> None:
    speech = write_chirp(tmp_path / "speech.wav", 1.0)
    shorter = NUM_FRAMES - 6
    out = render_side_by_side(
        [talking_face(), talking_face(shorter)], ["truth", "model"], tmp_path / "pair.mp4", audio=speech, width=SIZE, height=SIZE
    )
    frame = first_frame(out)
    assert frame.shape == (SIZE, 2 * SIZE, 3)
    assert video_frames_and_seconds(out)[0] == shorter  # the shortest clip wins
    assert abs(audio_seconds(out) - shorter / FPS) <= 1 / FPS
    left, right = frame[:, :SIZE].astype(np.int16), frame[:, SIZE:].astype(np.int16)
    difference = np.abs(left - right).mean(axis=-1)  # (H, W)
    # Same pose, same camera: the panels differ only in the caption strip at the top, up to codec noise.
    assert difference[: SIZE // 5].mean() > CAPTION_MIN_DIFF
    assert difference[SIZE // 4 :].mean() < CODEC_NOISE


def test_odd_sizes_are_rounded_up_to_even(tmp_path: Path) -> None:
    out = render_video(talking_face(3), tmp_path / "odd.mp4", width=33, height=31)
    assert first_frame(out).shape == (32, 34, 3)


def test_wrong_vertex_count_raises_and_writes_nothing(tmp_path: Path) -> None:
    motion = Motion.from_vertices(np.zeros((4, 400, 3), np.float32), FPS)
    with pytest.raises(InvalidInputError, match=r"bad\.mp4.*400 vertices"):
        render_video(motion, tmp_path / "bad.mp4")
    assert leftovers(tmp_path) == []


def test_triangles_outside_the_mesh_raise(tmp_path: Path) -> None:
    motion = Motion.from_vertices(np.zeros((2, 3, 3), np.float32), FPS)
    with pytest.raises(InvalidInputError, match=r"bad\.mp4"):
        render_video(motion, tmp_path / "bad.mp4", triangles=np.array([[0, 1, 5]]))
    assert leftovers(tmp_path) == []


def test_non_finite_vertices_are_refused_by_motion() -> None:
    vertices = face_topology().vertices[None].copy()
    vertices[0, 7, 1] = np.nan
    with pytest.raises(InvalidInputError, match="non-finite"):
        Motion.from_vertices(vertices, FPS)


def test_unwritable_path_raises_output_error_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("not a directory")
    with pytest.raises(OutputError, match=r"plain\.txt"):
        render_video(talking_face(2), tmp_path / "plain.txt" / "talk.mp4", width=32, height=32)
    assert leftovers(tmp_path) == ["plain.txt"]


def test_failure_midway_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    render = offscreen.Renderer.render

    def failing_render(self: offscreen.Renderer, vertices: np.ndarray) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("simulated crash")
        return render(self, vertices)

    monkeypatch.setattr(offscreen.Renderer, "render", failing_render)
    with pytest.raises(RuntimeError, match="simulated"):
        render_video(talking_face(), tmp_path / "crash.mp4", width=32, height=32)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"audio": "missing.wav"}, InvalidInputError),
        ({"audio": "not-audio.wav"}, InvalidInputError),
        ({"path": "talk.gif"}, UnsupportedFormatError),
    ],
)
def test_bad_arguments_raise(tmp_path: Path, kwargs: dict[str, str], error: type[Exception]) -> None:
    (tmp_path / "not-audio.wav").write_text("hello")
    args = {"path": "talk.mp4", "audio": None, **kwargs}
    audio = tmp_path / args["audio"] if args["audio"] else None
    with pytest.raises(error):
        render_video(talking_face(2), tmp_path / str(args["path"]), audio=audio, width=32, height=32)
    assert leftovers(tmp_path) == ["not-audio.wav"]


def test_params_motion_is_refused(tmp_path: Path) -> None:
    motion = Motion(np.zeros((2, 3), np.float32), FPS, "params", ("a", "b", "c"))
    with pytest.raises(InvalidInputError, match="params"):
        render_video(motion, tmp_path / "p.mp4")
