"""A streaming model streamed against the same model run offline, on every clip of a corpus split.

Each clip's speech is pushed through `facetalk.stream.AnimationStream` in 20 ms chunks and compared
with the model run once on the whole clip through the input pipeline (what `facetalk eval` and
`facetalk animate --model` compute): the largest weight difference over the split, and the
blendshape MAE of both against the clip's ground truth (under the clip's own speaker and emotion
schedule, as `facetalk eval` runs it). With the model's whole lookahead the two
are the same frames; with a smaller `--lookahead` the streamed frames are an approximation.

    .venv/bin/python bench/stream_vs_offline.py --data CORPUS [--split test] [--model conv_baseline_stream] [--lookahead N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from facetalk.data.formats import open_dataset
from facetalk.models.base import Conditions, open_model
from facetalk.models.inputs import InputPipeline
from facetalk.stream import AnimationStream
from facetalk.types import EmotionSchedule

CHUNK = 320  # 20 ms at 16 kHz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--model", default="conv_baseline_stream")
    parser.add_argument("--lookahead", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, _ = open_model(args.model)
    pipeline = InputPipeline.for_model(model)
    subjects = list(model.metadata.get("subjects", []))
    largest, streamed_err, offline_err, frames = 0.0, 0.0, 0.0, 0
    clips = list(open_dataset("native", args.data, split=args.split))
    for sample in clips:
        target = np.asarray(sample.motion.data)
        clip = pipeline.clip(clip_id=sample.clip_id, waveform=sample.audio, fps=model.fps, num_frames=len(target), alignment=None)
        # the clip's own speaker and emotion schedule, as `facetalk eval` conditions on them
        schedule = sample.emotion if isinstance(sample.emotion, EmotionSchedule) else None
        persona = sample.subject if sample.subject in subjects else None
        conditions = Conditions(subject=subjects.index(persona) if persona else -1,
                                emotion=None if schedule is None else schedule.at_frames(len(target), model.fps))  # fmt: skip
        offline = model.generate(pipeline.batch(clip, conditions)).data
        stream = AnimationStream(model, emotion=schedule, persona=persona, lookahead=args.lookahead)
        samples = sample.audio.samples
        out = [f for i in range(0, len(samples), CHUNK) for f in stream.push(samples[i : i + CHUNK])] + stream.end()
        streamed = np.stack([f.weights for f in out])[: len(target)]
        largest = max(largest, float(np.abs(streamed - offline).max()))
        streamed_err += float(np.abs(streamed - target).sum())
        offline_err += float(np.abs(offline - target).sum())
        frames += target.size
    print(f"{len(clips)} clips of {args.split}, lookahead {stream.lookahead} frames: largest |streamed - offline| {largest:.2e}; "
          f"blendshape MAE streamed {streamed_err / frames:.5f}, offline {offline_err / frames:.5f}")  # fmt: skip


if __name__ == "__main__":
    main()
