"""`style_duration`: paper 000, Bozkurt 2023, "Personalized speech-driven expressive 3D facial
animation synthesis with style control".

Blocks in the paper's order (B batch, T motion frames, T' = r·T speech frames, N phone tokens, W
model channels, S style channels, D motion channels: blendshape weights, parameters or 3V vertices):

1. §3.1 expression encoder: a style encoder and a content encoder of the same architecture (two 1D
   convolutions, multi-head self-attention, a mean over the real frames) read a reference motion
   (B, T', D) and give the style vector w (B, S) and a content vector (B, S). An identity classifier
   (linear, ReLU, dropout, linear) classifies w into the training speakers (Eq. 1) and, behind a
   gradient-reversal layer, the content vector: the classifier learns to find the speaker in it,
   the content encoder learns to hide it (`extras["speaker_logits"]`, `["content_speaker_logits"]`).
2. §3.2 speech encoder: standardized speech features through the causal sequential module (two
   causal convolutions with LeakyReLU, §4.1), sinusoidal positions and feed-forward transformer
   blocks whose LayerNorms are style-adaptive (gain and bias predicted from w): H (B, T', W).
3. §3.3 duration model: a phoneme predictor on H (`extras["phone_logits"]`, Eq. 3); phoneme-averaged
   downsampling of H (Eqs. 4-5) over the ground-truth tokens when the batch has them (training,
   validation), over runs of the predicted phones otherwise (inference); a duration predictor
   (`extras["durations"]`, motion frames, Eq. 6); a length regulator to the T motion frames with the
   ground-truth durations, or the predicted ones scaled to sum to T; a duration position embedding
   (Eq. 7): sinusoids of the frames since the token started and of the frames left in it.
4. §3.4 expression decoder: the causal sequential module, then transformer blocks with style-adaptive
   LayerNorm and a learned relative position bias in every attention (Eq. 9), and a linear head.
   In-betweening (Fig. 3): given motion on context frames and one target frame, the masked frames
   in between are generated; known frames add an embedding of their motion, every layer adds a
   keyframe position embedding of the frames left until the target, and the style may change per
   frame (a blend from the context's style to the target's). Training draws such windows with
   probability `inbetween_prob` (context: the first frames, target: the last real frame).

What the paper leaves open, and what this file does:

- Speech and motion rates: the input pipeline gives speech features at the motion rate; with
  `speech_rate` r > 1 they are linearly interpolated to r·T frames (the paper's 100 vs 25 fps is
  r = 4) and the duration block converts durations between the rates (`rescale_durations`).
- The duration predictor predicts durations in motion frames; at inference they are scaled so that
  they sum to the clip's frames (the output must last as long as the speech).
- The content vector feeds nothing but the adversarial classifier (the paper names no other use).
- S (the style size) is an option; W = 256, 4 layers and 4 heads are the paper's.
- The identity classifier's dropout sits between its two linear layers.

Ablations (Table 1) are options: `duration=False` (no phoneme predictor, downsampling, duration
predictor or duration positions; the speech hidden sequence is averaged back to the motion rate),
`style=False` (no expression encoder; plain LayerNorms), `relative_position=False`, and training
without the discriminators (`adversarial` loss weight 0).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facetalk.data.collate import Batch
from facetalk.errors import InvalidInputError
from facetalk.models.base import Animator, DataSizes, ModelOutput, register_model
from facetalk.models.inputs import InputSpec
from facetalk.models.modules.duration import (
    DurationPredictor,
    duration_positions,
    fit_durations,
    label_runs,
    length_regulate,
    phoneme_average,
    rescale_durations,
)
from facetalk.models.modules.feature_norm import FeatureNorm
from facetalk.models.modules.style_transformer import (
    CausalConvModule,
    GradientReversal,
    StyleTransformerBlock,
    sinusoidal_embedding,
)
from facetalk.text.phonemes import PHONE_VOCAB
from facetalk.train import losses
from facetalk.types import Motion, Waveform

if TYPE_CHECKING:
    from facetalk.train.objective import Objective, Optimizers

PAPER_WIDTH = 256
PAPER_LAYERS = 4
PAPER_HEADS = 4
PHONE_KEYS = ("phone_ids", "phone_tokens", "phone_durations", "phone_lengths")
DEFAULT_TRANSITION_FRAMES = 48
"""Masked frames of an in-betweened style transition at inference (1.6 s at 30 fps). The synthetic-corpus
configs train on 48-frame windows, so at most 39 masked frames; the keyframe position embedding is
sinusoidal and carries over to longer gaps. On the 60 s study input with the shipped weights,
24 frames left one change (anger to sad) 6 % above the 99th percentile of frame-to-frame change
elsewhere, 36 frames 0.1 % above, 48 frames every change below it (docs/models/style_duration.md)."""


@dataclass(frozen=True)
class Inbetween:
    """Known motion for in-betweening a window (Fig. 3).

    Attributes:
        known: (B, T) 1 on frames whose motion is given (context frames and the target frame).
        motion: (B, T, D) the given motion (any values elsewhere).
        target: (B,) the target (transition) frame of each row.
    """

    known: torch.Tensor
    motion: torch.Tensor
    target: torch.Tensor


class ExpressionEncoder(nn.Module):
    """Two 1D convolutions and multi-head self-attention over a motion sequence, averaged over its real
    frames: (B, T', D) and mask (B, T') to (B, S)."""

    def __init__(self, motion_dim: int, *, width: int, heads: int, out_dim: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(motion_dim, width, kernel_size, padding=kernel_size // 2), nn.ReLU(),
            nn.Conv1d(width, width, kernel_size, padding=kernel_size // 2), nn.ReLU(),
        )  # fmt: skip
        self.attention = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, out_dim)

    def forward(self, motion: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.convs((motion * mask[..., None]).transpose(1, 2)).transpose(1, 2)  # (B, T', W)
        attended, _ = self.attention(h, h, h, key_padding_mask=mask <= 0, need_weights=False)
        h = self.norm(h + attended) * mask[..., None]
        pooled = h.sum(dim=1) / mask.sum(dim=1, keepdim=True).clamp_min(1.0)  # (B, W)
        return self.out(pooled)  # type: ignore[no-any-return]


class StyleDiscriminator(nn.Module):
    """§3.5's style discriminator: an expression encoder maps a motion sequence to a vector v (B, S); one learned
    prototype s_k per training speaker gives the style logits v·s_k (Eq. 10) and the score v·s_subject."""

    def __init__(self, motion_dim: int, *, width: int, heads: int, style_dim: int, num_subjects: int) -> None:
        super().__init__()
        self.encoder = ExpressionEncoder(motion_dim, width=width, heads=heads, out_dim=style_dim)
        self.prototypes = nn.Parameter(torch.randn(num_subjects, style_dim) / style_dim**0.5)

    def forward(self, motion: torch.Tensor, mask: torch.Tensor, subject: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B_known, K) and scores (B_known,) of the rows whose subject is a training speaker."""
        known = (subject >= 0) & (subject < self.prototypes.shape[0])
        if not known.any():
            empty = motion.new_zeros(0)
            return empty.reshape(0, self.prototypes.shape[0]), empty
        logits = self.encoder(motion[known], mask[known]) @ self.prototypes.T  # (B_known, K)
        return logits, logits.gather(1, subject[known][:, None])[:, 0]


class SyncDiscriminator(nn.Module):
    """§3.5's speech-expression synchrony discriminator: per-frame scores of motion (B, T, D) given the speech
    encoder's output (B, T, W), averaged over the real frames of each clip: (B,)."""

    def __init__(self, motion_dim: int, speech_dim: int, *, width: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(motion_dim + speech_dim, width, kernel_size, padding=kernel_size // 2), nn.LeakyReLU(0.2),
            nn.Conv1d(width, width, kernel_size, padding=kernel_size // 2), nn.LeakyReLU(0.2),
            nn.Conv1d(width, 1, 1),
        )  # fmt: skip

    def forward(self, motion: torch.Tensor, speech: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.cat([motion, speech], dim=-1) * mask[..., None]
        frames = self.net(x.transpose(1, 2))[:, 0]  # (B, T)
        return (frames * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


class StyleDuration(Animator):
    """Speech features and a style reference motion to motion (see the module docstring).

    With discriminators, `train_step` alternates a discriminator update (LSGAN on real and generated
    motion for both, plus Eq. 10's prototype classification of real motion) and a model update whose
    `adversarial` term pulls both discriminators' scores of the generated motion to 1.

    Args:
        feature_dim: C, speech feature channels.
        motion_dim: D, motion channels.
        num_subjects: K, training speakers (the identity classifier's classes; 0: no classifier).
        width: W, transformer channels.
        style_dim: S, style vector channels.
        layers: transformer blocks in the speech encoder and in the decoder, each.
        heads: attention heads.
        ffn_width: feed-forward channels of the transformer blocks.
        dropout: dropout in the blocks, the classifier and the duration predictor.
        max_distance: offsets of the decoder's learned relative position bias.
        speech_rate: r, speech frames per motion frame inside the model.
        style: read a style reference (False: the "w/o style w" ablation).
        duration: the duration model (False: its ablation).
        relative_position: the decoder's relative position bias (False: its ablation).
        inbetween_prob: share of training windows trained as in-betweening windows.
        context_frames: context frames of those windows.
        discriminator_width: channels of the style and sync discriminators; 0 trains without them.
        emotion_classes: classes of an emotion classifier on w (ours, not the paper's; 0: none), trained by
            the `style_emotion_ce` term to name the reference's emotion label: it makes w carry emotion.
        fps: motion frames per second.
        kind: "blendshapes", "vertices" or "params".
        channels: channel names of blendshape or parameter output.
    """

    def __init__(self, *, feature_dim: int, motion_dim: int, num_subjects: int, width: int = PAPER_WIDTH,
                 style_dim: int = 128, layers: int = PAPER_LAYERS, heads: int = PAPER_HEADS, ffn_width: int = 1024,
                 dropout: float = 0.1, max_distance: int = 32, speech_rate: int = 1, style: bool = True,
                 duration: bool = True, relative_position: bool = True, inbetween_prob: float = 0.0,
                 context_frames: int = 8, discriminator_width: int = 0, emotion_classes: int = 0, fps: float = 30.0,
                 kind: str = "blendshapes",
                 channels: tuple[str, ...] = ()) -> None:  # fmt: skip
        super().__init__()
        if speech_rate < 1:
            raise ValueError(f"speech_rate must be >= 1, got {speech_rate}")
        self.fps, self.kind, self.channels = fps, kind, tuple(channels)
        self.motion_dim, self.width, self.speech_rate = motion_dim, width, speech_rate
        self.inbetween_prob, self.context_frames = inbetween_prob, context_frames
        s = style_dim if style else 0
        # §3.1
        self.style_encoder = ExpressionEncoder(motion_dim, width=width, heads=heads, out_dim=style_dim) if style else None
        self.content_encoder = ExpressionEncoder(motion_dim, width=width, heads=heads, out_dim=style_dim) if style else None
        self.classifier = None
        if style and num_subjects > 0:
            self.classifier = nn.Sequential(nn.Linear(style_dim, width), nn.ReLU(), nn.Dropout(dropout),
                                            nn.Linear(width, num_subjects))  # fmt: skip
        self.emotion_classifier = None
        if style and emotion_classes > 0:
            self.emotion_classifier = nn.Sequential(nn.Linear(style_dim, width), nn.ReLU(), nn.Dropout(dropout),
                                                    nn.Linear(width, emotion_classes))  # fmt: skip
        self.reverse = GradientReversal()
        # §3.2

        def blocks(distance: int) -> nn.ModuleList:
            return nn.ModuleList(
                StyleTransformerBlock(width=width, heads=heads, style_dim=s, ffn_width=ffn_width, dropout=dropout,
                                      max_distance=distance) for _ in range(layers))  # fmt: skip

        self.norm = FeatureNorm(feature_dim)
        self.speech_input = CausalConvModule(feature_dim, width)
        self.speech_blocks = blocks(0)
        # §3.3
        self.phone_head = nn.Linear(width, len(PHONE_VOCAB)) if duration else None
        self.duration_predictor = DurationPredictor(width, dropout=dropout) if duration else None
        # §3.4
        self.decoder_input = CausalConvModule(width, width)
        self.known_motion = nn.Linear(motion_dim, width)
        self.keyframe = nn.Linear(width, width)
        self.decoder_blocks = blocks(max_distance if relative_position else 0)
        self.head = nn.Linear(width, motion_dim)
        # §3.5
        self.style_discriminator = None
        if discriminator_width > 0 and num_subjects > 0:
            self.style_discriminator = StyleDiscriminator(motion_dim, width=discriminator_width, heads=heads,
                                                          style_dim=style_dim, num_subjects=num_subjects)  # fmt: skip
        self.sync_discriminator = None
        if discriminator_width > 0:
            self.sync_discriminator = SyncDiscriminator(motion_dim, width, width=discriminator_width)
        self.step_logs = ("discriminator",) if discriminator_width > 0 else ()

    training_only = ("style_discriminator", "sync_discriminator", "emotion_classifier")

    def fit_feature_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.norm.fit(mean, std)

    # --- the paper's blocks ------------------------------------------------------------------------

    def encode_style(self, reference: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """w (B, S) of a reference motion (B, T', D); None for the "w/o style" ablation."""
        if self.style_encoder is None:
            return None
        if reference.ndim != 3 or reference.shape[-1] != self.motion_dim or reference.shape[1] == 0:
            raise InvalidInputError(f"style_duration: style reference of shape {tuple(reference.shape)}, "
                                    f"expected (B, T', {self.motion_dim}) with T' >= 1")  # fmt: skip
        if mask is None:
            mask = torch.ones(reference.shape[:2], device=reference.device)
        return self.style_encoder(reference, mask)  # type: ignore[no-any-return]

    def speech_hidden(self, batch: Batch, style: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """H_d (B, T, W), the decoder's input (Eq. 7), and the duration model's predictions (`phone_logits`,
        `durations`, `regulated_durations`). `style` is (B, S) or per motion frame (B, T, S)."""
        features, mask = batch["features"], batch["mask"]  # (B, T, C), (B, T)
        if features.ndim != 3 or features.shape[-1] != self.norm.mean.shape[0]:
            raise InvalidInputError(f"style_duration: features of shape {tuple(features.shape)}, "
                                    f"expected (B, T, {self.norm.mean.shape[0]})")  # fmt: skip
        r, num_frames = self.speech_rate, features.shape[1]
        x = self.norm(features) * mask[..., None]
        speech_mask = mask.repeat_interleave(r, dim=1)  # (B, T')
        if r > 1:
            x = F.interpolate(x.transpose(1, 2), scale_factor=float(r), mode="linear", align_corners=False).transpose(1, 2)
        speech_style = style.repeat_interleave(r, dim=1) if style is not None and style.ndim == 3 else style
        positions = sinusoidal_embedding(torch.arange(x.shape[1], device=x.device), self.width)  # (T', W)
        h = (self.speech_input(x) + positions) * speech_mask[..., None]
        for block in self.speech_blocks:
            h = block(h, speech_mask, speech_style)  # (B, T', W)
        extras: dict[str, torch.Tensor] = {}
        if self.phone_head is None or self.duration_predictor is None:  # w/o duration model
            return F.avg_pool1d(h.transpose(1, 2), r).transpose(1, 2) if r > 1 else h, extras
        extras["phone_logits"] = self.phone_head(h)  # (B, T', P)
        lengths = mask.sum(dim=1).long()  # (B,)
        given = "phone_durations" in batch  # ground-truth tokens and durations (training, validation)
        if given:
            tokens = batch["phone_lengths"]  # (B,)
            speech_durations = rescale_durations(batch["phone_durations"], r)  # (B, N)
        else:  # runs of the predicted phones
            speech_durations, tokens = label_runs(extras["phone_logits"].argmax(dim=-1), lengths * r)
        token_mask = (torch.arange(speech_durations.shape[1], device=h.device)[None, :] < tokens[:, None]).float()
        phones = phoneme_average(h, speech_durations)  # (B, N, W), Eqs. 4-5
        extras["durations"] = self.duration_predictor(phones, token_mask)  # (B, N) motion frames, Eq. 6
        durations = batch["phone_durations"] if given else fit_durations(extras["durations"].detach(), token_mask, lengths)
        extras["regulated_durations"] = durations
        since, left = duration_positions(durations, num_frames)  # (B, T) each
        half = self.width // 2
        position = torch.cat([sinusoidal_embedding(since, half), sinusoidal_embedding(left, self.width - half)], dim=-1)
        return (length_regulate(phones, durations, num_frames) + position) * mask[..., None], extras  # Eq. 7

    def decode(self, hidden: torch.Tensor, mask: torch.Tensor, style: torch.Tensor | None,
               inbetween: Inbetween | None = None) -> torch.Tensor:  # fmt: skip
        """Motion (B, T, D) from H_d (B, T, W), the frame mask and w (B, S) or (B, T, S); with `inbetween`, the
        known frames' motion and the keyframe position embedding join the input."""
        x = self.decoder_input(hidden)
        keyframe = None
        if inbetween is not None:
            known = inbetween.known[..., None]
            x = x + known * self.known_motion(inbetween.motion)
            to_target = inbetween.target[:, None] - torch.arange(x.shape[1], device=x.device)[None, :]  # (B, T)
            rows = (inbetween.known.sum(dim=1) > 0).to(x.dtype)[:, None, None]  # rows without known frames are not in-betweened
            keyframe = self.keyframe(sinusoidal_embedding(to_target, self.width)) * rows  # (B, T, W)
        x = x * mask[..., None]
        for block in self.decoder_blocks:
            x = block(x if keyframe is None else x + keyframe, mask, style)
        return self.head(x)  # type: ignore[no-any-return]

    # --- Animator ----------------------------------------------------------------------------------

    def forward(self, batch: Batch) -> ModelOutput:
        """Predict motion for a padded batch.

        Reads `features` (B, T, C), `mask` (B, T), the reference `style` (B, T', D) with `style_mask`
        (unless `style=False`), and, when present, the ground-truth phones `phone_durations` (B, N)
        and `phone_lengths` (B,) (without them, predicted phones and durations are used). Training
        windows with a target `motion` become in-betweening windows with probability `inbetween_prob`.

        Returns:
            `motion` (B, T, D); extras: `phone_logits` (B, T', P), `durations` (B, N), `regulated_durations`
            (B, N), `speaker_logits` and `content_speaker_logits` (B, K) when there is a classifier,
            `style_emotion_logits` (B, E) when there is an emotion classifier,
            `speech_hidden` (B, T, W) (H_d), and with discriminators `fake_scores` (their scores of the output).
        """
        style, extras = self._style(batch)
        hidden, duration_extras = self.speech_hidden(batch, style)
        extras.update(duration_extras)
        inbetween = self._training_inbetween(batch) if self.training and self.inbetween_prob > 0 else None
        motion = self.decode(hidden, batch["mask"], style, inbetween)
        extras["speech_hidden"] = hidden
        if self.sync_discriminator is not None and not self.training:  # `train_step` scores after the discriminators' update
            extras["fake_scores"] = self.fake_scores(motion, hidden, batch)
        return ModelOutput(motion=motion, extras=extras)

    def fake_scores(self, motion: torch.Tensor, hidden: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Both discriminators' scores of generated motion, concatenated: (B_known + B,)."""
        scores = []
        if self.style_discriminator is not None:
            scores.append(self.style_discriminator(motion, batch["mask"], batch["subject"])[1])
        if self.sync_discriminator is not None:
            scores.append(self.sync_discriminator(motion, hidden.detach(), batch["mask"]))
        return torch.cat(scores)

    def discriminator_loss(self, batch: Batch, output: ModelOutput) -> torch.Tensor:
        """LSGAN on the real and the (detached) generated motion for both discriminators, plus Eq. 10 on the real."""
        mask, subject, real = batch["mask"], batch["subject"], batch["motion"]
        fake = output.motion.detach()
        loss = torch.zeros((), device=fake.device)
        if self.style_discriminator is not None:
            logits, real_scores = self.style_discriminator(real, mask, subject)
            if len(real_scores):
                known = subject[(subject >= 0) & (subject < logits.shape[1])]
                loss = loss + losses.lsgan_discriminator_loss(real_scores, self.style_discriminator(fake, mask, subject)[1])
                loss = loss + losses.cross_entropy_loss(logits, known)  # Eq. 10
        if self.sync_discriminator is not None:
            speech = output.extras["speech_hidden"].detach()
            loss = loss + losses.lsgan_discriminator_loss(self.sync_discriminator(real, speech, mask),
                                                          self.sync_discriminator(fake, speech, mask))  # fmt: skip
        return loss

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        adversaries = [m for m in (self.style_discriminator, self.sync_discriminator) if m is not None]
        if not adversaries:
            return super().parameter_groups()
        adversary = [p for m in adversaries for p in m.parameters()]
        ids = {id(p) for p in adversary}
        return {"model": [p for p in self.parameters() if id(p) not in ids], "discriminator": adversary}

    def train_step(self, batch: Batch, objective: Objective, optimizers: Optimizers,
                   forward: Callable[[Batch], ModelOutput]) -> dict[str, torch.Tensor]:  # fmt: skip
        """With discriminators: update them on real vs generated motion, then the model on the objective."""
        if self.sync_discriminator is None:
            return super().train_step(batch, objective, optimizers, forward)
        output = forward(batch)
        discriminator_loss = self.discriminator_loss(batch, output)
        optimizers.step("discriminator", discriminator_loss)
        # the updated discriminators score the prediction for the model's adversarial term
        output.extras["fake_scores"] = self.fake_scores(output.motion, output.extras["speech_hidden"], batch)
        loss, terms = objective(output, batch)
        optimizers.step("model", loss)
        return {"loss": loss, **terms, "discriminator": discriminator_loss}

    @torch.no_grad()
    def generate(self, batch: Batch) -> Motion:
        """Motion for one clip from its speech and the batch's style reference, with predicted phones and durations."""
        return super().generate({key: value for key, value in batch.items() if key not in PHONE_KEYS})

    @torch.no_grad()
    def generate_spans(self, batch: Batch, references: Sequence[tuple[int, np.ndarray]], *,
                       transition_frames: int = DEFAULT_TRANSITION_FRAMES) -> Motion:  # fmt: skip
        """Motion for one clip whose style changes over time, with in-betweened transitions (Fig. 3).

        Each span's frames are generated with its reference's style (predicted phones and durations).
        Around each change at frame s, the `transition_frames` frames centred on s are generated again by
        in-betweening: the `context_frames` frames before them are the context, the frame after them the
        target, and the style is blended linearly from the old span's to the new one's over the gap.

        Args:
            batch: a batch of one clip, as for `generate` (its `style` is not read).
            references: (first motion frame, reference motion (T', D)) per span, in time order, the first at 0.
            transition_frames: masked frames of each transition.
        """
        if self.style_encoder is None:
            raise InvalidInputError("style_duration: the model was trained without style vectors; it takes no references")
        starts = [int(start) for start, _ in references]
        if not starts or starts[0] != 0 or starts != sorted(set(starts)):
            raise InvalidInputError(f"style spans must start at frame 0 and increase, got starts {starts}")
        was_training = self.training
        self.eval()
        try:
            batch = {key: value for key, value in batch.items() if key not in PHONE_KEYS}
            mask = batch["mask"]
            num_frames, device = mask.shape[1], mask.device
            vectors = [
                self.encode_style(torch.as_tensor(np.asarray(ref, np.float32), device=device)[None]) for _, ref in references
            ]
            styles = torch.cat([v for v in vectors if v is not None])  # (R, S)
            span = torch.bucketize(torch.arange(num_frames, device=device), torch.tensor(starts[1:], device=device), right=True)
            style = styles[span][None]  # (1, T, S)
            hidden, _ = self.speech_hidden(batch, style)
            motion = self.decode(hidden, mask, style)  # (1, T, D)
            for index, change in enumerate(starts[1:], start=1):
                motion = self._transition(motion, hidden, styles[index - 1], styles[index], change, transition_frames)
        finally:
            self.train(was_training)
        data = motion[0].cpu().numpy()
        if self.kind == "blendshapes":
            data = np.clip(data, 0.0, 1.0)
        return Motion(data, self.fps, self.kind, self.channels)  # type: ignore[arg-type]

    def _transition(self, motion: torch.Tensor, hidden: torch.Tensor, before: torch.Tensor, after: torch.Tensor,
                    change: int, gap: int) -> torch.Tensor:  # fmt: skip
        """`motion` (1, T, D) with the `gap` frames around frame `change` in-betweened from `before` to `after` (S,)."""
        num_frames = motion.shape[1]
        first = max(0, change - gap // 2)  # the first masked frame
        target = min(num_frames - 1, first + gap)
        start = max(0, first - self.context_frames)  # the window: context, masked frames, target
        if target - first < 1:
            return motion
        frames = torch.arange(start, target + 1, device=motion.device)
        known = ((frames < first) | (frames == target)).float()[None]  # (1, W)
        ramp = ((frames - first + 1).clamp(0, gap + 1) / (target - first + 1)).clamp(
            0.0, 1.0
        )  # 0 in the context, 1 at the target
        style = (before[None, :] * (1.0 - ramp[:, None]) + after[None, :] * ramp[:, None])[None]  # (1, W, S)
        window = Inbetween(
            known=known, motion=motion[:, start : target + 1], target=torch.tensor([target - start], device=motion.device)
        )
        filled = self.decode(hidden[:, start : target + 1], torch.ones_like(known), style, window)  # (1, W, D)
        # seams: the decoder's own output on the last context frame and on the target differs a little from the
        # motion there; that difference, interpolated linearly across the gap, is taken off the masked frames
        end_seam = filled[:, target - start] - motion[:, target]  # (1, D)
        start_seam = filled[:, first - start - 1] - motion[:, first - 1] if first > start else torch.zeros_like(end_seam)
        weight = torch.arange(1, target - first + 1, device=motion.device, dtype=motion.dtype)[:, None] / (target - first + 1)
        out = motion.clone()
        out[:, first:target] = filled[:, first - start : target - start] - (
            start_seam[:, None] * (1.0 - weight) + end_seam[:, None] * weight
        )
        return out

    def _style(self, batch: Batch) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """w (B, S) of the batch's reference, and the identity classifier's logits."""
        if self.style_encoder is None or self.content_encoder is None:
            return None, {}
        if "style" not in batch:
            raise InvalidInputError("style_duration: needs a style reference motion (Conditions.style)")
        reference = batch["style"]
        mask = batch.get("style_mask", torch.ones(reference.shape[:2], device=reference.device))
        style = self.encode_style(reference, mask)
        assert style is not None
        extras = {}
        if self.classifier is not None:
            content = self.content_encoder(reference, mask)
            extras["speaker_logits"] = self.classifier(style)  # (B, K), Eq. 1
            extras["content_speaker_logits"] = self.classifier(self.reverse(content))  # (B, K)
        if self.emotion_classifier is not None:
            extras["style_emotion_logits"] = self.emotion_classifier(style)  # (B, E)
        return style, extras

    def _training_inbetween(self, batch: Batch) -> Inbetween | None:
        """Fig. 3 for training: rows drawn with probability `inbetween_prob` give their first `context_frames`
        frames and their last real frame; the frames in between are masked."""
        if "motion" not in batch:
            return None
        mask = batch["mask"]
        rows = torch.rand(mask.shape[0], device=mask.device) < self.inbetween_prob  # (B,)
        if not rows.any():
            return None
        target = mask.sum(dim=1).long() - 1  # (B,)
        frames = torch.arange(mask.shape[1], device=mask.device)[None, :]
        known = ((frames < self.context_frames) | (frames == target[:, None])) & rows[:, None]
        return Inbetween(known=known.float() * mask, motion=batch["motion"], target=target)


@dataclass
class StyleDurationConfig:
    """Options of `style_duration` (see `StyleDuration`)."""

    width: int = PAPER_WIDTH
    style_dim: int = 128
    layers: int = PAPER_LAYERS
    heads: int = PAPER_HEADS
    ffn_width: int = 1024
    dropout: float = 0.1
    max_distance: int = 32
    speech_rate: int = 1
    style: bool = True
    duration: bool = True
    relative_position: bool = True
    inbetween_prob: float = 0.0
    context_frames: int = 8
    discriminator_width: int = 128
    emotion_classes: int = 0


def _inputs(config: StyleDurationConfig) -> InputSpec:
    return InputSpec(phones=config.duration, generate_reads_phones=False, style=config.style)


@register_model("style_duration", StyleDurationConfig, inputs=_inputs,
                presets={"small": {"width": 64, "style_dim": 32, "layers": 2, "heads": 4, "ffn_width": 128,
                                   "discriminator_width": 32},
                         "tiny": {"width": 16, "style_dim": 8, "layers": 1, "heads": 2, "ffn_width": 32, "dropout": 0.0,
                                  "max_distance": 4, "discriminator_width": 0},
                         "adversarial_tiny": {"width": 16, "style_dim": 8, "layers": 1, "heads": 2, "ffn_width": 32,
                                              "dropout": 0.0, "max_distance": 4, "discriminator_width": 8}})  # fmt: skip
def style_duration(config: StyleDurationConfig, sizes: DataSizes) -> StyleDuration:
    """The paper's sizes (W = 256, 4 layers, 4 heads, discriminators); `small` (W = 64, 2 layers: the synthetic
    corpus on a CPU), `tiny` (W = 16, 1 layer, no discriminators: tests) and `adversarial_tiny` (with them)."""
    options: dict[str, Any] = dict(vars(config))
    return StyleDuration(feature_dim=sizes.feature_dim, motion_dim=sizes.motion_dim, num_subjects=sizes.num_subjects,
                         fps=sizes.fps, kind=sizes.kind, channels=sizes.channel_names(), **options)  # fmt: skip


def style_vectors(model: StyleDuration, references: list[np.ndarray]) -> np.ndarray:
    """The style vectors w (R, S) of reference motions (each (T', D)), for plots like the paper's Fig. 5."""
    model.eval()
    with torch.no_grad():
        rows = [model.encode_style(torch.from_numpy(np.asarray(r, np.float32))[None]) for r in references]
    if any(row is None for row in rows):
        raise InvalidInputError("style_duration: the model was trained without style vectors")
    return torch.cat([row for row in rows if row is not None]).numpy()


def animate_spans(waveform: Waveform, model: str | os.PathLike[str] | StyleDuration,
                  spans: Sequence[tuple[float, Motion | str | os.PathLike[str]]], *,
                  transition_frames: int = DEFAULT_TRANSITION_FRAMES) -> Motion:  # fmt: skip
    """Animate speech with a style reference per time span (e.g. neutral for the first 20 s, angry after),
    blended by in-betweened transitions (`StyleDuration.generate_spans`). No alignment is needed: the
    model predicts its phones and durations.

    Args:
        waveform: the speech.
        model: a trained `style_duration` model, its directory, or the name of a shipped one.
        spans: (start in seconds, reference motion or motion file) per span, in time order, the first at 0.
        transition_frames: masked frames of each transition.
    """
    import dataclasses

    from facetalk.audio.rate import num_motion_frames
    from facetalk.export import read_motion
    from facetalk.models.base import open_model
    from facetalk.models.inputs import InputPipeline

    animator = model if isinstance(model, StyleDuration) else open_model(model)[0]
    if not isinstance(animator, StyleDuration):
        raise InvalidInputError(f"style spans need a style_duration model, got {animator.spec.name if animator.spec else '?'}")
    pipeline = InputPipeline.for_model(animator)
    pipeline.spec = dataclasses.replace(pipeline.spec, phones=False, style=False)  # phones are predicted; references come below
    frames = num_motion_frames(waveform.duration, animator.fps)
    clip = pipeline.clip(clip_id="spans", waveform=waveform, fps=animator.fps, num_frames=frames, alignment=None)
    references = []
    for start, reference in spans:
        motion = reference if isinstance(reference, Motion) else read_motion(reference)
        references.append((round(start * animator.fps), np.asarray(motion.data, np.float32)))
    return animator.generate_spans(pipeline.batch(clip), references, transition_frames=transition_frames)
