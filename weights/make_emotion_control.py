"""Ship a trained emotion_control run: float16 parameters (the prior range, prototypes and feature statistics stay float32).

    python weights/make_emotion_control.py RUN/best weights/emotion_control

The script prints the float16 model's largest difference from the float32 one, on random speech
features with a requested emotion.
"""

from __future__ import annotations

import numpy as np
from shipping import ship

from facetalk.data.windows import ClipArrays
from facetalk.models.base import Conditions, load_model
from facetalk.models.inputs import InputPipeline
from facetalk.types import EmotionSchedule

CHECK_FRAMES = 150


def main() -> None:
    args, model = ship(__doc__, corpus=False)
    shipped = load_model(args.out)
    features = np.random.default_rng(0).standard_normal((CHECK_FRAMES, int(model.norm.mean.shape[0]))).astype(np.float32)
    features = features * model.norm.std.numpy() + model.norm.mean.numpy()
    clip = ClipArrays(clip_id="check", num_frames=CHECK_FRAMES, fps=model.fps, features=features)
    conditions = Conditions(emotion=EmotionSchedule.parse("happy:1").at_frames(CHECK_FRAMES, model.fps))
    batch = InputPipeline(model.inputs).batch(clip, conditions)
    difference = np.abs(shipped.generate(batch).data - model.generate(batch).data).max()
    print(f"wrote {args.out}; float16 vs float32: largest ARKit weight difference {difference:.2e}")


if __name__ == "__main__":
    main()
