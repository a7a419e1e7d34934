"""Training: losses (pure functions), the loop, checkpoints, config wiring and data parallelism.

`facetalk.train.train(config_path, run_dir, resume=..., overrides=[...])` is what `facetalk train` runs.
"""

from facetalk.train.loop import TrainResult, TrainState, train

__all__ = ["TrainResult", "TrainState", "train"]
