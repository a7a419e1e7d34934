"""Reading research-dataset pickles without running their code: a restricted unpickler.

VOCASET, BIWI and FLAME ship Python 2 pickles (shared FORMATS.md, General rule and §5). A plain
`pickle.load` would call any global a file names, so a crafted `templates.pkl` could run
`os.system`. `load_pickle` resolves only the globals that rebuild plain data:

- numpy arrays, dtypes and scalars: `numpy.core.multiarray._reconstruct` (numpy 1 pickles) or
  `numpy._core.multiarray._reconstruct` (numpy 2), `numpy.ndarray`, `numpy.dtype`,
  `numpy.(_)core.multiarray.scalar`, and `numpy.(_)core.numeric._frombuffer` (pickle protocol 5);
- `_codecs.encode`, with which Python 3 writes `bytes` at protocols < 3 (it only re-encodes a str);
- the builtins `dict`, `list`, `tuple`, `set`, `frozenset` (Python 2's `__builtin__` is mapped to
  `builtins`).

Dicts, lists, tuples, strings and numbers need no global at all. scipy.sparse matrices (FLAME's
`J_regressor`) and chumpy arrays are not rebuilt: a caller that reads such a file (the FLAME layer,
`facetalk.face.flame`) names inert stand-in classes for those globals (`stand_ins`), which only
collect the pickled state. Anything else raises an `InvalidInputError` that names the file and the
refused global, before the global is imported.
Files are read with `encoding="latin1"`, which decodes Python 2 `str` (including numpy's raw array
bytes) losslessly.
"""

from __future__ import annotations

import importlib
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from facetalk.errors import InvalidInputError

# numpy 2 moved `numpy.core` to `numpy._core`; pickles name whichever wrote them.
_NUMPY_CORE = ("numpy.core", "numpy._core")
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        *((f"{core}.multiarray", "_reconstruct") for core in _NUMPY_CORE),
        *((f"{core}.multiarray", "scalar") for core in _NUMPY_CORE),
        *((f"{core}.numeric", "_frombuffer") for core in _NUMPY_CORE),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
        ("builtins", "dict"),
        ("builtins", "list"),
        ("builtins", "tuple"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
    }
)
"""The (module, name) pairs a dataset pickle may name."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, path: Path, stand_ins: Mapping[tuple[str, str], Any]) -> None:
        super().__init__(file, encoding="latin1")
        self.path = path
        self.stand_ins = stand_ins

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 pickles name `__builtin__` and `copy_reg`; the base class maps them only in its own find_class.
        module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)
        if (module, name) in self.stand_ins:
            return self.stand_ins[module, name]
        if (module, name) not in ALLOWED_GLOBALS:
            raise InvalidInputError(
                f"{self.path}: refusing to unpickle the global {module}.{name} (only numpy arrays and plain data are allowed)"
            )
        if module.startswith("numpy.core."):
            module = "numpy._core." + module.removeprefix("numpy.core.")  # avoids numpy 2's deprecation shim
        return getattr(importlib.import_module(module), name)


def load_pickle(path: str | os.PathLike[str], *, stand_ins: Mapping[tuple[str, str], Any] | None = None) -> Any:
    """Read a pickle that may hold only numpy arrays, dicts, lists, tuples, sets, strings and numbers.

    Args:
        path: the pickle file.
        stand_ins: (module, name) -> the inert object to use for that global instead of importing it
            (Python 2 names `__builtin__` and `copy_reg` are looked up as `builtins` and `copyreg`).

    Raises:
        InvalidInputError: the file is missing, truncated or not a pickle, or names any other global.
    """
    file = Path(path)
    try:
        with file.open("rb") as stream:
            return _RestrictedUnpickler(stream, file, stand_ins or {}).load()
    except FileNotFoundError:
        raise InvalidInputError(f"{file}: no such pickle file") from None
    except InvalidInputError:
        raise
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise InvalidInputError(f"{file}: not a readable pickle ({type(exc).__name__}: {exc})") from None
