"""The leaderboard of docs/benchmarks.md: one command enters a model, one renders the tables.

    # evaluate a model on both splits, time it and count its parameters into bench/reports/<row>/
    .venv/bin/python bench/leaderboard.py run <row> --model <model directory | shipped name | procedural>
    # every row under bench/reports into docs/benchmarks.md, between its leaderboard markers
    .venv/bin/python bench/leaderboard.py render
    # autoregressive FaceFormer against the non-autoregressive models on the same 60-second clip, in one run
    .venv/bin/python bench/leaderboard.py ratio procedural conv_baseline=/work/runs/x/best composite_regional voca faceformer

`run` writes `bench/reports/<row>/test` (`facetalk eval --split test`, default options),
`bench/reports/<row>/unseen` (`--split test_unseen_speaker --diversity 0`), both without plots, and
`bench/reports/<row>/speed.json`: seconds of compute per second of animation on the bundled example
speech tiled to 60 seconds, best of 3 after a warm-up, the model alone (its inputs built beforehand;
for the procedural animator, from the alignment) and end to end (from the waveform: speech encoding
and the model; for the procedural animator, transcription, alignment, prosody and the rules).
For a model that reads text or phones, the speech is transcribed and
aligned once beforehand, and end to end includes its text features. `--skip-eval` only times.
`ratio` times several models' generation side by side (and the reference
model at 10 and 60 seconds) into `bench/reports/speed_side_by_side.json`, which `render` shows under
the tables. The machine is shared: read the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from timing import REPEATS, best_of, model_speed, parameter_count, tiled

from facetalk.assets import asset_path
from facetalk.audio import load_audio
from facetalk.eval.leaderboard import (
    SPEED_COMPARISON_FILE,
    SPEED_FILE,
    TEST_DIR,
    UNSEEN_DIR,
    SpeedRecord,
    render_leaderboard,
    update_document,
)
from facetalk.models.base import open_model
from facetalk.types import Waveform

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "bench" / "reports"
DOCUMENT = ROOT / "docs" / "benchmarks.md"
CORPUS = Path("corpus")  # `facetalk synth --hours 1 --seed 0 --out corpus`, as README.md makes it
CLIP_SECONDS = 60.0
GROWTH_SECONDS = (10.0, 60.0)
PROCEDURAL = "procedural"


def speech(seconds: float = CLIP_SECONDS) -> Waveform:
    """The bundled example speech tiled to `seconds`: the clip every model is timed on."""
    return tiled(load_audio(asset_path("speech/example.wav")), seconds)


def procedural_speed(waveform: Waveform, *, end_to_end: bool = True) -> tuple[float, float | None]:
    """The procedural animator's seconds per second: from the alignment, and from the waveform (`facetalk.animate`;
    None unless `end_to_end`)."""
    from facetalk import animate
    from facetalk.audio.prosody import extract_prosody
    from facetalk.procedural import PERSONAS, ProceduralAnimator
    from facetalk.text.align import align

    alignment = align(waveform, None)
    prosody = extract_prosody(waveform, fps=30.0)
    animator = ProceduralAnimator()

    def alone() -> object:
        return animator.animate(alignment, duration=waveform.duration, fps=30.0, persona=PERSONAS["neutral"], prosody=prosody)

    alone_s_per_s = best_of(alone) / waveform.duration
    if not end_to_end:
        return alone_s_per_s, None
    # one timed run end to end: transcription dominates it
    return alone_s_per_s, best_of(lambda: animate(waveform), repeats=1) / waveform.duration


def run(row: str, model: str, *, data: Path, threads: int, eval_threads: int, skip_eval: bool) -> None:
    """Evaluate `model` on both splits (with `eval_threads` torch threads) and time it (with `threads`), into
    `bench/reports/<row>/`."""
    from facetalk.eval.evaluate import evaluate
    from facetalk.eval.report import write_report

    out = REPORTS / row
    if not skip_eval:
        torch.set_num_threads(eval_threads)
        write_report(evaluate(model, data, split="test", progress=False), out / TEST_DIR, plots=False)
        unseen = evaluate(model, data, split="test_unseen_speaker", diversity_conditions=0, progress=False)
        write_report(unseen, out / UNSEEN_DIR, plots=False)
    torch.set_num_threads(threads)
    waveform = speech()
    if model == PROCEDURAL:
        (alone, end_to_end), parameters = procedural_speed(waveform), 0
    else:
        animator, directory = open_model(model)
        alone, end_to_end = model_speed(animator, directory, waveform)
        parameters = parameter_count(animator)
    assert end_to_end is not None
    record = SpeedRecord(model=model, clip_seconds=CLIP_SECONDS, alone_s_per_s=alone, end_to_end_s_per_s=end_to_end,
                         parameters=parameters, threads=threads)  # fmt: skip
    record.write(out / SPEED_FILE)
    print(json.dumps(asdict(record)))


def ratio(entries: list[str], *, reference: str, threads: int) -> None:
    """Time each model's generation alone on the same 60-second clip in one run; the reference also at 10 s."""
    torch.set_num_threads(threads)
    waveform = speech()
    models = []
    for entry in entries:
        row, _, model = entry.partition("=")
        model = model or row
        if model == PROCEDURAL:
            alone = procedural_speed(waveform, end_to_end=False)[0]
            kind = "rules (from the alignment)"
        else:
            animator, directory = open_model(model)
            alone = model_speed(animator, directory, waveform, end_to_end=False)[0]
            kind = f"{animator.spec.name if animator.spec else model}, {parameter_count(animator) / 1e6:.2f} M parameters"
        models.append({"row": row, "model": model, "kind": kind, "alone_s_per_s": alone})
        print(models[-1])
    reference_model = next(m["model"] for m in models if m["row"] == reference)
    animator, directory = open_model(reference_model)
    growth = [{"seconds": s, "s_per_s": model_speed(animator, directory, speech(s), end_to_end=False)[0]} for s in GROWTH_SECONDS]
    print(growth)
    record = {"reference": reference, "threads": threads, "clip_seconds": CLIP_SECONDS, "repeats": REPEATS,
              "models": models, "growth": growth}  # fmt: skip
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / SPEED_COMPARISON_FILE).write_text(json.dumps(record, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="evaluate and time one model into bench/reports/<row>")
    run_parser.add_argument("row")
    run_parser.add_argument("--model", required=True, help="model directory, shipped model name, or procedural")
    run_parser.add_argument("--data", type=Path, default=CORPUS, help="the synthetic corpus (default: ./corpus)")
    run_parser.add_argument("--threads", type=int, default=2, help="torch threads of the timing")
    run_parser.add_argument("--eval-threads", type=int, default=1, help="torch threads of the evaluations")
    run_parser.add_argument("--skip-eval", action="store_true", help="only time the model")
    render_parser = commands.add_parser("render", help="write the tables into docs/benchmarks.md")
    render_parser.add_argument("--reports", type=Path, default=REPORTS)
    render_parser.add_argument("--document", type=Path, default=DOCUMENT)
    ratio_parser = commands.add_parser("ratio", help="time models side by side on the same 60-second clip")
    ratio_parser.add_argument("models", nargs="+", help="row[=model] entries")
    ratio_parser.add_argument("--reference", default="faceformer", help="the row every other is compared with")
    ratio_parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    commands_: dict[str, Callable[[], None]] = {
        "run": lambda: run(args.row, args.model, data=args.data, threads=args.threads, eval_threads=args.eval_threads,
                            skip_eval=args.skip_eval),
        "render": lambda: update_document(args.document, render_leaderboard(args.reports)),
        "ratio": lambda: ratio(args.models, reference=args.reference, threads=args.threads),
    }
    commands_[args.command]()


if __name__ == "__main__":
    main()
