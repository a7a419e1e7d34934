"""Inference speed of paper 001's model: seconds of compute per second of animation, in one run.

Measured side by side on the same speech (the bundled example, tiled to each length):

- the model alone (adaptive modulation + ResNet1D decoder, from cached speech features), and
- end to end: Whisper tiny.en encoding, resampling to 30 fps, and the model,
- plus the least-squares fit of the vertices to the 52 ARKit weights that `facetalk animate` adds.

The shipped model (`composite_regional_small`) is measured, and beside it the paper's size
(`composite_regional`: embedding 256, ResNet-18 widths 64-512) with untrained weights, which run
at the same speed as trained ones. Paper 001 reports 0.007 s per second of animation on an RTX 3090.

    .venv/bin/python bench/composite_regional_speed.py [--model weights/composite_regional] [--threads 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from timing import best_of, model_inputs, parameter_count, tiled

from facetalk.assets import asset_path
from facetalk.audio import load_audio
from facetalk.face.default_face import default_rig
from facetalk.models.base import Animator, build_model, load_model, pretrained_path
from facetalk.types import Motion

LENGTHS_S = (10.0, 60.0)
PAPER_S_PER_S = 0.007


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="model directory (default: the shipped composite_regional)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    directory = args.model or pretrained_path("composite_regional")
    shipped = load_model(directory)
    assert shipped.spec is not None
    paper = build_model("composite_regional", **{**shipped.spec.kwargs}).eval()
    rig = default_rig()
    speech = load_audio(asset_path("speech/example.wav"))
    print(f"{args.threads} threads; seconds of compute per second of animation (paper 001: {PAPER_S_PER_S} s on a GPU)")
    print(f"{'model':>34} | {'audio':>5} | {'model alone':>11} | {'end to end':>10} | {'+ ARKit fit':>11} | model alone vs paper")
    for name, model in ((f"shipped ({_size(shipped)})", shipped), (f"paper size ({_size(paper)})", paper)):
        for seconds in LENGTHS_S:
            waveform = tiled(speech, seconds)
            inputs = model_inputs(model, directory, waveform)
            batch = inputs()
            alone = best_of(lambda: model.generate(batch)) / seconds  # noqa: B023
            end_to_end = best_of(lambda: model.generate(inputs())) / seconds  # noqa: B023
            motion: Motion = model.generate(batch)
            fit = best_of(lambda: rig.fit_motion(motion), repeats=1) / seconds  # noqa: B023
            print(f"{name:>34} | {seconds:>4.0f}s | {alone:>9.4f} s | {end_to_end:>8.4f} s | {end_to_end + fit:>9.4f} s | "
                  f"{alone / PAPER_S_PER_S:.2f}x")  # fmt: skip


def _size(model: Animator) -> str:
    return f"{parameter_count(model) / 1e6:.1f} M parameters"


if __name__ == "__main__":
    main()
