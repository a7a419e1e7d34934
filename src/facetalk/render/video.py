"""Motion to video: render every frame offscreen, pipe it to ffmpeg (libx264), mux in the speech.

Blendshape motion is posed on the default face (`default_rig().animate`) and drawn with its
accessories (`scene_mesh`); vertex motion of the default face's 478 vertices likewise; any other
vertex motion needs its triangles. The encoder is imageio-ffmpeg's bundled ffmpeg, so no system
ffmpeg is needed. Audio (any format ffmpeg decodes) is trimmed or padded with silence to the
motion's duration, so that picture and sound end together.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from facetalk.errors import InvalidInputError, MissingDependencyError, OutputError, UnsupportedFormatError
from facetalk.face.default_face import default_rig, scene_mesh
from facetalk.face.topology import NUM_VERTICES
from facetalk.files import atomic_output
from facetalk.render.offscreen import DEFAULT_MARGIN, DEFAULT_SIZE, Camera, Renderer, frame_camera
from facetalk.types import Motion

VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".mov", ".mkv")
PROGRESS_MIN_SECONDS = 2.0  # shorter renders finish before a progress bar would tell anything
CHUNK_FRAMES = 120  # frames posed at a time: bounds memory on long clips
VIDEO_CRF = 18  # visually lossless for flat-shaded renders
VIDEO_PRESET = "veryfast"  # encoding is a small share of the time; faster presets barely grow the file
AUDIO_BITRATE = "160k"
FPS_MAX_DENOMINATOR = 1001  # 29.97 fps is 30000/1001
PLAIN_MESH_COLOR = (0.75, 0.62, 0.55)  # linear RGB for meshes without colours of their own
FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CAPTION_HEIGHT_FRACTION = 0.055  # caption text size relative to the panel height
CAPTION_MIN_PX = 10
CAPTION_MARGIN_FRACTION = 0.03
CAPTION_COLOR = (255, 255, 255, 255)
CAPTION_OUTLINE = (0, 0, 0, 200)  # a dark outline keeps white text legible on any background


@dataclass(frozen=True)
class _Panel:
    """One motion's mesh, posed lazily in chunks of frames.

    Attributes:
        triangles: shape (F, 3).
        colors: linear RGB per vertex, shape (N, 3).
        first: the first frame's vertices, shape (N, 3), for framing the camera.
        num_frames: T.
        pose: frames [start, stop) -> vertices (stop - start, N, 3).
    """

    triangles: np.ndarray
    colors: np.ndarray
    first: np.ndarray
    num_frames: int
    pose: Callable[[int, int], np.ndarray]


def _panel(motion: Motion, triangles: np.ndarray | None, colors: np.ndarray | None, path: Path) -> _Panel:
    """Check a motion against its mesh and wrap it as a lazily posed panel."""
    if motion.num_frames == 0:
        raise InvalidInputError(f"{path}: the motion has no frames")
    face: Callable[[int, int], np.ndarray]  # frames [start, stop) -> default-face vertices (stop - start, V, 3)
    if motion.kind == "blendshapes":
        rig = default_rig()
        weights = motion.select(rig.names)  # (T, K)
        face = lambda start, stop: rig.to_vertices(weights[start:stop])  # noqa: E731
    elif motion.kind == "vertices":
        vertices = motion.vertices()  # (T, V, 3)
        num_vertices = vertices.shape[1]
        if triangles is not None:
            triangles = np.asarray(triangles)
            if triangles.ndim != 2 or triangles.shape[1] != 3 or not np.issubdtype(triangles.dtype, np.integer):
                raise InvalidInputError(f"{path}: triangles must be integer indices of shape (F, 3), got {triangles.shape}")
            if len(triangles) == 0 or triangles.min() < 0 or triangles.max() >= num_vertices:
                raise InvalidInputError(f"{path}: the triangles do not fit the motion's {num_vertices} vertices")
            mesh_colors = np.tile(np.asarray(PLAIN_MESH_COLOR, np.float32), (num_vertices, 1)) if colors is None else colors
            mesh_colors = np.asarray(mesh_colors, dtype=np.float32)
            if mesh_colors.shape != (num_vertices, 3):
                raise InvalidInputError(f"{path}: colours must have shape ({num_vertices}, 3), got {mesh_colors.shape}")
            return _Panel(triangles, mesh_colors, vertices[0], motion.num_frames, lambda a, b: vertices[a:b])
        if num_vertices != NUM_VERTICES:
            raise InvalidInputError(
                f"{path}: vertex motion has {num_vertices} vertices but the default face has {NUM_VERTICES}; "
                "pass triangles to render another mesh"
            )
        face = lambda start, stop: vertices[start:stop]  # noqa: E731
    else:
        raise InvalidInputError(f"{path}: cannot render {motion.kind!r} motion; convert it to vertices or blendshapes first")
    scene = scene_mesh(face(0, 1))
    return _Panel(
        scene.triangles,
        scene.colors,
        scene.vertices[0],
        motion.num_frames,
        lambda start, stop: scene_mesh(face(start, stop)).vertices,
    )


def render_video(
    motion: Motion,
    path: str | Path,
    *,
    audio: str | Path | None = None,
    width: int = DEFAULT_SIZE,
    height: int = DEFAULT_SIZE,
    triangles: np.ndarray | None = None,
    colors: np.ndarray | None = None,
    caption: str | None = None,
    camera: Camera | None = None,
    yaw: float = 0.0,
    pitch: float = 0.0,
    backend: str | None = None,
    progress: bool | None = None,
) -> Path:
    """Render a motion to a video file (H.264, yuv420p, the motion's fps) with optional sound.

    Args:
        motion: blendshape motion (posed on the default face) or vertex motion.
        path: output video, .mp4, .mov or .mkv; written atomically.
        audio: speech to mux in as AAC, trimmed or padded with silence to the motion's duration.
        width: frame width in pixels; odd sizes are rounded up to even, as yuv420p needs.
        height: frame height in pixels, likewise.
        triangles: the mesh's triangles (F, 3), e.g. `topology.triangles`, for vertex motion that is
            not of the default face; required then.
        colors: linear RGB per vertex (V, 3) for such a mesh; a plain skin tone by default.
        caption: text drawn at the top of the frame.
        camera: the camera; by default one framing the first frame, orbited by `yaw` and `pitch`.
        yaw: degrees to orbit the default camera toward the subject's left (about 35 for a 3/4 view).
        pitch: degrees to orbit the default camera upward.
        backend: offscreen backend, "egl" or "osmesa"; see `facetalk.render.offscreen`.
        progress: show a progress bar; by default only for clips longer than 2 s.

    Returns:
        The path written.
    """
    return render_side_by_side(
        [motion],
        [caption] if caption else [],
        path,
        audio=audio,
        width=width,
        height=height,
        triangles=[triangles],
        colors=[colors],
        camera=camera,
        yaw=yaw,
        pitch=pitch,
        backend=backend,
        progress=progress,
    )


def render_side_by_side(
    motions: Sequence[Motion],
    captions: Sequence[str],
    path: str | Path,
    *,
    audio: str | Path | None = None,
    width: int = DEFAULT_SIZE,
    height: int = DEFAULT_SIZE,
    triangles: Sequence[np.ndarray | None] | None = None,
    colors: Sequence[np.ndarray | None] | None = None,
    camera: Camera | None = None,
    yaw: float = 0.0,
    pitch: float = 0.0,
    backend: str | None = None,
    progress: bool | None = None,
) -> Path:
    """Render motions as panels next to each other (e.g. ground truth | prediction), with captions.

    All panels share one camera, framed on the first frames of all of them, so that they are
    comparable. The motions must share a frame rate; clips of different lengths are cut to the
    shortest one, and the audio is trimmed or padded to that duration.

    Args:
        motions: one motion per panel, left to right.
        captions: one caption per panel (drawn at the top), or empty for none.
        path: output video, .mp4, .mov or .mkv; written atomically.
        audio: speech to mux in as AAC.
        width: width of each panel in pixels; odd sizes are rounded up to even.
        height: panel height in pixels, likewise.
        triangles: per panel, triangles for vertex motion that is not of the default face, or None.
        colors: per panel, linear RGB per vertex for such meshes, or None.
        camera: the shared camera; by default framed as described above, orbited by `yaw`, `pitch`.
        yaw: degrees to orbit the default camera toward the subject's left.
        pitch: degrees to orbit the default camera upward.
        backend: offscreen backend, "egl" or "osmesa".
        progress: show a progress bar; by default only for clips longer than 2 s.

    Returns:
        The path written.
    """
    path = Path(path)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        suffix = repr(path.suffix) if path.suffix else "no suffix"
        raise UnsupportedFormatError(f"{path}: videos are written as {', '.join(VIDEO_SUFFIXES)}, not {suffix}")
    if not motions:
        raise InvalidInputError(f"{path}: no motions to render")
    if captions and len(captions) != len(motions):
        raise InvalidInputError(f"{path}: {len(captions)} captions for {len(motions)} motions")
    per_triangles = list(triangles) if triangles is not None else [None] * len(motions)
    per_colors = list(colors) if colors is not None else [None] * len(motions)
    if len(per_triangles) != len(motions) or len(per_colors) != len(motions):
        raise InvalidInputError(f"{path}: give triangles and colours for each of the {len(motions)} motions, or none")
    fps = motions[0].fps
    if any(abs(m.fps - fps) > 1e-6 for m in motions):
        raise InvalidInputError(f"{path}: the motions have different frame rates ({', '.join(f'{m.fps:g}' for m in motions)})")
    if width <= 0 or height <= 0:
        raise InvalidInputError(f"{path}: frame size must be positive, got {width}x{height}")
    width, height = width + width % 2, height + height % 2
    if audio is not None:
        _check_audio(Path(audio))
    panels = [_panel(m, t, c, path) for m, t, c in zip(motions, per_triangles, per_colors, strict=True)]
    num_frames = min(p.num_frames for p in panels)
    overlays = [_caption_overlay(text, width, height) for text in captions]
    if camera is None:
        points = np.concatenate([p.first for p in panels])  # (sum N, 3)
        if overlays:
            # The framing margin already leaves a gap on top; the caption may use half of it.
            gap = (1 - 1 / DEFAULT_MARGIN) / 2
            points = _with_headroom(points, max(len(overlays[0].alpha) / height - gap / 2, 0.0))
        camera = frame_camera(points, aspect=width / height, yaw=yaw, pitch=pitch)

    renderers: list[Renderer] = []
    try:
        for p in panels:
            renderers.append(Renderer(p.triangles, p.colors, width=width, height=height, camera=camera, backend=backend))

        def frames() -> Iterator[np.ndarray]:
            for start in range(0, num_frames, CHUNK_FRAMES):
                stop = min(start + CHUNK_FRAMES, num_frames)
                posed = [p.pose(start, stop) for p in panels]
                for t in range(stop - start):
                    images = [r.render(v[t]) for r, v in zip(renderers, posed, strict=True)]
                    for image, overlay in zip(images, overlays, strict=False):
                        overlay.apply(image)
                    yield np.concatenate(images, axis=1) if len(images) > 1 else images[0]

        show = progress if progress is not None else num_frames / fps > PROGRESS_MIN_SECONDS
        with atomic_output(path) as tmp:
            _encode(frames(), tmp, path, len(panels) * width, height, fps, num_frames, Path(audio) if audio else None, show)
    finally:
        for r in renderers:
            r.close()
    return path


def _with_headroom(points: np.ndarray, fraction: float) -> np.ndarray:
    """`points` (N, 3) plus one point above them, so that framing leaves `fraction` of the height free on top."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    above = np.array([(lo[0] + hi[0]) / 2, hi[1] + (hi[1] - lo[1]) * fraction / (1 - fraction), (lo[2] + hi[2]) / 2])
    return np.concatenate([points, above[None].astype(points.dtype)])


def _ffmpeg_exe() -> str:
    import imageio_ffmpeg

    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError:
        raise MissingDependencyError("ffmpeg not found: pip install imageio-ffmpeg (it bundles one)") from None


def _check_audio(audio: Path) -> None:
    """Raise unless ffmpeg finds an audio stream in `audio`."""
    if not audio.is_file():
        raise InvalidInputError(f"{audio}: no such audio file")
    # `ffmpeg -i` without an output describes the input's streams on stderr and exits non-zero.
    probe = subprocess.run([_ffmpeg_exe(), "-hide_banner", "-i", str(audio)], capture_output=True, text=True, errors="replace")
    if " Audio: " not in probe.stderr:
        raise InvalidInputError(f"{audio}: ffmpeg finds no audio stream in this file")


def _encode(
    frames: Iterator[np.ndarray],
    tmp: Path,
    path: Path,
    width: int,
    height: int,
    fps: float,
    num_frames: int,
    audio: Path | None,
    progress: bool,
) -> None:
    """Pipe `num_frames` RGB frames (height, width, 3) to ffmpeg, writing `tmp` (the final `path`)."""
    rate = Fraction(fps).limit_denominator(FPS_MAX_DENOMINATOR)
    duration = f"{num_frames / fps:.6f}"
    command = [_ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-y"]
    command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(rate), "-i", "-"]
    if audio is not None:
        command += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0"]
    command += ["-c:v", "libx264", "-preset", VIDEO_PRESET, "-crf", str(VIDEO_CRF), "-pix_fmt", "yuv420p"]
    if audio is not None:
        # Pad with silence, then cut: the sound then lasts exactly as long as the picture.
        command += ["-af", f"apad=whole_dur={duration},atrim=end={duration}", "-c:a", "aac", "-b:a", AUDIO_BITRATE]
    command += ["-movflags", "+faststart", str(tmp)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
        assert process.stdin is not None
        try:
            with tqdm(total=num_frames, unit="frame", desc=path.name, disable=not progress) as bar:
                for frame in frames:
                    process.stdin.write(frame.tobytes())
                    bar.update(1)
            process.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg has quit: its log below says why
        except BaseException:
            process.kill()
            process.wait()
            raise
        code = process.wait()
        if code != 0:
            raise OutputError(f"{path}: ffmpeg failed ({_last_line(log) or f'exit code {code}'})")


def _last_line(log: IO[bytes]) -> str:
    log.seek(0)
    lines = log.read().decode(errors="replace").strip().splitlines()
    return lines[-1].strip() if lines else ""


@dataclass(frozen=True)
class _Overlay:
    """Pre-rendered caption pixels blended onto the top rows of every frame.

    Attributes:
        rgb: colour, shape (h, W, 3) float32.
        alpha: coverage in [0, 1], shape (h, W, 1) float32.
    """

    rgb: np.ndarray
    alpha: np.ndarray

    def apply(self, image: np.ndarray) -> None:
        """Blend onto `image` (H, W, 3) uint8 in place."""
        rows = len(self.alpha)
        top = image[:rows].astype(np.float32)
        image[:rows] = (top + (self.rgb - top) * self.alpha + 0.5).astype(np.uint8)


def caption_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans at `size` pixels when installed (Debian fonts-dejavu-core), else Pillow's default."""
    if FONT_PATH.is_file():
        return ImageFont.truetype(str(FONT_PATH), size)
    return ImageFont.load_default(size)


def _caption_overlay(text: str, width: int, height: int) -> _Overlay:
    size = max(CAPTION_MIN_PX, round(height * CAPTION_HEIGHT_FRACTION))
    margin = max(2, round(height * CAPTION_MARGIN_FRACTION))
    rows = min(height, margin + size + size // 3)  # room for descenders and the outline
    strip = Image.new("RGBA", (width, rows), (0, 0, 0, 0))
    draw = ImageDraw.Draw(strip)
    outline = max(1, size // 12)
    draw.text((width / 2, margin), text, font=caption_font(size), fill=CAPTION_COLOR, anchor="ma",
              stroke_width=outline, stroke_fill=CAPTION_OUTLINE)  # fmt: skip
    pixels = np.asarray(strip, dtype=np.float32)
    return _Overlay(rgb=pixels[..., :3], alpha=pixels[..., 3:] / 255.0)
