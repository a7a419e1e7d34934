"""Reports of `facetalk eval`: `metrics.json`, a Markdown report with tables, and plots.

`write_report(result, out_dir)` writes:

- `metrics.json`: `EvalResult.as_json()` (values in the data's units);
- `report.md`: the metric tables in readable units (millimetres for data in metres), the emotion
  confusion matrix, the notes, and the plots;
- `plots/curves_<clip>.png`: ground truth against prediction for the main channels of a few clips;
- `plots/vertex_error.png`: the mean error of each vertex rendered on the face (default topology);
- `plots/confusion.png`: the emotion recognizer's confusion matrix.

`compare_reports(dirs)` is the side-by-side table of `facetalk compare`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facetalk.errors import InvalidInputError
from facetalk.eval.evaluate import UNITS_PER_MM, EvalResult
from facetalk.files import atomic_directory, atomic_output, finish_replacement, read_json

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
HEATMAP_SIZE = 512
HEATMAP_COLORMAP = "inferno"
PLOT_DPI = 110
LENGTH_UNITS = {0: "", 1: " mm", 2: " mm²"}  # by the power of length in a metric's unit


@dataclass(frozen=True)
class MetricInfo:
    """How a metric is shown: its label, the power of length in its unit (1 for mm, 2 for mm², 0 for none),
    the unit suffix after the length part, and which direction is better ("lower", "higher", or "" when
    neither is: signed values, statistics to compare with the ground truth's)."""

    label: str
    length_power: int = 1
    suffix: str = ""
    better: str = "lower"


METRIC_INFO: dict[str, MetricInfo] = {
    "lip_mean": MetricInfo("lip mean error, L_lip_mean (paper 001)"),
    "lip_max": MetricInfo("lip max error, L_lip_max (paper 001)"),
    "upper_mean": MetricInfo("upper-face mean error, L_upper_mean (paper 001)"),
    "face_mean": MetricInfo("face mean error, L_face_mean (paper 001)"),
    "f_dtw": MetricInfo("F-DTW, whole face (paper 001)", suffix="·frames"),
    "lip_dtw": MetricInfo("DTW, lips (paper 001 code)", suffix="·frames"),
    "lve": MetricInfo("LVE, squared max lip error (CodeTalker)", 2),
    "lve_l2": MetricInfo("LVE, max L2 lip error (MeshTalk paper, paper 000)"),
    "lip_error_meshtalk": MetricInfo("lip error, centred (MeshTalk code)"),
    "mve": MetricInfo("MVE, mean vertex error (FaceDiffuser)"),
    "fdd": MetricInfo("FDD, signed (CodeTalker)", 2, better=""),
    "fdd_abs": MetricInfo("FDD, absolute (FaceDiffuser)", 2),
    "lip24_mean": MetricInfo("24 lip key points, mean after rigid alignment (paper 002)"),
    "lip24_max": MetricInfo("24 lip key points, max after rigid alignment (paper 002)"),
    "mouth_shape_height": MetricInfo("mouth height error (paper 002)"),
    "mouth_shape_width": MetricInfo("mouth width error (paper 002)"),
    "mouth_shape_total": MetricInfo("mouth shape error, height + width (paper 002)"),
    "blendshape_mae": MetricInfo("blendshape MAE, all channels", 0),
    "bilabial_closure": MetricInfo("bilabial closure rate (p/b/m with lips < 1 mm)", 0, better="higher"),
    "bilabial_closure_gt": MetricInfo("bilabial closure rate of the ground truth", 0, better=""),
    "bilabial_phones": MetricInfo("p/b/m phones counted", 0, better=""),
    "opening_energy_r": MetricInfo("mouth opening vs speech energy, peak r", 0, better="higher"),
    "opening_energy_lag_s": MetricInfo("mouth opening vs speech energy, lag", 0, " s", better=""),
    "opening_energy_r_gt": MetricInfo("the same for the ground truth, peak r", 0, better=""),
    "opening_energy_lag_s_gt": MetricInfo("the same for the ground truth, lag", 0, " s", better=""),
    "speed": MetricInfo("mean vertex speed", 1, "/s", better=""),
    "speed_gt": MetricInfo("mean vertex speed of the ground truth", 1, "/s", better=""),
    "jerk": MetricInfo("mean vertex jerk", 1, "/s³", better=""),
    "jerk_gt": MetricInfo("mean vertex jerk of the ground truth", 1, "/s³", better=""),
    "diversity": MetricInfo("diversity across speaker styles (FaceDiffuser)", better="higher"),
    "emotion_accuracy": MetricInfo("emotion recognizer accuracy", 0, better="higher"),
    "emotion_fid": MetricInfo("Fréchet distance, recognizer features", 0),
}


def metric_info(name: str) -> MetricInfo:
    """How the metric `name` is shown; per-region blendshape errors and unknown names get a plain entry."""
    if name.startswith("blendshape_mae_"):
        return MetricInfo(f"blendshape MAE, {name.removeprefix('blendshape_mae_')}", 0)
    return METRIC_INFO.get(name) or MetricInfo(name, 0, better="")


def display(name: str, value: float, units: str) -> str:
    """A metric's value in readable units (mm instead of m)."""
    info = metric_info(name)
    scale = (1.0 / UNITS_PER_MM.get(units, 1.0)) ** info.length_power
    return f"{value * scale:.4g}{LENGTH_UNITS[info.length_power]}{info.suffix}"


def write_report(result: EvalResult, out_dir: str | os.PathLike[str], *, plots: bool = True) -> Path:
    """Write metrics.json, report.md and the plots into `out_dir` (replaced as a whole, atomically)."""
    out = Path(out_dir)
    with atomic_directory(out) as tmp:
        (tmp / METRICS_FILE).write_text(json.dumps(result.as_json(), indent=2, default=float) + "\n")
        figures: list[tuple[str, str]] = []
        if plots:
            (tmp / "plots").mkdir()
            figures = _plots(result, tmp / "plots")
        (tmp / REPORT_FILE).write_text(_markdown(result, figures))
    return out


def _markdown(result: EvalResult, figures: list[tuple[str, str]]) -> str:
    info = result.info
    units = str(info["units"])
    lines = [f"# Evaluation of {info['model']}", "",
             f"Data: `{info['data']}` ({info['dataset']}), split `{info['split']}`, {info['clips']} clips; "
             f"style reference: {info['style_ref']}.", "", "| metric | value |", "|---|---|"]  # fmt: skip
    for name, value in result.metrics.items():
        lines.append(f"| {metric_info(name).label} | {display(name, value, units)} |")
    if result.emotion:
        labels = result.emotion["labels"]
        lines += ["", "## Emotion", "",
                  f"Recognizer accuracy against the requested emotion: {result.emotion['accuracy']:.3f} over "
                  f"{result.emotion['windows']} windows; Fréchet distance between real and generated windows in its "
                  f"feature space: {result.emotion['fid']:.4g}.", "",
                  "Confusion (rows: requested, columns: recognized):", "",
                  "| | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]  # fmt: skip
        for label, row in zip(labels, result.emotion["confusion"], strict=True):
            lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    if result.channel_mae:
        worst = sorted(result.channel_mae.items(), key=lambda kv: -kv[1])[:10]
        lines += ["", "## Blendshape channels with the largest MAE", "", "| channel | MAE |", "|---|---|"]
        lines += [f"| {name} | {value:.4f} |" for name, value in worst]
    if info.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {note}" for note in info["notes"]]
    if figures:
        lines += ["", "## Plots", ""] + [f"![{caption}]({path})\n" for caption, path in figures]
    return "\n".join(lines) + "\n"


def _plots(result: EvalResult, directory: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = []
    scale = 1.0 / UNITS_PER_MM.get(str(result.info["units"]), 1.0)
    for clip_id, fps, curves in result.curves:
        fig, axes = plt.subplots(len(curves), 1, figsize=(8, 1.8 * len(curves)), sharex=True, squeeze=False)
        for ax, (name, (truth, prediction)) in zip(axes[:, 0], curves.items(), strict=True):
            length = name in ("lip gap", "mouth width")
            factor = scale if length else 1.0
            times = np.arange(len(truth)) / fps
            ax.plot(times, truth * factor, label="ground truth", color="black", linewidth=1.2)
            ax.plot(times[: len(prediction)], prediction * factor, label="prediction", color="tab:orange", linewidth=1.2)
            ax.set_ylabel(f"{name} (mm)" if length else name)
        axes[0, 0].legend(loc="upper right", fontsize="small")
        axes[-1, 0].set_xlabel("time (s)")
        fig.suptitle(f"clip {clip_id}")
        fig.tight_layout()
        name = f"curves_{clip_id}.png"
        fig.savefig(directory / name, dpi=PLOT_DPI)
        plt.close(fig)
        figures.append((f"curves of clip {clip_id}", f"plots/{name}"))
    if result.vertex_error is not None:
        heatmap = _vertex_error_heatmap(result.vertex_error * scale, directory / "vertex_error.png")
        if heatmap is not None:
            figures.append(("mean error per vertex (mm)", "plots/vertex_error.png"))
    if result.emotion:
        confusion = np.asarray(result.emotion["confusion"], dtype=np.float64)
        shares = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1.0)
        fig, ax = plt.subplots(figsize=(5.2, 4.6))
        image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
        labels = result.emotion["labels"]
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        for (i, j), count in np.ndenumerate(confusion):
            if count:
                ax.text(
                    j, i, str(int(count)), ha="center", va="center", fontsize=7, color="white" if shares[i, j] > 0.5 else "black"
                )
        ax.set_xlabel("recognized")
        ax.set_ylabel("requested")
        fig.colorbar(image, ax=ax, fraction=0.046, label="share of the requested emotion's windows")
        fig.tight_layout()
        fig.savefig(directory / "confusion.png", dpi=PLOT_DPI)
        plt.close(fig)
        figures.append(("emotion confusion matrix", "plots/confusion.png"))
    return figures


def _vertex_error_heatmap(error_mm: np.ndarray, path: Path) -> Path | None:
    """The default face coloured by each vertex's error, with a colour bar; None for other topologies."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facetalk.face.topology import face_topology
    from facetalk.render.offscreen import Renderer

    face = face_topology()
    if len(error_mm) != face.num_vertices:
        return None
    top = float(error_mm.max()) or 1.0
    colors = np.asarray(matplotlib.colormaps[HEATMAP_COLORMAP](error_mm / top))[:, :3] ** 2.2  # sRGB map -> linear
    with Renderer(face.triangles, colors, width=HEATMAP_SIZE, height=HEATMAP_SIZE) as renderer:
        image = renderer.render(face.vertices)
    fig, ax = plt.subplots(figsize=(5.0, 4.6))
    ax.imshow(image)
    ax.axis("off")
    mappable = plt.cm.ScalarMappable(cmap=HEATMAP_COLORMAP, norm=matplotlib.colors.Normalize(0.0, top))
    fig.colorbar(mappable, ax=ax, fraction=0.046, label="mean L2 error (mm)")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=PLOT_DPI, format="png")
    plt.close(fig)
    return path


def read_metrics(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """The `metrics.json` of a report directory (whose interrupted replacement is finished first)."""
    finish_replacement(directory)
    path = Path(directory) / METRICS_FILE
    if not path.exists():
        raise InvalidInputError(f"{path}: missing; not a facetalk eval report")
    data = read_json(path, what="facetalk eval report")
    if not (isinstance(data, dict) and isinstance(data.get("metrics"), dict) and isinstance(data.get("info"), dict)):
        raise InvalidInputError(f"{path}: not a facetalk eval report (no metrics and info objects)")
    return data


def compare_reports(directories: Sequence[str | os.PathLike[str]]) -> str:
    """A Markdown table with one row per metric and one column per report; the best value of each row in bold."""
    reports = [read_metrics(d) for d in directories]
    names: list[str] = []
    for report in reports:
        names += [n for n in report["metrics"] if n not in names]
        if report.get("emotion"):
            names += [n for n in ("emotion_accuracy", "emotion_fid") if n not in names]
    header = "| metric | " + " | ".join(Path(d).name or str(d) for d in directories) + " |"
    lines = [header, "|---" * (len(reports) + 1) + "|"]
    for name in names:
        values = [metric_value(report, name) for report in reports]
        shown = [
            display(name, v, str(r["info"]["units"])) if v is not None else "–" for v, r in zip(values, reports, strict=True)
        ]
        best = best_index(name, values)
        cells = [f"**{s}**" if i == best else s for i, s in enumerate(shown)]
        lines.append(f"| {metric_info(name).label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def metric_value(report: dict[str, Any], name: str) -> float | None:
    """Metric `name` of a read `metrics.json` (the emotion recognizer's accuracy and Fréchet distance included), or None."""
    if name == "emotion_accuracy":
        return report.get("emotion", {}).get("accuracy")
    if name == "emotion_fid":
        return report.get("emotion", {}).get("fid")
    value = report["metrics"].get(name)
    return None if value is None else float(value)


def best_index(name: str, values: list[float | None]) -> int | None:
    """Which of several values of metric `name` is best (None: fewer than two values, or no better direction)."""
    known = [(v, i) for i, v in enumerate(values) if v is not None and np.isfinite(v)]
    better = metric_info(name).better
    if len(known) < 2 or not better:
        return None
    return max(known)[1] if better == "higher" else min(known)[1]
