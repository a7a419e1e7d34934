"""The leaderboard rendered from small hand-made report files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facetalk.errors import InvalidInputError
from facetalk.eval.leaderboard import (
    COLUMNS,
    END_MARKER,
    START_MARKER,
    SpeedRecord,
    read_rows,
    render_leaderboard,
    update_document,
)


def _report(directory: Path, metrics: dict[str, float], emotion: dict[str, float] | None = None) -> None:
    directory.mkdir(parents=True)
    report = {"info": {"model": "m", "units": "m", "split": "test"}, "metrics": metrics, "emotion": emotion or {}}
    (directory / "metrics.json").write_text(json.dumps(report))


def _table_row(text: str, table: int, name: str) -> list[str]:
    """The cells of row `name` in the `table`-th table of the rendered Markdown."""
    tables = [block for block in text.split("### ") if block.strip()]
    line = next(line for line in tables[table].splitlines() if line.startswith(f"| `{name}` |"))
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_rows_render_with_blank_cells_where_a_metric_is_missing(tmp_path: Path) -> None:
    _report(tmp_path / "vertex_model" / "test", {"lve": 4e-6, "lip_mean": 0.002, "diversity": 0.001},
            emotion={"accuracy": 0.5})  # fmt: skip
    _report(tmp_path / "vertex_model" / "unseen", {"lip_mean": 0.003})
    SpeedRecord("vertex_model", 60.0, 0.0012, 0.0105, 2_300_000, 2).write(tmp_path / "vertex_model" / "speed.json")
    _report(tmp_path / "blendshape_model" / "test", {"lip_mean": 0.001, "blendshape_mae": 0.05})
    (tmp_path / "empty_row").mkdir()  # no reports: no row

    assert [row.name for row in read_rows(tmp_path)] == ["blendshape_model", "vertex_model"]
    text = render_leaderboard(tmp_path)
    names = [name for name, _ in COLUMNS]
    vertex = _table_row(text, 0, "vertex_model")
    assert len(vertex) == 1 + len(COLUMNS) + 3
    assert vertex[1 + names.index("lve")] == "4"  # 4e-6 m² is 4 mm²
    assert vertex[1 + names.index("lip_mean")] == "2"  # 2 mm, worse than 1 mm: not bold
    assert vertex[1 + names.index("blendshape_mae")] == ""  # a vertex model has no channel MAE
    assert vertex[1 + names.index("emotion_accuracy")] == "0.5"
    assert vertex[-3:] == ["0.0012", "0.0105", "2.30 M"]
    blendshape = _table_row(text, 0, "blendshape_model")
    assert blendshape[1 + names.index("lip_mean")] == "**1**"  # the best of the column
    assert blendshape[1 + names.index("lve")] == "" and blendshape[-3:] == ["", "", ""]  # no speed record
    assert _table_row(text, 1, "vertex_model")[1 + names.index("lip_mean")] == "3"
    assert _table_row(text, 1, "blendshape_model")[1:] == [""] * len(COLUMNS)  # no held-out-speaker report
    assert "empty_row" not in text


def test_update_document_replaces_only_between_the_markers(tmp_path: Path) -> None:
    document = tmp_path / "benchmarks.md"
    document.write_text(f"# Benchmarks\n\nintro\n\n{START_MARKER}\nold table\n{END_MARKER}\n\nafter\n")
    update_document(document, "| new |\n")
    assert document.read_text() == f"# Benchmarks\n\nintro\n\n{START_MARKER}\n| new |\n{END_MARKER}\n\nafter\n"
    document.write_text("# Benchmarks without markers\n")
    with pytest.raises(InvalidInputError, match="no leaderboard markers"):
        update_document(document, "| new |\n")


def test_speed_record_round_trip_and_a_bad_file(tmp_path: Path) -> None:
    record = SpeedRecord("faceformer", 60.0, 0.03, 0.04, 250_000, 2)
    record.write(tmp_path / "speed.json")
    assert SpeedRecord.read(tmp_path / "speed.json") == record
    (tmp_path / "bad.json").write_text(json.dumps({"model": "x"}))
    with pytest.raises(InvalidInputError, match="not a leaderboard speed record"):
        SpeedRecord.read(tmp_path / "bad.json")


def test_the_side_by_side_speed_run_renders_as_ratios_to_the_reference(tmp_path: Path) -> None:
    run = {"reference": "faceformer", "threads": 2, "clip_seconds": 60.0, "repeats": 3,
           "models": [{"row": "voca", "model": "voca", "kind": "voca", "alone_s_per_s": 0.002},
                      {"row": "faceformer", "model": "faceformer", "kind": "faceformer", "alone_s_per_s": 0.03}],
           "growth": [{"seconds": 10.0, "s_per_s": 0.02}, {"seconds": 60.0, "s_per_s": 0.03}]}  # fmt: skip
    (tmp_path / "speed_side_by_side.json").write_text(json.dumps(run))
    text = render_leaderboard(tmp_path)
    assert "| `voca` | voca | 0.0020 | 15.0× |" in text and "| `faceformer` | faceformer | 0.0300 | 1.0× |" in text
    assert "| 60 s | 0.0300 | 1.80 |" in text
