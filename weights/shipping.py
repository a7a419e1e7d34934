"""What the `make_*.py` scripts share: reading RUN OUT [CORPUS] and saving the model in float16 (`ship`), and
the default style reference of style-conditioned models (`neutral_reference`).

The reference is the first neutral training clip of speaker spk01 (the neutral persona) of at least 3 s.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from facetalk.data.formats import open_dataset
from facetalk.data.sample import Sample
from facetalk.models.base import Animator, load_model, save_model

STYLE_SPEAKER = "spk01"
MIN_STYLE_FRAMES = 90
NEUTRAL_SHARE = 0.99


def neutral_reference(corpus: Path) -> Sample:
    """The default style reference clip of the corpus's training split."""
    return next(
        s
        for s in open_dataset("native", corpus, split="train")
        if s.subject == STYLE_SPEAKER and _neutral_share(s) > NEUTRAL_SHARE and s.num_frames >= MIN_STYLE_FRAMES
    )


def _neutral_share(sample: Sample) -> float:
    labels = sample.emotion_frames()
    return 0.0 if labels is None else float(labels[:, 0].mean())


Prepare = Callable[[Animator, argparse.Namespace], None]


def ship(description: str | None, *, corpus: bool, prepare: Prepare | None = None) -> tuple[argparse.Namespace, Animator]:
    """Parse `RUN OUT [CORPUS]`, load the trained model from RUN, let `prepare` add to it (its metadata, say)
    and save it to OUT in float16 with its inference modules only; return the arguments and the (float32) model."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the trained model directory (RUN/best)")
    parser.add_argument("out", type=Path, help="where to ship it")
    if corpus:
        parser.add_argument("corpus", type=Path, help="the corpus it was trained on")
    args = parser.parse_args()
    model = load_model(args.run)
    if prepare is not None:
        prepare(model, args)
    save_model(model, args.out, half=True, inference=True)
    return args, model
