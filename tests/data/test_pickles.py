"""The restricted unpickler reads plain data and numpy arrays, and refuses everything else."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from facetalk.data.pickles import load_pickle
from facetalk.errors import InvalidInputError


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_numpy_and_plain_data_round_trip(tmp_path: Path, protocol: int) -> None:
    data = {
        "verts": np.arange(12, dtype=np.float64).reshape(4, 3),
        "audio": np.array([1, -2, 3], dtype=np.int16),
        "rate": 22000,
        "scalar": np.float32(1.5),
        "nested": {"a": [1, 2.0, "x"], "b": (np.int64(3),), "c": {4, 5}},
    }
    path = tmp_path / "data.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    loaded = load_pickle(path)
    np.testing.assert_array_equal(loaded["verts"], data["verts"])
    assert loaded["audio"].dtype == np.int16 and loaded["rate"] == 22000
    assert loaded["scalar"] == np.float32(1.5) and loaded["nested"]["c"] == {4, 5}
    assert loaded["nested"]["a"] == [1, 2.0, "x"] and loaded["nested"]["b"] == (3,)


def test_python2_style_numpy1_globals_are_read(tmp_path: Path) -> None:
    # A numpy 1 pickle names numpy.core.multiarray; the unpickler maps it to numpy 2's numpy._core.
    raw = pickle.dumps(np.arange(3, dtype=np.float32), protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path = tmp_path / "old.pkl"
    path.write_bytes(raw)
    np.testing.assert_array_equal(load_pickle(path), np.arange(3, dtype=np.float32))


class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize("protocol", [0, 2, 5])
def test_malicious_pickle_is_refused(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "templates.pkl"
    path.write_bytes(pickle.dumps({"subject": _Exploit()}, protocol=protocol))
    with pytest.raises(InvalidInputError, match=r"templates\.pkl: refusing to unpickle the global (posix|os|nt)\.system"):
        load_pickle(path)


def test_other_objects_and_broken_files_are_refused(tmp_path: Path) -> None:
    from collections import OrderedDict

    path = tmp_path / "ordered.pkl"
    path.write_bytes(pickle.dumps(OrderedDict(a=1)))
    with pytest.raises(InvalidInputError, match=r"collections\.OrderedDict"):
        load_pickle(path)
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(pickle.dumps({"a": np.zeros(3)})[:20])
    with pytest.raises(InvalidInputError, match=r"truncated\.pkl: not a readable pickle"):
        load_pickle(truncated)
    with pytest.raises(InvalidInputError, match="no such pickle"):
        load_pickle(tmp_path / "missing.pkl")
