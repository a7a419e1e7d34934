"""`conv_baseline`: the small reference model that exercises the training framework end to end.

Not from a paper: speech features at the motion rate (standardized with the training set's
statistics) go through a linear projection plus a learned speaker embedding and a projection of the
per-frame emotion vectors, a few residual 1D convolutions over time (non-causal, so each frame sees
`layers * (kernel_size - 1)` neighbouring frames), and a linear head to the motion channels. It is
fast enough to train in a minute on a CPU and processes any length.

- `lookahead`: the future frames the whole stack reads (spread over the blocks, at most one kernel's
  width less one per block); the rest of each kernel reads the past. The receptive field is bounded
  (`receptive_field`), so `facetalk.stream` runs the model on audio as it arrives, frame for frame
  as offline. The `stream` preset reads 2 frames ahead (configs/conv_baseline/stream.yaml trains it
  on a mel without a clip-wide dB floor, which streaming cannot know).

Options exercise the rest of the input pipeline and the training framework, as the paper models use them:

- `text` and `phones`: per-frame text features (projected) and phone ids (embedded) are added to the
  hidden frames.

- `emotion_head`: per-frame emotion logits from the hidden frames (`extras["emotion_logits"]`), the
  input of the `emotion_ce` loss term (emotion labels as a target). The emotion vectors then stop
  being an input, so the head cannot read its answer.
- `discriminator`: a small convolutional sequence discriminator trained against the model with LSGAN
  losses, with its own optimizer (parameter group "discriminator", `optim.groups.discriminator`);
  `train_step` alternates a discriminator update and a model update, and the discriminator is a
  training-only module (not in the shipped `best/`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import torch
from torch import nn

from facetalk.data.collate import Batch
from facetalk.models.base import Animator, DataSizes, ModelOutput, register_model
from facetalk.models.inputs import InputSpec
from facetalk.models.modules.feature_norm import MIN_FEATURE_STD, FeatureNorm
from facetalk.text.phonemes import PHONE_VOCAB
from facetalk.train import losses
from facetalk.types import EMOTIONS

if TYPE_CHECKING:
    from facetalk.train.objective import Objective, Optimizers


class ConvBlock(nn.Module):
    """Residual block: conv over time, GELU, dropout; (B, W, T) to (B, W, T).

    Frame t reads frames t - (kernel_size - 1 - lookahead) .. t + lookahead (zeros beyond the clip);
    `lookahead` None centres the kernel.
    """

    def __init__(self, *, width: int, kernel_size: int, dropout: float, lookahead: int | None = None) -> None:
        super().__init__()
        ahead = kernel_size // 2 if lookahead is None else lookahead
        if not 0 <= ahead < kernel_size:
            raise ValueError(f"a block's lookahead must be in [0, {kernel_size - 1}], got {ahead}")
        self.padding = (kernel_size - 1 - ahead, ahead)  # (past, future) frames
        self.conv = nn.Conv1d(width, width, kernel_size)
        self.act = nn.GELU()
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, W, T) to (B, W, T): the residual block, zero-padded by (past, future) frames."""
        return x + self.drop(self.act(self.conv(nn.functional.pad(x, self.padding))))

    def step_frames(self, x: torch.Tensor) -> torch.Tensor:
        """The block on frames that carry their own context, frame-major: (B, past + n + future, W) to (B, n, W);
        the kernel as one matrix product over the n frames' windows, a few times cheaper than `conv1d` on a
        few frames of many streams."""
        past, future = self.padding
        size, width = self.conv.kernel_size[0], x.shape[2]
        windows = x.unfold(1, size, 1)  # (B, n, W, kernel), the layout of the kernel's (W_out, W, kernel)
        y = nn.functional.linear(windows.reshape(*windows.shape[:2], width * size), self.conv.weight.reshape(-1, width * size),
                                 self.conv.bias)  # fmt: skip
        return x[:, past : x.shape[1] - future] + self.drop(self.act(y))


class SequenceDiscriminator(nn.Module):
    """Scores each frame of a motion sequence as real (1) or generated (0): (B, T, D) to (B, T)."""

    def __init__(self, *, motion_dim: int, width: int, kernel_size: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(motion_dim, width, kernel_size, padding=kernel_size // 2), nn.LeakyReLU(0.2),
            nn.Conv1d(width, width, kernel_size, padding=kernel_size // 2), nn.LeakyReLU(0.2),
            nn.Conv1d(width, 1, 1),
        )  # fmt: skip

    def forward(self, motion: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.net((motion * mask[..., None]).transpose(1, 2))[:, 0]  # (B, T)
        return scores[mask > 0]  # real frames only, (N,)


class ConvBaseline(Animator):
    """A few residual 1D convolutions from speech features to motion.

    Args:
        feature_dim: C, speech feature channels.
        motion_dim: D, motion channels (52 for ARKit weights).
        num_subjects: training speakers; index -1 (or any other) means an unseen speaker.
        width: W, hidden channels.
        layers: residual conv blocks.
        kernel_size: odd temporal kernel size.
        dropout: dropout probability inside the blocks.
        emotion_head: predict per-frame emotion logits instead of reading emotion vectors.
        text_dim: channels of per-frame text features to read; 0 reads none.
        phones: read per-frame phone ids.
        discriminator: None, or an adversary of the predicted motion (trained in `train_step`).
        fps: motion frames per second of the output.
        lookahead: future frames the stack reads; None centres every kernel.
        kind: "blendshapes", "vertices" or "params".
        channels: channel names of blendshape or parameter output.
    """

    training_only = ("discriminator",)

    def __init__(self, *, feature_dim: int, motion_dim: int, num_subjects: int, width: int = 64, layers: int = 4,
                 kernel_size: int = 5, dropout: float = 0.0, emotion_head: bool = False, text_dim: int = 0,
                 phones: bool = False, discriminator: SequenceDiscriminator | None = None, fps: float = 30.0,
                 lookahead: int | None = None, kind: str = "blendshapes", channels: tuple[str, ...] = ()) -> None:  # fmt: skip
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd to keep T frames, got {kernel_size}")
        if lookahead is not None and not 0 <= lookahead <= layers * (kernel_size - 1):
            raise ValueError(f"lookahead must be in [0, {layers * (kernel_size - 1)}] frames, got {lookahead}")
        self.fps, self.kind, self.channels = fps, kind, tuple(channels)
        self.norm = FeatureNorm(feature_dim)
        self.project = nn.Linear(feature_dim, width)
        # row num_subjects is the "unknown speaker" embedding used for subject index -1
        self.subject = nn.Embedding(num_subjects + 1, width)
        self.emotion = None if emotion_head else nn.Linear(len(EMOTIONS), width, bias=False)  # (B, T, 7) -> (B, T, W)
        self.text = nn.Linear(text_dim, width, bias=False) if text_dim > 0 else None  # (B, T, C_text) -> (B, T, W)
        self.phones = nn.Embedding(len(PHONE_VOCAB), width, padding_idx=0) if phones else None  # (B, T) -> (B, T, W)
        # the first `lookahead % layers` blocks read one frame further ahead than the others
        ahead = [None if lookahead is None else lookahead // layers + int(i < lookahead % layers) for i in range(layers)]
        blocks = [ConvBlock(width=width, kernel_size=kernel_size, dropout=dropout, lookahead=a) for a in ahead]
        self.paddings = [block.padding for block in blocks]  # (past, future) frames of each block
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(width, motion_dim)
        self.emotion_head = nn.Linear(width, len(EMOTIONS)) if emotion_head else None
        self.discriminator = discriminator
        self.step_logs = ("discriminator",) if discriminator is not None else ()

    def receptive_field(self) -> tuple[int, int]:
        """(past, future): the input frames before and after frame t that output frame t depends on."""
        return (sum(past for past, _ in self.paddings), sum(future for _, future in self.paddings))

    def fit_feature_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.norm.mean.copy_(mean)
        self.norm.std.copy_(std.clamp_min(MIN_FEATURE_STD))

    def embed(self, batch: Batch) -> torch.Tensor:
        """The blocks' input, frame by frame: (B, T, W)."""
        features = batch["features"]  # (B, T, C)
        unknown = self.subject.num_embeddings - 1
        subject = batch["subject"]
        subject = torch.where((subject < 0) | (subject >= unknown), torch.full_like(subject, unknown), subject)  # (B,)
        x = self.project(self.norm(features)) + self.subject(subject)[:, None, :]  # (B, T, W)
        if self.emotion is not None and "emotion" in batch:  # frames without labels (mask 0) add nothing
            x = x + self.emotion(batch["emotion"] * batch["emotion_mask"][..., None])
        if self.text is not None:
            x = x + self.text(batch["text"])
        if self.phones is not None:
            x = x + self.phones(batch["phone_ids"])
        return x

    def stream_start(self) -> list[torch.Tensor]:
        """The state of an incremental run of one clip: each block's input frames it will still read,
        (1, n, W); at the start, its past zero padding. States of equal shapes concatenate into a batch."""
        return [torch.zeros(1, past, self.head.in_features) for past, _ in self.paddings]

    def stream_step(self, state: list[torch.Tensor], batch: Batch, *, final: bool) -> torch.Tensor:
        """Motion of the frames the new input frames complete, computing each block's new frames only.

        Equal to `forward` on the whole sequence (the blocks see the same zero padding at both ends).

        Args:
            state: from `stream_start`, updated in place.
            batch: the next input frames of B clips (as `forward` takes them; B as in `state`).
            final: the clip ends after these frames: flush every block's lookahead.

        Returns:
            Motion of the next frames, (B, n, D).
        """
        h = self.embed(batch)  # (B, n, W)
        for level, (block, (past, future)) in enumerate(zip(self.blocks, self.paddings, strict=True)):
            pad = future if final else 0
            context = torch.cat([state[level], h, h.new_zeros(h.shape[0], pad, h.shape[2])], dim=1)  # (B, L, W)
            if context.shape[1] <= past + future:  # no frame of this block is complete yet
                state[level], h = context[:, : context.shape[1] - pad], h[:, :0]
                continue
            h = cast(ConvBlock, block).step_frames(context)  # (B, n', W)
            state[level] = context[:, h.shape[1] : context.shape[1] - pad]
        return self.head(h)  # (B, n', D)

    def forward(self, batch: Batch) -> ModelOutput:
        h = self.embed(batch).transpose(1, 2)  # (B, W, T)
        for block in self.blocks:
            h = block(h)
        hidden = h.transpose(1, 2)  # (B, T, W)
        motion = self.head(hidden)  # (B, T, D)
        extras = {}
        if self.emotion_head is not None:
            extras["emotion_logits"] = self.emotion_head(hidden)  # (B, T, 7)
        if self.discriminator is not None:
            extras["fake_scores"] = self.discriminator(motion, batch["mask"])  # (N,)
        return ModelOutput(motion=motion, extras=extras)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        if self.discriminator is None:
            return super().parameter_groups()
        adversary = {id(p) for p in self.discriminator.parameters()}
        return {"model": [p for p in self.parameters() if id(p) not in adversary],
                "discriminator": list(self.discriminator.parameters())}  # fmt: skip

    def train_step(self, batch: Batch, objective: Objective, optimizers: Optimizers,
                   forward: Callable[[Batch], ModelOutput]) -> dict[str, torch.Tensor]:  # fmt: skip
        """With a discriminator: update it on real vs generated frames, then the model on the objective
        (whose `adversarial` term pulls the discriminator's scores of generated frames to 1)."""
        if self.discriminator is None:
            return super().train_step(batch, objective, optimizers, forward)
        output = forward(batch)
        real = self.discriminator(batch["motion"], batch["mask"])  # (N,)
        fake = self.discriminator(output.motion.detach(), batch["mask"])  # (N,)
        discriminator_loss = losses.lsgan_discriminator_loss(real, fake)
        optimizers.step("discriminator", discriminator_loss)
        # the updated discriminator scores the prediction for the model's adversarial term
        output.extras["fake_scores"] = self.discriminator(output.motion, batch["mask"])
        loss, terms = objective(output, batch)
        optimizers.step("model", loss)
        return {"loss": loss, **terms, "discriminator": discriminator_loss}


@dataclass
class ConvBaselineConfig:
    """Options of `conv_baseline` (see `ConvBaseline`).

    Attributes:
        discriminator_width: channels of the discriminator; 0 trains without one.
    """

    width: int = 64
    layers: int = 4
    kernel_size: int = 5
    dropout: float = 0.1
    emotion_head: bool = False
    text: bool = False
    phones: bool = False
    discriminator_width: int = 0
    lookahead: int | None = None


def _inputs(config: ConvBaselineConfig) -> InputSpec:
    return InputSpec(emotion=True, text=config.text, phones=config.phones)


@register_model("conv_baseline", ConvBaselineConfig, inputs=_inputs,
                presets={"tiny": {"width": 16, "layers": 2, "kernel_size": 3, "dropout": 0.0},
                         "adversarial_tiny": {"width": 16, "layers": 2, "kernel_size": 3, "dropout": 0.0,
                                              "discriminator_width": 16},
                         "stream": {"width": 128, "layers": 6, "kernel_size": 5, "lookahead": 2},
                         "stream_tiny": {"width": 16, "layers": 2, "kernel_size": 3, "dropout": 0.0,
                                         "lookahead": 1}})  # fmt: skip
def conv_baseline(config: ConvBaselineConfig, sizes: DataSizes) -> ConvBaseline:
    """The reference size: 64 channels, 4 blocks of kernel 5; `tiny` (width 16, 2 blocks) for tests,
    `adversarial_tiny` the same with a discriminator; `stream` (128 channels, 6 blocks, 2 frames of
    lookahead) and `stream_tiny` for streaming."""
    discriminator = None
    if config.discriminator_width > 0:
        discriminator = SequenceDiscriminator(motion_dim=sizes.motion_dim, width=config.discriminator_width,
                                              kernel_size=config.kernel_size)  # fmt: skip
    return ConvBaseline(feature_dim=sizes.feature_dim, motion_dim=sizes.motion_dim, num_subjects=sizes.num_subjects,
                        width=config.width, layers=config.layers, kernel_size=config.kernel_size, dropout=config.dropout,
                        emotion_head=config.emotion_head, text_dim=sizes.text_dim if config.text else 0, phones=config.phones,
                        discriminator=discriminator, fps=sizes.fps, lookahead=config.lookahead, kind=sizes.kind,
                        channels=sizes.channel_names())  # fmt: skip
