"""Real short training runs: the loss falls, runs are deterministic, a killed run resumes exactly."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import facetalk
from facetalk.config import load_config
from facetalk.errors import InvalidInputError
from facetalk.train.distributed import DistInfo
from facetalk.train.loop import train
from facetalk.train.objective import learning_rate
from facetalk.train.recipe import build_recipe

KILL_TIMEOUT_S = 60.0
DEBUG_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "conv_baseline" / "debug.yaml"


def _losses(path: Path, column: str = "loss") -> list[float]:
    with path.open(newline="") as file:
        return [float(row[column]) for row in csv.DictReader(file)]


def test_learning_rate_schedule() -> None:
    optim = load_config(None, ["optim.lr=1.0", "optim.warmup_steps=10", "optim.min_lr_ratio=0.1"]).optim
    assert learning_rate(0, optim, 110) == pytest.approx(0.1)
    assert learning_rate(9, optim, 110) == pytest.approx(1.0)
    assert learning_rate(60, optim, 110) == pytest.approx(0.55)
    assert learning_rate(110, optim, 110) == pytest.approx(0.1)


def test_short_run_loss_falls_and_is_deterministic(train_cache: Path, fast: list[str], tmp_path: Path) -> None:
    overrides = [*fast, "train.max_steps=60", "train.val_every=20", "train.checkpoint_every=30"]
    result = train(DEBUG_CONFIG, tmp_path / "a", overrides=overrides)
    val = result.val_losses
    assert sorted(val) == [0, 20, 40, 60] and val[60] < val[20] < val[0]
    losses = _losses(tmp_path / "a" / "train.csv")
    assert len(losses) == 60 and sum(losses[-10:]) < 0.5 * sum(losses[:10])
    assert (tmp_path / "a" / "config.yaml").is_file() and load_config(tmp_path / "a" / "config.yaml").train.max_steps == 60
    assert list((tmp_path / "a" / "tensorboard").glob("events.out.tfevents.*"))  # TensorBoard logs beside the CSV
    again = train(DEBUG_CONFIG, tmp_path / "b", overrides=overrides)
    assert again.val_losses == val
    assert _losses(tmp_path / "b" / "train.csv") == losses
    model = facetalk.load_model(tmp_path / "a" / "best")
    assert model.spec is not None and model.spec.name == "conv_baseline"
    with pytest.raises(InvalidInputError, match="already holds a run"):
        train(DEBUG_CONFIG, tmp_path / "a", overrides=overrides)
    with pytest.raises(InvalidInputError, match="another config"):
        train(DEBUG_CONFIG, tmp_path / "a", resume=True, overrides=[*overrides, "optim.lr=0.5"])


def test_frozen_encoder_warm_up(train_cache: Path, fast: list[str], tmp_path: Path) -> None:
    overrides = [*fast, "train.max_steps=3", "train.freeze_encoder_steps=3", "train.val_every=3", "model.options.dropout=0.0",
                 "train.encoder_prefix=blocks."]  # fmt: skip
    result = train(DEBUG_CONFIG, tmp_path / "frozen", overrides=overrides)
    trained = facetalk.load_model(tmp_path / "frozen" / "checkpoints" / "step-00000003")
    initial = build_recipe(load_config(DEBUG_CONFIG, overrides), DistInfo(), train_cache).model  # the same seeded init
    for name, tensor in initial.named_parameters():
        same = torch.equal(tensor, trained.state_dict()[name])
        assert same == name.startswith("blocks."), name
    assert result.state.step == 3


ADVERSARIAL = ["model.name=conv_baseline_adversarial_tiny", "loss.adversarial=0.1", "optim.groups.discriminator.lr=1e-3"]
"""A GAN-style toy: conv_baseline with a discriminator of its own, updated in alternation with its own optimizer."""


@pytest.mark.parametrize("extra", [[], ADVERSARIAL], ids=["plain", "adversarial"])
def test_killed_run_resumes_exactly(extra: list[str], train_cache: Path, fast: list[str], tmp_path: Path) -> None:
    overrides = [*fast, *extra, "train.max_steps=400", "train.val_every=25", "train.checkpoint_every=20"]
    train(DEBUG_CONFIG, tmp_path / "whole", overrides=overrides)

    run = tmp_path / "killed"
    command = [sys.executable, "-m", "facetalk.cli", "train", "--config", str(DEBUG_CONFIG), "--out", str(run), *overrides]
    env = {**os.environ, "FACETALK_CACHE": str(train_cache)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + KILL_TIMEOUT_S
    while not (run / "checkpoints" / "latest.json").is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    stopped_at = json.loads((run / "checkpoints" / "latest.json").read_text())["step"]
    assert 0 < stopped_at < 400
    print(f"killed after the checkpoint at step {stopped_at}")

    resumed = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole, again = _losses(tmp_path / "whole" / "train.csv"), _losses(run / "train.csv")
    assert len(again) == 400
    assert again == pytest.approx(whole, rel=1e-5, abs=1e-7)
    assert _losses(run / "val.csv", "val_loss") == pytest.approx(_losses(tmp_path / "whole" / "val.csv", "val_loss"), rel=1e-5)
    if extra:  # both players' losses, and the shipped model holds no discriminator while the checkpoint does
        assert _losses(run / "train.csv", "discriminator") == pytest.approx(_losses(tmp_path / "whole" / "train.csv",
                                                                                      "discriminator"), rel=1e-5)  # fmt: skip
        from safetensors.torch import load_file

        checkpoint = sorted((run / "checkpoints").glob("step-*"))[-1]
        assert (checkpoint / "optimizer-discriminator.safetensors").is_file()
        assert any(k.startswith("discriminator.") for k in load_file(str(checkpoint / "model.safetensors")))
        assert not any(k.startswith("discriminator.") for k in load_file(str(run / "best" / "model.safetensors")))


@pytest.mark.parametrize(("override", "named"), [("model.options.widht=8", "widht"), ("loss.reconstrution=1", "reconstrution"),
                                              ("data.options.on_badd=stop", "on_badd"), ("data.style.reference=other", "other"),
                                              ("loss.velocity={weight: 1, options: {knd: l1}}", "knd"),
                                              ("optim.groups.discriminator.lrr=1", "lrr")])  # fmt: skip
def test_misspelled_options_fail_in_one_line_before_any_data(override: str, named: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "facetalk.cli", "train", "--config", str(DEBUG_CONFIG), "--out", str(tmp_path / "run"),
               "data.synth.build=false", "data.root=/nonexistent", override]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and named in done.stderr, done.stderr
    assert not (tmp_path / "run").exists()


def test_emotion_labels_as_a_target(train_cache: Path, fast: list[str], tmp_path: Path) -> None:
    overrides = [*fast, "model.options.emotion_head=true", "loss.emotion_ce=1.0", "train.max_steps=150", "train.val_every=150"]
    train(DEBUG_CONFIG, tmp_path / "run", overrides=overrides)
    ce = _losses(tmp_path / "run" / "train.csv", "emotion_ce")
    assert sum(ce[-10:]) < 0.5 * sum(ce[:10])


def test_cli_errors_are_one_line(train_cache: Path, fast: list[str], tmp_path: Path) -> None:
    command = [sys.executable, "-m", "facetalk.cli", "train", "--config", str(DEBUG_CONFIG), "--out", str(tmp_path),
               "optim.lrr=1"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and "lrr" in done.stderr
    resume = subprocess.run([*command[:-1], "--resume"], capture_output=True, text=True, check=False)
    assert resume.returncode == 2 and "no checkpoint" in resume.stderr
