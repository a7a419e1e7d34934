"""Speech in, facial animation out: the whole job behind `facetalk animate`.

load the speech -> transcribe it when no transcript is given -> align words and phones -> extract
prosody -> animate with the chosen backend -> write the requested formats and a video.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facetalk.errors import UnsupportedFormatError
from facetalk.types import Alignment, EmotionSchedule, Motion, Waveform

if TYPE_CHECKING:
    from facetalk.data.windows import ClipArrays
    from facetalk.face.flame import FlameModel
    from facetalk.models.base import Animator, Conditions
    from facetalk.models.inputs import InputPipeline

BACKENDS = ("procedural",)
VIDEO_FORMAT = "mp4"
TEXTGRID_FORMAT = "textgrid"
"""The word and phone alignment as a Praat TextGrid, written when the animation has an alignment. Among
the default formats it costs nothing extra; asked for explicitly with `--model`, it makes the speech
be aligned."""
FORMAT_EXTENSIONS = {"npz": ".npz", "arkit-json": ".json", "livelink-csv": ".csv", "glb": ".glb", "obj": ".obj"}
ALL_FORMATS = (*FORMAT_EXTENSIONS, VIDEO_FORMAT, TEXTGRID_FORMAT)
DEFAULT_FORMATS = ("npz", "arkit-json", "livelink-csv", "glb", VIDEO_FORMAT, TEXTGRID_FORMAT)


@dataclass(frozen=True)
class Animation:
    """The result of animating one speech file.

    Attributes:
        motion: ARKit-52 blendshape motion, one frame per 1 / fps seconds of speech; FLAME parameter
            motion ("params") from a model trained on FLAME data.
        waveform: the speech, 16 kHz mono.
        alignment: the words and ARPAbet phones the animation follows; None when a model animated the
            speech and nothing asked for them (see `animate`'s `need_alignment`).
        transcript: the words aligned (given, or transcribed by Whisper); None without an alignment.
        alignment_method: "forced", or "dictionary" when forced alignment failed on some chunk (see
            `alignment.chunks`); None without an alignment.
    """

    motion: Motion
    waveform: Waveform
    alignment: Alignment | None
    transcript: str | None
    alignment_method: str | None


def animate(
    speech: str | os.PathLike[str] | Waveform,
    *,
    text: str | None = None,
    emotion: EmotionSchedule | None = None,
    persona: str = "neutral",
    backend: str = "procedural",
    fps: float = 30.0,
    seed: int = 0,
    model: str | None = None,
    style_ref: str | os.PathLike[str] | Motion | None = None,
    subject: str | None = None,
    need_alignment: bool = True,
    need_weights: bool = True,
) -> Animation:
    """Animate the default face from speech.

    Args:
        speech: a speech file in any format ffmpeg reads, or a waveform.
        text: the transcript; transcribed with Whisper tiny.en when None.
        emotion: the emotion over time; neutral when None.
        persona: a speaking-style preset name (see `facetalk.procedural.PERSONAS`).
        backend: the animator; "procedural" is the rule-based one that needs no training.
        fps: motion frames per second.
        seed: seeds the random parts (blinks, micro-motion); the same seed gives the same motion.
        model: a trained model instead of the procedural animator: a model directory or the name of a
            shipped one (`weights/<name>`, e.g. "composite_regional"); it animates at its own fps.
        style_ref: for models that take a style reference: a motion (or a motion file) whose speaking
            style to take on; default: the reference shipped with the model.
        need_alignment: whether the words and phones are wanted (for a TextGrid). The procedural
            animator always aligns; with a model the speech is aligned only when this is True or
            the model reads text or phones, so a speech-only model spends nothing on transcription
            and alignment unless asked.
        need_weights: whether the motion must be ARKit weights (see `needs_weights`). A vertex model's
            vertices are fitted to the 52 weights when True and kept as they are when False.
    """
    from facetalk.audio import load_audio
    from facetalk.audio.prosody import extract_prosody
    from facetalk.procedural import PERSONAS, ProceduralAnimator
    from facetalk.text.align import AlignmentResult, align

    if backend not in BACKENDS:
        raise UnsupportedFormatError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    if persona not in PERSONAS:
        raise UnsupportedFormatError(f"unknown persona {persona!r} (known: {', '.join(sorted(PERSONAS))})")
    waveform = speech if isinstance(speech, Waveform) else load_audio(speech)
    alignment: AlignmentResult | None = None
    if model is not None:
        from facetalk.models.base import open_model

        animator, directory = open_model(model)
        alignment = align(waveform, text) if need_alignment or animator.inputs.needs_alignment else None
        motion = _model_motion(waveform, animator, directory, alignment=alignment, emotion=emotion, style_ref=style_ref,
                               subject=subject, fit=need_weights)  # fmt: skip
    else:
        alignment = align(waveform, text)
        prosody = extract_prosody(waveform, fps=fps)
        motion = ProceduralAnimator().animate(
            alignment, duration=waveform.duration, fps=fps, persona=PERSONAS[persona], emotion=emotion, prosody=prosody, seed=seed
        )
    if alignment is None:
        return Animation(motion, waveform, None, None, None)
    return Animation(motion, waveform, alignment, alignment.transcript, alignment.method)


STYLE_REF_FILE = "style_ref.npz"
"""The default style reference a model directory may carry (a motion file of the model's kind)."""


def animate_with_model(waveform: Waveform, model: str, *, alignment: Alignment | None = None, text: str | None = None,
                       emotion: EmotionSchedule | None = None,
                       style_ref: str | os.PathLike[str] | Motion | None = None,
                       subject: str | None = None, need_weights: bool = True) -> Motion:  # fmt: skip
    """ARKit-52 motion of the default face from a trained model, fed by its input pipeline (or, from a
    model trained on FLAME data, its FLAME parameter motion: `write_flame` writes it).

    Vertex models must have been trained on the default face's topology (478 vertices, like the
    synthetic corpus); unless `need_weights` is False, their vertices are fitted to the 52
    blendshapes by least squares, so every export format works. Long speech is generated in
    overlapping windows (`facetalk.models.windowed`), each fitted as soon as it is made.

    Args:
        waveform: the speech.
        model: a model directory or the name of a shipped model.
        alignment: the words and phones of the speech, for models that read text or phones; when
            such a model is given none, the speech is aligned here (to `text`, or transcribed).
        text: the transcript, for that alignment.
        emotion: the requested emotion over time, for models that take one.
        style_ref: a motion (or a motion file) whose speaking style to take on, for models that take
            one; default: the reference shipped with the model.
        subject: the training speaker whose style a speaker-conditioned model takes; None: an unseen speaker.
        need_weights: False keeps a vertex model's vertices (for formats that write vertices).
    """
    from facetalk.models.base import open_model

    animator, directory = open_model(model)
    if alignment is None and animator.inputs.needs_alignment:
        from facetalk.text.align import align

        alignment = align(waveform, text)
    return _model_motion(waveform, animator, directory, alignment=alignment, emotion=emotion, style_ref=style_ref,
                         subject=subject, fit=need_weights)  # fmt: skip


def needs_weights(formats: Sequence[str]) -> bool:
    """Whether any of these output formats writes only blendshape weights (ARKit JSON, Live Link CSV).

    Vertex formats (npz, GLB vertex animation, OBJ, the video) take a vertex model's vertices as they are.
    """
    from facetalk.export import FORMATS

    return any(fmt in FORMATS and "vertices" not in FORMATS.get(fmt).kinds for fmt in formats)


def _model_motion(waveform: Waveform, animator: Animator, directory: Path, *, alignment: Alignment | None,
                  emotion: EmotionSchedule | None, style_ref: str | os.PathLike[str] | Motion | None,
                  subject: str | None = None, fit: bool = True) -> Motion:  # fmt: skip
    """`animate_with_model` with the model loaded (from `directory`) and the alignment made, if it needs one;
    `fit`: whether a vertex model's vertices are fitted to the ARKit weights."""
    from facetalk.face.default_face import default_rig
    from facetalk.models.windowed import generate_windowed

    pipeline, clip, conditions = model_inputs(waveform, animator, directory, alignment=alignment, emotion=emotion,
                                              style_ref=style_ref, subject=subject)  # fmt: skip
    finish = default_rig().fit_motion if animator.kind == "vertices" and fit else None
    return generate_windowed(animator, pipeline, clip, conditions, finish=finish)


def model_inputs(waveform: Waveform, animator: Animator, directory: Path, *, alignment: Alignment | None = None,
                 emotion: EmotionSchedule | None = None, style_ref: str | os.PathLike[str] | Motion | None = None,
                 subject: str | None = None) -> tuple[InputPipeline, ClipArrays, Conditions]:  # fmt: skip
    """A loaded model's input pipeline, the speech's inputs (speech features computed) and the conditions.

    The arguments are `animate_with_model`'s, with the model loaded from `directory`.
    """
    from facetalk.audio.rate import num_motion_frames
    from facetalk.errors import InvalidInputError
    from facetalk.export import read_motion
    from facetalk.face.default_face import default_rig
    from facetalk.models.base import Conditions
    from facetalk.models.inputs import InputPipeline

    pipeline = InputPipeline.for_model(animator)
    rig = default_rig()
    if style_ref is None and (directory / STYLE_REF_FILE).is_file():
        style_ref = directory / STYLE_REF_FILE
    style = style_ref if isinstance(style_ref, Motion) or style_ref is None else read_motion(style_ref)
    if style is not None and style.kind == "blendshapes" and animator.kind == "vertices":
        style = rig.animate(style)
    neutral = None
    if animator.kind == "vertices":
        motion_dim = int(animator.spec.kwargs.get("motion_dim", 0)) if animator.spec else 0
        if motion_dim != rig.neutral.size:
            raise InvalidInputError(f"{directory}: a vertex model of another topology cannot animate the default face")
        neutral = rig.neutral.reshape(-1)
    frames = num_motion_frames(waveform.duration, animator.fps)
    clip = pipeline.clip(clip_id=str(directory), waveform=waveform, fps=animator.fps, num_frames=frames, alignment=alignment,
                         template=neutral)  # fmt: skip
    conditions = Conditions(subject=subject_index(animator.metadata.get("subjects", []), subject, directory),
                            emotion=emotion.at_frames(frames, animator.fps) if emotion is not None else None,
                            style=None if style is None else style.data, style_template=neutral)  # fmt: skip
    return pipeline, clip, conditions


FLAME_SUFFIX = ".flame.npz"


def write_flame(motion: Motion, out_dir: str | os.PathLike[str], *, name: str = "animation",
                flame: FlameModel | None = None) -> Path:  # fmt: skip
    """Write FLAME parameter motion (a model trained on FLAME data) as `out_dir/<name>.flame.npz`.

    The file holds the parameters in the layout the `flame_seq` dataset adapter reads (`expression`,
    `jaw_pose`, `fps`; see `facetalk.face.flame.save_flame_sequence`) and, when the user's FLAME model
    `flame` is given (`facetalk.face.flame.load_flame`), the FLAME vertices of every frame (`vertices`,
    (T, 5023, 3) for FLAME).
    """
    import torch

    from facetalk.face.flame import FlameFace, save_flame_sequence

    vertices = None
    if flame is not None:
        face = FlameFace(flame, motion.channels)
        with torch.no_grad():
            vertices = face.vertices(torch.from_numpy(np.asarray(motion.data, dtype=np.float32))).numpy()
    return save_flame_sequence(motion, Path(out_dir) / f"{name}{FLAME_SUFFIX}", vertices=vertices)


def subject_index(subjects: Sequence[str], subject: str | None, model: os.PathLike[str] | str) -> int:
    """The index of training speaker `subject` among a model's `subjects`; -1 (an unseen speaker) for None.

    Raises:
        InvalidInputError: the model has no training speaker of that name.
    """
    from facetalk.errors import InvalidInputError

    if subject is None:
        return -1
    if subject not in subjects:
        known = ", ".join(subjects) or "none"
        raise InvalidInputError(f"{model}: no training speaker {subject!r} (the model's speakers: {known})")
    return list(subjects).index(subject)


def check_formats(formats: Sequence[str]) -> None:
    """Raise a one-line error for an output format `write_animation` does not know."""
    unknown = [f for f in formats if f not in ALL_FORMATS]
    if unknown:
        raise UnsupportedFormatError(f"unknown output format {unknown[0]!r} (known: {', '.join(ALL_FORMATS)})")


def write_animation(
    animation: Animation,
    out_dir: str | os.PathLike[str],
    *,
    name: str = "animation",
    formats: Sequence[str] = DEFAULT_FORMATS,
    progress: bool = True,
) -> list[Path]:
    """Write an animation as `out_dir/<name>.<ext>` in each format (`textgrid`: its alignment, when it has one).

    The MP4 carries the speech track. Returns the paths written.
    """
    from facetalk.audio import save_wav
    from facetalk.export import export_motion
    from facetalk.render import render_video
    from facetalk.text.textgrid import write_textgrid

    check_formats(formats)
    out = Path(out_dir)
    paths = []
    for fmt in formats:
        if fmt in (VIDEO_FORMAT, TEXTGRID_FORMAT):
            continue
        path = out / f"{name}{FORMAT_EXTENSIONS[fmt]}"
        export_motion(animation.motion, path, format=fmt)
        paths.append(path)
    if TEXTGRID_FORMAT in formats and animation.alignment is not None:
        textgrid = out / f"{name}.TextGrid"
        write_textgrid(animation.alignment, textgrid, duration=animation.waveform.duration)
        paths.append(textgrid)
    if VIDEO_FORMAT in formats:
        speech = out / f".{name}.speech.wav"  # the video's sound track, removed once muxed
        try:
            save_wav(animation.waveform, speech)
            video = out / f"{name}.mp4"
            render_video(animation.motion, video, audio=speech, progress=progress)
        finally:
            speech.unlink(missing_ok=True)
        paths.append(video)
    return paths
