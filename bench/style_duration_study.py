"""Paper 000's model on the synthetic corpus: the duration model, the style, and emotion transitions.

Measured on a trained `style_duration` run (its `best/` model, or `--model`, and the features cached for its config):

1. duration model, on the held-out sentences (`test`): the phoneme predictor's frame accuracy
   (Eq. 3's target) and the duration predictor's mean absolute error in frames on the aligned tokens
   (Eq. 6), beside the error of always predicting the mean training duration;
2. style: every test clip is generated with a reference of each emotion (a training clip of a "pure"
   emotion; test clip i takes the i-th of the speakers that have one, in turn), and the shipped motion
   emotion recognizer names the emotion of the generated motion: the share of clips where it names
   the reference's, per emotion and overall, and the confusion matrix, beside the recognizer's
   accuracy on the reference clips themselves; how far apart the outputs of references of different
   speakers are, compared with two references of the same speaker, and of two emotions of one
   speaker, compared with two clips of one emotion of that speaker; and a plot of the style vectors
   of the test clips by speaker (the paper's Fig. 5);
3. transitions: a 60 s input (test sentences joined) with three reference changes (at 15, 30 and
   45 s), made with `animate_spans`; the largest frame-to-frame change within each transition against
   the 99th percentile of frame-to-frame changes elsewhere; the recognizer's emotion in the middle 6 s
   of each span; and, with `--video`, an MP4 beside the procedural animator given the same emotions.

    PYTHONPATH=src .venv/bin/python bench/style_duration_study.py --run /work/runs/15-full \\
        --data /work/data/corpus --out docs/models/style_duration [--video out.mp4] [--parts duration,style,transitions]

Writes `<out>_study.json` and `<out>_styles.png`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facetalk.audio import cache_dir
from facetalk.config import load_config
from facetalk.data.collate import collate
from facetalk.data.sample import Sample
from facetalk.data.windows import UNKNOWN_SUBJECT, StyleSampler, WindowDataset
from facetalk.eval.emotion import load_recognizer, predict_windows, shipped_recognizer_path
from facetalk.face.default_face import default_rig
from facetalk.models.base import load_model
from facetalk.models.style_duration import StyleDuration, animate_spans, style_vectors
from facetalk.train.recipe import load_clips, pipeline_for
from facetalk.types import EMOTIONS, Alignment, EmotionKey, EmotionSchedule, Motion, Phone, Waveform, Word

PURE_SHARE = 0.9
"""A reference clip is "pure" when this share of its frames has the same dominant emotion."""
PURE_INTENSITY = 0.5
SPAN_STARTS_S = (0.0, 15.0, 30.0, 45.0)
TRANSITION_LENGTH_S = 60.0
MIDDLE_S = 6.0
STYLE_CLIPS = 60
VIDEO_SIZE = 256


def dominant(sample: Sample) -> tuple[int, bool]:
    """A clip's dominant emotion (index into EMOTIONS) and whether it is pure."""
    frames = sample.emotion_frames()
    if frames is None:
        return 0, False
    labels = frames.argmax(axis=1)
    top = int(np.bincount(labels, minlength=len(EMOTIONS)).argmax())
    pure = (labels == top).mean() >= PURE_SHARE and frames[:, top].mean() >= (PURE_INTENSITY if top else 0.0)
    return top, bool(pure)


def recognized(recognizer: Any, motion: Motion) -> int:
    """The emotion the recognizer names for a motion (blendshapes posed on the default face for a vertex recognizer)."""
    if recognizer.kind == "vertices" and motion.kind == "blendshapes":
        motion = default_rig().animate(motion)
    return int(predict_windows(recognizer, motion).mean(axis=0).argmax())


def duration_model(model: StyleDuration, pipeline: Any, samples: list[Sample], subjects: list[str],
                   mean_duration: float) -> dict[str, float]:  # fmt: skip
    correct = frames = 0.0
    errors: list[np.ndarray] = []
    baseline: list[np.ndarray] = []
    for sample in samples:
        clip = pipeline.sample(sample, subject=subjects.index(sample.subject) if sample.subject in subjects else UNKNOWN_SUBJECT)
        batch = collate([WindowDataset([clip], length=None, style=StyleSampler("self"))[0]])
        with torch.no_grad():
            out = model(batch)
        phones = out.extras["phone_logits"].argmax(dim=-1)[0]  # (T,) at r = 1
        correct += float((phones == batch["phone_ids"][0]).sum())
        frames += batch["phone_ids"].shape[1]
        target = batch["phone_durations"][0].float()
        errors.append((out.extras["durations"][0] - target).abs().numpy())
        baseline.append((target - mean_duration).abs().numpy())
    return {"phone_accuracy": correct / frames, "duration_mae_frames": float(np.concatenate(errors).mean()),
            "duration_mae_mean_baseline": float(np.concatenate(baseline).mean()), "clips": len(samples)}  # fmt: skip


def pure_references(train: list[Sample]) -> dict[int, list[Sample]]:
    """Per emotion, one "pure" training clip of each speaker that has one (speakers in name order)."""
    references: dict[int, dict[str, Sample]] = {}
    for sample in train:
        emotion, pure = dominant(sample)
        if pure:
            references.setdefault(emotion, {}).setdefault(sample.subject, sample)
    return {e: [by_speaker[name] for name in sorted(by_speaker)] for e, by_speaker in sorted(references.items())}


def style_study(model: StyleDuration, pipeline: Any, test: list[Sample], train: list[Sample], recognizer: Any,
                out: Path, clips_limit: int) -> dict[str, Any]:  # fmt: skip
    references = pure_references(train)
    own = {EMOTIONS[e]: float(np.mean([recognized(recognizer, s.motion) == e for s in refs])) for e, refs in references.items()}
    clips = test[:clips_limit]
    batches = [collate([WindowDataset([dataclasses.replace(pipeline.sample(s), motion=None)], length=None)[0]]) for s in clips]

    def output(batch: dict[str, torch.Tensor], reference: Sample) -> Motion:
        data = reference.motion.data[None].astype(np.float32)
        return model.generate({**batch, "style": torch.from_numpy(data), "style_mask": torch.ones(1, data.shape[1])})

    # every test clip with a reference of each emotion: of the speakers in turn (clip i: the i-th speaker with one)
    agree: dict[str, float] = {}
    confusion = np.zeros((len(EMOTIONS), len(EMOTIONS)), dtype=np.int64)  # (reference's emotion, recognized)
    for emotion, refs in references.items():
        for i, batch in enumerate(batches):
            confusion[emotion, recognized(recognizer, output(batch, refs[i % len(refs)]))] += 1
        agree[EMOTIONS[emotion]] = confusion[emotion, emotion] / len(batches)
    rows = list(references)
    # does w carry the emotion at all? nearest emotion centroid of the references' w, each speaker's mean w removed
    pooled = [s for refs in references.values() for s in refs]
    vectors = style_vectors(model, [s.motion.data for s in pooled])  # (N, S)
    for name in {s.subject for s in pooled}:
        rows_of = [i for i, s in enumerate(pooled) if s.subject == name]
        vectors[rows_of] -= vectors[rows_of].mean(axis=0)
    probe = _nearest_centroid(vectors, [dominant(s)[0] for s in pooled])
    # outputs for references of two emotions of one speaker vs two clips of one emotion of that speaker
    same_emotion, other_emotion = [], []
    for i, batch in enumerate(batches[:20]):
        first, second = rows[i % len(rows)], rows[(i + 1) % len(rows)]
        speakers = sorted({s.subject for s in references[first]} & {s.subject for s in references[second]})
        name = speakers[i % len(speakers)]
        pool = [s for s in train if s.subject == name and dominant(s) == (first, True)]
        a = next(s for s in references[first] if s.subject == name)
        b = next(s for s in references[second] if s.subject == name)
        base = output(batch, a).data
        other_emotion.append(np.abs(base - output(batch, b).data).mean())
        if len(pool) > 1:
            same_emotion.append(np.abs(base - output(batch, pool[1]).data).mean())
    # different speakers vs the same speaker: mean |difference| of outputs, per frame and channel
    by_speaker: dict[str, list[Sample]] = {}
    for sample in train:
        by_speaker.setdefault(sample.subject, []).append(sample)

    same, different = [], []
    speakers = sorted(by_speaker)
    for i, batch in enumerate(batches[:20]):
        a, b = speakers[i % len(speakers)], speakers[(i + 1) % len(speakers)]
        own_speaker, other_speaker = by_speaker[a], by_speaker[b]
        first, second = own_speaker[i % len(own_speaker)], own_speaker[(i + 7) % len(own_speaker)]
        other = other_speaker[i % len(other_speaker)]
        base = output(batch, first).data
        same.append(np.abs(base - output(batch, second).data).mean())
        different.append(np.abs(base - output(batch, other).data).mean())
    # Fig. 5: style vectors of the test clips (each its own reference) by speaker, first two principal components
    vectors = style_vectors(model, [s.motion.data for s in test])
    centred = vectors - vectors.mean(axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    points = centred @ axes[:2].T
    _plot_styles(points, [s.subject for s in test], out.with_name(out.name + "_styles.png"))
    names = [s.subject for s in test]
    return {"references": {EMOTIONS[e]: [s.clip_id for s in refs] for e, refs in references.items()},
            "recognizer_on_references": own, "recognized_as_reference": agree,
            "recognized_as_reference_all": float(np.trace(confusion) / max(confusion.sum(), 1)),
            "confusion_reference_by_recognized": confusion.tolist(), "chance": 1.0 / max(len(references), 1),
            "style_vector_emotion_probe": probe,
            "clips": len(batches),
            "output_difference_same_emotion": float(np.mean(same_emotion)),
            "output_difference_other_emotion": float(np.mean(other_emotion)),
            "output_difference_same_speaker": float(np.mean(same)), "output_difference_other_speaker": float(np.mean(different)),
            "speaker_separation": _separation(points, names)}  # fmt: skip


def _nearest_centroid(vectors: np.ndarray, labels: list[int]) -> float:
    """Leave-one-out accuracy of naming each vector's label by the nearest centroid of the other vectors' labels."""
    hits = 0
    for i, label in enumerate(labels):
        others = [j for j in range(len(labels)) if j != i]
        names = sorted({labels[j] for j in others})
        centroids = np.stack([vectors[[j for j in others if labels[j] == n]].mean(axis=0) for n in names])
        hits += names[int(np.linalg.norm(centroids - vectors[i], axis=1).argmin())] == label
    return hits / len(labels)


def _separation(points: np.ndarray, names: list[str]) -> float:
    """Share of clips whose nearest other clip (style vector, first two components) has the same speaker."""
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    np.fill_diagonal(distances, np.inf)
    nearest = distances.argmin(axis=1)
    return float(np.mean([names[i] == names[j] for i, j in enumerate(nearest)]))


def _plot_styles(points: np.ndarray, names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 4), dpi=120)
    for name in sorted(set(names)):
        rows = [i for i, n in enumerate(names) if n == name]
        axis.scatter(points[rows, 0], points[rows, 1], s=10, label=name)
    axis.set_xlabel("style PC 1")
    axis.set_ylabel("style PC 2")
    axis.set_title("style vectors w of held-out clips, by speaker")
    axis.legend(fontsize=7, markerscale=1.5)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def joined(samples: list[Sample], seconds: float) -> tuple[Waveform, Alignment]:
    """Test clips' speech and alignments joined end to end until `seconds`."""
    parts, words, phones, offset = [], [], [], 0.0
    for sample in samples:
        if offset >= seconds:
            break
        parts.append(sample.audio.samples)
        assert sample.alignment is not None
        words += [Word(w.text, w.start + offset, w.end + offset) for w in sample.alignment.words]
        phones += [Phone(p.label, p.start + offset, p.end + offset) for p in sample.alignment.phones]
        offset += sample.audio.duration
    rate = samples[0].audio.sample_rate
    audio = np.concatenate(parts)[: int(seconds * rate)]
    keep_words = [w for w in words if w.end <= seconds]
    keep_phones = [p for p in phones if p.end <= seconds]
    return Waveform(audio, rate), Alignment(tuple(keep_words), tuple(keep_phones))


def transitions(model: StyleDuration, test: list[Sample], train: list[Sample], recognizer: Any,
                video: Path | None) -> dict[str, Any]:  # fmt: skip
    speaker = sorted({s.subject for s in train})[0]
    order = ["neutral", "happy", "anger", "sad"]
    references: dict[str, Sample] = {}
    for sample in train:
        emotion, pure = dominant(sample)
        if pure and sample.subject == speaker and EMOTIONS[emotion] in order and EMOTIONS[emotion] not in references:
            references[EMOTIONS[emotion]] = sample
    order = [e for e in order if e in references]
    waveform, alignment = joined(test, TRANSITION_LENGTH_S)
    spans = [(start, references[e].motion) for start, e in zip(SPAN_STARTS_S, order, strict=False)]
    started = time.perf_counter()
    motion = animate_spans(waveform, model, spans)  # Whisper tiny.en features, the model, four references
    seconds_per_second = (time.perf_counter() - started) / waveform.duration
    fps = motion.fps
    change = np.linalg.norm(np.diff(motion.data, axis=0), axis=1)  # (T-1,)
    half = 12 + model.context_frames
    near = np.zeros(len(change), dtype=bool)
    for start, _ in spans[1:]:
        frame = round(start * fps)
        near[max(0, frame - half) : frame + half] = True
    threshold = float(np.percentile(change[~near], 99))
    jumps = [float(change[max(0, round(s * fps) - half) : round(s * fps) + half].max()) for s, _ in spans[1:]]
    middles = {}
    bounds = [*[s for s, _ in spans], waveform.duration]
    for (start, _), end, emotion in zip(spans, bounds[1:], order, strict=False):
        centre = 0.5 * (start + end)
        part = motion.data[round((centre - MIDDLE_S / 2) * fps) : round((centre + MIDDLE_S / 2) * fps)]
        middles[f"{start:.0f}s {emotion}"] = EMOTIONS[recognized(recognizer, Motion(part, fps, "blendshapes", motion.channels))]
    result = {"spans": [f"{s:.0f}s: {e} ({references[e].clip_id})" for (s, _), e in zip(spans, order, strict=False)],
              "p99_change_elsewhere": threshold, "max_change_at_transitions": jumps,
              "transitions_below_p99": all(j <= threshold for j in jumps), "recognized_in_span_middles": middles,
              "end_to_end_s_per_s": seconds_per_second}  # fmt: skip
    print(json.dumps(result), flush=True)
    if video is not None:
        from facetalk.audio import save_wav
        from facetalk.procedural import ProceduralAnimator
        from facetalk.render.video import render_side_by_side

        schedule = EmotionSchedule(tuple(EmotionKey(s, e, 1.0) for (s, _), e in zip(spans, order, strict=False)))
        procedural = ProceduralAnimator().animate(alignment, duration=waveform.duration, fps=fps, emotion=schedule)
        wav = video.with_suffix(".wav")
        save_wav(waveform, wav)
        captions = ["style_duration (reference changes)", "procedural"]
        render_side_by_side([motion, procedural], captions, video, audio=wav, width=VIDEO_SIZE, height=VIDEO_SIZE)
        wav.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="output prefix")
    parser.add_argument("--model", type=Path, default=None, help="the model directory; default RUN/best")
    parser.add_argument("--video", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clips", type=int, default=STYLE_CLIPS, help="test clips generated per style reference")
    parser.add_argument("--parts", default="duration,style,transitions", help="comma-separated: what to measure")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.run / "config.yaml")
    model = load_model(args.model or args.run / "best")
    assert isinstance(model, StyleDuration)
    pipeline = pipeline_for(config, cache_dir(), args.data)
    test = load_clips(config.data, args.data, "test")
    train = load_clips(config.data, args.data, "train")
    subjects = list(model.metadata["subjects"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    recognizer = load_recognizer(shipped_recognizer_path())  # type: ignore[arg-type]
    parameters = sum(p.numel() for n, p in model.named_parameters() if not n.startswith(model.training_only))
    result: dict[str, Any] = {"run": str(args.run), "model": str(args.model or args.run / "best"), "parameters": parameters}
    parts = set(args.parts.split(","))
    if model.duration_predictor is not None and "duration" in parts:
        token_frames = [np.bincount(pipeline.sample(s).phone_index) for s in train[:200]]
        mean_duration = float(np.mean(np.concatenate([t[t > 0] for t in token_frames])))  # the training tokens' mean
        result["duration_model"] = duration_model(model, pipeline, test, subjects, mean_duration)
        print(json.dumps(result["duration_model"]))
    if model.style_encoder is not None and "style" in parts:
        result["style"] = style_study(model, pipeline, test, train, recognizer, args.out, args.clips)
        print(json.dumps(result["style"]))
    if model.style_encoder is not None and "transitions" in parts:
        result["transitions"] = transitions(model, test, train, recognizer, args.video)
    args.out.with_name(args.out.name + "_study.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
