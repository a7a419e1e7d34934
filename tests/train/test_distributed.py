"""Two CPU processes on gloo under torchrun: DDP keeps the ranks' parameters identical."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

DEBUG_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "conv_baseline" / "debug.yaml"
SCRIPT = """
import os, sys
from safetensors.torch import save_file
from facetalk.train.loop import train

result = train(sys.argv[1], sys.argv[2], overrides=sys.argv[4:])
rank = os.environ["RANK"]
save_file({k: v.contiguous() for k, v in result.model.state_dict().items()}, f"{sys.argv[3]}/rank{rank}.safetensors")
"""


def test_two_gloo_processes_stay_identical(train_cache: Path, fast: list[str], tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    run = tmp_path / "run"
    overrides = [*fast, "data.batch_size=2", "train.max_steps=6", "train.val_every=3", "train.checkpoint_every=3"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script),
               str(DEBUG_CONFIG), str(run), str(tmp_path), *overrides]  # fmt: skip
    env = {**os.environ, "FACETALK_CACHE": str(train_cache), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    for name, tensor in rank0.items():
        assert torch.equal(tensor, rank1[name]), name
    saved = load_file(str(run / "checkpoints" / "step-00000006" / "model.safetensors"))
    assert all(torch.equal(saved[name], rank0[name]) for name in rank0)
    rows = (run / "train.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 6  # header + one row per step, written by rank 0 only
