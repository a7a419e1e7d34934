"""The FLAME layer against an independent per-vertex reference, on a small random model file with FLAME's
keys and array layouts (written here as a Python-2-style pickle with chumpy and scipy.sparse objects, and as
an .npz); the restricted unpickler refusing a hostile file; FLAME parameter sequences out and back in."""

from __future__ import annotations

import os
import pickle
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse
import torch
from scipy.spatial.transform import Rotation

from facetalk.data.formats.flame_seq import EXPRESSION_CHANNELS, JAW_CHANNELS, flame_params
from facetalk.errors import InvalidInputError
from facetalk.face.flame import Flame, FlameFace, load_flame, save_flame_sequence
from facetalk.models import build_model
from facetalk.train.objective import Objective
from facetalk.types import Motion

V, E, F = 40, 100, 30
ROOT_PARENT = 4294967295  # FLAME stores the root's parent as uint32 -1


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    regressor = rng.random((5, V)) * (rng.random((5, V)) < 0.3)
    regressor[:, 0] += 1e-3  # no empty row
    weights = rng.random((V, 5)) ** 3
    return {"v_template": 0.1 * rng.standard_normal((V, 3)), "shapedirs": 1e-3 * rng.standard_normal((V, 3, 300 + E)),
            "posedirs": 1e-2 * rng.standard_normal((V, 3, 36)), "J_regressor": regressor / regressor.sum(axis=1, keepdims=True),
            "weights": weights / weights.sum(axis=1, keepdims=True),
            "kintree_table": np.array([[ROOT_PARENT, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
            "f": rng.integers(0, V, (F, 3))}  # fmt: skip


@pytest.fixture
def chumpy_module() -> Iterator[type]:
    """A stand-in `chumpy.ch.Ch`, importable while pickling, so that the file names chumpy as FLAME's do."""
    package, module = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x: np.ndarray) -> None:
            self.x = x

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    module.Ch = Ch  # type: ignore[attr-defined]
    package.ch = module  # type: ignore[attr-defined]
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = package, module
    yield Ch
    del sys.modules["chumpy"], sys.modules["chumpy.ch"]


def _write_pickle(path: Path, arrays: dict[str, np.ndarray], ch: type, protocol: int) -> Path:
    raw: dict[str, object] = {key: ch(value) for key, value in arrays.items() if key in ("v_template", "shapedirs", "posedirs")}
    raw["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"])
    raw.update({key: arrays[key] for key in ("weights", "kintree_table", "f")})
    raw["bs_style"], raw["bs_type"] = "lbs", "lrotmin"
    path.write_bytes(pickle.dumps(raw, protocol=protocol))
    return path


def _reference(arrays: dict[str, np.ndarray], expression: np.ndarray, pose: np.ndarray) -> np.ndarray:
    """FLAME written out vertex by vertex and joint by joint in float64, rotations from scipy."""
    v_shaped = arrays["v_template"] + np.einsum("vck,k->vc", arrays["shapedirs"][:, :, 300 : 300 + len(expression)], expression)
    joints = arrays["J_regressor"] @ v_shaped
    rotations = [Rotation.from_rotvec(p).as_matrix() for p in pose]
    feature = np.concatenate([(rotations[j] - np.eye(3)).ravel() for j in range(1, 5)])
    v_posed = v_shaped + np.einsum("vcp,p->vc", arrays["posedirs"], feature)
    parents = [-1, 0, 1, 1, 1]
    world = []
    for j in range(5):
        local = np.eye(4)
        local[:3, :3] = rotations[j]
        local[:3, 3] = joints[j] - (joints[parents[j]] if j else 0.0)
        world.append(local if j == 0 else world[parents[j]] @ local)
    out = np.zeros((V, 3))
    for v in range(V):
        blended = np.zeros((4, 4))
        for j in range(5):
            rest = np.eye(4)
            rest[:3, 3] = -joints[j]
            blended += arrays["weights"][v, j] * (world[j] @ rest)
        out[v] = (blended @ np.append(v_posed[v], 1.0))[:3]
    return out


@pytest.mark.parametrize("protocol", [0, 2])
def test_layer_matches_the_reference(tmp_path: Path, chumpy_module: type, protocol: int) -> None:
    arrays = _arrays()
    model = load_flame(_write_pickle(tmp_path / "generic_model.pkl", arrays, chumpy_module, protocol))
    assert model.num_vertices == V and model.num_expression == E and model.parents.tolist() == [-1, 0, 1, 1, 1]
    rng = np.random.default_rng(1)
    expression = rng.standard_normal(10)
    pose = 0.4 * rng.standard_normal((5, 3))
    out = Flame(model)(torch.tensor(expression[None], dtype=torch.float32), torch.tensor(pose[None], dtype=torch.float32))
    np.testing.assert_allclose(out[0].numpy(), _reference(arrays, expression, pose), atol=2e-6)
    rest = Flame(model)(torch.zeros(1, 10), torch.zeros(1, 5, 3))[0].numpy()
    np.testing.assert_allclose(rest, arrays["v_template"], atol=1e-6)  # no expression, no pose: the template


def test_npz_gives_the_same_model(tmp_path: Path, chumpy_module: type) -> None:
    arrays = _arrays()
    np.savez(tmp_path / "flame.npz", **arrays)
    from_npz = load_flame(tmp_path / "flame.npz")
    from_pkl = load_flame(_write_pickle(tmp_path / "generic_model.pkl", arrays, chumpy_module, 2))
    for name in ("v_template", "shapedirs", "posedirs", "j_regressor", "weights", "faces"):
        np.testing.assert_allclose(getattr(from_npz, name), getattr(from_pkl, name), atol=1e-7)


class _Hostile:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_hostile_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(pickle.dumps({"v_template": _Hostile(marker)}, protocol=2))
    with pytest.raises(InvalidInputError, match=r"refusing to unpickle the global (posix|os|nt)\.system"):
        load_flame(path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps({"v_template": np.zeros((V, 3))}))
    with pytest.raises(InvalidInputError, match="missing shapedirs"):
        load_flame(path)


def test_flame_face_maps_channels(tmp_path: Path) -> None:
    arrays = _arrays()
    np.savez(tmp_path / "flame.npz", **arrays)
    model = load_flame(tmp_path / "flame.npz")
    channels = EXPRESSION_CHANNELS[:8] + JAW_CHANNELS
    face = FlameFace(model, channels, mouth_height_pairs=((0, 1),), mouth_width_pairs=((2, 3),))
    params = torch.randn(2, 3, len(channels)) * 0.2
    pose = torch.zeros(6, 5, 3)
    pose[:, 2] = params.reshape(6, -1)[:, 8:]
    expected = face.flame(params.reshape(6, -1)[:, :8], pose)
    assert torch.allclose(face.vertices(params), expected.reshape(2, 3, V, 3))
    assert face.flat_vertices(params).shape == (2, 3, 3 * V) and face.mouth_width_pairs and not face.state_dict()
    with pytest.raises(InvalidInputError, match="not FLAME parameter channels"):
        FlameFace(model, ("jawOpen",))


def test_sequences_round_trip_through_the_adapter(tmp_path: Path) -> None:
    data = np.random.default_rng(0).standard_normal((7, 53)).astype(np.float32)
    motion = Motion(data, 25.0, "params", EXPRESSION_CHANNELS[:50] + JAW_CHANNELS)
    path = save_flame_sequence(motion, tmp_path / "clip.npz", vertices=np.zeros((7, V, 3)))
    with np.load(path) as stored:
        back = flame_params(dict(stored), path, None)
        assert stored["vertices"].shape == (7, V, 3)
    assert back.fps == 25.0 and back.channels == EXPRESSION_CHANNELS + JAW_CHANNELS
    np.testing.assert_array_equal(back.select(motion.channels), data)


def test_emotion_control_trains_through_flame(tmp_path: Path) -> None:
    np.savez(tmp_path / "flame.npz", **_arrays())
    channels = EXPRESSION_CHANNELS[:10] + JAW_CHANNELS
    torch.manual_seed(0)
    model = build_model("emotion_control_tiny", feature_dim=8, motion_dim=len(channels), kind="params", channels=channels,
                        flame_model=str(tmp_path / "flame.npz"), prior_source="labels")  # fmt: skip
    assert isinstance(model.face, FlameFace) and not model.inputs.emotion_prior
    assert not any(name.startswith("face.") for name in model.state_dict())  # FLAME never enters the weights
    batch = {"features": torch.randn(2, 12, 8), "mask": torch.ones(2, 12), "motion": 0.3 * torch.randn(2, 12, len(channels)),
             "emotion": torch.rand(2, 12, 7), "emotion_mask": torch.ones(2, 12)}  # fmt: skip
    objective = Objective.from_config({"vertex_l1": 1000.0, "emotion_prior": 1.0})
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss, _ = objective(model.train()(batch), batch)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    assert losses[-1] < 0.7 * losses[0]
    (tmp_path / "flame.npz").unlink()  # a saved model that only generates needs no FLAME file
    assert build_model("emotion_control_tiny", feature_dim=8, motion_dim=len(channels), kind="params", channels=channels,
                       flame_model=str(tmp_path / "flame.npz")).face is None  # fmt: skip
