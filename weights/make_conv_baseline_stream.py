"""Ship a trained conv_baseline_stream model: float16 parameters and the persona presets of its speakers.

    python weights/make_conv_baseline_stream.py RUN/best weights/conv_baseline_stream CORPUS

`personas` in the model's metadata maps each persona preset of the corpus's training speakers
(speakers/<id>/speaker.json, `persona_preset`) to the first speaker in index order that has it, so
that `--persona smiley` works as well as `--persona spk03`. The script prints the float16 model's
largest difference from the float32 one on the example speech.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from shipping import ship

from facetalk.animate import animate_with_model
from facetalk.assets import asset_path
from facetalk.audio import load_audio
from facetalk.models.base import Animator


def add_personas(model: Animator, args: argparse.Namespace) -> None:
    """`personas` in the metadata: each persona preset of the training speakers to its first speaker."""
    personas: dict[str, str] = {}
    for speaker in model.metadata.get("subjects", []):
        preset = json.loads((args.corpus / "speakers" / speaker / "speaker.json").read_text())["persona_preset"]
        personas.setdefault(preset, speaker)
    model.metadata["personas"] = personas
    print(f"personas: {personas}")


def main() -> None:
    args, _ = ship(__doc__, corpus=True, prepare=add_personas)
    speech = load_audio(asset_path("speech/example.wav"))
    full, half = animate_with_model(speech, str(args.run)).data, animate_with_model(speech, str(args.out)).data
    print(f"float16 against float32: largest weight difference {np.abs(full - half).max():.3g}")


if __name__ == "__main__":
    main()
