"""Speech in, facial animation out: the whole job behind `facetalk animate`.

load the speech -> transcribe it when no transcript is given -> align words and phones -> extract
prosody -> animate with the chosen backend -> write the requested formats and a video.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from facetalk.errors import UnsupportedFormatError
from facetalk.types import Alignment, EmotionSchedule, Motion, Waveform

BACKENDS = ("procedural",)
VIDEO_FORMAT = "mp4"
FORMAT_EXTENSIONS = {"npz": ".npz", "arkit-json": ".json", "livelink-csv": ".csv", "glb": ".glb", "obj": ".obj"}
ALL_FORMATS = (*FORMAT_EXTENSIONS, VIDEO_FORMAT)
DEFAULT_FORMATS = ("npz", "arkit-json", "livelink-csv", "glb", VIDEO_FORMAT)


@dataclass(frozen=True)
class Animation:
    """The result of animating one speech file.

    Attributes:
        motion: ARKit-52 blendshape motion, one frame per 1 / fps seconds of speech.
        waveform: the speech, 16 kHz mono.
        alignment: the words and ARPAbet phones the animation follows.
        transcript: the words aligned (given, or transcribed by Whisper).
        alignment_method: "forced", or "phone-recognition" when forced alignment failed.
    """

    motion: Motion
    waveform: Waveform
    alignment: Alignment
    transcript: str
    alignment_method: str


def animate(
    speech: str | os.PathLike[str] | Waveform,
    *,
    text: str | None = None,
    emotion: EmotionSchedule | None = None,
    persona: str = "neutral",
    backend: str = "procedural",
    fps: float = 30.0,
    seed: int = 0,
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
    """
    from facetalk.audio import load_audio
    from facetalk.audio.prosody import extract_prosody
    from facetalk.procedural import PERSONAS, ProceduralAnimator
    from facetalk.text.align import align

    if backend not in BACKENDS:
        raise UnsupportedFormatError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
    if persona not in PERSONAS:
        raise UnsupportedFormatError(f"unknown persona {persona!r} (known: {', '.join(sorted(PERSONAS))})")
    waveform = speech if isinstance(speech, Waveform) else load_audio(speech)
    alignment = align(waveform, text)
    prosody = extract_prosody(waveform, fps=fps)
    motion = ProceduralAnimator().animate(
        alignment, duration=waveform.duration, fps=fps, persona=PERSONAS[persona], emotion=emotion, prosody=prosody, seed=seed
    )
    return Animation(motion, waveform, alignment, alignment.transcript, alignment.method)


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
    """Write an animation as `out_dir/<name>.<ext>` in each format, plus the alignment as a TextGrid.

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
        if fmt == VIDEO_FORMAT:
            continue
        path = out / f"{name}{FORMAT_EXTENSIONS[fmt]}"
        export_motion(animation.motion, path, format=fmt)
        paths.append(path)
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
