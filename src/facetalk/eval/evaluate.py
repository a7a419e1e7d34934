"""`facetalk eval`: run a model over a dataset split and measure it against the ground truth.

A predictor makes one motion per clip: a trained model (a directory with `model.json`), a shipped
model by name (`weights/<name>`), `procedural` (the rule-based animator, from each clip's own
alignment, emotion and speaker style), or a directory of prediction files named `<clip id>.<ext>`
in any format `facetalk.export.read_motion` reads. Each clip is predicted under a style reference:
another clip of the same speaker (`style_ref="speaker"`, no leakage of the clip's own motion) or the
clip itself (`style_ref="self"`, paper 001's MeshTalk protocol).

Metrics (docs/metrics.md) are computed in vertex space whenever the ground truth has vertices (a
blendshape prediction is posed on the speaker's own neutral face by the default rig), in blendshape
space when both sides are blendshapes, and from speech alone for the lip-sync measures. Pooling is
the source's: LVE over all frames of the split, paper 001's errors per clip then averaged.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from facetalk.data.sample import Sample
from facetalk.data.windows import crop_labels
from facetalk.errors import InvalidInputError
from facetalk.eval import metrics as m
from facetalk.types import EMOTIONS, EmotionSchedule, Motion

if TYPE_CHECKING:
    from facetalk.models.inputs import Target

StyleRef = Literal["speaker", "same_speaker", "same_emotion", "other_speaker", "self", "none"]
STYLE_REFS = ("speaker", "same_speaker", "same_emotion", "other_speaker", "self", "none")
Units = Literal["m", "mm"]
UNITS_PER_MM: dict[str, float] = {"m": 1e-3, "mm": 1.0}
CLOSURE_THRESHOLD_MM = 1.0  # lips this close count as closed (the procedural animator's worst gap is 0.22 mm)
DIVERSITY_CONDITIONS = 4  # style conditions per clip for FaceDiffuser's diversity
DIVERSITY_MAX_CLIPS = 16  # diversity costs conditions × clips predictions: measure it on the first clips only
CURVE_CLIPS = 3  # clips whose ground truth and prediction curves the report plots
MAX_LAG_S = 0.3
PREDICTION_EXTENSIONS = (".npz", ".json", ".csv", ".glb")


@dataclass(frozen=True)
class FaceRegions:
    """The vertex sets the metrics need, for one topology.

    Attributes:
        lips: lip vertices (LVE, lip errors).
        upper: upper-face vertices (FDD, paper 001's upper-face error).
        upper_inner: upper inner-lip contour, paired index by index with `lower_inner` (lip gap).
        lower_inner: lower inner-lip contour.
        mouth: (top, bottom, left, right) vertices of paper 002's mouth shape.
        keypoints: paper 002's 24 lip key points.
    """

    lips: np.ndarray
    upper: np.ndarray
    upper_inner: np.ndarray
    lower_inner: np.ndarray
    mouth: tuple[int, int, int, int]
    keypoints: np.ndarray

    @classmethod
    def default_face(cls) -> FaceRegions:
        """The regions of facetalk's default face (478 vertices), which the synthetic corpus uses."""
        from facetalk.face import topology as topo

        face = topo.face_topology()
        lips = face.region("lips")
        return cls(
            lips=lips,
            upper=face.region("upper_face"),
            upper_inner=np.asarray(topo.UPPER_INNER_LIP),
            lower_inner=np.asarray(topo.LOWER_INNER_LIP),
            mouth=(topo.UPPER_OUTER_LIP[5], topo.LOWER_OUTER_LIP[5], topo.UPPER_OUTER_LIP[-1], topo.UPPER_OUTER_LIP[0]),
            keypoints=m.lip_keypoints(face.vertices, lips),
        )


class Predictor(Protocol):
    """Makes the motion of one clip, under the style of another clip (a speaker, a persona, a reference motion)."""

    name: str

    def predict(self, sample: Sample, style: Sample) -> Motion: ...


class ProceduralPredictor:
    """The rule-based animator, from the clip's own alignment, emotion schedule and the style clip's persona."""

    name = "procedural"

    def __init__(self, *, seed: int = 0) -> None:
        from facetalk.procedural import ProceduralAnimator

        self.animator = ProceduralAnimator()
        self.seed = seed

    def predict(self, sample: Sample, style: Sample) -> Motion:
        from facetalk.audio.prosody import extract_prosody
        from facetalk.procedural import PERSONAS, Persona

        if sample.alignment is None:
            raise InvalidInputError(f"{sample.dataset}/{sample.clip_id}: the procedural animator needs the clip's alignment")
        persona = Persona.from_vector(style.persona) if style.persona is not None else PERSONAS["neutral"]
        emotion = sample.emotion if isinstance(sample.emotion, EmotionSchedule) else None
        prosody = extract_prosody(sample.audio, fps=sample.fps, num_frames=sample.num_frames)
        return self.animator.animate(sample.alignment, duration=sample.duration, fps=sample.fps, persona=persona,
                                     emotion=emotion, prosody=prosody, seed=self.seed)  # fmt: skip


class ModelPredictor:
    """A trained `Animator`, fed by its input pipeline (`facetalk.models.inputs`) exactly as in training:
    the clip's speech (features of the encoder it was trained with, or raw audio for its own encoder),
    text and phones, its emotion labels, its speaker's face, and the style clip's speaker (for
    speaker-conditioned models) and motion (for models that take a style reference)."""

    def __init__(self, model: Any, name: str) -> None:
        from facetalk.models.inputs import InputPipeline

        self.model, self.name = model, name
        self.pipeline = InputPipeline.for_model(model)
        self.subjects: list[str] = list(model.metadata.get("subjects", []))
        self._clip: tuple[str, Any] | None = None  # a clip predicted in several styles is encoded once
        self.references = True  # give the style clip's motion as the reference (style_ref "none" turns it off)

    def predict(self, sample: Sample, style: Sample) -> Motion:
        from facetalk.models.base import Conditions

        if self._clip is None or self._clip[0] != sample.clip_id:
            target: Target = "vertices" if self.model.kind == "vertices" else "motion"
            self._clip = (sample.clip_id, self.pipeline.sample(sample, target=target, cached=False))
        reference = _model_space(style, self.model.kind) if self.references else None
        subject = self.subjects.index(style.subject) if style.subject in self.subjects else -1
        style_template = style.template.reshape(-1) if style.template is not None and self.model.kind == "vertices" else None
        conditions = Conditions(subject=subject, style=None if reference is None else reference.data,
                                style_template=style_template)  # fmt: skip
        return self.model.generate(self.pipeline.batch(self._clip[1], conditions))  # type: ignore[no-any-return]


class FilePredictor:
    """Predictions written beforehand: `<directory>/<clip id>.<npz|json|csv|glb>`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.name = str(directory)

    def predict(self, sample: Sample, style: Sample) -> Motion:
        from facetalk.export import read_motion

        for extension in PREDICTION_EXTENSIONS:
            path = self.directory / f"{sample.clip_id}{extension}"
            if path.is_file():
                return read_motion(path, fps=sample.fps if extension == ".csv" else None)
        raise InvalidInputError(f"{self.directory}: no prediction for clip {sample.clip_id} ({'/'.join(PREDICTION_EXTENSIONS)})")


def open_predictor(spec: str) -> Predictor:
    """A predictor from its command-line name: `procedural`, a model directory, a shipped model name,
    or a directory of prediction files."""
    from facetalk.models.base import MODEL_CONFIG, load_model, pretrained_path

    if spec == "procedural":
        return ProceduralPredictor()
    path = Path(spec)
    if (path / MODEL_CONFIG).is_file():
        return ModelPredictor(load_model(path), spec)
    if path.is_dir():
        return FilePredictor(path)
    return ModelPredictor(load_model(pretrained_path(spec)), spec)


@dataclass
class EvalResult:
    """What `evaluate` measured; `as_json()` is what `metrics.json` holds.

    Attributes:
        info: model, dataset, split, clip count, units, style reference and notes.
        metrics: metric name -> value over the split (data units; see `info["units"]`).
        per_clip: one dict of per-clip values per clip.
        emotion: recognizer accuracy, confusion matrix (rows = requested emotion) and Fréchet distance.
        channel_mae: blendshape channel -> MAE, when both sides are blendshapes.
        vertex_error: mean L2 error of each vertex over the split, shape (V,) (for the heatmap).
        curves: a few clips' (name, fps, {series: (ground truth, prediction)}) for the report's plots.
    """

    info: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    per_clip: list[dict[str, Any]] = field(default_factory=list)
    emotion: dict[str, Any] = field(default_factory=dict)
    channel_mae: dict[str, float] = field(default_factory=dict)
    vertex_error: np.ndarray | None = None
    curves: list[tuple[str, float, dict[str, tuple[np.ndarray, np.ndarray]]]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"info": self.info, "metrics": self.metrics, "emotion": self.emotion, "channel_mae": self.channel_mae,
                "per_clip": self.per_clip}  # fmt: skip


@dataclass
class _Pooled:
    """Per-clip arrays kept for the metrics that pool over the split."""

    pred: list[np.ndarray] = field(default_factory=list)  # (T, V, 3) each
    gt: list[np.ndarray] = field(default_factory=list)
    templates: list[np.ndarray] = field(default_factory=list)  # (V, 3)
    channels: tuple[str, ...] = ()  # blendshape channels of the weights below
    pred_weights: list[np.ndarray] = field(default_factory=list)  # (T, K)
    gt_weights: list[np.ndarray] = field(default_factory=list)
    real_motion: list[Motion] = field(default_factory=list)  # what the emotion recognizer reads
    generated_motion: list[Motion] = field(default_factory=list)
    requested: list[np.ndarray] = field(default_factory=list)  # (T, 7) emotion vectors


def evaluate(
    model: str | Predictor,
    data: str | os.PathLike[str],
    *,
    dataset: str = "native",
    split: str = "test",
    style_ref: StyleRef = "speaker",
    units: Units = "m",
    max_clips: int = 0,
    recognizer: str | os.PathLike[str] | None = None,
    diversity_conditions: int = DIVERSITY_CONDITIONS,
    dataset_options: dict[str, Any] | None = None,
    progress: bool = True,
) -> EvalResult:
    """Predict every clip of a split and measure the predictions.

    Args:
        model: a predictor, or its name for `open_predictor`.
        data: the dataset directory.
        dataset: a registered dataset name.
        split: the split to evaluate.
        style_ref: "same_speaker" (alias "speaker": another clip of the same speaker), "same_emotion"
            (another clip of the same speaker and dominant emotion; same_speaker's when none), "other_speaker"
            (a clip of another speaker of the split: does the model follow the reference, or the
            speech?), "self" (the clip itself, paper 001's MeshTalk protocol) or "none" (no
            reference: for models that take none).
        units: the data's length unit ("m" or "mm"), for the closure threshold and the report.
        max_clips: evaluate at most this many clips; 0 evaluates all.
        recognizer: a trained emotion recognizer directory (`facetalk recognizer train`); the shipped
            one is used when None and it fits the data; without one the emotion metrics are skipped.
        diversity_conditions: style conditions per clip for the diversity metric; 0 skips it.
        dataset_options: keyword options of the dataset adapter.
        progress: show a progress bar.
    """
    from tqdm import tqdm

    from facetalk.data.formats import open_dataset

    predictor = open_predictor(model) if isinstance(model, str) else model
    if style_ref not in STYLE_REFS:
        raise InvalidInputError(f"style_ref must be one of {', '.join(STYLE_REFS)}, got {style_ref!r}")
    clips = open_dataset(dataset, data, split=split, **(dataset_options or {}))
    samples = list(itertools.islice(clips, max_clips if max_clips > 0 else None))  # iterating skips bad clips
    if not samples:
        raise InvalidInputError(f"{data}: split {split!r} has no clips")
    notes: list[str] = []
    result = EvalResult(info={"model": predictor.name, "dataset": dataset, "data": str(data), "split": split,
                              "clips": len(samples), "units": units, "style_ref": style_ref, "notes": notes})  # fmt: skip
    regions = _regions(samples[0], notes)
    pooled = _Pooled()
    styles = _style_clips(samples, style_ref)
    if isinstance(predictor, ModelPredictor):
        predictor.references = style_ref != "none"
    for index, sample in enumerate(tqdm(samples, desc="eval", unit="clip", disable=not progress)):
        prediction = predictor.predict(sample, styles[index])
        row, curves = _clip_metrics(sample, prediction, regions, units, pooled)
        result.per_clip.append(row)
        if index < CURVE_CLIPS and curves:
            result.curves.append((sample.clip_id, sample.fps, curves))
    result.metrics.update(_pooled_metrics(pooled, regions, result))
    result.metrics.update(_mean_rows(result.per_clip))
    if diversity_conditions > 1:
        value = _diversity(predictor, samples[:DIVERSITY_MAX_CLIPS], diversity_conditions, regions is not None)
        if value is not None:
            result.metrics["diversity"] = value
    result.emotion = _emotion(recognizer, pooled, notes)
    return result


def _regions(sample: Sample, notes: list[str]) -> FaceRegions | None:
    from facetalk.face.topology import NUM_VERTICES

    gt = _vertices(sample, None)
    if gt is None:
        notes.append("the ground truth has no vertices: vertex metrics skipped")
        return None
    if gt.shape[1] != NUM_VERTICES:
        notes.append(f"{gt.shape[1]} vertices: no named regions for this topology, so only whole-face metrics")
        return None
    return FaceRegions.default_face()


def _style_clips(samples: Sequence[Sample], style_ref: StyleRef) -> list[Sample]:
    """The style clip of each clip: itself, or the next clip of the same speaker (itself if it is alone); for
    "same_emotion", the next of its clips with the same dominant emotion when it has another.

    With "none" it is the clip itself too, and only its speaker is used: its motion is not given as a reference.
    """
    if style_ref in ("self", "none"):
        return list(samples)
    by_subject: dict[str, list[int]] = {}
    for i, sample in enumerate(samples):
        by_subject.setdefault(sample.subject, []).append(i)
    speakers = list(by_subject)
    if style_ref == "other_speaker" and len(speakers) < 2:
        raise InvalidInputError("style_ref other_speaker needs clips of two speakers or more in the split")
    emotions = [_dominant_emotion(s) for s in samples] if style_ref == "same_emotion" else []
    out = []
    for i, sample in enumerate(samples):
        group = by_subject[sample.subject]
        if emotions:
            alike = [j for j in group if emotions[j] == emotions[i]]
            group = alike if len(alike) > 1 else group
        position = group.index(i)
        if style_ref == "other_speaker":  # the clip at the same position of the next speaker
            group = by_subject[speakers[(speakers.index(sample.subject) + 1) % len(speakers)]]
        out.append(samples[group[(position + (style_ref != "other_speaker")) % len(group)]])
    return out


def _dominant_emotion(sample: Sample) -> int:
    """The emotion label most of a clip's frames carry (an index of `EMOTIONS`), -1 without labels."""
    frames = sample.emotion_frames()
    return -1 if frames is None else int(crop_labels(frames.argmax(axis=1), len(frames))[0])


def _model_space(sample: Sample, kind: str) -> Motion | None:
    """The clip's motion in the kind a model produces (vertices or the dataset's own motion)."""
    if kind == "vertices":
        return sample.vertex_motion()
    return sample.motion if sample.motion.kind == kind else None


def _vertices(sample: Sample, motion: Motion | None) -> np.ndarray | None:
    """Vertices (T, V, 3) of a motion on the clip's face (the clip's own ground truth when `motion` is None)."""
    if motion is None:
        truth = sample.vertex_motion()
        return None if truth is None else truth.vertices()
    if motion.kind == "vertices":
        return motion.vertices()
    if motion.kind == "blendshapes" and sample.template is not None:
        from facetalk.face.default_face import default_rig
        from facetalk.face.topology import face_topology

        rig = default_rig()
        if sample.template.shape != rig.neutral.shape:
            return None
        return rig.with_topology(replace(face_topology(), vertices=sample.template)).animate(motion).vertices()
    return None


def _clip_metrics(sample: Sample, prediction: Motion, regions: FaceRegions | None, units: Units,
                  pooled: _Pooled) -> tuple[dict[str, Any], dict[str, tuple[np.ndarray, np.ndarray]]]:  # fmt: skip
    """Per-clip values, and the curves the report may plot; keeps the arrays the pooled metrics need."""
    from facetalk.audio.prosody import extract_prosody

    row: dict[str, Any] = {"clip_id": sample.clip_id, "subject": sample.subject, "frames": sample.num_frames}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if prediction.kind == "blendshapes" and sample.motion.kind == "blendshapes":
        channels = list(sample.motion.channels)
        pred_w, gt_w = m.align_lengths(prediction.select(channels), sample.motion.data)
        pooled.channels = sample.motion.channels
        pooled.pred_weights.append(pred_w)
        pooled.gt_weights.append(gt_w)
        row["blendshape_mae"] = float(np.abs(pred_w - gt_w).mean())
        for name in ("jawOpen", "mouthClose", "mouthFunnel", "mouthSmileLeft", "browInnerUp", "eyeBlinkLeft"):
            if name in channels:
                curves[name] = (gt_w[:, channels.index(name)], pred_w[:, channels.index(name)])
    gt = _vertices(sample, None)
    pred = _vertices(sample, prediction)
    if gt is None or pred is None:
        return row, curves
    if pred.shape[1] != gt.shape[1]:
        raise InvalidInputError(f"{sample.clip_id}: the prediction has {pred.shape[1]} vertices, the ground truth {gt.shape[1]}")
    pred, gt = m.align_lengths(pred.astype(np.float64), gt.astype(np.float64))
    template = sample.template if sample.template is not None else gt.mean(axis=0)
    pooled.pred.append(pred)
    pooled.gt.append(gt)
    pooled.templates.append(np.asarray(template, dtype=np.float64))
    pooled.real_motion.append(Motion.from_vertices(gt, sample.fps))
    pooled.generated_motion.append(Motion.from_vertices(pred, sample.fps))
    pooled.requested.append(_requested_emotion(sample)[: len(pred)])
    ones = np.ones(gt.shape[1])
    row["face_mean"] = m.masked_mean_error(pred, gt, ones)
    row["speed"] = m.mean_speed(pred, sample.fps)
    row["speed_gt"] = m.mean_speed(gt, sample.fps)
    row["jerk"] = m.mean_jerk(pred, sample.fps)
    row["jerk_gt"] = m.mean_jerk(gt, sample.fps)
    if regions is None:
        return row, curves
    lips, upper = _mask(regions.lips, ones), _mask(regions.upper, ones)
    row["lip_mean"] = m.masked_mean_error(pred, gt, lips)
    row["lip_max"] = m.masked_max_error(pred, gt, lips)
    row["upper_mean"] = m.masked_mean_error(pred, gt, upper)
    row["f_dtw"] = m.dtw_error(gt, pred)
    row["lip_dtw"] = m.dtw_error(gt, pred, lips)
    top, bottom, left, right = regions.mouth
    for key, value in m.mouth_shape_error(pred, gt, top=top, bottom=bottom, left=left, right=right).items():
        row[f"mouth_shape_{key}"] = value
    gap_pred = m.lip_gap(pred, regions.upper_inner, regions.lower_inner)
    gap_gt = m.lip_gap(gt, regions.upper_inner, regions.lower_inner)
    curves["lip gap"] = (gap_gt, gap_pred)
    width = (gt[:, left] - gt[:, right], pred[:, left] - pred[:, right])
    curves["mouth width"] = (np.linalg.norm(width[0], axis=-1), np.linalg.norm(width[1], axis=-1))
    if sample.alignment is not None:
        threshold = CLOSURE_THRESHOLD_MM * UNITS_PER_MM[units]
        row["bilabial_closure"], row["bilabial_phones"] = m.bilabial_closure_rate(gap_pred, sample.fps, sample.alignment.phones,
                                                                                  threshold=threshold)  # fmt: skip
        row["bilabial_closure_gt"], _ = m.bilabial_closure_rate(gap_gt, sample.fps, sample.alignment.phones, threshold=threshold)
    energy = extract_prosody(sample.audio, fps=sample.fps, num_frames=len(pred)).energy
    row["opening_energy_r"], row["opening_energy_lag_s"] = m.opening_energy_correlation(gap_pred, energy, sample.fps,
                                                                                        max_lag_s=MAX_LAG_S)  # fmt: skip
    row["opening_energy_r_gt"], row["opening_energy_lag_s_gt"] = m.opening_energy_correlation(gap_gt, energy, sample.fps,
                                                                                              max_lag_s=MAX_LAG_S)  # fmt: skip
    return row, curves


def _requested_emotion(sample: Sample) -> np.ndarray:
    """The clip's emotion labels (T, 7); a clip without labels asked for none, i.e. neutral."""
    labels = sample.emotion_frames()
    if labels is None:
        labels = np.zeros((sample.num_frames, len(EMOTIONS)), dtype=np.float32)
        labels[:, EMOTIONS.index("neutral")] = 1.0
    return labels


def _mask(indices: np.ndarray, ones: np.ndarray) -> np.ndarray:
    mask = np.zeros_like(ones)
    mask[indices] = 1.0
    return mask


PER_CLIP_MEANS = ("lip_mean", "lip_max", "upper_mean", "face_mean", "f_dtw", "lip_dtw", "mouth_shape_height", "mouth_shape_width",
                  "mouth_shape_total", "speed", "speed_gt", "jerk", "jerk_gt", "opening_energy_r", "opening_energy_lag_s",
                  "opening_energy_r_gt", "opening_energy_lag_s_gt")  # fmt: skip
"""Per-clip values averaged over clips (paper 001's protocol for its errors)."""


def _mean_rows(rows: list[dict[str, Any]]) -> dict[str, float]:
    out = {}
    for key in PER_CLIP_MEANS:
        values = [row[key] for row in rows if key in row and np.isfinite(row[key])]
        if values:
            out[key] = float(np.mean(values))
    for key in ("bilabial_closure", "bilabial_closure_gt"):
        # pooled over phones: each p/b/m of the split counts once, whatever clip it is in
        counted = [(row[key], row["bilabial_phones"]) for row in rows if row.get("bilabial_phones")]
        if counted:
            out[key] = float(sum(rate * n for rate, n in counted) / sum(n for _, n in counted))
            out["bilabial_phones"] = float(sum(n for _, n in counted))
    return out


def _pooled_metrics(pooled: _Pooled, regions: FaceRegions | None, result: EvalResult) -> dict[str, float]:
    out: dict[str, float] = {}
    if pooled.pred_weights:
        names = list(pooled.channels)
        mae = np.mean([m.channel_mae(p, g) for p, g in zip(pooled.pred_weights, pooled.gt_weights, strict=True)], axis=0)
        result.channel_mae = {name: float(v) for name, v in zip(names, mae, strict=True)}
        out["blendshape_mae"] = float(mae.mean())
        stacked = np.concatenate(pooled.pred_weights), np.concatenate(pooled.gt_weights)
        for region, value in m.region_mae(*stacked, names, m.ARKIT_REGIONS).items():
            out[f"blendshape_mae_{region}"] = value
    if not pooled.pred:
        return out
    out["mve"] = m.mve(pooled.pred, pooled.gt)
    errors = np.concatenate([np.linalg.norm(p - g, axis=-1) for p, g in zip(pooled.pred, pooled.gt, strict=True)])  # (ΣT, V)
    result.vertex_error = errors.mean(axis=0)
    if regions is None:
        return out
    out["lve"] = m.lve(pooled.pred, pooled.gt, regions.lips)
    out["lve_l2"] = m.lve_l2(pooled.pred, pooled.gt, regions.lips)
    out["lip_error_meshtalk"] = m.meshtalk_lip_error(pooled.pred, pooled.gt, regions.lips)
    out["fdd"], out["fdd_abs"] = m.fdd(pooled.pred, pooled.gt, pooled.templates, regions.upper)
    keypoints = m.lip_keypoint_error(pooled.pred, pooled.gt, regions.keypoints)
    out["lip24_mean"], out["lip24_max"] = keypoints["mean"], keypoints["max"]
    return out


def _diversity(predictor: Predictor, samples: Sequence[Sample], conditions: int, vertices: bool) -> float | None:
    """FaceDiffuser's diversity: each clip predicted in the style of `conditions` different speakers."""
    by_subject: dict[str, Sample] = {}
    for sample in samples:
        by_subject.setdefault(sample.subject, sample)
    styles = list(by_subject.values())[:conditions]
    if len(styles) < 2:
        return None
    values = []
    for sample in samples:
        motions = [_vertices(sample, predictor.predict(sample, style)) for style in styles]
        arrays = [x for x in motions if x is not None]
        if len(arrays) == len(styles):
            values.append(m.diversity(arrays))
    return float(np.mean(values)) if values else None


def _emotion(recognizer_dir: str | os.PathLike[str] | None, pooled: _Pooled, notes: list[str]) -> dict[str, Any]:
    """Accuracy and confusion of the recognizer on the predictions (against the requested emotion), and
    the Fréchet distance between real and generated windows in its feature space."""
    from facetalk.eval import emotion as emo

    if not pooled.generated_motion:
        return {}
    if recognizer_dir is None:
        shipped = emo.shipped_recognizer_path()
        if shipped is None:
            notes.append("no emotion recognizer: emotion metrics skipped")
            return {}
        recognizer_dir = shipped
    recognizer = emo.load_recognizer(recognizer_dir)
    if not emo.accepts(recognizer, pooled.generated_motion[0]):
        notes.append(f"the emotion recognizer at {recognizer_dir} reads other motion: emotion metrics skipped")
        return {}
    true, predicted = [], []
    for motion, requested in zip(pooled.generated_motion, pooled.requested, strict=True):
        true.append(emo.window_labels(requested, motion.fps))
        predicted.append(emo.predict_windows(recognizer, motion).argmax(axis=1))
    labels, guesses = np.concatenate(true), np.concatenate(predicted)
    return {
        "labels": list(EMOTIONS),
        "windows": len(labels),
        "accuracy": emo.accuracy(labels, guesses),
        "confusion": emo.confusion_matrix(labels, guesses).tolist(),
        "fid": emo.emotion_fid(recognizer, pooled.real_motion, pooled.generated_motion),
        "recognizer": str(recognizer_dir),
    }
