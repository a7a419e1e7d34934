"""Training checkpoints: safetensors for tensors, JSON for everything else, written atomically.

A checkpoint is a directory `RUN_DIR/checkpoints/step-NNNNNNNN/` holding

- `model.json` + `model.safetensors`: the whole model, training-only modules included (loadable by
  `facetalk.load_model`);
- `optimizer-<group>.safetensors` + `optimizer-<group>.json`: each optimizer's tensors and its other
  state, one pair per parameter group;
- `rng.safetensors`: torch's CPU random state;
- `state.json`: the training state (step, data order position, early stopping, Python and numpy
  random states).

The directory is complete before it gets its name, and `checkpoints/latest.json` is rewritten
(atomically) only after that, so a run killed at any moment resumes from the last complete one.
No pickles are written or read.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facetalk.errors import InvalidInputError
from facetalk.files import atomic_directory, atomic_output, load_safetensors
from facetalk.models.base import Animator, save_model

LATEST = "latest.json"
STEP_DIGITS = 8
CHECKPOINT_FILES = ("model.json", "model.safetensors", "rng.safetensors", "state.json")
"""Files every checkpoint has, besides one optimizer pair per group."""


def _flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    other: dict[str, dict[str, Any]] = {}
    for index, values in state_dict["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}/{key}"] = value.detach().cpu().contiguous()
            else:
                other.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "state": other}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], other: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        index, key = name.split("/", 1)
        state.setdefault(int(index), {})[key] = tensor
    for index, values in other["state"].items():
        state.setdefault(int(index), {}).update(values)
    groups = [{k: tuple(v) if k == "betas" else v for k, v in group.items()} for group in other["param_groups"]]
    return {"state": state, "param_groups": groups}


def _python_rng_state() -> list[Any]:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _numpy_rng_state() -> list[Any]:
    name, keys, position, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    return [name, np.asarray(keys).tolist(), int(position), int(has_gauss), float(cached)]


def _optimizer_files(group: str) -> tuple[str, str]:
    return f"optimizer-{group}.safetensors", f"optimizer-{group}.json"


def save_checkpoint(run_dir: str | os.PathLike[str], *, step: int, model: Animator,
                    optimizers: Mapping[str, torch.optim.Optimizer], state: dict[str, Any], keep: int = 1) -> Path:  # fmt: skip
    """Write a checkpoint of training after `step` steps and point `latest.json` at it.

    Args:
        run_dir: the run directory.
        step: optimizer steps done.
        model: the (unwrapped) model.
        optimizers: its optimizers by parameter group.
        state: JSON-serializable training state (data order, early stopping, ...).
        keep: how many step checkpoints to keep (older ones are removed).
    """
    from safetensors.torch import save_file

    root = Path(run_dir) / "checkpoints"
    name = f"step-{step:0{STEP_DIGITS}d}"
    with atomic_directory(root / name) as tmp:
        save_model(model, tmp)
        for group, optimizer in optimizers.items():
            tensors_name, other_name = _optimizer_files(group)
            tensors, other = _flatten_optimizer(optimizer.state_dict())
            save_file(tensors, str(tmp / tensors_name))
            (tmp / other_name).write_text(json.dumps(other))
        save_file({"torch": torch.get_rng_state()}, str(tmp / "rng.safetensors"))
        full = {**state, "step": step, "optimizers": list(optimizers), "python_rng": _python_rng_state(),
                "numpy_rng": _numpy_rng_state()}  # fmt: skip
        (tmp / "state.json").write_text(json.dumps(full, indent=1))
    with atomic_output(root / LATEST) as tmp_file:
        tmp_file.write_text(json.dumps({"checkpoint": name, "step": step}) + "\n")
    for old in sorted(root.glob("step-*"))[:-keep]:
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return root / name


def latest_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """The directory of the run's latest complete checkpoint, or None when it has none."""
    pointer = Path(run_dir) / "checkpoints" / LATEST
    if not pointer.is_file():
        return None
    try:
        name = json.loads(pointer.read_text())["checkpoint"]
    except (ValueError, KeyError) as exc:
        raise InvalidInputError(f"{pointer}: unreadable ({exc})") from None
    return pointer.parent / str(name)


def load_checkpoint(directory: str | os.PathLike[str], *, model: Animator,
                    optimizers: Mapping[str, torch.optim.Optimizer]) -> dict[str, Any]:  # fmt: skip
    """Restore the model's weights (every module), each optimizer's state and every random state; return
    the training state."""
    path = Path(directory)
    required = [*CHECKPOINT_FILES, *(name for group in optimizers for name in _optimizer_files(group))]
    for name in required:
        if not (path / name).is_file():
            raise InvalidInputError(f"{path}: incomplete checkpoint ({name} is missing)")
    try:
        model.load_state_dict(load_safetensors(path / "model.safetensors"))
        for group, optimizer in optimizers.items():
            tensors_name, other_name = _optimizer_files(group)
            other = json.loads((path / other_name).read_text())
            optimizer.load_state_dict(_unflatten_optimizer(load_safetensors(path / tensors_name), other))
        torch.set_rng_state(load_safetensors(path / "rng.safetensors")["torch"])
        state: dict[str, Any] = json.loads((path / "state.json").read_text())
    except (OSError, ValueError, KeyError, RuntimeError) as exc:  # a damaged safetensors file is an InvalidInputError
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidInputError(f"{path}: unreadable checkpoint ({reason})") from None
    if sorted(state.pop("optimizers", list(optimizers))) != sorted(optimizers):
        raise InvalidInputError(f"{path}: the checkpoint's optimizers do not match the model's parameter groups")
    version, internal, gauss = state.pop("python_rng")
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = state.pop("numpy_rng")
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), position, has_gauss, cached))
    return state
