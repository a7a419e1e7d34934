"""What training minimizes and how it steps: loss terms by name, and one optimizer per parameter group.

Configs weight loss terms by name: `loss: {reconstruction: 1.0, velocity: {weight: 0.5, options: {kind: l1}}}`.
Each term is a function `(output, batch, **options) -> 0-dim tensor` registered in `LOSS_TERMS`; its
options are its keyword arguments, checked when the config loads. `Objective` adds the weighted terms.

`Optimizers` holds one AdamW per parameter group of a model (`Animator.parameter_groups`: usually
just "model"; a generator and a discriminator for adversarial models), each with its own settings
and schedule (`optim.groups`), and `Optimizers.step(group, loss)` does one update of one group. A
model's `train_step` decides which groups step on which losses; the default one steps "model" on
the objective.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from facetalk.data.collate import Batch
from facetalk.errors import InvalidInputError
from facetalk.registry import Registry
from facetalk.train import losses

if TYPE_CHECKING:
    from facetalk.config import OptimConfig
    from facetalk.face.parametric import ParametricFace
    from facetalk.models.base import ModelOutput

LossTerm = Callable[..., torch.Tensor]
LOSS_TERMS: Registry[LossTerm] = Registry("loss term")
"""Loss terms a config can weight by name; each is `(output, batch, **options) -> tensor`."""


def _extra(output: ModelOutput, name: str, term: str) -> torch.Tensor:
    if name not in output.extras:
        raise InvalidInputError(f"loss term {term!r} needs a model that predicts {name!r}")
    return output.extras[name]


@LOSS_TERMS.register("reconstruction")
def reconstruction(output: ModelOutput, batch: Batch, *, kind: str = "l2") -> torch.Tensor:
    """Per-frame distance of the motion to the target (`kind`: l2, l1 or smooth_l1), over real frames."""
    return losses.reconstruction_loss(output.motion, batch["motion"], mask=batch["mask"], kind=kind)  # type: ignore[arg-type]


@LOSS_TERMS.register("velocity")
def velocity(output: ModelOutput, batch: Batch, *, kind: str = "l2") -> torch.Tensor:
    """Distance of frame-to-frame differences of the motion to the target's."""
    return losses.velocity_loss(output.motion, batch["motion"], mask=batch["mask"], kind=kind)  # type: ignore[arg-type]


@LOSS_TERMS.register("sparsity")
def sparsity(output: ModelOutput, batch: Batch) -> torch.Tensor:
    """Mean absolute value of the predicted channels (blendshape sparsity)."""
    return losses.sparsity_loss(output.motion, mask=batch["mask"])


@LOSS_TERMS.register("frame_l2")
def frame_l2(output: ModelOutput, batch: Batch) -> torch.Tensor:
    """Paper 001's Eq. 4: the sum over a window's frames of each frame's L2 error, averaged over windows."""
    return losses.frame_norm_loss(output.motion, batch["motion"], mask=batch["mask"])


@LOSS_TERMS.register("embedding_l1")
def embedding_l1(output: ModelOutput, batch: Batch) -> torch.Tensor:
    """Paper 001's ‖W‖₁ (models that predict `extras["embedding_l1"]`)."""
    return _extra(output, "embedding_l1", "embedding_l1")


@LOSS_TERMS.register("emotion_ce")
def emotion_ce(output: ModelOutput, batch: Batch) -> torch.Tensor:
    """Cross-entropy of per-frame emotion logits (`extras["emotion_logits"]`, (B, T, 7)) against the labels.

    The labels are the batch's emotion vectors normalised to sum 1 (soft targets); frames of clips
    without labels (`emotion_mask` 0) do not count. A batch without any label gives 0.
    """
    logits = _extra(output, "emotion_logits", "emotion_ce")
    if "emotion" not in batch:
        return logits.sum() * 0.0
    labels = batch["emotion"]
    mask = batch["emotion_mask"] * (labels.sum(dim=-1) > 0)
    if mask.sum() == 0:
        return logits.sum() * 0.0
    targets = labels / labels.sum(dim=-1, keepdim=True).clamp_min(1e-8)  # (B, T, 7)
    return losses.cross_entropy_loss(logits, targets, mask=mask)


@LOSS_TERMS.register("adversarial")
def adversarial(output: ModelOutput, batch: Batch) -> torch.Tensor:
    """LSGAN generator term on a discriminator's scores of the prediction (`extras["fake_scores"]`)."""
    return losses.lsgan_generator_loss(_extra(output, "fake_scores", "adversarial"))


def _face_vertices(output: ModelOutput, batch: Batch, params: torch.Tensor,
                   term: str) -> tuple[torch.Tensor, torch.Tensor, ParametricFace]:  # fmt: skip
    """Vertices (B, T, 3V) of predicted parameters and of the target, and the face layer that gives them."""
    if output.face is None:
        raise InvalidInputError(f"loss term {term!r} needs a model whose output drives a parametric face")
    return output.face.flat_vertices(params), output.face.flat_vertices(batch["motion"]), output.face


MOUTH_HEIGHT_M = 0.017
MOUTH_WIDTH_M = 0.0476
"""Paper 002's mouth-shape normalisers (Eq. 5: d₂ = 1 / 0.017, d₁ = 1 / 0.0476)."""


def _vertex_l1(output: ModelOutput, batch: Batch, params: torch.Tensor, term: str) -> torch.Tensor:
    prediction, target, face = _face_vertices(output, batch, params, term)
    return losses.reconstruction_loss(prediction, target, mask=batch["mask"], vertex_weights=face.region_weights, kind="l1")


@LOSS_TERMS.register("vertex_l1")
def vertex_l1(output: ModelOutput, batch: Batch) -> torch.Tensor:
    """Paper 002's L_vx: L1 of the vertices the predicted and the true parameters give, over the face layer's region (metres)."""
    return _vertex_l1(output, batch, output.motion, "vertex_l1")


@LOSS_TERMS.register("raw_vertex_l1")
def raw_vertex_l1(output: ModelOutput, batch: Batch) -> torch.Tensor:
    """`vertex_l1` of a model's raw parameters before its refinement (`extras["raw_motion"]`: paper 002's Audio2FLAME output)."""
    return _vertex_l1(output, batch, _extra(output, "raw_motion", "raw_vertex_l1"), "raw_vertex_l1")


@LOSS_TERMS.register("mouth_shape")
def mouth_shape(output: ModelOutput, batch: Batch, *, height_scale: float = MOUTH_HEIGHT_M,
                width_scale: float = MOUTH_WIDTH_M) -> torch.Tensor:  # fmt: skip
    """Paper 002's L_lm (Eq. 5): L1 of the mouth's height and width through the face layer, each divided by its scale (metres)."""
    prediction, target, face = _face_vertices(output, batch, output.motion, "mouth_shape")
    if not face.mouth_height_pairs or not face.mouth_width_pairs:
        raise InvalidInputError("loss term 'mouth_shape': the model's face layer has no mouth vertices")
    return losses.mouth_shape_loss(prediction, target, height_pairs=face.mouth_height_pairs,
                                   width_pairs=face.mouth_width_pairs, mask=batch["mask"],
                                   height_weight=1.0 / height_scale, width_weight=1.0 / width_scale)  # fmt: skip


@LOSS_TERMS.register("emotion_prior")
def emotion_prior(output: ModelOutput, batch: Batch) -> torch.Tensor:
    """Paper 002's emotion predictor target: squared error of the predicted per-frame emotion priors
    (`extras["predicted_priors"]`, (B, T, 7)) to the pseudo ground truth (`extras["target_priors"]`), both rescaled."""
    predicted = _extra(output, "predicted_priors", "emotion_prior")
    target = _extra(output, "target_priors", "emotion_prior")
    return losses.reconstruction_loss(predicted, target, mask=batch["mask"], kind="l2")


@LOSS_TERMS.register("prior_smoothness")
def prior_smoothness(output: ModelOutput, batch: Batch) -> torch.Tensor:
    """Temporal smoothing of the predicted emotion priors: their mean squared frame-to-frame change."""
    predicted = _extra(output, "predicted_priors", "prior_smoothness")
    pair_mask = batch["mask"][:, 1:] * batch["mask"][:, :-1]  # (B, T-1)
    return losses.masked_mean(predicted.diff(dim=1).square().mean(dim=-1), pair_mask)


@LOSS_TERMS.register("speaker_ce")
def speaker_ce(output: ModelOutput, batch: Batch) -> torch.Tensor:
    """Paper 000's Eq. 1: cross-entropy of the identity classifier on the style vector (`extras["speaker_logits"]`,
    (B, K)) plus, when predicted, on the content vector behind gradient reversal (`content_speaker_logits`).

    Rows of unknown speakers (subject -1) do not count; a batch without any known speaker gives 0.
    """
    logits = _extra(output, "speaker_logits", "speaker_ce")
    subject = batch["subject"]
    known = ((subject >= 0) & (subject < logits.shape[-1])).float()  # (B,)
    labels = subject.clamp(0, logits.shape[-1] - 1)
    total = losses.cross_entropy_loss(logits, labels, mask=known)
    if "content_speaker_logits" in output.extras:
        total = total + losses.cross_entropy_loss(output.extras["content_speaker_logits"], labels, mask=known)
    return total


@LOSS_TERMS.register("style_emotion_ce")
def style_emotion_ce(output: ModelOutput, batch: Batch) -> torch.Tensor:
    """Cross-entropy of an emotion classifier on the style vector (`extras["style_emotion_logits"]`, (B, E))
    against the style reference's emotion label (`style_emotion`, (B,)); rows without a label (-1) do not count."""
    logits = _extra(output, "style_emotion_logits", "style_emotion_ce")
    if "style_emotion" not in batch:
        raise InvalidInputError("loss term 'style_emotion_ce' needs style references with emotion labels")
    labels = batch["style_emotion"]
    known = ((labels >= 0) & (labels < logits.shape[-1])).float()  # (B,)
    return losses.cross_entropy_loss(logits, labels.clamp(0, logits.shape[-1] - 1), mask=known)


@LOSS_TERMS.register("phoneme_ce")
def phoneme_ce(output: ModelOutput, batch: Batch) -> torch.Tensor:
    """Paper 000's Eq. 3: frame-level cross-entropy of phone logits (`extras["phone_logits"]`, (B, r·T, P)) against
    the batch's per-frame phones (`phone_ids`, (B, T), repeated r times), over real frames."""
    logits = _extra(output, "phone_logits", "phoneme_ce")
    if "phone_ids" not in batch:
        raise InvalidInputError("loss term 'phoneme_ce' needs a batch with phones (a model that reads them)")
    rate = logits.shape[1] // batch["phone_ids"].shape[1]
    labels = batch["phone_ids"].repeat_interleave(rate, dim=1)  # (B, r·T)
    return losses.cross_entropy_loss(logits, labels, mask=batch["mask"].repeat_interleave(rate, dim=1))


@LOSS_TERMS.register("duration")
def duration(output: ModelOutput, batch: Batch) -> torch.Tensor:
    """Paper 000's Eq. 6: mean absolute error in frames of predicted phone durations (`extras["durations"]`, (B, N))
    against the batch's `phone_durations`, over the real tokens (`phone_lengths`)."""
    predicted = _extra(output, "durations", "duration")
    if "phone_durations" not in batch:
        raise InvalidInputError("loss term 'duration' needs a batch with phone durations (a model that reads phones)")
    target = batch["phone_durations"].to(predicted.dtype)
    tokens = torch.arange(target.shape[1], device=target.device)[None, :] < batch["phone_lengths"][:, None]
    return losses.masked_mean((predicted - target).abs(), tokens)


@dataclass(frozen=True)
class WeightedTerm:
    """A loss term's weight and options, as a config gives them."""

    weight: float
    options: dict[str, Any] = field(default_factory=dict)


def parse_loss(config: Mapping[str, Any]) -> dict[str, WeightedTerm]:
    """The `loss` map of a config, each entry a weight or `{weight, options}`, checked against `LOSS_TERMS`.

    Raises:
        InvalidInputError: an unknown term, an unknown option of a term, or a malformed entry.
    """
    out: dict[str, WeightedTerm] = {}
    for name, entry in config.items():
        if name not in LOSS_TERMS:
            raise InvalidInputError(f"unknown loss term {name!r} (known: {', '.join(LOSS_TERMS.names())})")
        if isinstance(entry, int | float) and not isinstance(entry, bool):
            out[name] = WeightedTerm(float(entry))
            continue
        if not isinstance(entry, Mapping) or set(entry) - {"weight", "options"} or "weight" not in entry:
            raise InvalidInputError(f"loss.{name}: expected a weight or {{weight: w, options: {{...}}}}, got {entry!r}")
        options = dict(entry.get("options") or {})
        accepted = list(inspect.signature(LOSS_TERMS.get(name)).parameters)[2:]
        for option in options:
            if option not in accepted:
                raise InvalidInputError(f"loss.{name}: unknown option {option!r} (options: {', '.join(accepted) or 'none'})")
        out[name] = WeightedTerm(float(entry["weight"]), options)
    return out


@dataclass(frozen=True)
class Objective:
    """The weighted sum of named loss terms."""

    terms: dict[str, WeightedTerm]

    @classmethod
    def from_config(cls, loss: Mapping[str, Any]) -> Objective:
        return cls(parse_loss(loss))

    def __call__(self, output: ModelOutput, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted total and each (unweighted) term."""
        values = {name: LOSS_TERMS.get(name)(output, batch, **term.options) for name, term in self.terms.items()}
        zero = torch.zeros((), device=output.motion.device)
        total = sum((term.weight * values[name] for name, term in self.terms.items()), zero)
        return total, values


def learning_rate(step: int, optim: OptimConfig, max_steps: int) -> float:
    """Linear warm-up over `warmup_steps`, then cosine decay to `min_lr_ratio * lr` at `max_steps`."""
    if step < optim.warmup_steps:
        return optim.lr * (step + 1) / optim.warmup_steps
    progress = min(1.0, (step - optim.warmup_steps) / max(1, max_steps - optim.warmup_steps))
    floor = optim.lr * optim.min_lr_ratio
    return floor + 0.5 * (optim.lr - floor) * (1.0 + math.cos(math.pi * progress))


class Optimizers:
    """One AdamW per parameter group, with its own settings and learning-rate schedule.

    Args:
        groups: group name -> its parameters (`Animator.parameter_groups`).
        optim: the settings every group starts from; `optim.groups[name]` overrides them per group.
        max_steps: the schedule's length.
        frozen: parameters whose gradients are dropped while `freeze` is on (an encoder's warm-up).
    """

    def __init__(self, groups: Mapping[str, Iterable[nn.Parameter]], optim: OptimConfig, *, max_steps: int,
                 frozen: Iterable[nn.Parameter] = ()) -> None:  # fmt: skip
        if "model" not in groups:
            raise ValueError(f"a model's parameter groups must include 'model', got {', '.join(groups)}")
        unknown = sorted(set(optim.groups) - set(groups))
        if unknown:
            known = ", ".join(groups)
            raise InvalidInputError(f"optim.groups: the model has no parameter group {unknown[0]!r} (groups: {known})")
        self.settings = {name: replace(optim, groups={}, **optim.groups.get(name, {})) for name in groups}
        self.params = {name: [p for p in params if p.requires_grad] for name, params in groups.items()}
        self.optimizers = {
            name: torch.optim.AdamW(self.params[name], lr=s.lr, betas=(s.beta1, s.beta2), weight_decay=s.weight_decay)
            for name, s in self.settings.items()
        }
        self.max_steps = max_steps
        self.frozen = list(frozen)
        self.freeze = False

    def set_step(self, step: int) -> dict[str, float]:
        """Set every group's learning rate for optimizer step `step`; returns them."""
        rates = {}
        for name, optimizer in self.optimizers.items():
            rates[name] = learning_rate(step, self.settings[name], self.max_steps)
            for group in optimizer.param_groups:
                group["lr"] = rates[name]
        return rates

    def step(self, name: str, loss: torch.Tensor) -> None:
        """Back-propagate `loss` and update group `name` (gradient clipping and freezing applied)."""
        optimizer = self.optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        if self.freeze:  # paper 001: train the rest first; AdamW skips parameters without gradients
            for param in self.frozen:
                param.grad = None
        clip = self.settings[name].grad_clip
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params[name], clip)
        optimizer.step()
