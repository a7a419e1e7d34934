"""FLAME (Li, Bolkart, Black, Li and Romero 2017) as a differentiable layer, from the user's model file.

facetalk never ships FLAME: its licence does not allow it. A user who has the model passes its file,
`generic_model.pkl` (FLAME 2017/2020, shared FORMATS.md §5) or an `.npz` holding the same arrays:

| key | shape |
|---|---|
| `v_template` | (V, 3), the mean head (V = 5023) |
| `shapedirs` | (V, 3, 300 + E): 300 identity components, then E (100) expression components |
| `posedirs` | (V, 3, 36): pose correctives, 4 non-root joints × 9 rotation-matrix entries |
| `J_regressor` | (5, V), joints from vertices (a scipy.sparse matrix in the pickle) |
| `weights` | (V, 5), skinning weights |
| `kintree_table` | (2, 5); row 0 is the parent of each joint |
| `f` | (F, 3), triangles |

The pickle is read by `facetalk.data.pickles.load_pickle`, which runs no code from the file: its
chumpy arrays and scipy.sparse matrices arrive as inert stand-ins that only collect their pickled
state, and are turned into numpy arrays here; any other global is refused.

The forward model (FLAME_PyTorch's `lbs`): v_shaped = v_template + shapedirs · [β; ψ]; joints
J = J_regressor · v_shaped; rotations R_j of the 5 joints (global, neck, jaw, left eye, right eye)
from axis-angle (Rodrigues); v_posed = v_shaped + posedirs · vec(R_1..4 − I); linear blend skinning
with the joints' world transforms relative to their rest positions.

`FlameFace` is the `ParametricFace` of FLAME parameter motion (channels `expr_00..`, `jaw_x..z` and
optionally `global_x..z`, as the `flame_seq` dataset adapter yields them); `save_flame_sequence`
writes such motion (and its vertices) in the layout that adapter reads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from facetalk.data.formats.flame_seq import EXPRESSION_CHANNELS, GLOBAL_CHANNELS, JAW_CHANNELS
from facetalk.data.pickles import load_pickle
from facetalk.errors import InvalidInputError
from facetalk.face.parametric import XYZ, ParametricFace
from facetalk.files import atomic_output
from facetalk.types import Motion

NUM_SHAPE = 300
"""FLAME's identity components come first in `shapedirs`; the expression components follow."""
JOINTS = ("global", "neck", "jaw", "eye_left", "eye_right")
NUM_JOINTS = len(JOINTS)
POSE_FEATURES = (NUM_JOINTS - 1) * 9
FLAME_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
ANGLE_EPS = 1e-8
"""Added to rotation angles (as FLAME_PyTorch does), so that a zero rotation has a direction and a gradient."""
FLAME_VERTICES = 5023
VOCASET_LIP_PROBES = ((3546, 3504),)
"""Upper and lower lip vertices of FLAME's topology (shared FORMATS.md §5): the mouth's height."""
MOUTH_REACH_M = 0.035
MOUTH_DEPTH_M = 0.015
"""The mouth corners are the leftmost and rightmost template vertices within `MOUTH_REACH_M` of the lips'
midpoint, no more than `MOUTH_DEPTH_M` behind it and within `MOUTH_HEIGHT_M` of its height."""
MOUTH_HEIGHT_M = 0.005


# --- Reading the model file -------------------------------------------------------------------


class _PickledState:
    """An inert stand-in for a pickled object of a class facetalk does not import: it keeps the state."""

    state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _ChumpyArray(_PickledState):
    """chumpy's `Ch` (FLAME's arrays in the original pickles): its value is the state's `x`."""


class _CscMatrix(_PickledState):
    """scipy.sparse's `csc_matrix`: `data`, `indices`, `indptr` and `_shape` in its state."""


class _CsrMatrix(_PickledState):
    """scipy.sparse's `csr_matrix`."""


def _reconstructor(cls: type, base: type, state: Any) -> object:
    """`copyreg._reconstructor` of protocol-0 pickles, for the stand-in classes only."""
    if not (isinstance(cls, type) and issubclass(cls, _PickledState)) or base is not object or state is not None:
        raise InvalidInputError(f"refusing to rebuild {cls!r} from a FLAME pickle")
    return cls()


_SPARSE_MODULES = ("scipy.sparse.csc", "scipy.sparse._csc", "scipy.sparse.csr", "scipy.sparse._csr")
STAND_INS: dict[tuple[str, str], Any] = {
    ("chumpy.ch", "Ch"): _ChumpyArray,
    **{(module, "csc_matrix"): _CscMatrix for module in _SPARSE_MODULES},
    **{(module, "csr_matrix"): _CsrMatrix for module in _SPARSE_MODULES},
    ("copyreg", "_reconstructor"): _reconstructor,
    ("builtins", "object"): object,
}
"""The globals a FLAME pickle may name besides plain data, and their inert stand-ins."""


def _array(value: Any, key: str, path: Path) -> np.ndarray:
    """A FLAME entry as a dense numpy array."""
    import scipy.sparse

    if isinstance(value, _ChumpyArray):
        state = value.state if isinstance(value.state, Mapping) else {}
        if "x" not in state:
            raise InvalidInputError(f"{path}: {key} is a chumpy object without a value")
        return np.asarray(state["x"])
    if isinstance(value, _CscMatrix | _CsrMatrix):
        state = value.state if isinstance(value.state, Mapping) else {}
        try:
            shape = tuple(state.get("_shape", state.get("shape")))
            kind = scipy.sparse.csc_matrix if isinstance(value, _CscMatrix) else scipy.sparse.csr_matrix
            return np.asarray(kind((state["data"], state["indices"], state["indptr"]), shape=shape).toarray())
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"{path}: {key} is an unreadable sparse matrix ({exc})") from None
    if isinstance(value, _PickledState):
        raise InvalidInputError(f"{path}: {key} holds an object facetalk cannot read")
    return np.asarray(value)


@dataclass(frozen=True)
class FlameModel:
    """FLAME's arrays, float32 (see the module docstring).

    Attributes:
        v_template: (V, 3).
        shapedirs: (V, 3, 300 + E).
        posedirs: (V, 3, 36).
        j_regressor: (5, V), dense.
        weights: (V, 5).
        parents: (5,), the parent of each joint; -1 for the root.
        faces: (F, 3).
    """

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    j_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    faces: np.ndarray

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_expression(self) -> int:
        """E, the expression components after the 300 identity components."""
        return int(self.shapedirs.shape[2]) - NUM_SHAPE


def load_flame(path: str | os.PathLike[str]) -> FlameModel:
    """Read the user's FLAME model: a `.pkl` (through the restricted unpickler) or an `.npz` of the same keys.

    Raises:
        InvalidInputError: a missing or unreadable file, a missing key, or arrays of the wrong shapes.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise InvalidInputError(f"{file}: no such FLAME model file")
    if file.suffix == ".npz":
        try:
            with np.load(file, allow_pickle=False) as npz:
                raw: Mapping[str, Any] = {key: npz[key] for key in npz.files}
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"{file}: not a readable .npz ({exc})") from None
    else:
        raw = load_pickle(file, stand_ins=STAND_INS)
    if not isinstance(raw, Mapping):
        raise InvalidInputError(f"{file}: a FLAME model is a dict of arrays, got {type(raw).__name__}")
    missing = [key for key in FLAME_KEYS if key not in raw]
    if missing:
        raise InvalidInputError(f"{file}: not a FLAME model (missing {', '.join(missing)})")
    arrays = {key: _array(raw[key], key, file) for key in FLAME_KEYS}
    v_template = arrays["v_template"].astype(np.float32)
    num_vertices = len(v_template)
    expected = {"v_template": (num_vertices, XYZ), "posedirs": (num_vertices, XYZ, POSE_FEATURES),
                "J_regressor": (NUM_JOINTS, num_vertices), "weights": (num_vertices, NUM_JOINTS),
                "kintree_table": (2, NUM_JOINTS)}  # fmt: skip
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise InvalidInputError(f"{file}: FLAME {key} must have shape {shape}, got {arrays[key].shape}")
    shapedirs = arrays["shapedirs"]
    if shapedirs.ndim != 3 or shapedirs.shape[:2] != (num_vertices, XYZ) or shapedirs.shape[2] <= NUM_SHAPE:
        raise InvalidInputError(f"{file}: FLAME shapedirs must have shape ({num_vertices}, 3, 300 + E), got {shapedirs.shape}")
    parents = arrays["kintree_table"][0].astype(np.int64)
    parents[0] = -1  # the root's parent is stored as a large unsigned number
    if not all(0 <= parents[j] < j for j in range(1, NUM_JOINTS)):
        raise InvalidInputError(f"{file}: FLAME kintree_table must list each joint's parent before it, got {parents.tolist()}")
    return FlameModel(v_template=v_template, shapedirs=shapedirs.astype(np.float32),
                      posedirs=arrays["posedirs"].astype(np.float32), j_regressor=arrays["J_regressor"].astype(np.float32),
                      weights=arrays["weights"].astype(np.float32), parents=parents,
                      faces=arrays["f"].astype(np.int64))  # fmt: skip


# --- The layer ---------------------------------------------------------------------------------


def rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of axis-angle vectors (..., 3)."""
    angle = (axis_angle + ANGLE_EPS).norm(dim=-1, keepdim=True)  # (..., 1)
    axis = axis_angle / angle
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*axis.shape[:-1], 3, 3)
    sin, cos = angle.sin()[..., None], angle.cos()[..., None]
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + sin * skew + (1.0 - cos) * (skew @ skew)


class Flame(nn.Module):
    """FLAME's forward model: (β, ψ, pose) to vertices; arrays as non-persistent buffers (never saved).

    Args:
        model: the arrays of the user's file (`load_flame`).
    """

    v_template: torch.Tensor
    shapedirs: torch.Tensor
    posedirs: torch.Tensor
    j_regressor: torch.Tensor
    weights: torch.Tensor

    def __init__(self, model: FlameModel) -> None:
        super().__init__()
        for name in ("v_template", "shapedirs", "posedirs", "j_regressor", "weights"):
            self.register_buffer(name, torch.as_tensor(getattr(model, name)), persistent=False)
        self.parents = [int(p) for p in model.parents]
        self.num_expression = model.num_expression
        self.faces = model.faces

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    def forward(self, expression: torch.Tensor, pose: torch.Tensor, shape: torch.Tensor | None = None) -> torch.Tensor:
        """Vertices (N, V, 3), metres.

        Args:
            expression: ψ, (N, E') with E' <= E: the first E' expression components.
            pose: axis-angle rotations of the 5 joints (global, neck, jaw, left eye, right eye), (N, 5, 3).
            shape: β, (N, S') with S' <= 300, or None for the mean identity.
        """
        n = expression.shape[0]
        blend = self.shapedirs[..., NUM_SHAPE : NUM_SHAPE + expression.shape[-1]] @ expression.T  # (V, 3, N)
        if shape is not None:
            blend = blend + self.shapedirs[..., : shape.shape[-1]] @ shape.T
        v_shaped = self.v_template + blend.permute(2, 0, 1)  # (N, V, 3)
        joints = torch.einsum("jv,nvc->njc", self.j_regressor, v_shaped)  # (N, 5, 3)
        rotations = rodrigues(pose)  # (N, 5, 3, 3)
        eye = torch.eye(3, dtype=pose.dtype, device=pose.device)
        pose_feature = (rotations[:, 1:] - eye).reshape(n, POSE_FEATURES)  # (N, 36)
        v_posed = v_shaped + torch.einsum("np,vcp->nvc", pose_feature, self.posedirs)  # (N, V, 3)
        world = self._world_transforms(rotations, joints)  # (N, 5, 4, 4)
        # relative to each joint's rest position: A_j = G_j · translate(−J_j)
        offsets = world[..., :3, 3] - (world[..., :3, :3] @ joints[..., None])[..., 0]  # (N, 5, 3)
        skin_rotation = torch.einsum("vj,njab->nvab", self.weights, world[..., :3, :3])  # (N, V, 3, 3)
        skin_offset = torch.einsum("vj,nja->nva", self.weights, offsets)  # (N, V, 3)
        return (skin_rotation @ v_posed[..., None])[..., 0] + skin_offset

    def _world_transforms(self, rotations: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        """Each joint's world transform (N, 5, 4, 4) down the kinematic chain."""
        local_offset = joints.clone()
        local_offset[:, 1:] = joints[:, 1:] - joints[:, self.parents[1:]]
        bottom = torch.zeros(*rotations.shape[:2], 1, 4, dtype=rotations.dtype, device=rotations.device)
        bottom[..., 3] = 1.0
        local = torch.cat([torch.cat([rotations, local_offset[..., None]], dim=-1), bottom], dim=-2)  # (N, 5, 4, 4)
        world = [local[:, 0]]
        for joint in range(1, NUM_JOINTS):
            world.append(world[self.parents[joint]] @ local[:, joint])
        return torch.stack(world, dim=1)


class FlameFace(ParametricFace):
    """FLAME driven by parameter motion: expression `expr_NN`, jaw `jaw_x..z`, optionally `global_x..z`.

    Neck and eye rotations stay 0 and the identity is the mean one (or `shape`). Expression channels
    beyond the model's E components are rejected.

    Args:
        flame: the FLAME layer.
        channels: the parameters' names (the `flame_seq` adapter's).
        shape: β of the identity, (S',), or None for the mean identity.
        region_weights: per-vertex weights of the vertex loss (V,), e.g. FLAME's `face` mask; default all 1.
        mouth_height_pairs: (top, bottom) lip vertex pairs; default the VOCASET lip probes on FLAME's
            5023-vertex topology, none on another (no mouth-shape loss then).
        mouth_width_pairs: (left, right) mouth-corner pairs; default found on the template near the
            height pairs (see `MOUTH_REACH_M`).
    """

    flame: Flame
    shape: torch.Tensor | None

    def __init__(self, flame: Flame | FlameModel, channels: Sequence[str], *, shape: np.ndarray | None = None,
                 region_weights: np.ndarray | None = None, mouth_height_pairs: Sequence[tuple[int, int]] | None = None,
                 mouth_width_pairs: Sequence[tuple[int, int]] | None = None) -> None:  # fmt: skip
        super().__init__()
        self.flame = flame if isinstance(flame, Flame) else Flame(flame)
        self.channels = tuple(channels)
        unknown = [c for c in self.channels if c not in EXPRESSION_CHANNELS + JAW_CHANNELS + GLOBAL_CHANNELS]
        if unknown:
            raise InvalidInputError(f"not FLAME parameter channels: {', '.join(unknown[:3])}")
        expression = [c for c in self.channels if c in EXPRESSION_CHANNELS]
        if expression != list(EXPRESSION_CHANNELS[: len(expression)]):
            raise InvalidInputError("FLAME expression channels must be expr_00, expr_01, ... in order")
        if len(expression) > self.flame.num_expression:
            raise InvalidInputError(f"{len(expression)} expression channels, but the FLAME model has {self.flame.num_expression}")
        self.expression_index = [self.channels.index(c) for c in expression]
        self.jaw_index = [self.channels.index(c) for c in JAW_CHANNELS] if JAW_CHANNELS[0] in self.channels else []
        self.global_index = [self.channels.index(c) for c in GLOBAL_CHANNELS] if GLOBAL_CHANNELS[0] in self.channels else []
        num_vertices = self.flame.num_vertices
        self.register_buffer("shape", None if shape is None else torch.as_tensor(shape, dtype=torch.float32), persistent=False)
        weights = np.ones(num_vertices, np.float32) if region_weights is None else np.asarray(region_weights, np.float32)
        self.register_buffer("region_weights", torch.as_tensor(weights), persistent=False)
        template = self.flame.v_template.numpy()
        if mouth_height_pairs is None:
            mouth_height_pairs = VOCASET_LIP_PROBES if num_vertices == FLAME_VERTICES else ()
        self.mouth_height_pairs = tuple(mouth_height_pairs)
        if mouth_width_pairs is None:
            mouth_width_pairs = (mouth_corners(template, self.mouth_height_pairs),) if self.mouth_height_pairs else ()
        self.mouth_width_pairs = tuple(mouth_width_pairs)
        if any(index >= num_vertices for pair in self.mouth_height_pairs + self.mouth_width_pairs for index in pair):
            raise InvalidInputError(f"mouth vertices beyond the FLAME model's {num_vertices} vertices")

    def vertices(self, params: torch.Tensor) -> torch.Tensor:
        lead = params.shape[:-1]
        flat = params.reshape(-1, params.shape[-1])  # (N, P)
        pose = torch.zeros(len(flat), NUM_JOINTS, XYZ, dtype=flat.dtype, device=flat.device)
        if self.jaw_index:
            pose[:, JOINTS.index("jaw")] = flat[:, self.jaw_index]
        if self.global_index:
            pose[:, JOINTS.index("global")] = flat[:, self.global_index]
        shape = None if self.shape is None else self.shape.expand(len(flat), -1)
        vertices = self.flame(flat[:, self.expression_index], pose, shape)  # (N, V, 3)
        return vertices.reshape(*lead, *vertices.shape[1:])


def mouth_corners(template: np.ndarray, height_pairs: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """(left, right) mouth-corner vertices of a FLAME-like template (see `MOUTH_REACH_M`)."""
    centre = template[[index for pair in height_pairs for index in pair]].mean(axis=0)
    offset = template - centre
    near = np.linalg.norm(offset, axis=1) < MOUTH_REACH_M
    near &= (offset[:, 2] > -MOUTH_DEPTH_M) & (np.abs(offset[:, 1]) < MOUTH_HEIGHT_M)
    candidates = np.flatnonzero(near)
    if len(candidates) < 2:
        raise InvalidInputError("no mouth corners near the lip vertices of this FLAME template; give mouth_width_pairs")
    x = template[candidates, 0]
    return int(candidates[x.argmax()]), int(candidates[x.argmin()])


# --- Parameter sequences -----------------------------------------------------------------------


def save_flame_sequence(motion: Motion, path: str | os.PathLike[str], *, vertices: np.ndarray | None = None,
                        shape: np.ndarray | None = None) -> Path:  # fmt: skip
    """Write FLAME parameter motion as an `.npz` the `flame_seq` adapter reads back.

    Keys: `expression` (T, 100), `jaw_pose` (T, 3), `global_pose` (T, 3) when the motion has it,
    `fps`, `vertices` (T, V, 3) and the identity `shape` β when given (the adapter reads neither).
    """
    from facetalk.data.formats.flame_seq import NUM_EXPRESSION

    if motion.kind != "params" or not set(JAW_CHANNELS) <= set(motion.channels):
        raise InvalidInputError("FLAME sequences are parameter motion with jaw_x, jaw_y and jaw_z channels")
    expression = np.zeros((motion.num_frames, NUM_EXPRESSION), np.float32)
    present = [c for c in EXPRESSION_CHANNELS if c in motion.channels]
    expression[:, : len(present)] = motion.select(present)
    arrays = {"expression": expression, "jaw_pose": motion.select(JAW_CHANNELS).astype(np.float32),
              "fps": np.asarray(motion.fps, np.float32)}  # fmt: skip
    if set(GLOBAL_CHANNELS) <= set(motion.channels):
        arrays["global_pose"] = motion.select(GLOBAL_CHANNELS).astype(np.float32)
    if vertices is not None:
        arrays["vertices"] = np.asarray(vertices, np.float32)
    if shape is not None:
        arrays["shape"] = np.asarray(shape, np.float32)
    out = Path(path)
    with atomic_output(out) as tmp, open(tmp, "wb") as file:
        np.savez(file, **arrays)  # type: ignore[arg-type]
    return out
