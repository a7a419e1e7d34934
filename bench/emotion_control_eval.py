"""Is emotion_control's emotion control real? The motion emotion recognizer on generated motion.

For held-out clips of a corpus split, the model animates each clip's speech once per requested emotion
(a constant `EmotionSchedule`); the ARKit weights are posed on the default face and the shipped motion
emotion recognizer classifies each clip (its windows' mean probability, argmax). Printed and written:

- per-class and overall accuracy at intensity 1, and the confusion matrix (a figure like paper 002's
  Table 3);
- the lip error (mean lip-vertex distance to the clip's ground truth on the default face, mm) with each
  emotion requested, against the one with neutral requested;
- for intensities 0, 0.25, 0.5, 0.75, 1: the recognizer's mean logit of the requested class and the
  expression magnitude (mean vertex distance from the intensity-0 animation, mm), averaged over clips;
- a contact strip of one frame at several intensities (paper 002's Fig. 3), and a clip whose request
  switches emotion half-way (per-window probabilities over time, and the largest frame-to-frame
  change of the weights around the switch against elsewhere).

    python bench/emotion_control_eval.py --model runs/ec/best --data corpus --out docs/figures/emotion_control \\
        --json bench/reports/emotion_control/control.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facetalk.data.cache import settings_hash
from facetalk.data.formats import open_dataset
from facetalk.eval.emotion import confusion_matrix, load_recognizer, shipped_recognizer_path
from facetalk.face.default_face import default_rig
from facetalk.files import cache_dir
from facetalk.models.base import Conditions, open_model
from facetalk.models.inputs import InputPipeline
from facetalk.types import EMOTIONS, EmotionKey, EmotionSchedule, Motion

INTENSITIES = (0.0, 0.25, 0.5, 0.75, 1.0)
STRIP_EMOTIONS = ("happy", "fear", "anger")
STRIP_INTENSITIES = (0.0, 0.5, 0.75, 1.0)
MM = 1000.0


def _recognize(recognizer: Any, vertices: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean window probabilities (7,) and mean window logits (7,) of a vertex clip (T, V, 3)."""
    from facetalk.eval.emotion import _accepted_data, motion_windows

    data = _accepted_data(recognizer, Motion.from_vertices(vertices, fps))
    windows = torch.as_tensor(motion_windows(data, fps, window_s=recognizer.window_s, hop_s=recognizer.hop_s))
    with torch.no_grad():
        logits = recognizer(windows.float())  # (N, 7)
    return logits.softmax(dim=-1).mean(dim=0).numpy(), logits.mean(dim=0).numpy()


def _lip_error(prediction: np.ndarray, target: np.ndarray, lips: np.ndarray, *, centred: bool) -> float:
    """Mean over frames and lip vertices of the distance, mm; `centred`: of the lips' motion about their clip mean
    (articulation only: a held smile or frown, which the requested emotion is meant to change, does not count)."""
    error = prediction[:, lips] - target[:, lips]  # (T, L, 3)
    if centred:
        error = error - error.mean(axis=0, keepdims=True)
    return float(np.linalg.norm(error, axis=-1).mean() * MM)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--out", type=Path, required=True, help="directory for the figures")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--no-predictor", action="store_true", help="evaluate with γ = γ_u (the user-control-only ablation)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    model, _ = open_model(args.model)
    if args.no_predictor:
        model.predictor = None  # type: ignore[assignment]
    dataset = open_dataset("native", args.data, split=args.split)
    key = f"native-{settings_hash({'root': str(Path(args.data).resolve())})}"
    pipeline = InputPipeline.for_model(model, cache=cache_dir() / "features", dataset_key=key)
    path = shipped_recognizer_path()
    assert path is not None
    recognizer = load_recognizer(path)
    rig = default_rig()
    lips = rig.topology.region("lips")
    fps = model.fps

    def generate(clip: Any, schedule: EmotionSchedule) -> np.ndarray:
        emotion = schedule.at_frames(clip.num_frames, fps)
        weights = model.generate(pipeline.batch(clip, Conditions(emotion=emotion))).data  # (T, 52)
        return rig.to_vertices(weights)  # (T, V, 3)

    count = min(args.clips, len(dataset))
    predicted = {name: [] for name in EMOTIONS}  # type: dict[str, list[int]]
    lip = {name: [] for name in EMOTIONS}  # type: dict[str, list[float]]
    lip_motion = {name: [] for name in EMOTIONS}  # type: dict[str, list[float]]
    logit = np.zeros((len(EMOTIONS), len(INTENSITIES)))
    magnitude = np.zeros((len(EMOTIONS), len(INTENSITIES)))
    strip_frames: list[np.ndarray] = []
    strip_labels: list[str] = []
    for index in range(count):
        sample = dataset[index]
        clip = pipeline.sample(sample)
        truth = rig.to_vertices(sample.motion.select(rig.names))
        for c, name in enumerate(EMOTIONS):
            base = generate(clip, EmotionSchedule.constant(name, 0.0))
            for i, intensity in enumerate(INTENSITIES):
                vertices = base if intensity == 0.0 else generate(clip, EmotionSchedule.constant(name, intensity))
                probabilities, logits = _recognize(recognizer, vertices, fps)
                logit[c, i] += logits[c] / count
                magnitude[c, i] += float(np.linalg.norm(vertices - base, axis=-1).mean() * MM) / count
                if intensity == 1.0:
                    predicted[name].append(int(probabilities.argmax()))
                    lip[name].append(_lip_error(vertices, truth, lips, centred=False))
                    lip_motion[name].append(_lip_error(vertices, truth, lips, centred=True))
                if index == 0 and name in STRIP_EMOTIONS and intensity in STRIP_INTENSITIES:
                    strip_frames.append(vertices[len(vertices) // 2])
                    strip_labels.append(f"{name} {intensity:g}")
    true = np.concatenate([[c] * len(predicted[name]) for c, name in enumerate(EMOTIONS)])
    guess = np.concatenate([predicted[name] for name in EMOTIONS])
    confusion = confusion_matrix(true, guess)
    per_class = {name: float(confusion[c, c] / confusion[c].sum()) for c, name in enumerate(EMOTIONS)}
    neutral_lip, neutral_motion = float(np.mean(lip["neutral"])), float(np.mean(lip_motion["neutral"]))
    report: dict[str, Any] = {
        "model": args.model, "split": args.split, "clips": count, "no_predictor": args.no_predictor,
        "accuracy": float((true == guess).mean()), "per_class_accuracy": per_class, "confusion": confusion.tolist(),
        "lip_error_mm": {name: float(np.mean(values)) for name, values in lip.items()},
        "lip_error_vs_neutral": {name: float(np.mean(values)) / neutral_lip for name, values in lip.items()},
        "lip_motion_error_mm": {name: float(np.mean(values)) for name, values in lip_motion.items()},
        "lip_motion_error_vs_neutral": {name: float(np.mean(values)) / neutral_motion for name, values in lip_motion.items()},
        "intensities": list(INTENSITIES),
        "requested_logit": {name: logit[c].tolist() for c, name in enumerate(EMOTIONS)},
        "expression_magnitude_mm": {name: magnitude[c].tolist() for c, name in enumerate(EMOTIONS)},
        "monotonic_logit": _rising(logit), "monotonic_magnitude": _rising(magnitude),
    }  # fmt: skip
    report["switch"] = _switch(model, pipeline, dataset, recognizer, rig, args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    _confusion_figure(confusion, args.out / "confusion.png")
    _intensity_figure(logit, magnitude, args.out / "intensity.png")
    from facetalk.render.sheet import contact_strip

    contact_strip(np.stack(strip_frames), strip_labels, args.out / "intensity_strip.png", columns=len(STRIP_INTENSITIES))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: report[k] for k in ("accuracy", "per_class_accuracy", "lip_motion_error_vs_neutral", "monotonic_logit",
                                             "monotonic_magnitude", "switch")}, indent=1))  # fmt: skip


def _rising(values: np.ndarray) -> dict[str, bool]:
    """Whether each non-neutral emotion's row (over `INTENSITIES`) rises strictly."""
    return {name: bool(np.all(np.diff(values[c]) > 0)) for c, name in enumerate(EMOTIONS) if name != "neutral"}


def _switch(model: Any, pipeline: InputPipeline, dataset: Any, recognizer: Any, rig: Any, out: Path) -> dict[str, Any]:
    """A long clip (several test clips' features end to end) whose request switches from happy to anger half-way."""
    from facetalk.data.windows import ClipArrays
    from facetalk.eval.emotion import _accepted_data, motion_windows

    clips = [pipeline.sample(dataset[i]) for i in range(min(4, len(dataset)))]
    features = np.concatenate([np.asarray(c.features) for c in clips])  # (T, C)
    frames, fps = len(features), model.fps
    switch_s = frames / fps / 2
    schedule = EmotionSchedule((EmotionKey(0.0, "happy", 1.0), EmotionKey(switch_s - 0.5, "happy", 1.0),
                                EmotionKey(switch_s + 0.5, "anger", 1.0)))  # fmt: skip
    clip = ClipArrays(clip_id="switch", num_frames=frames, fps=fps, features=features)
    weights = model.generate(pipeline.batch(clip, Conditions(emotion=schedule.at_frames(frames, fps)))).data
    vertices = rig.to_vertices(weights)
    data = _accepted_data(recognizer, Motion.from_vertices(vertices, fps))
    windows = torch.as_tensor(motion_windows(data, fps, window_s=1.0 * recognizer.window_s, hop_s=0.5))
    with torch.no_grad():
        probabilities = recognizer(windows.float()).softmax(dim=-1).numpy()  # (N, 7)
    centres = (np.arange(len(probabilities)) * 0.5 + recognizer.window_s / 2).clip(max=frames / fps)
    before = centres < switch_s - 1.0 - recognizer.window_s / 2
    after = centres > switch_s + 1.0 + recognizer.window_s / 2
    step = np.abs(np.diff(weights, axis=0)).max(axis=1)  # (T-1,)
    around = np.abs(np.arange(len(step)) / fps - switch_s) < 0.5
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    for c, name in enumerate(EMOTIONS):
        ax.plot(centres, probabilities[:, c], label=name)
    ax.axvspan(switch_s - 0.5, switch_s + 0.5, color="0.85")
    ax.set(xlabel="window centre (s)", ylabel="recognizer probability", title="happy → anger (grey: the transition)")
    ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "switch.png", dpi=120)
    plt.close(fig)
    return {"seconds": frames / fps, "switch_s": switch_s,
            "happy_before": float((probabilities[before].argmax(axis=1) == EMOTIONS.index("happy")).mean()),
            "anger_after": float((probabilities[after].argmax(axis=1) == EMOTIONS.index("anger")).mean()),
            "max_step_around_switch": float(step[around].max()), "max_step_elsewhere": float(step[~around].max()),
            "p99_step_elsewhere": float(np.percentile(step[~around], 99))}  # fmt: skip


def _confusion_figure(confusion: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = confusion / confusion.sum(axis=1, keepdims=True).clip(min=1)
    fig, ax = plt.subplots(figsize=(5, 4.4))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(confusion):
        ax.text(j, i, f"{count}/{confusion[i].sum()}", ha="center", va="center", fontsize=7,
                color="white" if rates[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xticks(range(len(EMOTIONS)), [e[:3].upper() for e in EMOTIONS])
    ax.set_yticks(range(len(EMOTIONS)), [e[:3].upper() for e in EMOTIONS])
    ax.set(xlabel="recognized", ylabel="requested (intensity 1)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _intensity_figure(logit: np.ndarray, magnitude: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for c, name in enumerate(EMOTIONS):
        if name == "neutral":
            continue
        axes[0].plot(INTENSITIES, logit[c], marker="o", label=name)
        axes[1].plot(INTENSITIES, magnitude[c], marker="o", label=name)
    axes[0].set(xlabel="requested intensity", ylabel="recognizer logit of the requested class")
    axes[1].set(xlabel="requested intensity", ylabel="mean vertex offset from intensity 0 (mm)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
