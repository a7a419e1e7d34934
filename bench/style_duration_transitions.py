"""Frame-to-frame change around style changes, with and without in-betweening (cached features, no Whisper).

Eight test clips' cached speech features are joined; three references (training clips 0, 5 and 11) start at
0, T/3 and 2T/3; the clip is generated with a hard switch (`transition_frames=0`) and with 24 in-betweened
frames, and the change ‖y_t+1 − y_t‖ is printed around each switch beside its 99th percentile elsewhere.

    PYTHONPATH=src .venv/bin/python bench/style_duration_transitions.py RUN MODEL_DIR CORPUS
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from facetalk.audio import cache_dir
from facetalk.config import load_config
from facetalk.models.base import load_model
from facetalk.models.style_duration import StyleDuration
from facetalk.train.recipe import load_clips, pipeline_for

NEAR = 20
"""Frames either side of a switch left out of the percentile."""


def main() -> None:
    run, model_dir, root = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    torch.set_num_threads(1)
    model = load_model(model_dir)
    assert isinstance(model, StyleDuration)
    config = load_config(run / "config.yaml")
    pipeline = pipeline_for(config, cache_dir(), root)
    test = load_clips(config.data, root, "test")[:8]
    train = load_clips(config.data, root, "train")[:12]
    features = np.concatenate([np.asarray(pipeline.sample(s).features) for s in test])  # (T, C)
    frames = len(features)
    batch = {"features": torch.from_numpy(features)[None].float(), "mask": torch.ones(1, frames),
             "lengths": torch.tensor([frames]), "subject": torch.tensor([-1])}  # fmt: skip
    starts = [0, frames // 3, 2 * frames // 3]
    references = [np.asarray(train[i].motion.data, np.float32) for i in (0, 5, 11)]
    for gap in (0, 24):
        motion = model.generate_spans(batch, list(zip(starts, references, strict=True)), transition_frames=gap).data
        change = np.linalg.norm(np.diff(motion, axis=0), axis=1)  # (T-1,)
        near = np.zeros(len(change), dtype=bool)
        for start in starts[1:]:
            near[start - NEAR : start + NEAR] = True
        print(f"transition_frames {gap}: 99th percentile elsewhere {np.percentile(change[~near], 99):.4f}")
        for start in starts[1:]:
            window = change[start - 16 : start + 16]
            print(f"  switch at {start}: largest change {window.max():.4f};", np.round(window, 3).tolist())


if __name__ == "__main__":
    main()
