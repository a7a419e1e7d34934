"""The `facetalk` command: a thin Typer shell over same-named library functions.

User errors (`FacetalkError`) print one line, `error: ...`, and exit with code 2; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from facetalk.animate import DEFAULT_FORMATS
from facetalk.errors import FacetalkError

EXIT_USER_ERROR = 2


class _App(typer.Typer):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except FacetalkError as exc:
            typer.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USER_ERROR)


app = _App(
    name="facetalk",
    help="Speech to expressive, lip-synced 3D facial animation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
face_app = typer.Typer(help="The embedded default face.", no_args_is_help=True)
app.add_typer(face_app, name="face")

Output = Annotated[Path, typer.Option("--output", "-o", help="Where to write the result.")]
InputFps = Annotated[
    float | None, typer.Option("--input-fps", min=0.001, help="Frame rate of the input when the file cannot tell (short CSV).")
]


@face_app.command("sheet")
def face_sheet(
    output: Output = Path("sheet.png"),
    columns: Annotated[int, typer.Option(min=1, help="Cells per row.")] = 8,
    cell: Annotated[int, typer.Option(min=64, help="Cell size in pixels.")] = 256,
) -> None:
    """Render a labelled contact sheet of all 52 ARKit blendshapes at weight 1."""
    from facetalk.render import face_sheet as render_sheet

    render_sheet(output, columns=columns, cell=cell)
    typer.echo(f"wrote {output}")


@app.command("export")
def export(
    motion_path: Annotated[Path, typer.Argument(help="Motion file: .npz, ARKit/A2F .json, Live Link .csv or .glb.")],
    output: Output,
    format: Annotated[str | None, typer.Option("--format", "-f", help="Output format; default: from the extension.")] = None,
    input_fps: InputFps = None,
) -> None:
    """Convert a motion file to another format (npz, arkit-json, livelink-csv, glb, obj)."""
    from facetalk.export import export_motion, read_motion

    export_motion(read_motion(motion_path, fps=input_fps), output, format=format)
    typer.echo(f"wrote {output}")


@app.command("render")
def render(
    motion_path: Annotated[Path, typer.Argument(help="Motion file (any format `facetalk export` reads).")],
    output: Output = Path("out.mp4"),
    audio: Annotated[Path | None, typer.Option(help="Speech track to mux into the video.")] = None,
    compare: Annotated[list[Path] | None, typer.Option(help="More motion files shown side by side, in order.")] = None,
    caption: Annotated[list[str] | None, typer.Option(help="One caption per panel when comparing.")] = None,
    width: Annotated[int, typer.Option(min=16)] = 512,
    height: Annotated[int, typer.Option(min=16)] = 512,
    input_fps: InputFps = None,
) -> None:
    """Render a motion to an MP4 video, optionally side by side with other motions."""
    from facetalk.export import read_motion
    from facetalk.render import render_side_by_side, render_video

    motion = read_motion(motion_path, fps=input_fps)
    if compare:
        paths = [motion_path, *compare]
        captions = caption or [p.stem for p in paths]
        if len(captions) != len(paths):
            raise typer.BadParameter(f"{len(paths)} panels need {len(paths)} captions, got {len(captions)}")
        render_side_by_side(
            [motion, *(read_motion(p, fps=input_fps) for p in compare)], captions, output, audio=audio, width=width, height=height
        )
    else:
        render_video(motion, output, audio=audio, width=width, height=height)
    typer.echo(f"wrote {output}")


TextOption = Annotated[str | None, typer.Option("--text", help="What is said; default: transcribe with Whisper.")]
TextFileOption = Annotated[Path | None, typer.Option("--text-file", help="A file holding what is said.")]


@app.command("animate")
def animate(
    speech: Annotated[Path, typer.Argument(help="Speech file (WAV, FLAC, MP3, anything ffmpeg reads).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write the results into.")] = Path("out"),
    text: TextOption = None,
    text_file: TextFileOption = None,
    emotion: Annotated[str | None, typer.Option(help="One emotion for the whole clip, e.g. happy:0.8.")] = None,
    emotion_schedule: Annotated[Path | None, typer.Option(help="JSON list of {time, emotion, intensity} keys.")] = None,
    persona: Annotated[str, typer.Option(help="Speaking-style preset.")] = "neutral",
    backend: Annotated[str, typer.Option(help="Animator: procedural.")] = "procedural",
    fps: Annotated[float, typer.Option(min=1.0, help="Frames per second.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Seed of the random parts (blinks, micro-motion).")] = 0,
    format: Annotated[str, typer.Option("--format", "-f", help="Comma-separated outputs.")] = ",".join(DEFAULT_FORMATS),
    model: Annotated[
        str | None, typer.Option(help="A trained model (directory or shipped name, e.g. composite_regional).")
    ] = None,
    style_ref: Annotated[Path | None, typer.Option(help="Motion file whose speaking style the model takes on.")] = None,
) -> None:
    """Animate the embedded face from speech: align, animate, export every format and render a video."""
    from facetalk.animate import animate as run_animate
    from facetalk.animate import check_formats, write_animation
    from facetalk.types import EmotionSchedule

    if emotion is not None and emotion_schedule is not None:
        raise typer.BadParameter("give --emotion or --emotion-schedule, not both")
    schedule = EmotionSchedule.parse(emotion) if emotion else None
    if emotion_schedule is not None:
        schedule = EmotionSchedule.from_json(emotion_schedule)
    formats = [f.strip() for f in format.split(",") if f.strip()]
    check_formats(formats)  # before the slow part
    result = run_animate(
        speech, text=_transcript(text, text_file), emotion=schedule, persona=persona, backend=backend, fps=fps, seed=seed,
        model=model, style_ref=style_ref,
    )  # fmt: skip
    if result.alignment_method != "forced":
        typer.echo("warning: forced alignment failed; the animation follows recognised phones", err=True)
    for path in write_animation(result, output, name=speech.stem, formats=formats):
        typer.echo(f"wrote {path}")


@app.command("align")
def align(
    audio: Annotated[Path, typer.Argument(help="Speech file (WAV, FLAC, ...).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="TextGrid to write; default: beside the audio.")] = None,
    text: TextOption = None,
    text_file: TextFileOption = None,
) -> None:
    """Time the words and phones of speech; write a Praat TextGrid (tiers "words" and "phones")."""
    import warnings

    from facetalk.text.align import AlignmentFallbackWarning
    from facetalk.text.align import align as run_align
    from facetalk.text.textgrid import write_textgrid

    transcript = _transcript(text, text_file)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AlignmentFallbackWarning)
        result = run_align(audio, transcript)
    if result.method != "forced":
        reason = next((str(w.message) for w in caught if issubclass(w.category, AlignmentFallbackWarning)), "")
        typer.echo(f"warning: {reason or 'forced alignment failed; used phone recognition'}", err=True)
    target = output if output is not None else audio.with_suffix(".TextGrid")
    write_textgrid(result, target)
    typer.echo(f"wrote {target} ({len(result.words)} words, {len(result.phones)} phones, {result.method})")


def _transcript(text: str | None, text_file: Path | None) -> str | None:
    """The transcript given on the command line, inline or as a file; None means transcribe."""
    from facetalk.errors import InvalidInputError

    if text is not None and text_file is not None:
        raise typer.BadParameter("give --text or --text-file, not both")
    if text_file is None:
        return text
    try:
        text = text_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"{text_file}: no such transcript file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{text_file}: cannot read the transcript ({exc})") from None
    if not text.strip():
        raise InvalidInputError(f"{text_file}: the transcript file is empty")
    return text


@app.command("synth")
def synth(
    out: Annotated[Path, typer.Option("--out", help="Corpus directory; an interrupted build there is resumed.")],
    hours: Annotated[float, typer.Option(min=0.0, help="Hours of speech to build.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Decides every sentence, speaker and clip.")] = 0,
    fps: Annotated[float, typer.Option(min=1.0, help="Motion frames per second.")] = 30.0,
    workers: Annotated[int, typer.Option(min=1, help="Processes making clips.")] = 2,
    word_semantics: Annotated[bool, typer.Option(help="Let the animator use word meanings (MiniLM; slower).")] = True,
) -> None:
    """Build the synthetic training corpus: speech, ARKit weights, face vertices, TextGrids, manifest."""
    from facetalk.synth.build import build_corpus

    root = build_corpus(out, hours=hours, seed=seed, fps=fps, workers=workers, word_semantics=word_semantics)
    typer.echo(f"wrote {root}")


@app.command("train")
def train(
    config: Annotated[Path, typer.Option("--config", "-c", help="Training recipe (YAML), e.g. configs/conv_baseline/debug.yaml")],
    out: Annotated[Path, typer.Option("--out", help="Run directory: checkpoints, resolved config, logs.")],
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its latest checkpoint.")] = False,
    overrides: Annotated[list[str] | None, typer.Argument(help="Config overrides, key=value (e.g. optim.lr=3e-4).")] = None,
) -> None:
    """Train a model from a config; under torchrun, one process per device (DistributedDataParallel)."""
    from facetalk.train.loop import train as run_training

    result = run_training(config, out, resume=resume, overrides=overrides or [])
    if result.state.best_step and os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks
        typer.echo(f"best val loss {result.state.best_val:.6g} at step {result.state.best_step}; model in {out / 'best'}")


@app.command("eval")
def eval_(
    model: Annotated[
        str,
        typer.Option("--model", "-m", help="A model directory, a shipped model name, procedural, or a directory of predictions."),
    ],
    data: Annotated[Path, typer.Option("--data", "-d", help="The dataset directory.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Report directory (metrics.json, report.md, plots/).")] = Path(
        "report"
    ),
    dataset: Annotated[str, typer.Option(help="Registered dataset name.")] = "native",
    split: Annotated[str, typer.Option(help="Split to evaluate.")] = "test",
    style_ref: Annotated[str, typer.Option(help="Style reference: same_speaker (alias speaker: another clip of the "
                                                "speaker), other_speaker, self or none.")] = "speaker",
    units: Annotated[str, typer.Option(help="Length unit of the data: m or mm.")] = "m",
    max_clips: Annotated[int, typer.Option(min=0, help="Evaluate at most this many clips; 0: all.")] = 0,
    recognizer: Annotated[Path | None, typer.Option(help="Emotion recognizer directory; default: the shipped one.")] = None,
    diversity: Annotated[int, typer.Option(min=0, help="Speaker styles per clip for the diversity metric; 0 skips it.")] = 4,
    plots: Annotated[bool, typer.Option(help="Draw the plots.")] = True,
) -> None:
    """Run a model over a dataset split; write metrics.json, a Markdown report and plots."""
    from facetalk.errors import InvalidInputError
    from facetalk.eval.evaluate import STYLE_REFS, evaluate
    from facetalk.eval.report import write_report

    if style_ref not in STYLE_REFS or units not in ("m", "mm"):
        raise InvalidInputError(f"--style-ref must be one of {', '.join(STYLE_REFS)} and --units m or mm, "
                                f"got {style_ref!r} and {units!r}")
    result = evaluate(model, data, dataset=dataset, split=split, style_ref=style_ref, units=units,  # type: ignore[arg-type]
                      max_clips=max_clips, recognizer=recognizer, diversity_conditions=diversity)  # fmt: skip
    write_report(result, output, plots=plots)
    typer.echo(f"wrote {output}")


@app.command("compare")
def compare(
    reports: Annotated[list[Path], typer.Argument(help="Report directories written by `facetalk eval`.")],
) -> None:
    """Print the metrics of several eval reports side by side (Markdown table; best of each row in bold)."""
    from facetalk.eval.report import compare_reports

    typer.echo(compare_reports(reports))


recognizer_app = typer.Typer(help="The emotion recognizer behind the emotion metrics.", no_args_is_help=True)
app.add_typer(recognizer_app, name="recognizer")


@recognizer_app.command("train")
def recognizer_train(
    data: Annotated[Path, typer.Option("--data", "-d", help="A dataset with per-clip emotion labels.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory for the recognizer.")],
    dataset: Annotated[str, typer.Option(help="Registered dataset name.")] = "native",
    split: Annotated[str, typer.Option(help="Split to train on.")] = "train",
    target: Annotated[str, typer.Option(help="vertices or motion (the dataset's own motion).")] = "vertices",
    max_clips: Annotated[int, typer.Option(min=0, help="Read at most this many clips; 0: all.")] = 0,
    epochs: Annotated[int, typer.Option(min=1)] = 30,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train the motion emotion recognizer on labelled clips (validated on held-out clips)."""
    from facetalk.eval.emotion import train_recognizer_on_dataset

    _, report = train_recognizer_on_dataset(data, dataset=dataset, split=split, target=target, max_clips=max_clips,
                                            out=output, epochs=epochs, seed=seed)  # fmt: skip
    accuracy = report["val_accuracy"]
    windows = report["val_windows"]
    shown = "no validation windows" if accuracy is None else f"validation accuracy {accuracy:.3f} on {windows} windows"
    typer.echo(f"{shown}; wrote {output}")


if __name__ == "__main__":
    app()
