"""Atomic output files: write to a temporary file beside the target, then rename.

A crash or a bad input midway leaves no half-written output behind, and an existing file at the
target stays intact until the new one is complete. `save_weights` / `load_weights` store a module's
tensors as safetensors beside a JSON config this way (models, the emotion recognizer).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facetalk.errors import InvalidInputError, OutputError

if TYPE_CHECKING:
    import torch


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to `path`, on error removed.

    The temporary file keeps the target's suffix so that libraries choosing a format by extension
    (imageio, pygltflib) behave as they would on the real name.
    """
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=parent)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write here ({exc.strerror or exc})") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces `path` (which must not hold other data)."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise OutputError(f"{target}: cannot write here ({exc.strerror or exc})") from None
    try:
        yield tmp
        tmp.chmod(0o777 & ~_umask())
        if target.exists():
            _remove_tree(target)
        os.replace(tmp, target)
    except BaseException:
        _remove_tree(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def save_weights(directory: str | os.PathLike[str], state: Mapping[str, torch.Tensor], config: Mapping[str, Any], *,
                 weights_name: str, config_name: str) -> Path:  # fmt: skip
    """Write `state` as `directory/weights_name` (safetensors) and `config` as `directory/config_name` (JSON), atomically."""
    from safetensors.torch import save_file

    out = Path(directory)
    with atomic_output(out / weights_name) as tmp:
        save_file({name: tensor.detach().cpu().contiguous() for name, tensor in state.items()}, str(tmp))
    with atomic_output(out / config_name) as tmp:
        tmp.write_text(json.dumps(config, indent=2) + "\n")
    return out


def load_weights(directory: str | os.PathLike[str], *, weights_name: str, config_name: str,
                 what: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:  # fmt: skip
    """The config and tensors `save_weights` wrote; a missing or unreadable file is an `InvalidInputError` naming `what`."""
    from safetensors.torch import load_file

    path = Path(directory)
    for name in (config_name, weights_name):
        if not (path / name).is_file():
            raise InvalidInputError(f"{path}: not a saved {what} ({name} is missing)")
    try:
        config = json.loads((path / config_name).read_text())
        state = load_file(str(path / weights_name))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path}: unreadable {what} ({exc})") from None
    return config, state
