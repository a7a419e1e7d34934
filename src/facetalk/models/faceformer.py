"""`faceformer`: FaceFormer, Fan, Lin, Saito, Wang and Komura, "FaceFormer: Speech-Driven 3D Facial
Animation with Transformers" (CVPR 2022), the autoregressive transformer baseline of the field.

Blocks in the order of the paper's §3 (B batch, S samples, F speech frames, T motion frames, E model
channels, H heads, N training speakers, D motion channels: 3V vertex coordinates or K blendshapes):

1. §3.1 FaceFormer encoder: speech features at the motion rate (cached, or a wav2vec 2.0-style
   encoder fine-tuned end to end on the audio), standardized, and a linear projection to E channels.
2. §3.2 FaceFormer decoder input: the previous frame's motion, relative to the template, embedded
   linearly (motion encoder), plus the style embedding of the speaker's one-hot (a linear layer
   without bias), plus the periodic positional encoding (PPE): the sinusoidal encoding of
   t mod p, so that the encoding repeats every period p (Eq. 3).
3. §3.2 Biased causal multi-head self-attention: ALiBi's per-head slopes m_h times the temporal
   bias -floor((i - j) / p) for j <= i, and -inf for j > i (Eq. 4-5): frame i sees only the past,
   and nearer periods weigh more.
4. §3.2 Biased cross-modal multi-head attention: the alignment bias lets motion frame i attend only
   to the speech frames of its own time span (Eq. 6): with speech at the motion rate, frame i alone.
5. A linear motion decoder from E channels to the D offsets, added to the template (zero-initialised,
   as the paper's code does: the untrained model outputs the template).
6. §3.3 Autoregressive inference: one frame at a time, each prediction embedded and fed back as the
   next frame's input. `generate` does this with a key/value cache (the self-attention keys and
   values of past frames are kept, each step computes only the new frame's): O(T) work per step
   instead of recomputing the prefix, the same numbers (tested against the recomputing loop).

Training (§3.3): the paper trains autoregressively, feeding the model's own predictions back during
training (its code's default), on VOCASET and BIWI on a GPU; `teacher_forcing: false` does exactly
that (the recomputing loop, with gradients). On a 2-core CPU that costs T decoder passes per window,
so the synthetic-corpus config trains with teacher forcing (one parallel pass over the ground-truth
previous frames) plus `own_predictions`: a fraction of the previous frames is replaced by the model's
own teacher-forced predictions of them (a two-pass approximation of scheduled sampling for
transformers, Mihaylova and Martins 2019), so that inference's inputs are not unlike training's.

What the paper leaves open, and what this file does:

- The slopes m_h: ALiBi's geometric sequence 2^(-8h/H) (with its rule for H not a power of two), as
  the paper's code does. The bias is computed for any length (the paper's code precomputes it for
  600 frames at most; a 60-second clip has 1800).
- The alignment bias for F speech frames and T motion frames: frame i attends to speech frames
  floor(i·F/T) up to (but excluding) floor((i+1)·F/T), at least one. The pipeline delivers speech at
  the motion rate (F = T), so it is the diagonal.
- The decoder layer is post-norm with ReLU feed-forward of 2E channels and dropout 0.1 (PyTorch's
  `TransformerDecoderLayer`, as the paper's code uses); `layers` stacks several (paper: 1).
- The first frame's input is the embedded zero offset (the template) plus the style embedding.
- An unseen speaker gets the average one-hot (1/N each) unless `Conditions.subject` names a training
  speaker, whose style it then takes (§4: "conditioned on a training speaker's style";
  `facetalk animate --subject`).
- The model works in data units × `motion_scale` and returns data units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from facetalk.audio.encoders import SpeechEncoder
from facetalk.data.collate import Batch
from facetalk.errors import InvalidInputError
from facetalk.models.base import Animator, DataSizes, ModelOutput, register_model
from facetalk.models.inputs import InputSpec
from facetalk.models.modules.conditioning import batch_template, subject_one_hot
from facetalk.models.modules.feature_norm import FeatureNorm
from facetalk.models.modules.speech_input import fine_tuned_encoder, speech_frames
from facetalk.types import Motion

PAPER_DIM = 64
"""E on VOCASET (the paper's code: feature_dim 64; 128 on BIWI)."""
PAPER_HEADS = 4
PAPER_LAYERS = 1
PAPER_PERIOD = 30
"""p on VOCASET at 30 fps (25 on BIWI at 25 fps)."""
PAPER_DROPOUT = 0.1
FEEDFORWARD_RATIO = 2
"""The feed-forward layer has 2E channels (the paper's code: dim_feedforward = 2 * feature_dim)."""
PPE_BASE = 10000.0
"""The base of the sinusoidal encoding (Vaswani et al.)."""


# --- Pure functions -------------------------------------------------------------------------------


def alibi_slopes(heads: int) -> torch.Tensor:
    """ALiBi's per-head slopes m_h (Press et al. 2022), shape (H,): 2^(-8/H), 2^(-16/H), ... for H a power of
    two; otherwise those of the largest power of two below H, then every other slope of twice that."""

    def power_of_two(n: int) -> list[float]:
        start = 2.0 ** (-(2.0 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(heads).is_integer():
        return torch.tensor(power_of_two(heads))
    closest = 2 ** math.floor(math.log2(heads))
    return torch.tensor(power_of_two(closest) + power_of_two(2 * closest)[0::2][: heads - closest])


def periodic_distance(num_frames: int, period: int) -> torch.Tensor:
    """floor(k / p) for k = 0 ... T - 1, shape (T,): the temporal bias's steps (Eq. 4), before the slopes."""
    return torch.div(torch.arange(num_frames), period, rounding_mode="floor").float()


def biased_causal_bias(num_frames: int, slopes: torch.Tensor, period: int) -> torch.Tensor:
    """Eq. 4-5: the additive self-attention bias, shape (H, T, T): -m_h·floor((i - j) / p) for j <= i, -inf above.

    Args:
        num_frames: T.
        slopes: m_h, shape (H,).
        period: p.
    """
    frames = torch.arange(num_frames)
    distance = frames[:, None] - frames[None, :]  # (T, T): i - j
    steps = torch.div(distance.clamp_min(0), period, rounding_mode="floor").float()
    bias = -slopes[:, None, None] * steps[None]  # (H, T, T)
    return bias.masked_fill((distance < 0)[None], float("-inf"))


def alignment_bias(num_frames: int, num_speech: int) -> torch.Tensor:
    """Eq. 6: the cross-attention bias, shape (T, F): 0 where motion frame i may see speech frame j, -inf elsewhere.

    Frame i sees speech frames floor(i·F/T) up to floor((i+1)·F/T), at least one (the diagonal when F = T).
    """
    frames = torch.arange(num_frames)
    first = torch.div(frames * num_speech, num_frames, rounding_mode="floor")  # (T,)
    end = torch.maximum(torch.div((frames + 1) * num_speech, num_frames, rounding_mode="floor"), first + 1)
    speech = torch.arange(num_speech)[None, :]  # (1, F)
    allowed = (speech >= first[:, None]) & (speech < end[:, None])  # (T, F)
    return torch.zeros(num_frames, num_speech).masked_fill(~allowed, float("-inf"))


# --- §3.2 Blocks ----------------------------------------------------------------------------------


class PeriodicPositionalEncoding(nn.Module):
    """Eq. 3: sinusoidal encoding of t mod p added to the inputs, then dropout.

    Args:
        dim: E (even).
        period: p.
        dropout: dropout probability.
    """

    table: torch.Tensor

    def __init__(self, dim: int, period: int, dropout: float) -> None:
        super().__init__()
        position = torch.arange(period, dtype=torch.float32)[:, None]  # (p, 1)
        rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(PPE_BASE) / dim))  # (E/2,)
        table = torch.zeros(period, dim)
        table[:, 0::2] = torch.sin(position * rate)
        table[:, 1::2] = torch.cos(position * rate)
        self.register_buffer("table", table, persistent=False)
        self.period = period
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Encode frames `start` ... `start` + T - 1 of x (B, T, E)."""
        positions = torch.arange(start, start + x.shape[1], device=x.device) % self.period  # (T,)
        return self.drop(x + self.table[positions])


class BiasedAttention(nn.Module):
    """Multi-head attention with an additive bias, whose keys and values can be computed once and kept.

    Args:
        dim: E.
        heads: H.
        dropout: attention dropout probability.
    """

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"model width {dim} is not a multiple of {heads} heads")
        self.heads, self.dropout = heads, dropout
        self.query = nn.Linear(dim, dim)
        self.key_value = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(*x.shape[:-1], self.heads, -1).transpose(1, 2)  # (B, T, E) -> (B, H, T, E/H)

    def keys_values(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of context (B, T_k, E), each (B, H, T_k, E/H)."""
        keys, values = self.key_value(context).chunk(2, dim=-1)
        return self._split(keys), self._split(values)

    def attend(self, x: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """Queries from x (B, T_q, E) over keys and values (B, H, T_k, E/H) with bias (H or 1, T_q, T_k) or none: (B, T_q, E)."""
        dropout = self.dropout if self.training else 0.0
        mask = None if bias is None else bias[None]
        out = F.scaled_dot_product_attention(self._split(self.query(x)), keys, values, attn_mask=mask, dropout_p=dropout)
        return self.out(out.transpose(1, 2).flatten(2))  # (B, T_q, E)

    def forward(self, x: torch.Tensor, context: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return self.attend(x, *self.keys_values(context), bias)


@dataclass
class LayerCache:
    """One decoder layer's keys and values of the frames generated so far (B, H, T, E/H), and of the speech."""

    keys: torch.Tensor
    values: torch.Tensor
    speech_keys: torch.Tensor
    speech_values: torch.Tensor


class DecoderLayer(nn.Module):
    """A post-norm transformer decoder layer: biased causal self-attention, biased cross-attention, feed-forward.

    Args:
        dim: E.
        heads: H.
        dropout: dropout probability (attention, residuals and the feed-forward layer).
    """

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.self_attention = BiasedAttention(dim, heads, dropout)
        self.cross_attention = BiasedAttention(dim, heads, dropout)
        self.feedforward = nn.Sequential(nn.Linear(dim, FEEDFORWARD_RATIO * dim), nn.ReLU(), nn.Dropout(dropout),
                                         nn.Linear(FEEDFORWARD_RATIO * dim, dim))  # fmt: skip
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(3))
        self.drop = nn.Dropout(dropout)

    def _rest(self, x: torch.Tensor, attended: torch.Tensor, speech_keys: torch.Tensor, speech_values: torch.Tensor,
              cross_bias: torch.Tensor | None) -> torch.Tensor:  # fmt: skip
        """Everything after the self-attention: residual and norm, cross-attention, feed-forward."""
        x = self.norms[0](x + self.drop(attended))
        x = self.norms[1](x + self.drop(self.cross_attention.attend(x, speech_keys, speech_values, cross_bias)))
        return self.norms[2](x + self.drop(self.feedforward(x)))

    def forward(self, x: torch.Tensor, speech: torch.Tensor, self_bias: torch.Tensor, cross_bias: torch.Tensor) -> torch.Tensor:
        """All frames at once: x (B, T, E), speech (B, F, E), biases (H, T, T) and (1, T, F); returns (B, T, E)."""
        return self._rest(x, self.self_attention(x, x, self_bias), *self.cross_attention.keys_values(speech), cross_bias)

    def step(self, x: torch.Tensor, frame: int, cache: LayerCache, self_bias: torch.Tensor, speech: slice) -> torch.Tensor:
        """Frame `frame` alone: x (B, 1, E), its self-attention bias row (H, 1, frame + 1), and the span of speech
        frames its alignment bias lets it see (the others would get zero weight); keeps its keys and values."""
        keys, values = self.self_attention.keys_values(x)  # (B, H, 1, E/H) each
        cache.keys[:, :, frame : frame + 1] = keys
        cache.values[:, :, frame : frame + 1] = values
        past = slice(0, frame + 1)
        attended = self.self_attention.attend(x, cache.keys[:, :, past], cache.values[:, :, past], self_bias)
        return self._rest(x, attended, cache.speech_keys[:, :, speech], cache.speech_values[:, :, speech], None)


# --- The model ------------------------------------------------------------------------------------


class FaceFormer(Animator):
    """Speech and the past motion to the next frame's motion, in a training speaker's style.

    Args:
        speech_dim: C, channels of the cached features or of `speech_encoder`.
        motion_dim: D.
        num_subjects: N, training speakers (at least 1).
        dim: E.
        heads: H.
        layers: decoder layers (paper: 1).
        period: p, frames per period of the PPE and the temporal bias.
        dropout: dropout probability.
        teacher_forcing: train on the ground-truth previous frames (one pass); False trains
            autoregressively on the model's own predictions, as the paper (T passes per window).
        own_predictions: with teacher forcing, the fraction of previous frames replaced by the model's
            own teacher-forced predictions of them.
        motion_scale: the model works in data units × this.
        speech_encoder: a speech encoder fine-tuned end to end on `batch["audio"]` (submodule
            `encoder`); None reads cached features.
        fps: motion frames per second of the output.
        kind: "vertices", "blendshapes" or "params".
        channels: channel names of blendshape or parameter output.
    """

    encoder: SpeechEncoder | None
    slopes: torch.Tensor

    def __init__(self, *, speech_dim: int, motion_dim: int, num_subjects: int, dim: int = PAPER_DIM,
                 heads: int = PAPER_HEADS, layers: int = PAPER_LAYERS, period: int = PAPER_PERIOD,
                 dropout: float = PAPER_DROPOUT, teacher_forcing: bool = True, own_predictions: float = 0.0,
                 motion_scale: float = 1.0, speech_encoder: SpeechEncoder | None = None, fps: float = 30.0,
                 kind: str = "vertices", channels: Sequence[str] = ()) -> None:  # fmt: skip
        super().__init__()
        if speech_encoder is not None and speech_encoder.dim != speech_dim:
            raise ValueError(f"speech_dim {speech_dim} does not match the speech encoder's {speech_encoder.dim} channels")
        if not motion_scale > 0 or period < 1 or not 0.0 <= own_predictions <= 1.0:
            raise ValueError(f"need motion_scale > 0, period >= 1, 0 <= own_predictions <= 1; got {motion_scale}, "
                             f"{period}, {own_predictions}")  # fmt: skip
        self.fps, self.kind, self.channels = fps, kind, tuple(channels)
        self.motion_dim, self.num_subjects, self.period = motion_dim, max(1, num_subjects), period
        self.teacher_forcing, self.own_predictions, self.motion_scale = teacher_forcing, own_predictions, motion_scale
        self.encoder = speech_encoder
        self.feature_norm = FeatureNorm(speech_dim)
        self.speech_projection = nn.Linear(speech_dim, dim)  # §3.1: the audio feature map
        self.motion_encoder = nn.Linear(motion_dim, dim)  # §3.2
        self.style = nn.Linear(self.num_subjects, dim, bias=False)  # §3.2: the style embedding of the one-hot
        self.positions = PeriodicPositionalEncoding(dim, period, dropout)
        self.layers = nn.ModuleList(DecoderLayer(dim, heads, dropout) for _ in range(layers))
        self.motion_decoder = nn.Linear(dim, motion_dim)
        nn.init.zeros_(self.motion_decoder.weight)  # the paper's code: the untrained model outputs the template
        nn.init.zeros_(self.motion_decoder.bias)
        self.register_buffer("slopes", alibi_slopes(heads), persistent=False)

    def fit_feature_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.feature_norm.fit(mean, std)

    def forward(self, batch: Batch) -> ModelOutput:
        """Predict motion for a padded batch: `features` (B, T, C) or `audio` (B, S), `mask` (B, T), `subject` (B,),
        `template` (B, D) if any, and in teacher-forced training the target `motion` (B, T, D).

        In training with teacher forcing, one pass over the target's previous frames; otherwise
        autoregressively from the model's own predictions (with a key/value cache in eval mode).

        Returns:
            `motion` (B, T, D) in data units.
        """
        speech = speech_frames(
            batch, self.encoder, channels=self.feature_norm.mean.shape[0], fps=self.fps, model="faceformer"
        )  # (B, T, C)
        memory = self.speech_projection(self.feature_norm(speech))  # (B, F, E)
        template = batch_template(batch, speech, self.motion_dim, model="faceformer") * self.motion_scale  # (B, D)
        style = self.style(subject_one_hot(batch["subject"], self.num_subjects))  # (B, E)
        num_frames = batch["mask"].shape[1]
        if self.training and self.teacher_forcing:
            if "motion" not in batch:
                raise InvalidInputError("faceformer: teacher-forced training needs the target motion")
            previous = batch["motion"] * self.motion_scale - template[:, None, :]  # (B, T, D) offsets
            offsets = self._teacher_forced(previous, memory, style)
        elif self.training:
            offsets = self._recomputed_rollout(memory, style, num_frames)
        else:
            offsets = self._cached_rollout(memory, style, num_frames)
        return ModelOutput(motion=(template[:, None, :] + offsets) / self.motion_scale)

    @torch.no_grad()
    def generate(self, batch: Batch) -> Motion:
        """Motion for one clip, one frame at a time (§3.3), in the style of `Conditions.subject`."""
        if "motion" in batch:  # `forward` in eval mode never reads it; keep it out of the generated clip's batch
            batch = {key: value for key, value in batch.items() if key != "motion"}
        return super().generate(batch)

    def _inputs(self, offsets: torch.Tensor, style: torch.Tensor, start: int = 0) -> torch.Tensor:
        """The decoder's inputs for frames start ... start + T - 1 from the previous frames' offsets (B, T, D): (B, T, E)."""
        return self.positions(self.motion_encoder(offsets) + style[:, None, :], start)

    def _decode(self, inputs: torch.Tensor, memory: torch.Tensor, num_frames: int) -> torch.Tensor:
        """The first T' frames of a clip of T frames at once: decoder inputs (B, T', E) and speech (B, F, E) to
        offsets (B, T', D)."""
        done = inputs.shape[1]
        self_bias = biased_causal_bias(done, self.slopes, self.period).to(inputs)  # (H, T', T')
        cross_bias = alignment_bias(num_frames, memory.shape[1])[:done].to(inputs)[None]  # (1, T', F)
        x = inputs
        for layer in self.layers:
            x = layer(x, memory, self_bias, cross_bias)
        return self.motion_decoder(x)  # (B, T, D)

    def _teacher_forced(self, previous: torch.Tensor, memory: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """One pass over the target's offsets (B, T, D) shifted by a frame (the first input is the zero offset)."""
        num_frames = previous.shape[1]
        shifted = F.pad(previous[:, :-1], (0, 0, 1, 0))  # (B, T, D): frame t reads frame t - 1
        if self.own_predictions > 0:
            with torch.no_grad():
                predicted = F.pad(self._decode(self._inputs(shifted, style), memory, num_frames)[:, :-1], (0, 0, 1, 0))
            use_own = torch.rand(shifted.shape[:2], device=shifted.device) < self.own_predictions  # (B, T)
            shifted = torch.where(use_own[..., None], predicted, shifted)
        return self._decode(self._inputs(shifted, style), memory, num_frames)

    def _recomputed_rollout(self, memory: torch.Tensor, style: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Autoregressively, recomputing the whole prefix every frame (the paper's training loop; differentiable)."""
        previous = memory.new_zeros(memory.shape[0], 1, self.motion_dim)  # (B, 1, D): the zero offset
        for _ in range(num_frames):
            offsets = self._decode(self._inputs(previous, style), memory, num_frames)  # (B, t + 1, D)
            previous = torch.cat([previous, offsets[:, -1:]], dim=1)
        return previous[:, 1:]  # (B, T, D)

    def _cached_rollout(self, memory: torch.Tensor, style: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Autoregressively with a key/value cache: each frame costs one decoder step over the kept keys and values."""
        batch_size, dim = memory.shape[0], memory.shape[-1]
        heads = self.slopes.shape[0]
        layers = [cast(DecoderLayer, layer) for layer in self.layers]
        caches = []
        for layer in layers:
            empty = memory.new_zeros(batch_size, heads, num_frames, dim // heads)
            caches.append(LayerCache(empty, empty.clone(), *layer.cross_attention.keys_values(memory)))
        # rows of the biases, built once: frame t's self-attention bias over frames 0..t is -m_h·steps[t - j]
        steps_back = periodic_distance(num_frames, self.period).flip(0).to(memory)  # (T,): steps[T - 1 - k]
        visible = alignment_bias(num_frames, memory.shape[1]) == 0  # (T, F): a contiguous span per frame
        first, count = visible.int().argmax(dim=1).tolist(), visible.sum(dim=1).tolist()
        previous = memory.new_zeros(batch_size, 1, self.motion_dim)  # (B, 1, D): the zero offset
        out = memory.new_empty(batch_size, num_frames, self.motion_dim)
        for frame in range(num_frames):
            x = self._inputs(previous, style, frame)  # (B, 1, E)
            self_bias = -self.slopes[:, None, None] * steps_back[num_frames - 1 - frame :][None, None]  # (H, 1, t + 1)
            speech = slice(first[frame], first[frame] + count[frame])
            for layer, cache in zip(layers, caches, strict=True):
                x = layer.step(x, frame, cache, self_bias, speech)
            previous = self.motion_decoder(x)  # (B, 1, D)
            out[:, frame : frame + 1] = previous
        return out


# --- Registered builders --------------------------------------------------------------------------


@dataclass
class FaceFormerConfig:
    """Options of `faceformer` (see `FaceFormer`); the defaults are the paper's VOCASET sizes.

    Attributes:
        encoder: a registered speech encoder to fine-tune end to end (fed raw audio); None reads cached features.
        encoder_options: its builder's options (`freeze: true` keeps it fixed).
    """

    dim: int = PAPER_DIM
    heads: int = PAPER_HEADS
    layers: int = PAPER_LAYERS
    period: int = PAPER_PERIOD
    dropout: float = PAPER_DROPOUT
    teacher_forcing: bool = True
    own_predictions: float = 0.0
    motion_scale: float = 1.0
    encoder: str | None = None
    encoder_options: dict[str, Any] = field(default_factory=dict)


def _inputs(config: FaceFormerConfig) -> InputSpec:
    return InputSpec(speech="audio" if config.encoder else "features", template=True)


@register_model("faceformer", FaceFormerConfig, inputs=_inputs,
                presets={"biwi": {"dim": 128, "period": 25},
                         "tiny": {"dim": 16, "heads": 2, "period": 4, "dropout": 0.0}})  # fmt: skip
def faceformer(config: FaceFormerConfig, sizes: DataSizes) -> FaceFormer:
    """The paper's VOCASET sizes (E = 64, 4 heads, 1 layer, p = 30); `biwi` its BIWI sizes (E = 128, p = 25);
    `tiny` for tests. The speaker one-hot carries the style."""
    speech_encoder = fine_tuned_encoder(config.encoder, config.encoder_options, feature_dim=sizes.feature_dim,
                                        model="faceformer")
    return FaceFormer(speech_dim=sizes.feature_dim, motion_dim=sizes.motion_dim, num_subjects=sizes.num_subjects,
                      dim=config.dim, heads=config.heads, layers=config.layers, period=config.period,
                      dropout=config.dropout, teacher_forcing=config.teacher_forcing,
                      own_predictions=config.own_predictions, motion_scale=config.motion_scale,
                      speech_encoder=speech_encoder, fps=sizes.fps, kind=sizes.kind,
                      channels=sizes.channel_names())  # fmt: skip
