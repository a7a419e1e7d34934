"""Files in and out: atomic outputs that survive a kill, and readers whose every failure is one line.

Outputs are written beside their target and renamed into place, so a crash, a kill or a bad input
midway leaves no half-written output, and an existing output stays intact until the new one is
complete:

- `atomic_output(path)` writes one file: a temporary `.<stem>.<pid>-<random>.tmp<suffix>`, renamed
  onto `path`. Temporary files that killed writers (processes no longer running on this machine)
  left behind are removed by the next process that writes into the same directory, at its first
  write there.
- `atomic_directory(path)` writes a directory tree in four renames-or-removals, each of which a kill
  can interrupt: write `.<name>.<pid>-<random>.tmp`; rename it to `.<name>.new` (complete); move
  the old tree aside to `.<name>.old`; rename `.<name>.new` to `<name>`; delete `.<name>.old`.
  `finish_replacement(path)`, run by the next write and by readers, completes an interrupted swap
  (or, when the new tree never became complete, keeps the old one), so `<name>` is always either the
  whole old tree or the whole new one. One writer at a time per target.

Readers (`read_text`, `read_json`, `load_safetensors`, `load_weights`) turn every way a file can be
wrong (missing, a directory, unreadable, truncated, corrupt) into a one-line `InvalidInputError` that
names the file. `save_weights` / `load_weights` store a module's tensors as safetensors beside a JSON
config (models, the emotion recognizer).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import struct
import tempfile
import tokenize
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facetalk.errors import InvalidInputError, OutputError

if TYPE_CHECKING:
    import torch

DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError, ValueError, EOFError, NotImplementedError, zipfile.BadZipFile, zlib.error, struct.error, tokenize.TokenError
)  # fmt: skip
"""What numpy, zipfile and the standard library's decoders raise on a damaged file (numpy parses a
.npy header with `tokenize`, whose error is none of the others)."""

NEW_SUFFIX = ".new"
OLD_SUFFIX = ".old"
_WRITER = r"(?P<pid>\d+)-[a-z0-9_]{8}\.tmp"  # the part of a temporary name that tells its writer
_TEMPORARY_FILE = re.compile(rf"^\..+\.{_WRITER}(\.[^.]*)?$")
_swept: set[Path] = set()
"""Directories this process has cleared of orphaned temporary files: each is listed once, not at every
write, so writing thousands of files into one directory stays linear."""


def cache_dir() -> Path:
    """facetalk's cache: `$FACETALK_CACHE`, else `$XDG_CACHE_HOME/facetalk`, else `~/.cache/facetalk`."""
    if os.environ.get("FACETALK_CACHE"):
        return Path(os.environ["FACETALK_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "facetalk"
    return Path.home() / ".cache" / "facetalk"


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success it is renamed to `path`, on error removed.

    The temporary file keeps the target's suffix so that libraries choosing a format by extension
    (imageio, pygltflib) behave as they would on the real name.
    """
    target = Path(path)
    parent = _parent(target)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        if parent.resolve() not in _swept:
            _remove_orphans(parent, ".", _TEMPORARY_FILE)
            _swept.add(parent.resolve())
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.{os.getpid()}-", suffix=f".tmp{target.suffix}", dir=parent)
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
    """Yield a temporary directory; on success it replaces `path` (which must not hold other data).

    See the module docstring for the steps and how an interrupted replacement is recovered.

    Raises:
        OutputError: `path` is a file, or the directory cannot be written or swapped in.
    """
    target = Path(path)
    parent = _parent(target)
    new, old = _sibling(target, NEW_SUFFIX), _sibling(target, OLD_SUFFIX)
    try:
        parent.mkdir(parents=True, exist_ok=True)
        finish_replacement(target)
        _remove_orphans(parent, f".{target.name}.", re.compile(rf"^\.{re.escape(target.name)}\.{_WRITER}$"))
        if target.exists() and not target.is_dir():
            raise OutputError(f"{target}: exists and is not a directory")
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise OutputError(f"{target}: cannot write here ({exc.strerror or exc})") from None
    try:
        yield tmp
        tmp.chmod(0o777 & ~_umask())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.rename(tmp, new)  # the new tree is complete: from here on a recovery finishes the swap
        if target.exists():
            os.rename(target, old)
        os.rename(new, target)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{target}: cannot replace the directory ({exc.strerror or exc})") from None


def finish_replacement(path: str | os.PathLike[str]) -> None:
    """Complete a replacement of directory `path` that `atomic_directory` began and a kill interrupted.

    A complete new tree (`.<name>.new`) is renamed into place; an old tree moved aside
    (`.<name>.old`) is deleted once `path` holds a complete tree, or moved back when nothing else
    can take its place. Does nothing when no replacement is pending.

    Raises:
        OutputError: the pending replacement cannot be completed (e.g. no permission).
    """
    target = Path(path)
    new, old = _sibling(target, NEW_SUFFIX), _sibling(target, OLD_SUFFIX)
    try:
        if new.is_dir():
            if target.is_dir():  # killed before the old tree was moved aside
                shutil.rmtree(old, ignore_errors=True)
                os.rename(target, old)
            os.rename(new, target)
        elif old.is_dir() and not target.exists():  # only by hand: the new tree was removed
            os.rename(old, target)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        raise OutputError(f"{target}: cannot finish its interrupted replacement ({exc.strerror or exc})") from None


def _sibling(target: Path, suffix: str) -> Path:
    return _parent(target) / f".{target.name}{suffix}"


def _parent(target: Path) -> Path:
    return target.parent if str(target.parent) else Path(".")


def _remove_orphans(directory: Path, prefix: str, pattern: re.Pattern[str]) -> None:
    """Remove the temporary files and trees matching `pattern` (names start with `prefix`) whose writer has died."""
    with os.scandir(directory) as entries:
        orphans = [e for e in entries if e.name.startswith(prefix) and (m := pattern.match(e.name)) and not _alive(int(m["pid"]))]
    for entry in orphans:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether process `pid` exists (on this machine); unknown counts as alive, to keep its files."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_text(path: str | os.PathLike[str], *, what: str = "file") -> str:
    """The UTF-8 text of `path`; `what` names the file in errors (e.g. "transcript file").

    Raises:
        InvalidInputError: the file is missing, a directory, unreadable or not UTF-8.
    """
    file = Path(path)
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{file}: is a directory, not {_a(what)}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{file}: not {_a(what)} (not UTF-8 text at byte {exc.start})") from None
    except OSError as exc:
        raise InvalidInputError(f"{file}: cannot read the {what} ({exc.strerror or exc})") from None


def read_json(path: str | os.PathLike[str], *, what: str = "JSON file") -> Any:
    """The parsed JSON of `path`.

    Raises:
        InvalidInputError: as `read_text`, or the text is not JSON.
    """
    text = read_text(path, what=what)
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise InvalidInputError(f"{path}: not {_a(what)} (invalid JSON: {reason})") from None


def _a(noun: str) -> str:
    """`noun` with its indefinite article."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def load_safetensors(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, on the CPU.

    Raises:
        InvalidInputError: the file is missing, a directory, truncated or corrupt.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    file = Path(path)
    if not file.exists():
        raise InvalidInputError(f"{file}: no such safetensors file")
    if not file.is_file():
        raise InvalidInputError(f"{file}: is a directory, not a safetensors file")
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise InvalidInputError(f"{file}: not a readable safetensors file ({reason})") from None


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
    """The config and tensors `save_weights` wrote; a missing or unreadable file is an `InvalidInputError`.

    Errors about the directory as a whole name `what` (e.g. "not a saved model"); errors about one
    of its files name that file.
    """
    path = Path(directory)
    for name in (config_name, weights_name):
        if not (path / name).is_file():
            raise InvalidInputError(f"{path}: not a saved {what} ({name} is missing)")
    config = read_json(path / config_name, what=f"{what} config")
    if not isinstance(config, dict):
        raise InvalidInputError(f"{path / config_name}: not {_a(what)} config (not a JSON object)")
    return config, load_safetensors(path / weights_name)
