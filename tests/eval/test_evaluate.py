"""`facetalk eval` end to end on a tiny synthetic corpus: perfect and shifted predictions, the
procedural animator, a saved model, the emotion metrics, the report and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from facetalk.cli import app
from facetalk.data.formats import open_dataset
from facetalk.data.sample import Sample
from facetalk.eval.evaluate import EvalResult, FilePredictor, evaluate
from facetalk.eval.report import compare_reports, read_metrics, write_report
from facetalk.export import export_motion
from facetalk.types import Motion

NUM_CLIPS = 10
ERRORS = ("lip_mean", "lip_max", "upper_mean", "face_mean", "f_dtw", "lve", "lve_l2", "mve", "lip24_mean", "mouth_shape_total")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from facetalk.synth.build import build_corpus

    out = tmp_path_factory.mktemp("corpus")
    return build_corpus(out, hours=1.0, seed=5, max_clips=NUM_CLIPS, word_semantics=False, progress=False)


def _predictions(corpus: Path, directory: Path, shift: int = 0) -> Path:
    """Every clip's true vertex motion, delayed by `shift` frames (the first frame held), as npz files."""
    for sample in open_dataset("native", corpus, split="all"):
        truth = sample.vertex_motion()
        assert truth is not None
        data = truth.data[np.maximum(np.arange(truth.num_frames) - shift, 0)]
        export_motion(Motion(data, truth.fps, "vertices"), directory / f"{sample.clip_id}.npz")
    return directory


def _evaluate(model: str | FilePredictor, corpus: Path, **options: object) -> EvalResult:
    return evaluate(model, corpus, split="all", diversity_conditions=0, progress=False, **options)  # type: ignore[arg-type]


def test_the_ground_truth_scores_perfectly(corpus: Path, tmp_path: Path) -> None:
    result = _evaluate(str(_predictions(corpus, tmp_path)), corpus)
    assert result.info["clips"] == NUM_CLIPS
    for name in ERRORS:
        assert result.metrics[name] == pytest.approx(0.0, abs=1e-12), name
    assert result.metrics["fdd"] == pytest.approx(0.0, abs=1e-12)
    assert result.metrics["bilabial_closure"] == result.metrics["bilabial_closure_gt"]
    assert result.metrics["bilabial_phones"] > 0
    assert result.metrics["opening_energy_r"] == pytest.approx(result.metrics["opening_energy_r_gt"])
    assert result.vertex_error is not None and np.abs(result.vertex_error).max() < 1e-12


def test_errors_grow_with_a_time_shift(corpus: Path, tmp_path: Path) -> None:
    evaluated = {k: _evaluate(str(_predictions(corpus, tmp_path / str(k), k)), corpus) for k in (1, 2, 4)}
    results = {k: result.metrics for k, result in evaluated.items()}
    names = ("lip_mean", "face_mean", "mve", "lve_l2")
    errors = {name: [results[k][name] for k in (1, 2, 4)] for name in names}  # the 1-, 2- and 4-frame delays
    growing = {name: 0 < one < two < four for name, (one, two, four) in errors.items()}
    assert growing == dict.fromkeys(names, True)
    # about in proportion to the shift while it is short against a syllable (≈ 6 frames at 30 fps)
    ratios = {name: (two / one, four / one) for name, (one, two, four) in errors.items()}
    proportional = {name: 1.4 < twice < 2.6 and 2.2 < four_times < 5.0 for name, (twice, four_times) in ratios.items()}
    assert proportional == dict.fromkeys(names, True), ratios
    # DTW warps most of a delay away; what is left is the clip's end, which the delayed copy never reaches
    assert results[1]["f_dtw"] < results[2]["f_dtw"] < results[4]["f_dtw"]
    frames = sum(int(row["frames"]) for row in evaluated[1].per_clip)
    assert results[1]["f_dtw"] < 0.2 * results[1]["face_mean"] * frames
    assert results[4]["opening_energy_lag_s"] > results[1]["opening_energy_lag_s"]


def test_procedural_animator_and_diversity(corpus: Path) -> None:
    result = evaluate("procedural", corpus, split="all", diversity_conditions=3, progress=False)
    metrics = result.metrics
    # it re-animates each clip from the clip's own alignment, emotion and speaker: close, not exact
    # (the corpus's clips used per-clip noise seeds and word meanings)
    assert 0 < metrics["lip_mean"] < 2e-3 and 0 <= metrics["blendshape_mae"] < 0.1
    assert metrics["bilabial_closure"] > 0.8
    assert set(result.channel_mae) >= {"jawOpen", "mouthClose"}
    assert metrics["diversity"] > 0  # speakers' personas differ


def test_a_saved_model_is_evaluated_with_its_own_features(corpus: Path, tmp_path: Path) -> None:
    from facetalk.models.base import build_model, save_model

    torch.manual_seed(0)
    model = build_model("composite_regional_tiny", feature_dim=32, motion_dim=478 * 3, fps=30.0, kind="vertices",
                        motion_scale=1000.0)  # fmt: skip
    model.metadata = {"features": {"encoder": "mel", "options": {"fps": 30.0, "n_mels": 32}}, "subjects": []}
    save_model(model, tmp_path / "model")
    result = _evaluate(str(tmp_path / "model"), corpus)
    # the untrained model's output layer starts at zero, so it predicts each speaker's neutral face
    assert result.metrics["lip_mean"] > 0 and np.isfinite(list(result.metrics.values())).all()
    assert result.metrics["speed"] == pytest.approx(0.0, abs=1e-9)


def test_emotion_metrics_report_and_compare(corpus: Path, tmp_path: Path) -> None:
    from facetalk.eval.emotion import train_recognizer_on_dataset

    train_recognizer_on_dataset(corpus, split="all", out=tmp_path / "recognizer", epochs=2, width=8, progress=False)
    perfect = _evaluate(str(_predictions(corpus, tmp_path / "p0")), corpus, recognizer=tmp_path / "recognizer")
    shifted = _evaluate(str(_predictions(corpus, tmp_path / "p4", 4)), corpus, recognizer=tmp_path / "recognizer")
    emotion = perfect.emotion
    assert np.asarray(emotion["confusion"]).sum() == emotion["windows"] > 0
    assert emotion["fid"] == pytest.approx(0.0, abs=1e-6)  # the same motion on both sides

    write_report(perfect, tmp_path / "a")
    write_report(shifted, tmp_path / "b")
    assert read_metrics(tmp_path / "a")["metrics"]["lip_mean"] == 0.0
    report = (tmp_path / "a" / "report.md").read_text()
    assert "lip mean error" in report and "## Emotion" in report and "plots/vertex_error.png" in report
    assert {p.name for p in (tmp_path / "a" / "plots").iterdir()} >= {"vertex_error.png", "confusion.png"}
    table = compare_reports([tmp_path / "a", tmp_path / "b"])
    row = next(line for line in table.splitlines() if line.startswith("| lip mean error"))
    assert row.split("|")[2].strip() == "**0 mm**"  # the better report's value is bold


def test_cli_eval_and_compare(corpus: Path, tmp_path: Path) -> None:
    predictions = _predictions(corpus, tmp_path / "pred")
    runner = CliRunner()
    args = ["eval", "--model", str(predictions), "--data", str(corpus), "--split", "all", "--diversity", "0", "--no-plots"]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["info"]["clips"] == NUM_CLIPS
    compared = runner.invoke(app, ["compare", str(tmp_path / "r"), str(tmp_path / "r")])
    assert compared.exit_code == 0 and "lip mean error" in compared.output
    command = [
        sys.executable,
        "-m",
        "facetalk.cli",
        "eval",
        "--model",
        "no_such_model",
        "--data",
        str(corpus),
        "-o",
        str(tmp_path / "x"),
    ]
    missing = subprocess.run(command, capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.strip().splitlines() == [
        "error: no shipped model named 'no_such_model' (weights/no_such_model); give a model directory instead"
    ]
    assert not (tmp_path / "x").exists()


def test_cli_recognizer_train(corpus: Path, tmp_path: Path) -> None:
    args = ["recognizer", "train", "--data", str(corpus), "--split", "all", "--epochs", "1", "-o", str(tmp_path / "rec")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "validation accuracy" in result.output and (tmp_path / "rec" / "recognizer.json").is_file()


def test_same_emotion_style_references_share_the_speaker_and_the_emotion() -> None:
    from facetalk.eval.evaluate import _style_clips
    from facetalk.types import Waveform

    def sample(clip_id: str, subject: str, label: int) -> Sample:
        motion = Motion(np.zeros((6, 2), np.float32), 30.0, "blendshapes", ("a", "b"))
        emotion = np.eye(7, dtype=np.float32)[[label] * 6]  # (6, 7)
        return Sample("native", clip_id, subject, Waveform(np.zeros(3200, np.float32), 16000), motion, emotion=emotion)

    # speaker x: happy, sad, happy, sad, anger (alone in its emotion); speaker y: one clip
    samples = [sample("x0", "x", 1), sample("x1", "x", 2), sample("x2", "x", 1), sample("x3", "x", 2),
               sample("x4", "x", 6), sample("y0", "y", 1)]  # fmt: skip
    chosen = [s.clip_id for s in _style_clips(samples, "same_emotion")]
    assert chosen == ["x2", "x3", "x0", "x1", "x0", "y0"]  # the next of its emotion; x4: same_speaker's next (x0)
    assert [s.clip_id for s in _style_clips(samples, "same_speaker")] == ["x1", "x2", "x3", "x4", "x0", "y0"]
