"""Ship a trained style_duration model: float16 parameters and a default style reference.

    python weights/make_style_duration.py RUN/best weights/style_duration CORPUS

The style reference (`shipping.neutral_reference`): its ARKit blendshape motion, which the model
reads as it is. The script prints the float16 model's largest difference from the float32 one on
random features.
"""

from __future__ import annotations

import numpy as np
from shipping import neutral_reference, ship

from facetalk.animate import STYLE_REF_FILE
from facetalk.data.windows import ClipArrays
from facetalk.export import export_motion
from facetalk.models.base import Conditions, load_model
from facetalk.models.inputs import InputPipeline


def main() -> None:
    args, model = ship(__doc__, corpus=True)
    sample = neutral_reference(args.corpus)
    export_motion(sample.motion, args.out / STYLE_REF_FILE)
    print(f"style reference: clip {sample.clip_id}, {sample.num_frames} frames: {sample.text}")
    features = np.random.default_rng(0).standard_normal((90, int(model.spec.kwargs["feature_dim"]))).astype(np.float32)  # type: ignore[union-attr]
    clip = ClipArrays(clip_id="check", num_frames=len(features), fps=model.fps, features=features)
    batch = InputPipeline(model.inputs).batch(clip, Conditions(style=np.asarray(sample.motion.data, np.float32)))
    full, half = model.generate(batch).data, load_model(args.out).generate(batch).data
    print(f"float16 against float32: largest difference {np.abs(full - half).max():.3g} (blendshape weight)")


if __name__ == "__main__":
    main()
