"""Ship a trained `audio_text_fusion` run as weights/audio_text_fusion (float16 parameters, inference modules only).

.venv/bin/python weights/make_audio_text_fusion.py RUN/best weights/audio_text_fusion
"""

from __future__ import annotations

import argparse
from pathlib import Path

from facetalk.models.base import load_model, save_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the trained model directory (RUN/best)")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    model = load_model(args.run)
    path = save_model(model, args.out, half=True, inference=True)
    print(f"wrote {path}: {sum(p.numel() for p in model.parameters()):,} parameters, float16")


if __name__ == "__main__":
    main()
