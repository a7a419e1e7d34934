"""Ship a trained `audio_text_fusion` run as weights/audio_text_fusion (float16 parameters, inference modules only).

python weights/make_audio_text_fusion.py RUN/best weights/audio_text_fusion
"""

from __future__ import annotations

from shipping import ship


def main() -> None:
    args, model = ship(__doc__, corpus=False)
    print(f"wrote {args.out}: {sum(p.numel() for p in model.parameters()):,} parameters, float16")


if __name__ == "__main__":
    main()
