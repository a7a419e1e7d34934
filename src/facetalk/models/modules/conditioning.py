"""The speaker one-hot and the neutral face of a batch, for the speaker-conditioned vertex baselines (VOCA, FaceFormer)."""

from __future__ import annotations

import torch

from facetalk.data.collate import Batch
from facetalk.errors import InvalidInputError


def subject_one_hot(subject: torch.Tensor, num_subjects: int) -> torch.Tensor:
    """The speakers' one-hot vectors, shape (B, N); an unseen speaker (index -1 or out of range) gets 1/N everywhere.

    VOCA and FaceFormer condition on a training speaker's one-hot; an unseen speaker is animated in a
    chosen training speaker's style (`Conditions.subject`), and without a choice in the average of
    all of them: for the linear maps that read the one-hot this is the mean of the speakers' codes.

    Args:
        subject: speaker indices, shape (B,).
        num_subjects: N, the training speakers (at least 1).
    """
    known = (subject >= 0) & (subject < num_subjects)  # (B,)
    one_hot = torch.nn.functional.one_hot(subject.clamp(0, num_subjects - 1), num_subjects).float()  # (B, N)
    uniform = torch.full_like(one_hot, 1.0 / num_subjects)
    return torch.where(known[:, None], one_hot, uniform)


def batch_template(batch: Batch, like: torch.Tensor, motion_dim: int, *, model: str) -> torch.Tensor:
    """The batch's neutral faces (B, D), or zeros when it has none (blendshapes, parameters).

    Args:
        batch: a training or inference batch.
        like: any (B, ...) tensor of the batch: its batch size, device and dtype are the zeros'.
        motion_dim: D.
        model: the model's name, for errors.

    Raises:
        InvalidInputError: a template of another shape.
    """
    template = batch.get("template")
    if template is None:
        return torch.zeros(like.shape[0], motion_dim, device=like.device, dtype=like.dtype)
    if template.ndim != 2 or template.shape[-1] != motion_dim:
        raise InvalidInputError(f"{model}: template of shape {tuple(template.shape)}, expected (B, {motion_dim})")
    return template
