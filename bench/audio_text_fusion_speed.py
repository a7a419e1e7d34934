"""Seconds of compute per second of animation of the shipped `audio_text_fusion`, stage by stage.

The bundled example (its speech and transcript) tiled to 10 s and 60 s, aligned once (not timed);
then, best of 3 after a warm-up: the 128-bin mel at 30 fps, the MiniLM text features, the model alone, and the three
together (what `facetalk animate --model audio_text_fusion` spends beyond loading, alignment and export).

    .venv/bin/python bench/audio_text_fusion_speed.py [--threads 2]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from composite_regional_speed import LENGTHS_S, best_of, tiled  # bench/ is on the path when run as a script

from facetalk.assets import asset_path
from facetalk.audio import load_audio
from facetalk.audio.rate import num_motion_frames
from facetalk.models.base import Conditions, open_model
from facetalk.models.inputs import InputPipeline
from facetalk.text.align import align


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    torch.set_num_threads(parser.parse_args().threads)
    model, _ = open_model("audio_text_fusion")
    pipeline = InputPipeline.for_model(model)
    speech = load_audio(asset_path("speech/example.wav"))
    text = asset_path("speech/example.txt").read_text().strip()
    print("| audio | mel | text features (MiniLM) | model alone | together |")
    print("|---|---|---|---|---|")
    for duration in LENGTHS_S:
        repeats = int(np.ceil(duration / speech.duration))
        waveform = tiled(speech, duration)
        alignment = align(waveform, " ".join([text] * repeats))
        frames = num_motion_frames(waveform.duration, model.fps)
        mel = best_of(lambda: pipeline.speech_features(waveform, fps=model.fps, num_frames=frames))  # noqa: B023
        words = best_of(lambda: pipeline.text_features(alignment, fps=model.fps, num_frames=frames))  # noqa: B023
        clip = pipeline.clip(clip_id="bench", waveform=waveform, fps=model.fps, num_frames=frames, alignment=alignment)
        batch = pipeline.batch(clip, Conditions())
        alone = best_of(lambda: model.generate(batch))  # noqa: B023
        per_s = [t / waveform.duration for t in (mel, words, alone, mel + words + alone)]
        print(f"| {duration:.0f} s | " + " | ".join(f"{t:.4f} s" for t in per_s) + " |")


if __name__ == "__main__":
    main()
