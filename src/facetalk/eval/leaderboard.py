"""The leaderboard: every model's saved evaluation reports and speed, as the tables of docs/benchmarks.md.

A row is a directory `bench/reports/<row>/` holding what `bench/leaderboard.py run` writes:

- `test/metrics.json`: `facetalk eval --split test` with the default options (held-out sentences);
- `unseen/metrics.json`: `facetalk eval --split test_unseen_speaker --diversity 0` (held-out speakers);
- `speed.json`: seconds of compute per second of animation on the same 60-second clip, the model alone
  and end to end, and the parameter count (`SpeedRecord`).

Any of them may be missing (a row appears with what it has); a metric a model does not have (the
blendshape MAE of a vertex model, the diversity of a model without speakers) is a blank cell.
`render_leaderboard` turns the rows into Markdown, and `update_document` puts it between the marker
comments of a document, leaving the rest of it as it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from facetalk.errors import InvalidInputError
from facetalk.eval.report import best_index, display, metric_value, read_metrics
from facetalk.files import atomic_output, read_json, read_text

TEST_DIR, UNSEEN_DIR, SPEED_FILE = "test", "unseen", "speed.json"
SPEED_COMPARISON_FILE = "speed_side_by_side.json"
"""The side-by-side speed run (`bench/leaderboard.py ratio`), at the top of the reports directory."""
START_MARKER = "<!-- leaderboard:start (written by bench/leaderboard.py render; do not edit by hand) -->"
END_MARKER = "<!-- leaderboard:end -->"

COLUMNS: tuple[tuple[str, str], ...] = (
    ("lve", "LVE² (mm²)"),
    ("lve_l2", "LVE (mm)"),
    ("lip_mean", "lip mean (mm)"),
    ("lip_max", "lip max (mm)"),
    ("upper_mean", "upper face (mm)"),
    ("face_mean", "face (mm)"),
    ("f_dtw", "F-DTW (mm·frames)"),
    ("fdd", "FDD (mm²)"),
    ("bilabial_closure", "bilabial closure ↑"),
    ("opening_energy_r", "opening–energy r ↑"),
    ("blendshape_mae", "channel MAE"),
    ("emotion_accuracy", "emotion acc. ↑"),
    ("diversity", "diversity (mm) ↑"),
)
"""The issue's metrics, in order: `metrics.json` names and column headers (units of data in metres)."""


@dataclass(frozen=True)
class SpeedRecord:
    """A row's speed, what `speed.json` holds.

    Attributes:
        model: the model measured (directory, shipped name or "procedural").
        clip_seconds: length of the clip timed.
        alone_s_per_s: seconds of compute per second of animation, the model alone (inputs built beforehand).
        end_to_end_s_per_s: the same from the waveform (speech encoding, or alignment for the procedural animator).
        parameters: trainable and fixed parameters of the model (0 for the procedural animator).
        threads: torch threads.
    """

    model: str
    clip_seconds: float
    alone_s_per_s: float
    end_to_end_s_per_s: float
    parameters: int
    threads: int

    def write(self, path: str | os.PathLike[str]) -> None:
        with atomic_output(path) as tmp:
            tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> SpeedRecord:
        data = read_json(path, what="leaderboard speed record")
        try:
            return cls(**data)
        except TypeError:
            raise InvalidInputError(f"{path}: not a leaderboard speed record") from None


@dataclass(frozen=True)
class Row:
    """One model's reports; None where a file is missing."""

    name: str
    test: dict[str, Any] | None
    unseen: dict[str, Any] | None
    speed: SpeedRecord | None


def read_rows(reports: str | os.PathLike[str]) -> list[Row]:
    """Every row directory under `reports` that holds at least one report or speed record, by name."""
    rows = []
    for directory in sorted(Path(reports).iterdir()) if Path(reports).is_dir() else []:
        if not directory.is_dir():
            continue
        test, unseen = (read_metrics(directory / d) if (directory / d / "metrics.json").is_file() else None
                        for d in (TEST_DIR, UNSEEN_DIR))  # fmt: skip
        speed = SpeedRecord.read(directory / SPEED_FILE) if (directory / SPEED_FILE).is_file() else None
        if test is not None or unseen is not None or speed is not None:
            rows.append(Row(directory.name, test, unseen, speed))
    return rows


def _metric_table(rows: list[Row], split: str, *, speed: bool) -> list[str]:
    reports = [getattr(row, split) for row in rows]
    headers = ["model", *(header for _, header in COLUMNS)]
    if speed:
        headers += ["s/s model alone", "s/s end to end", "parameters"]
    lines = ["| " + " | ".join(headers) + " |", "|---" * len(headers) + "|"]
    cells: list[list[str]] = [[f"`{row.name}`"] for row in rows]
    for name, _ in COLUMNS:
        values = [None if report is None else metric_value(report, name) for report in reports]
        best = best_index(name, values)
        for i, (value, report) in enumerate(zip(values, reports, strict=True)):
            shown = "" if value is None or report is None else _number(display(name, value, str(report["info"]["units"])))
            cells[i].append(f"**{shown}**" if i == best else shown)
    if speed:
        for i, row in enumerate(rows):
            record = row.speed
            cells[i] += ["", "", ""] if record is None else [
                f"{record.alone_s_per_s:.4f}", f"{record.end_to_end_s_per_s:.4f}", _parameters(record.parameters)]  # fmt: skip
    return lines + ["| " + " | ".join(row_cells) + " |" for row_cells in cells]


def _number(shown: str) -> str:
    """A displayed value without its unit (the column header has it)."""
    return shown.split(" ")[0]


def _parameters(count: int) -> str:
    if count == 0:
        return "0"
    return f"{count / 1e6:.2f} M" if count >= 1e5 else f"{count / 1e3:.1f} k"


def _speed_comparison(path: Path) -> list[str]:
    data = read_json(path, what="side-by-side speed record")
    reference = data["reference"]
    threads = f"{data['threads']} thread" + ("s" if data["threads"] != 1 else "")
    lines = [f"Side by side in one run ({threads}, the same {data['clip_seconds']:.0f}-second clip, "
             f"best of {data['repeats']}): seconds of compute per second of animation, the model alone, and "
             f"`{reference}` relative to each.", "",
             "| model | kind | s/s model alone | " + f"`{reference}` / model |", "|---|---|---|---|"]  # fmt: skip
    by_name = {entry["row"]: entry for entry in data["models"]}
    for entry in data["models"]:
        ratio = by_name[reference]["alone_s_per_s"] / entry["alone_s_per_s"]
        lines.append(f"| `{entry['row']}` | {entry['kind']} | {entry['alone_s_per_s']:.4f} | {ratio:.1f}× |")
    growth = data.get("growth")
    if growth:
        lines += ["", f"`{reference}`'s cost as the audio grows (model alone, seconds of compute per second of animation):",
                  "", "| audio | s/s | total seconds |", "|---|---|---|"]  # fmt: skip
        lines += [f"| {g['seconds']:.0f} s | {g['s_per_s']:.4f} | {g['s_per_s'] * g['seconds']:.2f} |" for g in growth]
    return lines


def render_leaderboard(reports: str | os.PathLike[str]) -> str:
    """The leaderboard's Markdown from the rows under `reports` (and its side-by-side speed run, if any)."""
    rows = read_rows(reports)
    lines = ["### Held-out sentences (split `test`)", "",
             "Metrics in millimetres of the data (metres); ↑: higher is better, otherwise lower is better; the best "
             "of each column in bold, a blank where a metric does not apply or was not measured. Speed: seconds of "
             "compute per second of 30 fps animation on the same 60-second clip (`speed.json`).", ""]  # fmt: skip
    lines += _metric_table(rows, "test", speed=True)
    lines += ["", "### Held-out speakers (split `test_unseen_speaker`, no diversity)", ""]
    lines += _metric_table(rows, "unseen", speed=False)
    comparison = Path(reports) / SPEED_COMPARISON_FILE
    if comparison.is_file():
        lines += ["", "### Autoregressive against non-autoregressive generation", "", *_speed_comparison(comparison)]
    return "\n".join(lines) + "\n"


def update_document(document: str | os.PathLike[str], table: str) -> None:
    """Replace what lies between the leaderboard's marker comments in `document` with `table`.

    Raises:
        InvalidInputError: the document lacks the markers, or has them out of order.
    """
    text = read_text(document, what="document")
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start < 0 or end < start:
        raise InvalidInputError(f"{document}: no leaderboard markers ({START_MARKER} ... {END_MARKER})")
    updated = text[: start + len(START_MARKER)] + "\n" + table + text[end:]
    with atomic_output(document) as tmp:
        tmp.write_text(updated)
