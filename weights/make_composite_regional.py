"""Ship a trained composite_regional model: float16 parameters and a default style reference.

    python weights/make_composite_regional.py RUN/best weights/composite_regional CORPUS

The style reference (`shipping.neutral_reference`), moved from spk01's face onto the default face
(its movements and held expressions kept), since `facetalk animate` gives references the default
face's neutral as their speaker's face. The script prints the float16 model's largest difference
from the float32 one.
"""

from __future__ import annotations

import numpy as np
from shipping import neutral_reference, ship

from facetalk.animate import STYLE_REF_FILE
from facetalk.data.windows import ClipArrays
from facetalk.export import export_motion
from facetalk.face.default_face import default_rig
from facetalk.models.base import Conditions, load_model
from facetalk.models.inputs import InputPipeline
from facetalk.types import Motion


def main() -> None:
    args, model = ship(__doc__, corpus=True)
    reference = neutral_reference(args.corpus)
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


if __name__ == "__main__":
    main()
