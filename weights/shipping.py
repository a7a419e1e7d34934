"""What the `make_*.py` scripts that ship a style-conditioned model share: the default style reference.

The reference is the first neutral training clip of speaker spk01 (the neutral persona) of at least 3 s.
"""

from __future__ import annotations

from pathlib import Path

from facetalk.data.formats import open_dataset
from facetalk.data.sample import Sample

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
