"""The `facetalk` command: a thin Typer shell over same-named library functions.

One error boundary (`_Boundary`, the root command group) answers every failure in one line on stderr:

- a usage error (unknown command or option, a mistyped or out-of-range value, conflicting options)
  or a user error (`FacetalkError`): `error: <file or option>: <what is wrong>`, exit code 2;
- anything else is a bug: `error: internal error (...)` naming the file that holds the traceback,
  exit code 1; `facetalk --debug ...` shows the traceback instead.

Python warnings print as one `warning: ...` line each.
"""

from __future__ import annotations

import datetime
import os
import sys
import tempfile
import traceback
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from typer._click import core as click  # typer's own copy of click, whose exceptions its commands raise
from typer._click import exceptions as usage
from typer.core import TyperGroup, TyperOption

from facetalk.animate import DEFAULT_FORMATS
from facetalk.errors import FacetalkError, InvalidInputError, show_warning
from facetalk.files import cache_dir

EXIT_BUG = 1
EXIT_USER_ERROR = 2
CRASH_DIR = "crashes"
"""Where, under facetalk's cache directory, the traceback of an unexpected error is written."""


class _Bug(Exception):
    """An unexpected exception whose traceback has been written to `report`."""

    def __init__(self, error: BaseException, report: Path) -> None:
        super().__init__(f"internal error ({type(error).__name__}: {_one_line(error)}); this is a bug in facetalk. "
                         f"The traceback is in {report} (rerun with --debug to show it)")  # fmt: skip


class _Boundary(TyperGroup):
    """The root command group: turns every exception and warning into one line (see the module docstring)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, windows_expand_args: bool = True, **extra: Any) -> Any:  # fmt: skip
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, windows_expand_args, **extra)
        code: Any = EXIT_USER_ERROR
        with warnings.catch_warnings():
            warnings.showwarning = show_warning
            try:
                code = super().main(args, prog_name or "facetalk", complete_var, False, windows_expand_args, **extra)
            except usage.NoArgsIsHelpError as exc:
                typer.echo(exc.format_message())
            except usage.ClickException as exc:
                typer.echo(f"error: {_usage_message(exc)}", err=True)
            except typer.Abort:
                typer.echo("error: aborted", err=True)
            except FacetalkError as exc:
                typer.echo(f"error: {_one_line(exc)}", err=True)
            except _Bug as exc:
                typer.echo(f"error: {exc}", err=True)
                code = EXIT_BUG
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (FacetalkError, usage.ClickException, typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            raise _Bug(exc, _write_traceback(exc)) from exc


def _usage_message(exc: usage.ClickException) -> str:
    """`<option or command>: <what is wrong>` for a usage error click or typer raised."""
    message = _one_line(exc.message).rstrip(".").removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    if isinstance(exc, usage.NoSuchOption):
        possible = f" (did you mean {' or '.join(sorted(exc.possibilities))}?)" if exc.possibilities else ""
        return f"{exc.option_name}: no such option{possible}"
    if isinstance(exc, usage.BadOptionUsage):
        return f"{exc.option_name}: {message}"
    if isinstance(exc, usage.MissingParameter):
        what = exc.param_type or (exc.param.param_type_name if exc.param else "parameter")
        return f"{_param_name(exc.param, exc.param_hint)}: missing {what}"
    if isinstance(exc, usage.BadParameter):
        return f"{_param_name(exc.param, exc.param_hint)}: {message}"
    command = exc.ctx.command_path if isinstance(exc, usage.UsageError) and exc.ctx else "facetalk"
    return f"{command}: {message}"


def _param_name(param: click.Parameter | None, hint: str | Sequence[str] | None) -> str:
    """An option's longest flag (`--output`), an argument's name in capitals (`SPEECH`)."""
    if hint is not None:
        return hint if isinstance(hint, str) else " / ".join(hint)
    if param is None:
        return "facetalk"
    if isinstance(param, TyperOption):
        return max(param.opts, key=len)
    return (param.name or "argument").upper()


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def _write_traceback(error: BaseException) -> Path:
    """Write the traceback of `error` to a new file under the cache directory (else the temporary one)."""
    text = "".join(traceback.format_exception(error))
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    for directory in (cache_dir() / CRASH_DIR, Path(tempfile.gettempdir())):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=f"facetalk-{stamp}-", suffix=".txt", dir=directory)
        except OSError:
            continue
        with os.fdopen(fd, "w") as file:
            file.write(text)
        return Path(name)
    return Path("(nowhere: no writable directory)")


app = typer.Typer(
    name="facetalk",
    cls=_Boundary,
    help="Speech to expressive, lip-synced 3D facial animation.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an unexpected error.")] = False,
) -> None:
    """Speech to expressive, lip-synced 3D facial animation."""
    del debug  # read by _Boundary.invoke, which wraps every command


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

    paths = [motion_path, *(compare or [])]
    captions = caption or [p.stem for p in paths]
    if len(captions) != len(paths):
        raise usage.BadOptionUsage("--caption", f"{len(paths)} panels need {len(paths)} captions, got {len(captions)}")
    motion = read_motion(motion_path, fps=input_fps)
    if compare:
        render_side_by_side(
            [motion, *(read_motion(p, fps=input_fps) for p in compare)], captions, output, audio=audio, width=width, height=height
        )
    else:
        render_video(motion, output, audio=audio, width=width, height=height)
    typer.echo(f"wrote {output}")


ANIMATE_FORMATS_HELP = f"Comma-separated outputs; default: {','.join(DEFAULT_FORMATS)} (textgrid: when there is an alignment)."
TextOption = Annotated[str | None, typer.Option("--text", help="What is said; default: transcribe with Whisper.")]
TextFileOption = Annotated[Path | None, typer.Option("--text-file", help="A file holding what is said.")]


@app.command("animate")
def animate(
    speech: Annotated[Path, typer.Argument(help="Speech file (WAV, FLAC, MP3, anything ffmpeg reads).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Directory to write the results into.")] = Path("out"),
    text: TextOption = None,
    text_file: TextFileOption = None,
    emotion: Annotated[
        str | None,
        typer.Option(help="The emotion, e.g. happy:0.8; or keys category:intensity@seconds, e.g. sad:0.3@0,anger:1.0@4."),
    ] = None,
    emotion_schedule: Annotated[Path | None, typer.Option(help="JSON list of {time, emotion, intensity} keys.")] = None,
    persona: Annotated[str, typer.Option(help="Speaking-style preset.")] = "neutral",
    backend: Annotated[str, typer.Option(help="Animator: procedural.")] = "procedural",
    fps: Annotated[float, typer.Option(min=1.0, help="Frames per second.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Seed of the random parts (blinks, micro-motion).")] = 0,
    format: Annotated[str | None, typer.Option("--format", "-f", help=ANIMATE_FORMATS_HELP)] = None,
    model: Annotated[
        str | None, typer.Option(help="A trained model (directory or shipped name, e.g. composite_regional).")
    ] = None,
    style_ref: Annotated[Path | None, typer.Option(help="Motion file whose speaking style the model takes on.")] = None,
    flame: Annotated[
        Path | None,
        typer.Option(
            help="Your FLAME model file (generic_model.pkl or .npz), for a model "
            "trained on FLAME parameters: the vertices are written too."
        ),
    ] = None,
    style_span: Annotated[
        list[str] | None,
        typer.Option(help="SECONDS:FILE, repeatable: the style of motion FILE from SECONDS on (style_duration models)."),
    ] = None,
    subject: Annotated[
        str | None, typer.Option(help="Training speaker whose style a speaker-conditioned model takes (e.g. spk03).")
    ] = None,
    symmetric: Annotated[
        bool,
        typer.Option(help="Make the face bilaterally symmetric (paper 002's refinement; FLAME parameters need --flame)."),
    ] = False,
) -> None:
    """Animate the embedded face from speech: align, animate, export every format and render a video.

    A model trained on FLAME parameters writes `<speech>.flame.npz` (its parameters, and with --flame the vertices).
    """
    from facetalk.animate import TEXTGRID_FORMAT, check_formats, needs_weights, write_animation, write_flame
    from facetalk.animate import animate as run_animate
    from facetalk.types import EmotionSchedule

    _exclusive(("--emotion", emotion), ("--emotion-schedule", emotion_schedule))
    transcript = _transcript(text, text_file)
    try:
        schedule = EmotionSchedule.parse(emotion) if emotion else None
    except InvalidInputError as exc:
        raise usage.BadOptionUsage("--emotion", str(exc)) from None
    if emotion_schedule is not None:
        schedule = EmotionSchedule.from_json(emotion_schedule)
    formats = list(DEFAULT_FORMATS) if format is None else [f.strip() for f in format.split(",") if f.strip()]
    try:
        check_formats(formats)  # before the slow part
    except FacetalkError as exc:
        raise usage.BadOptionUsage("--format", str(exc)) from None
    if style_span:
        _exclusive(("--style-span", style_span), ("--style-ref", style_ref))
        result = _animate_spans(speech, model, style_span)
    else:
        result = run_animate(
            speech, text=transcript, emotion=schedule, persona=persona, backend=backend, fps=fps, seed=seed,
            model=model, style_ref=style_ref, subject=subject,
            need_alignment=format is not None and TEXTGRID_FORMAT in formats, need_weights=needs_weights(formats),
        )  # fmt: skip
    flame_model = None
    if flame is not None:
        if result.motion.kind != "params":
            raise usage.BadOptionUsage("--flame", "the model animates ARKit weights, not FLAME parameters")
        from facetalk.face.flame import load_flame

        flame_model = load_flame(flame)
    if symmetric:
        from facetalk.face.symmetry import symmetric as symmetric_part

        if result.motion.kind == "params" and flame_model is None:
            raise usage.BadOptionUsage("--symmetric", "mirroring FLAME parameters needs the FLAME model: give --flame")
        result = replace(result, motion=symmetric_part(result.motion, flame=flame_model))
    if result.motion.kind == "params":
        typer.echo(f"wrote {write_flame(result.motion, output, name=speech.stem, flame=flame_model)}")
        return
    for path in write_animation(result, output, name=speech.stem, formats=formats):
        typer.echo(f"wrote {path}")


@app.command("stream")
def stream(
    speech: Annotated[Path, typer.Argument(help="Speech file, fed in chunks as if it arrived live.")],
    model: Annotated[str, typer.Option(help="A streaming model (directory or shipped name).")] = "conv_baseline_stream",
    livelink: Annotated[
        str | None, typer.Option(help="Send Live Link Face UDP packets to HOST:PORT (port default 11111).")
    ] = None,
    realtime: Annotated[bool, typer.Option("--realtime", help="Feed the audio at the pace it plays.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not print the frames.")] = False,
    emotion: Annotated[str | None, typer.Option(help="One emotion for the stream, e.g. happy:0.8.")] = None,
    emotion_schedule: Annotated[Path | None, typer.Option(help="JSON list of {time, emotion, intensity} keys.")] = None,
    persona: Annotated[str | None, typer.Option(help="A training speaker or persona preset of the model.")] = None,
    lookahead: Annotated[int | None, typer.Option(min=0, help="Frames of lookahead; default the model's.")] = None,
    chunk_ms: Annotated[float, typer.Option(min=1.0, help="Chunk length in milliseconds.")] = 20.0,
) -> None:
    """Animate speech as a stream: print each frame as a JSON line ({"time", "weights"}) and/or send it over Live Link."""
    import json
    import time

    from facetalk.export.livelink_udp import LiveLinkSender, parse_address
    from facetalk.stream import frame_json, stream_file
    from facetalk.types import EmotionSchedule

    _exclusive(("--emotion", emotion), ("--emotion-schedule", emotion_schedule))
    schedule = EmotionSchedule.parse(emotion) if emotion else None
    if emotion_schedule is not None:
        schedule = EmotionSchedule.from_json(emotion_schedule)
    sender = LiveLinkSender(*parse_address(livelink)) if livelink else None
    started = time.perf_counter()
    animation, frames = stream_file(speech, model=model, emotion=schedule, persona=persona, lookahead=lookahead,
                                    chunk_s=chunk_ms / 1000, realtime=realtime)  # fmt: skip
    if sender is not None:
        sender.fps = round(animation.fps)
    count = 0
    for frame in frames:
        count += 1
        if sender is not None:
            sender.send(frame.weights, frame.index)
        if not quiet:
            typer.echo(json.dumps(frame_json(frame, animation.channels)))
    seconds = time.perf_counter() - started
    typer.echo(f"{count} frames at {animation.fps:g} fps in {seconds:.2f} s; lookahead {animation.latency_s * 1000:.0f} ms"
               + (f"; sent to {livelink}" if sender else ""), err=True)  # fmt: skip


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    model: Annotated[str, typer.Option(help="Default model (a streaming one for the WebSocket).")] = "conv_baseline_stream",
    api_key: Annotated[
        str | None, typer.Option(envvar="FACETALK_API_KEY", help="Require this key on /v1 (also $FACETALK_API_KEY).")
    ] = None,
    max_streams: Annotated[int, typer.Option(min=1, help="Concurrent WebSocket streams.")] = 64,
    max_upload_mb: Annotated[float, typer.Option(min=0.001, help="Largest upload, in MiB.")] = 25.0,
    max_duration: Annotated[float, typer.Option(min=1.0, help="Longest speech, in seconds.")] = 600.0,
    batch_window_ms: Annotated[
        float, typer.Option(min=0.0, help="How long a model run waits for other streams' chunks to join it.")
    ] = 10.0,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes sharing the port and the jobs (streams are per process).")
    ] = 1,
) -> None:
    """Serve animation over HTTP (POST /v1/animate) and WebSocket (/v1/stream), and the browser viewer at /."""
    from facetalk.serve.app import ServeSettings
    from facetalk.serve.app import serve as run_serve

    settings = ServeSettings(model=model, api_key=api_key, max_streams=max_streams,
                             max_upload_bytes=round(max_upload_mb * 2**20), max_duration_s=max_duration,
                             batch_window_s=batch_window_ms / 1000)  # fmt: skip
    typer.echo(f"facetalk serving on http://{host}:{port}/ (viewer), ws://{host}:{port}/v1/stream", err=True)
    run_serve(host=host, port=port, settings=settings, workers=workers)


def _animate_spans(speech: Path, model: str | None, values: list[str]) -> Any:
    """`--style-span`: a style_duration model's animation with a style reference per time span."""
    from facetalk.animate import Animation
    from facetalk.audio import load_audio
    from facetalk.models.style_duration import animate_spans

    if model is None:
        raise usage.BadOptionUsage("--style-span", "--style-span needs --model (a style_duration model)")
    spans = []
    for value in values:
        seconds, _, file = value.partition(":")
        try:
            spans.append((float(seconds), Path(file)))
        except ValueError:
            raise usage.BadOptionUsage("--style-span", f"expected SECONDS:FILE, got {value!r}") from None
    waveform = load_audio(speech)
    return Animation(animate_spans(waveform, model, sorted(spans, key=lambda span: span[0])), waveform, None, None, None)


@app.command("align")
def align(
    audio: Annotated[Path, typer.Argument(help="Speech file (WAV, FLAC, ...).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="TextGrid to write; default: beside the audio.")] = None,
    text: TextOption = None,
    text_file: TextFileOption = None,
) -> None:
    """Time the words and phones of speech; write a Praat TextGrid (tiers "words" and "phones")."""
    from facetalk.text.align import align as run_align
    from facetalk.text.textgrid import write_textgrid

    result = run_align(audio, _transcript(text, text_file))  # a fallback to phone recognition warns
    target = output if output is not None else audio.with_suffix(".TextGrid")
    write_textgrid(result, target)
    typer.echo(f"wrote {target} ({len(result.words)} words, {len(result.phones)} phones, {result.method})")


def _transcript(text: str | None, text_file: Path | None) -> str | None:
    """The transcript given on the command line, inline or as a file; None means transcribe."""
    from facetalk.files import read_text

    _exclusive(("--text", text), ("--text-file", text_file))
    if text_file is None:
        return text
    text = read_text(text_file, what="transcript file")
    if not text.strip():
        raise InvalidInputError(f"{text_file}: the transcript file is empty")
    return text


def _exclusive(*options: tuple[str, object]) -> None:
    """Refuse more than one of the (flag, value) options being given."""
    given = [flag for flag, value in options if value is not None]
    if len(given) > 1:
        raise usage.BadOptionUsage(given[-1], f"give {' or '.join(given)}, not both")


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
    style_ref: Annotated[
        Literal["speaker", "same_speaker", "same_emotion", "other_speaker", "self", "none"],
        typer.Option(
            help="Style reference: same_speaker (alias speaker: another clip of the speaker), same_emotion "
            "(of the speaker and emotion), other_speaker, self or none."
        ),
    ] = "speaker",
    units: Annotated[Literal["m", "mm"], typer.Option(help="Length unit of the data: m or mm.")] = "m",
    max_clips: Annotated[int, typer.Option(min=0, help="Evaluate at most this many clips; 0: all.")] = 0,
    recognizer: Annotated[Path | None, typer.Option(help="Emotion recognizer directory; default: the shipped one.")] = None,
    diversity: Annotated[int, typer.Option(min=0, help="Speaker styles per clip for the diversity metric; 0 skips it.")] = 4,
    plots: Annotated[bool, typer.Option(help="Draw the plots.")] = True,
) -> None:
    """Run a model over a dataset split; write metrics.json, a Markdown report and plots."""
    from facetalk.eval.evaluate import evaluate
    from facetalk.eval.report import write_report

    result = evaluate(model, data, dataset=dataset, split=split, style_ref=style_ref, units=units,
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
    target: Annotated[
        Literal["vertices", "motion"], typer.Option(help="vertices or motion (the dataset's own motion).")
    ] = "vertices",
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
