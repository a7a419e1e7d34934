"""Ship a trained speaker-conditioned baseline (`voca`, `faceformer`): float16 parameters, inference modules only.

    python weights/make_speaker_baseline.py RUN/best weights/<name>

The model keeps its training speakers' names (`facetalk animate --subject`). The script prints the
float16 model's largest difference from the float32 one on random speech features, for each
training speaker's style and for an unseen speaker, on the default face.
"""

from __future__ import annotations

import numpy as np
from shipping import ship

from facetalk.data.windows import ClipArrays
from facetalk.face.default_face import default_rig
from facetalk.models.base import Conditions, load_model
from facetalk.models.inputs import InputPipeline

CHECK_FRAMES = 90


def main() -> None:
    args, model = ship(__doc__, corpus=False)
    shipped = load_model(args.out)
    assert model.spec is not None
    features = np.random.default_rng(0).standard_normal((CHECK_FRAMES, int(model.spec.kwargs["feature_dim"])))
    neutral = default_rig().neutral.reshape(-1)
    clip = ClipArrays(clip_id="check", num_frames=CHECK_FRAMES, fps=model.fps, features=features.astype(np.float32),
                      template=neutral)  # fmt: skip
    pipeline = InputPipeline(model.inputs)
    subjects = list(model.metadata.get("subjects", []))
    worst = 0.0
    for subject in range(-1, len(subjects)):
        batch = pipeline.batch(clip, Conditions(subject=subject, template=neutral))
        worst = max(worst, float(np.abs(model.generate(batch).data - shipped.generate(batch).data).max()))
    print(f"{args.out}: speakers {', '.join(subjects)}; float16 against float32: largest difference {worst:.3g} m")


if __name__ == "__main__":
    main()
