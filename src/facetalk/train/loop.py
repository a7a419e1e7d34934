"""The training loop: one function, read top to bottom.

One AdamW per parameter group of the model with linear warm-up and cosine decay, gradient clipping,
an optional frozen encoder for the first steps, the model's own `train_step` (the default predicts,
weighs the objective and updates; adversarial models alternate their groups), validation every N
steps with best-model selection and early stopping, CSV logs, a progress bar, and checkpoints from
which `resume=True` continues exactly: the data order and style-reference draws come from (seed,
epoch, position), and every module, optimizer and random state is restored, so a resumed run logs
the same losses as one that was never stopped.

Files under the run directory: `config.yaml` (the resolved config), `train.csv` (step, epoch, lr,
loss, each loss term and the model's `step_logs`, per step), `val.csv` (step, val_loss, best; step 0
is the untrained model), `checkpoints/` (see `facetalk.train.checkpoint`), `best/` (the best model so
far without its training-only modules, loadable by `facetalk.load_model`).
"""

from __future__ import annotations

import csv
import math
import os
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DistributedSampler

from facetalk.config import Config, config_to_yaml, load_config
from facetalk.data.collate import Batch, collate
from facetalk.data.windows import WindowDataset
from facetalk.errors import InvalidInputError
from facetalk.models.base import Animator, save_model
from facetalk.train import distributed
from facetalk.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from facetalk.train.objective import Optimizers
from facetalk.train.recipe import Recipe, build_recipe

VAL_BATCH_SIZE = 8


@dataclass
class TrainState:
    """Where training is: saved in every checkpoint.

    Attributes:
        step: optimizer steps done.
        epoch: the current pass over the training windows.
        position: batches of `epoch` already used.
        best_val: the lowest validation loss so far.
        best_step: the step it was reached at.
        bad_validations: validations since the last improvement.
        stopped: early stopping has ended the run.
    """

    step: int = 0
    epoch: int = 0
    position: int = 0
    best_val: float = math.inf
    best_step: int = 0
    bad_validations: int = 0
    stopped: bool = False


@dataclass(frozen=True)
class TrainResult:
    """What `train` returns: the final state, the run directory, the validation losses by step, and
    the model with its final weights (the best ones are in `run_dir / "best"`)."""

    state: TrainState
    run_dir: Path
    val_losses: dict[int, float]
    model: Animator


def batches(dataset: WindowDataset, sampler: DistributedSampler[Any], batch_size: int, state: TrainState) -> Iterator[Batch]:
    """Endless batches from `state.epoch`/`state.position` on, advancing them; the order depends only on them."""
    while True:
        sampler.set_epoch(state.epoch)
        dataset.set_epoch(state.epoch)
        order = list(sampler)  # this process's share of a permutation seeded by (seed, epoch)
        num_batches = len(order) // batch_size
        if num_batches == 0:
            raise InvalidInputError(f"{len(order)} training windows per process are fewer than data.batch_size={batch_size}")
        while state.position < num_batches:
            chunk = order[state.position * batch_size : (state.position + 1) * batch_size]
            state.position += 1
            yield collate([dataset[i] for i in chunk])
        state.epoch, state.position = state.epoch + 1, 0


@torch.no_grad()
def evaluate(model: Animator, recipe: Recipe, device: torch.device) -> float:
    """Mean loss over the validation clips (whole clips, weighted by their frames)."""
    model.eval()
    total, frames = 0.0, 0.0
    for first in range(0, len(recipe.val_set), VAL_BATCH_SIZE):
        items = [recipe.val_set[i] for i in range(first, min(first + VAL_BATCH_SIZE, len(recipe.val_set)))]
        batch = {key: value.to(device) for key, value in collate(items).items()}
        loss, _ = recipe.objective(model(batch), batch)
        weight = batch["mask"].sum().item()
        total, frames = total + loss.item() * weight, frames + weight
    model.train()
    return total / frames


class CsvLog:
    """Rows appended to a CSV file; on resume, rows after the checkpoint's step are dropped first."""

    def __init__(self, path: Path, fields: list[str], *, keep_until: int | None) -> None:
        self.path, self.fields = path, fields
        rows: list[dict[str, str]] = []
        if keep_until is not None and path.is_file():
            with path.open(newline="") as file:
                rows = [row for row in csv.DictReader(file) if int(row["step"]) <= keep_until]
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as file:
            csv.DictWriter(file, fieldnames=self.fields).writerow(row)


def _tensorboard(run_dir: Path, enabled: bool) -> Any:
    if not enabled:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(run_dir / "tensorboard"))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(config: Config | str | os.PathLike[str], out: str | os.PathLike[str], *, resume: bool = False,
          overrides: list[str] | tuple[str, ...] = ()) -> TrainResult:  # fmt: skip
    """Train a model from a config; write checkpoints, the resolved config and logs under `out`.

    Args:
        config: a `Config`, or the path of a YAML config.
        out: the run directory.
        resume: continue the run in `out` from its latest checkpoint.
        overrides: `key=value` overrides applied to the config.

    Raises:
        InvalidInputError: a bad config, a run directory that already holds a run (without `resume`)
            or holds none (with `resume`).
    """
    from tqdm import tqdm

    from facetalk.audio import cache_dir

    if not isinstance(config, Config):
        config = load_config(config, overrides)
    elif overrides:
        config = load_config(None, overrides, base=config)
    run_dir = Path(out)
    checkpoint = latest_checkpoint(run_dir)
    if resume and checkpoint is None:
        raise InvalidInputError(f"{run_dir}: no checkpoint to resume from")
    if not resume and checkpoint is not None:
        raise InvalidInputError(f"{run_dir}: already holds a run; pass --resume to continue it or choose another --out")
    saved = run_dir / "config.yaml"
    if resume and saved.is_file() and config_to_yaml(load_config(saved)) != config_to_yaml(config):
        # Resuming with other settings would not continue the same run; say so instead.
        raise InvalidInputError(f"{saved}: the run was started with another config; resume with the same config and overrides")
    cfg, opt = config.train, config.optim
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    dist = distributed.setup(cfg.device)
    device = distributed.device_for(dist, cfg.device)

    seed_everything(cfg.seed)
    recipe = build_recipe(config, dist, cache_dir())
    model = recipe.model.to(device)
    encoder_params = [p for name, p in model.named_parameters() if name.startswith(cfg.encoder_prefix)]
    optimizers = Optimizers(model.parameter_groups(), opt, max_steps=cfg.max_steps, frozen=encoder_params)
    state = TrainState()
    if checkpoint is not None:
        state = TrainState(**load_checkpoint(checkpoint, model=model, optimizers=optimizers.optimizers)["train"])
    else:
        # after the seeded init, one stream for dropout; identical on every rank, so rank 0's checkpoint resumes all
        seed_everything(cfg.seed + 1)
    ddp_model = distributed.wrap(model, dist, device)
    sampler: DistributedSampler[Any] = DistributedSampler(recipe.train_set, num_replicas=dist.world_size, rank=dist.rank,  # type: ignore[arg-type]
                                                          shuffle=True, seed=cfg.seed, drop_last=True)  # fmt: skip

    term_names = [*recipe.objective.terms, *model.step_logs]
    val_losses: dict[int, float] = {}
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(config_to_yaml(config))
        keep = state.step if checkpoint is not None else None
        train_log = CsvLog(run_dir / "train.csv", ["step", "epoch", "lr", "loss", *term_names, "elapsed_s"], keep_until=keep)
        val_log = CsvLog(run_dir / "val.csv", ["step", "val_loss", "best"], keep_until=keep)
        board = _tensorboard(run_dir, cfg.tensorboard)

    def validate() -> None:
        """Validate, keep the best model, count towards early stopping, log."""
        # every rank evaluates the same clips, so all reach the same early-stopping decision
        val = evaluate(model, recipe, device)
        val_losses[state.step] = val
        if val < state.best_val:
            state.best_val, state.best_step, state.bad_validations = val, state.step, 0
            if dist.is_main:
                save_model(model, run_dir / "best", inference=True)
        else:
            state.bad_validations += 1
            state.stopped = 0 < cfg.patience <= state.bad_validations
        if dist.is_main:
            val_log.write({"step": state.step, "val_loss": f"{val:.8g}", "best": f"{state.best_val:.8g}"})
            if board is not None:
                board.add_scalar("val/loss", val, state.step)

    if checkpoint is None:
        validate()  # the untrained model: where the validation curve starts
    bar = tqdm(total=cfg.max_steps, initial=state.step, disable=not (cfg.progress and dist.is_main), desc="train", unit="step")
    data = batches(recipe.train_set, sampler, config.data.batch_size, state)
    started = time.perf_counter()
    model.train()
    while state.step < cfg.max_steps and not state.stopped:
        batch = {key: value.to(device) for key, value in next(data).items()}
        lr = optimizers.set_step(state.step)["model"]  # the logged lr; other groups follow their own settings
        optimizers.freeze = state.step < cfg.freeze_encoder_steps
        values = model.train_step(batch, recipe.objective, optimizers, ddp_model)
        state.step += 1

        logged = {name: distributed.mean(value.detach(), dist).item() for name, value in values.items()}
        if dist.is_main:
            elapsed = time.perf_counter() - started
            train_log.write({"step": state.step, "epoch": state.epoch, "lr": f"{lr:.8g}", "elapsed_s": f"{elapsed:.3f}",
                             **{k: f"{v:.8g}" for k, v in logged.items()}})  # fmt: skip
            if board is not None:
                board.add_scalar("train/loss", logged["loss"], state.step)
            bar.set_postfix(loss=f"{logged['loss']:.4g}")
        bar.update(1)

        last = state.step == cfg.max_steps
        if state.step % cfg.val_every == 0 or last:
            validate()
        if dist.is_main and (state.step % cfg.checkpoint_every == 0 or last or state.stopped):
            save_checkpoint(run_dir, step=state.step, model=model, optimizers=optimizers.optimizers,
                            state={"train": asdict(state)})  # fmt: skip
    bar.close()
    if dist.is_main and board is not None:
        board.close()
    distributed.barrier(dist)
    distributed.cleanup(dist)
    return TrainResult(state=state, run_dir=run_dir, val_losses=val_losses, model=model)
