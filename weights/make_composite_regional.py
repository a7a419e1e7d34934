"""Ship a trained composite_regional model: float16 parameters and a default style reference.

    python weights/make_composite_regional.py RUN/best weights/composite_regional CORPUS

The style reference is the first neutral training clip of speaker spk01 (the neutral persona) of at
least 3 s, moved from spk01's face onto the default face (its movements and held expressions kept),
since `facetalk animate` gives references the default face's neutral as their speaker's face. The
script prints the float16 model's largest difference from the float32 one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from facetalk.animate import STYLE_REF_FILE
from facetalk.data.formats import open_dataset
from facetalk.data.sample import Sample
from facetalk.data.windows import ClipArrays
from facetalk.export import export_motion
from facetalk.face.default_face import default_rig
from facetalk.models.base import Conditions, load_model, save_model
from facetalk.models.inputs import InputPipeline
from facetalk.types import Motion

STYLE_SPEAKER = "spk01"
MIN_STYLE_FRAMES = 90
NEUTRAL_SHARE = 0.99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the trained model directory (RUN/best)")
    parser.add_argument("out", type=Path, help="where to ship it")
    parser.add_argument("corpus", type=Path, help="the corpus it was trained on")
    args = parser.parse_args()
    model = load_model(args.run)
    save_model(model, args.out, half=True, inference=True)
    reference = next(
        s
        for s in open_dataset("native", args.corpus, split="train")
        if s.subject == STYLE_SPEAKER and _neutral_share(s) > NEUTRAL_SHARE and s.num_frames >= MIN_STYLE_FRAMES
    )
    motion = reference.vertex_motion()
    assert motion is not None and reference.template is not None
    neutral = default_rig().neutral.reshape(-1)
    style = Motion(motion.data - reference.template.reshape(-1) + neutral, motion.fps, "vertices")
    export_motion(style, args.out / STYLE_REF_FILE)
    print(f"style reference: clip {reference.clip_id}, {reference.num_frames} frames: {reference.text}")
    features = np.random.default_rng(0).standard_normal((90, int(model.spec.kwargs["feature_dim"]))).astype(np.float32)  # type: ignore[union-attr]
    clip = ClipArrays(clip_id="check", num_frames=len(features), fps=model.fps, features=features, template=neutral)
    batch = InputPipeline(model.inputs).batch(clip, Conditions(style=style.data, style_template=neutral))
    full, half = model.generate(batch).data, load_model(args.out).generate(batch).data
    print(f"float16 against float32: largest difference {np.abs(full - half).max():.3g} m")


def _neutral_share(sample: Sample) -> float:
    labels = sample.emotion_frames()
    return 0.0 if labels is None else float(labels[:, 0].mean())


if __name__ == "__main__":
    main()
