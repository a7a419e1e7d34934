"""Fit FLAME parameters to meshes in FLAME's topology: VOCASET as FLAME parameter sequences.

Paper 002 trains in FLAME's parameter space on VOCASET, whose release holds registered meshes (FLAME's
5,023-vertex topology, head pose removed), not parameters. This module fits them, with your FLAME model
file, and writes a directory the `flame_seq` adapter reads (`configs/emotion_control/vocaset_flame.yaml`):

    python -m facetalk.face.flame_fit VOCASET FLAME/generic_model.pkl VOCASET_FLAME [--expression 100] [--steps 100]

- **Identity** β (300), once per subject, by least squares from the subject's template:
  template − v_template = S_β·β (FLAME's rest pose is linear in β).
- **Expression ψ and jaw pose**, per sentence, all frames at once: ψ starts at the least-squares
  solution of the offsets from the identity's rest face with the jaw closed (linear), then Adam
  refines ψ and the jaw's axis angle through the full FLAME layer (joints, pose correctives,
  skinning), minimizing the mean squared vertex distance. No global pose: the meshes are unposed.

Written: `OUT/<subject>/<sentence>.npz` (`expression` (T, 100), `jaw_pose` (T, 3), `fps`, `shape` (300,),
the `flame_seq` layout), the sentence's audio beside it (`.wav`, 16 kHz), and `OUT/splits.json` with
VOCASET's train / val / test (FaceFormer's subjects and sentences), so that

    facetalk train --config configs/emotion_control/vocaset_flame.yaml --out runs/ec-voca data.root=VOCASET_FLAME \\
        model.options.flame_model=FLAME/generic_model.pkl features.options.path=WAV2VEC2

trains on it. Each fitted sentence's vertex error (mean and largest over frames, mm) is printed at the
end and kept in `OUT/fit.json`. The directory is written aside and renamed when complete.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from facetalk.data.formats.flame_seq import EXPRESSION_CHANNELS, JAW_CHANNELS, NUM_EXPRESSION
from facetalk.errors import FacetalkError, InvalidInputError
from facetalk.face.flame import JOINTS, NUM_JOINTS, NUM_SHAPE, Flame, FlameModel, load_flame, save_flame_sequence
from facetalk.types import Motion

DEFAULT_STEPS = 100
LEARNING_RATE = 0.01
"""Adam's step for ψ and the jaw's axis angle (radians); both are O(1) quantities."""
SPLITS = ("train", "val", "test")
MM = 1000.0


@dataclass(frozen=True)
class SequenceFit:
    """FLAME parameters of one sequence and how well they fit.

    Attributes:
        expression: ψ, (T, E).
        jaw: the jaw's axis angle, (T, 3).
        error_m: per-frame mean vertex distance to the meshes (T,), metres.
    """

    expression: np.ndarray
    jaw: np.ndarray
    error_m: np.ndarray

    def motion(self, fps: float) -> Motion:
        """The fit as FLAME parameter motion: `expr_00..` (E) and the jaw."""
        channels = EXPRESSION_CHANNELS[: self.expression.shape[1]] + JAW_CHANNELS
        return Motion(np.concatenate([self.expression, self.jaw], axis=1), fps, "params", channels)


def fit_shape(model: FlameModel, template: np.ndarray) -> np.ndarray:
    """The identity β (300,) whose rest face is nearest (least squares) to `template` (V, 3)."""
    basis = model.shapedirs[..., :NUM_SHAPE].reshape(-1, NUM_SHAPE).astype(np.float64)  # (3V, 300)
    offset = (np.asarray(template, np.float64) - model.v_template).reshape(-1)
    beta, *_ = np.linalg.lstsq(basis, offset, rcond=None)
    return beta.astype(np.float32)


def fit_sequence(flame: Flame, vertices: np.ndarray, beta: np.ndarray, *, expression: int = NUM_EXPRESSION,
                 steps: int = DEFAULT_STEPS) -> SequenceFit:  # fmt: skip
    """Fit ψ (first `expression` components) and the jaw pose of every frame of `vertices` (T, V, 3) with identity β."""
    target = torch.tensor(np.asarray(vertices), dtype=torch.float32)
    frames = len(target)
    shape = torch.as_tensor(beta)[None].expand(frames, -1)
    rest = flame(torch.zeros(1, expression), torch.zeros(1, NUM_JOINTS, 3), shape[:1])[0]  # (V, 3)
    basis = flame.shapedirs[..., NUM_SHAPE : NUM_SHAPE + expression].reshape(-1, expression)  # (3V, E)
    psi = torch.linalg.lstsq(basis, (target - rest).reshape(frames, -1).T).solution.T.contiguous()  # (T, E)
    psi.requires_grad_(True)
    jaw = torch.zeros(frames, 3, requires_grad=True)
    optimizer = torch.optim.Adam([psi, jaw], lr=LEARNING_RATE)
    jaw_joint = JOINTS.index("jaw")

    def vertex_error() -> torch.Tensor:
        pose = torch.zeros(frames, NUM_JOINTS, 3)
        pose[:, jaw_joint] = jaw
        return (flame(psi, pose, shape) - target).norm(dim=-1)  # (T, V)

    for _ in range(steps):
        optimizer.zero_grad()
        loss = vertex_error().square().mean()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    with torch.no_grad():
        error = vertex_error().mean(dim=1)
    return SequenceFit(expression=psi.detach().numpy(), jaw=jaw.detach().numpy(), error_m=error.numpy())


def fit_vocaset(root: Path, flame_file: Path, out: Path, *, expression: int = NUM_EXPRESSION, steps: int = DEFAULT_STEPS,
                progress: bool = True) -> dict[str, dict[str, float]]:  # fmt: skip
    """Fit every clip of the VOCASET at `root` and write the `flame_seq` directory `out` (see the module docstring).

    Returns each clip's fit error: {clip id: {"mean_mm", "max_mm"}}.
    """
    from tqdm import tqdm

    from facetalk.audio.io import save_wav
    from facetalk.data.formats.vocaset import VocasetDataset, in_split
    from facetalk.files import atomic_directory

    model = load_flame(flame_file)
    if not 0 < expression <= model.num_expression:
        raise InvalidInputError(f"{flame_file}: has {model.num_expression} expression components; cannot fit {expression}")
    flame = Flame(model)
    dataset = VocasetDataset(root, split="all")
    shapes: dict[str, np.ndarray] = {}
    errors: dict[str, dict[str, float]] = {}
    splits: dict[str, list[str]] = {name: [] for name in SPLITS}
    with atomic_directory(out) as tmp:
        for sample in tqdm(dataset, total=len(dataset), unit="clip", desc="fit FLAME", disable=not progress):  # good clips
            assert sample.template is not None and sample.sentence_id is not None, "a VOCASET clip has both"
            if sample.subject not in shapes:
                if sample.template.shape != model.v_template.shape:
                    raise InvalidInputError(f"{root}: {sample.subject}'s template has {len(sample.template)} vertices, "
                                            f"the FLAME model {model.num_vertices}")  # fmt: skip
                shapes[sample.subject] = fit_shape(model, sample.template)
            fit = fit_sequence(flame, sample.motion.vertices(), shapes[sample.subject], expression=expression, steps=steps)
            clip_id = f"{sample.subject}/{sample.sentence_id}"
            save_flame_sequence(fit.motion(sample.motion.fps), tmp / f"{clip_id}.npz", shape=shapes[sample.subject])
            save_wav(sample.audio, tmp / f"{clip_id}.wav")
            errors[clip_id] = {"mean_mm": float(fit.error_m.mean() * MM), "max_mm": float(fit.error_m.max() * MM)}
            for name in SPLITS:
                if in_split(name, sample.subject, sample.sentence_id):
                    splits[name].append(clip_id)
        (tmp / "splits.json").write_text(json.dumps(splits, indent=1) + "\n")
        (tmp / "fit.json").write_text(json.dumps({"expression": expression, "steps": steps, "clips": errors}, indent=1) + "\n")
    return errors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m facetalk.face.flame_fit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("vocaset", type=Path, help="the VOCASET release or FaceFormer-processed directory")
    parser.add_argument("flame", type=Path, help="your FLAME model file (generic_model.pkl or .npz)")
    parser.add_argument("out", type=Path, help="the directory to write (the flame_seq layout)")
    parser.add_argument("--expression", type=int, default=NUM_EXPRESSION, help="expression components to fit (≤ the model's)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="Adam steps per sentence")
    args = parser.parse_args(argv)
    try:
        errors = fit_vocaset(args.vocaset, args.flame, args.out, expression=args.expression, steps=args.steps)
    except FacetalkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    means = np.array([e["mean_mm"] for e in errors.values()])
    print(f"wrote {args.out}: {len(errors)} clips, vertex error {means.mean():.3f} mm on average, "
          f"{max(e['max_mm'] for e in errors.values()):.3f} mm at worst", file=sys.stderr)  # fmt: skip


if __name__ == "__main__":
    main()
