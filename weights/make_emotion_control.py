"""Ship a trained emotion_control model: float16 parameters (the prior range, prototypes and feature statistics stay float32).

    python weights/make_emotion_control.py RUN/best weights/emotion_control --corpus CORPUS --request-basis prototypes

With `--corpus`, the emotion priors of the corpus's training split (the cached recognizer logits the
run trained on) are fitted again (`fit_emotion_priors`: the max-min range, identical to the run's,
and the category prototypes, which training never reads), and `--request-basis` sets how requested
emotions enter γ; this also upgrades a run saved before the prototypes existed. The script prints
the float16 model's largest difference from the float32 one, on random speech features with a
requested emotion.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from facetalk.data.cache import dataset_key
from facetalk.data.formats import open_dataset
from facetalk.data.windows import ClipArrays
from facetalk.files import cache_dir, load_weights
from facetalk.models.base import MODEL_CONFIG, MODEL_WEIGHTS, Animator, Conditions, build_model, load_model, save_model
from facetalk.models.inputs import FeatureSettings, InputPipeline
from facetalk.types import EmotionSchedule

CHECK_FRAMES = 150
FITTED = ("prototypes",)
"""Buffers a run saved before they existed may lack: `fit_emotion_priors` fills them."""


def _rebuild(run: str, corpus: str | None, request_basis: str | None) -> Animator:
    spec, state = load_weights(run, weights_name=MODEL_WEIGHTS, config_name=MODEL_CONFIG, what="model")
    kwargs = dict(spec["kwargs"])
    if request_basis is not None:
        kwargs["request_basis"] = request_basis
    model = build_model(spec["name"], **kwargs)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - set(FITTED) or (missing and corpus is None):
        raise SystemExit(f"{run}: weights do not fit (missing {missing}, unexpected {unexpected}); pass --corpus to refit")
    model.metadata = dict(spec.get("metadata", {}))
    if corpus is not None:
        pipeline = InputPipeline(model.inputs, features=FeatureSettings(**model.metadata["features"]),
                                 cache=cache_dir() / "features", dataset_key=dataset_key("native", corpus))  # fmt: skip
        priors = [pipeline.sample(sample).emotion_prior for sample in open_dataset("native", corpus, split="train")]
        before = model.prior_min.clone(), model.prior_max.clone()
        model.fit_emotion_priors(torch.from_numpy(np.concatenate(priors).astype(np.float32)))
        drift = max(float((model.prior_min - before[0]).abs().max()), float((model.prior_max - before[1]).abs().max()))
        print(f"refitted the priors of {len(priors)} training clips; prior range moved by {drift:.2e}")
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a trained model directory (RUN/best)")
    parser.add_argument("out", help="where to write the shipped model")
    parser.add_argument("--corpus", help="the corpus the run trained on, to refit the emotion priors")
    parser.add_argument("--request-basis", choices=("onehot", "prototypes"))
    args = parser.parse_args()
    model = _rebuild(args.run, args.corpus, args.request_basis) if args.corpus or args.request_basis else load_model(args.run)
    save_model(model, args.out, half=True, inference=True)
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
