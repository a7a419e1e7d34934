"""`emotion_control`: speech-driven face parameters with controllable emotion category and intensity.

Paper 002: Chen, Zhao and Zhang, *Expressive speech-driven facial animation with controllable
emotions* (shared/papers/002_b411005c3bdedad6.txt). The paper predicts FLAME expression and pose
parameters; here the parameters are those of a parametric face (`facetalk.face.parametric`): the
default face's 52 ARKit weights, or FLAME expression + jaw parameters when the model is trained on
FLAME data with the user's FLAME model (`flame_model`).

Blocks, in the paper's order:

1. **Audio2FLAME** (§3.1, Eq. 1; supplement 7.3): content vectors ω_t from the speech features
   (wav2vec 2.0 in the paper, any `SpeechEncoder` here), standardized and projected to
   `content_dim`; a style vector ψ from a transformer encoder (4 blocks of self-attention with add &
   norm) over the clip's speech features: the output of its last token, 64 channels; [ω_t; ψ] (256
   channels) through the three-layer CNN (256→128, k1, ReLU), (128→128, k3, ReLU), (128→P, k1): the
   raw parameters.
2. **Emotion predictor** (§3.2; supplement 7.3): one bi-directional LSTM layer (hidden 128) over the
   speech features, a linear layer to 7 emotion logits per frame, rescaled by max-min normalization
   with the minimum and maximum of the training priors (`fit_emotion_priors`). Its pseudo ground truth
   are the logits of facetalk's motion emotion recognizer on the training motion, one window centred
   on each frame (`facetalk.eval.emotion.frame_logits`, batch key `emotion_prior`).
3. **User control** (§3.2): γ_t = γ_u,t + (γ_a,t − mean_t γ_a), with γ_u the requested emotion
   (batch key `emotion`, made from any `EmotionSchedule`) and γ_a the predicted priors.
4. **Emotion augment network** (§3.2, Eq. 3; supplement 7.3): γ through a learned 7×128 embedding
   matrix, concatenated with the raw parameters, LayerNorm, the same three-layer CNN; its output is
   added to the raw parameters (residual).
5. **Losses** (§3.3, Eq. 4–5) live in `facetalk.train.objective`: `vertex_l1` (vertices through the
   face layer, over its face region), `mouth_shape` (mouth height and width), `emotion_prior` (the
   predictor against the pseudo ground truth) and `prior_smoothness` (temporal smoothing of the
   predicted priors); `raw_vertex_l1` is `vertex_l1` of the raw parameters.

Shapes: B batch, T motion frames, C speech feature channels, P face parameters, E = 7 emotions.

What the paper leaves open, and what this file does:

- Which emotion priors drive the augment network in training: the rescaled pseudo ground truth of
  the clip (teacher forcing; the figure of the training pipeline feeds the video priors), so the
  augment network learns from the emotion the motion shows while the predictor learns to match it.
  At inference γ follows the formula above; without a requested emotion, γ = γ_a (the emotion the
  speech suggests). `prior_source: labels` uses the dataset's emotion labels instead of recognizer
  logits (for FLAME data, which the shipped recognizer cannot read, and on the synthetic corpus,
  whose labels are exact and whose recognizer logits saturate at high intensities); a dataset
  batch (with target motion: training and validation) is then teacher-forced with its labels.
- γ_u: the schedule's per-frame vector, which puts the intensity on the requested category and the
  rest on neutral (`facetalk.types.EmotionKey.vector`), rather than a bare scaled one-hot: intensity
  0 then requests a neutral face, and γ_u always sums to 1.
- The style encoder's input: the clip's own speech (Eq. 1 writes S(x_t±Δt)); it has sinusoidal
  positions (the paper does not say), and its 4 blocks have 4 heads and a 128-channel feed-forward.
- The content vector's width: 256 − 64 = 192, so that [ω; ψ] has the CNN's 256 input channels.
- The predictor's loss (the paper "maximizes mutual information"): squared error of the rescaled
  logits. The paper's low-pass filtering of its per-image priors is not needed here: each frame's
  logits already come from a 2 s window, one frame apart from its neighbours'.
- The paper's bilateral symmetry refinement is a post-process for any animator, `facetalk.face.symmetry`
  (`facetalk animate --symmetric`), off by default: the training faces here are not symmetric.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from facetalk.data.collate import Batch
from facetalk.errors import InvalidInputError
from facetalk.face.parametric import ParametricFace, arkit_channels
from facetalk.models.base import Animator, DataSizes, ModelOutput, register_model
from facetalk.models.inputs import InputSpec
from facetalk.models.modules.conditioning import subject_one_hot
from facetalk.models.modules.feature_norm import FeatureNorm
from facetalk.types import EMOTIONS

NUM_EMOTIONS = len(EMOTIONS)
PRIOR_SOURCES = ("recognizer", "labels")
REQUEST_BASES = ("onehot", "prototypes")
MIN_PRIOR_RANGE = 1e-6
"""A prior channel that never varied in training is rescaled by this instead of 0."""
POSITION_BASE = 10000.0


# --- Pure functions ------------------------------------------------------------------------------


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """Transformer position encodings (Vaswani et al.), shape (length, dim)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]  # (T, 1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(POSITION_BASE) / dim))  # (dim/2,)
    out = torch.zeros(length, dim)
    out[:, 0::2] = torch.sin(position * frequency)
    out[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return out


def masked_time_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real frames of x (B, T, C) under mask (B, T), shape (B, 1, C)."""
    weights = mask[..., None].to(x.dtype)
    return (x * weights).sum(dim=1, keepdim=True) / weights.sum(dim=1, keepdim=True).clamp_min(1.0)


def control_priors(requested: torch.Tensor | None, predicted: torch.Tensor | None, mask: torch.Tensor) -> torch.Tensor:
    """Paper 002's final priors γ = γ_u + (γ_a − mean γ_a), shape (B, T, 7).

    Args:
        requested: γ_u, the requested emotion per frame (B, T, 7), or None.
        predicted: γ_a, the predicted (rescaled) priors (B, T, 7), or None without a predictor.
        mask: frame mask (B, T); the mean of γ_a is over real frames.

    Without a request γ = γ_a; without a predictor γ = γ_u; without either, zeros.
    """
    if requested is None:
        return predicted if predicted is not None else torch.zeros(*mask.shape, NUM_EMOTIONS, device=mask.device)
    if predicted is None:
        return requested
    return requested + predicted - masked_time_mean(predicted, mask)


# --- Blocks --------------------------------------------------------------------------------------


class ParameterCNN(nn.Module):
    """The supplement's 3-layer CNN, (B, T, in) to (B, T, P): (in→hidden, k1, ReLU), (hidden→hidden, k3, ReLU), (hidden→P, k1).

    Padded frames are zeroed before the k3 layer, so that a clip's last real frames see the same
    zero border whether or not the batch pads it.
    """

    def __init__(self, *, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.inp = nn.Conv1d(in_dim, hidden, 1)
        self.mid = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.out = nn.Conv1d(hidden, out_dim, 1)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.act(self.inp(x.transpose(1, 2))) * mask[:, None, :]  # (B, hidden, T)
        return self.out(self.act(self.mid(h))).transpose(1, 2)  # (B, T, P)


class StyleEncoder(nn.Module):
    """Transformer encoder over speech features; the last real frame's output is the style vector: (B, T, C) to (B, S).

    Args:
        feature_dim: C.
        dim: S, the model width and the style vector's size (64 in the paper).
        layers: encoder blocks (4).
        heads: attention heads.
        ff_dim: feed-forward width of each block.
    """

    def __init__(self, *, feature_dim: int, dim: int, layers: int, heads: int, ff_dim: int) -> None:
        super().__init__()
        self.project = nn.Linear(feature_dim, dim)
        block = nn.TransformerEncoderLayer(dim, heads, ff_dim, dropout=0.0, batch_first=True)  # attention, add & norm
        self.encoder = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.project(features)  # (B, T, S)
        x = x + sinusoidal_positions(x.shape[1], x.shape[2]).to(x)
        h = self.encoder(x, src_key_padding_mask=mask <= 0)  # (B, T, S)
        last = (mask.sum(dim=1).long() - 1).clamp_min(0)  # (B,)
        return h[torch.arange(len(h)), last]  # (B, S)


class EmotionPredictor(nn.Module):
    """A bi-directional LSTM layer over speech features and a linear layer to emotion logits: (B, T, C) to (B, T, 7)."""

    def __init__(self, *, feature_dim: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(feature_dim, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, NUM_EMOTIONS)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        lengths = mask.sum(dim=1).long().clamp_min(1).cpu()  # (B,)
        packed = nn.utils.rnn.pack_padded_sequence(features, lengths, batch_first=True, enforce_sorted=False)
        h, _ = self.lstm(packed)  # the backward direction starts at each clip's last real frame
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=features.shape[1])  # (B, T, 2H)
        return self.head(h)


class EmotionAugment(nn.Module):
    """Paper 002's emotion augment network: A(γ, raw) added to raw (Eq. 3); (B, T, 7), (B, T, P) to (B, T, P).

    Args:
        param_dim: P.
        emotion_dim: the embedding's width (128).
        hidden: the CNN's hidden channels (128).
    """

    def __init__(self, *, param_dim: int, emotion_dim: int, hidden: int, speaker_dim: int = 0) -> None:
        super().__init__()
        self.embedding = nn.Linear(NUM_EMOTIONS, emotion_dim, bias=False)  # the learned 7 × 128 matrix
        self.norm = nn.LayerNorm(emotion_dim + param_dim + speaker_dim)
        self.cnn = ParameterCNN(in_dim=emotion_dim + param_dim + speaker_dim, hidden=hidden, out_dim=param_dim)

    def forward(self, priors: torch.Tensor, raw: torch.Tensor, mask: torch.Tensor,
                speaker: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        parts = [self.embedding(priors), raw]  # (B, T, 128), (B, T, P)
        if speaker is not None:  # (B, N): the speaker's one-hot on every frame
            parts.append(speaker[:, None, :].expand(-1, raw.shape[1], -1))
        return raw + self.cnn(self.norm(torch.cat(parts, dim=-1)), mask)


# --- The model -----------------------------------------------------------------------------------


class EmotionControl(Animator):
    """Audio2FLAME plus the emotion controller (see the module docstring).

    Args:
        feature_dim: C, speech feature channels.
        param_dim: P, face parameters.
        content_dim: width of the content vectors ω.
        style_dim: width of the style vector ψ (and of the style encoder).
        style_layers: style encoder blocks.
        style_heads: style encoder attention heads.
        hidden: hidden channels of both CNNs.
        predictor_hidden: the LSTM's hidden size per direction.
        emotion_dim: width of the emotion embedding.
        augment: use the emotion augment network; False is Audio2FLAME alone.
        predictor: use the emotion predictor; False is user control alone.
        num_subjects: N > 0 gives the augment network the speaker's one-hot (training speakers; an unseen
            speaker gets the average, `subject_one_hot`), so that it can learn how strongly each speaker
            shows an emotion. Not in the paper; 0 (the default) is the paper's network.
        prior_source: "recognizer" (the batch's `emotion_prior` logits, rescaled) or "labels" (its
            `emotion` vectors) as the pseudo ground truth that drives the augment network in training.
        request_basis: "onehot" (the paper: γ_u is the requested vector itself) or "prototypes"
            (each requested category is replaced by its prototype: the mean rescaled training prior
            of the frames the recognizer assigns to it, fitted in `fit_emotion_priors`).
        face: the parametric face the parameters drive (for vertex losses); None when there is none.
        fps: motion frames per second.
        kind: the output's motion kind ("blendshapes" for ARKit weights, "params" for FLAME).
        channels: the parameters' names.
    """

    prior_min: torch.Tensor
    prior_max: torch.Tensor
    prototypes: torch.Tensor

    def __init__(self, *, feature_dim: int, param_dim: int, content_dim: int = 192, style_dim: int = 64,
                 style_layers: int = 4, style_heads: int = 4, hidden: int = 128, predictor_hidden: int = 128,
                 emotion_dim: int = 128, augment: bool = True, predictor: bool = True, num_subjects: int = 0,
                 prior_source: str = "recognizer",
                 request_basis: str = "onehot", face: ParametricFace | None = None, fps: float = 30.0, kind: str = "blendshapes",
                 channels: tuple[str, ...] = ()) -> None:  # fmt: skip
        super().__init__()
        if prior_source not in PRIOR_SOURCES:
            raise ValueError(f"prior_source must be one of {', '.join(PRIOR_SOURCES)}, got {prior_source!r}")
        if request_basis not in REQUEST_BASES:
            raise ValueError(f"request_basis must be one of {', '.join(REQUEST_BASES)}, got {request_basis!r}")
        self.fps, self.kind, self.channels = fps, kind, tuple(channels)
        self.prior_source = prior_source
        self.norm = FeatureNorm(feature_dim)
        self.content = nn.Linear(feature_dim, content_dim)  # ω_t
        self.style = StyleEncoder(feature_dim=feature_dim, dim=style_dim, layers=style_layers, heads=style_heads,
                                  ff_dim=2 * style_dim)  # fmt: skip
        self.audio2params = ParameterCNN(in_dim=content_dim + style_dim, hidden=hidden, out_dim=param_dim)
        self.predictor = EmotionPredictor(feature_dim=feature_dim, hidden=predictor_hidden) if augment and predictor else None
        self.num_subjects = num_subjects
        self.augment = EmotionAugment(param_dim=param_dim, emotion_dim=emotion_dim, hidden=hidden,
                                      speaker_dim=num_subjects) if augment else None  # fmt: skip
        self.register_buffer("prior_min", torch.zeros(NUM_EMOTIONS))
        self.register_buffer("prior_max", torch.ones(NUM_EMOTIONS))
        self.register_buffer("prototypes", torch.eye(NUM_EMOTIONS))  # row c: category c in prior space
        self.request_basis = request_basis
        self.face = face

    def fit_feature_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.norm.fit(mean, std)

    def fit_emotion_priors(self, priors: torch.Tensor) -> None:
        """The supplement's max-min normalization: the per-emotion minimum and maximum of the training priors (N, 7)."""
        self.prior_min.copy_(priors.min(dim=0).values)
        self.prior_max.copy_(priors.max(dim=0).values)
        # each category's prototype: the mean rescaled prior of the frames the recognizer puts in it
        rescaled, recognized = self.rescale(priors), priors.argmax(dim=1)
        for category in range(NUM_EMOTIONS):
            frames = rescaled[recognized == category]
            if len(frames):
                self.prototypes[category] = frames.mean(dim=0)

    def request(self, emotion: torch.Tensor) -> torch.Tensor:
        """γ_u of requested emotion vectors (B, T, 7): themselves, or (`request_basis: prototypes`) the
        same mixture of the categories' prototypes."""
        return emotion @ self.prototypes if self.request_basis == "prototypes" else emotion

    def rescale(self, logits: torch.Tensor) -> torch.Tensor:
        """Emotion logits (..., 7) rescaled so that the training priors span [0, 1] per emotion."""
        return (logits - self.prior_min) / (self.prior_max - self.prior_min).clamp_min(MIN_PRIOR_RANGE)

    def raw_parameters(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Audio2FLAME: the raw parameters (B, T, P) of standardized speech features (B, T, C)."""
        content = self.content(features)  # (B, T, content_dim)
        style = self.style(features, mask)  # (B, style_dim)
        x = torch.cat([content, style[:, None, :].expand(-1, content.shape[1], -1)], dim=-1)  # (B, T, 256)
        return self.audio2params(x, mask)

    def _target_priors(self, batch: Batch) -> torch.Tensor | None:
        """The pseudo ground-truth priors (B, T, 7) of a dataset batch, rescaled; None for an inference batch."""
        if self.prior_source == "recognizer":
            return self.rescale(batch["emotion_prior"]) if "emotion_prior" in batch else None
        if "emotion" in batch and "motion" in batch:  # a dataset batch (training or validation): its labels
            return batch["emotion"] * batch["emotion_mask"][..., None]
        return None

    def forward(self, batch: Batch) -> ModelOutput:
        mask = batch["mask"]  # (B, T)
        features = self.norm(batch["features"])  # (B, T, C)
        raw = self.raw_parameters(features, mask)  # (B, T, P)
        extras = {"raw_motion": raw}
        if self.augment is None:
            return ModelOutput(motion=raw, extras=extras, face=self.face)
        predicted = None
        if self.predictor is not None:
            predicted = self.rescale(self.predictor(features, mask))  # γ_a, (B, T, 7)
            extras["predicted_priors"] = predicted
        target = self._target_priors(batch)
        if target is not None:  # training: the emotion the target motion shows drives the augment network
            extras["target_priors"] = target
            priors = target
        else:
            requested = batch.get("emotion")
            priors = control_priors(None if requested is None else self.request(requested), predicted, mask)  # γ
        extras["priors"] = priors
        speaker = subject_one_hot(batch["subject"], self.num_subjects) if self.num_subjects else None
        return ModelOutput(motion=self.augment(priors, raw, mask, speaker), extras=extras, face=self.face)


# --- Config and builders -------------------------------------------------------------------------


@dataclass
class EmotionControlConfig:
    """Options of `emotion_control` (see `EmotionControl`); the paper's sizes are the defaults.

    Attributes:
        speaker: give the augment network the training speaker's one-hot (`EmotionControl.num_subjects`).
        flame_model: the user's FLAME model file (`generic_model.pkl`, or an `.npz` of its arrays),
            for the vertex losses of a model trained on FLAME parameters; never saved with the weights.
            A model that only generates does not need it.
    """

    content_dim: int = 192
    style_dim: int = 64
    style_layers: int = 4
    style_heads: int = 4
    hidden: int = 128
    predictor_hidden: int = 128
    emotion_dim: int = 128
    augment: bool = True
    predictor: bool = True
    prior_source: str = "recognizer"
    request_basis: str = "onehot"
    speaker: bool = False
    flame_model: str = ""


def _inputs(config: EmotionControlConfig) -> InputSpec:
    emotion = config.augment
    return InputSpec(emotion=emotion, emotion_prior=emotion and config.prior_source == "recognizer")


def _face(config: EmotionControlConfig, sizes: DataSizes) -> ParametricFace | None:
    """The face the parameters drive: the default face for ARKit weights, FLAME for FLAME parameters."""
    channels = sizes.channel_names()
    if arkit_channels(channels):
        from facetalk.face.parametric import ArkitFace

        return ArkitFace()
    if config.flame_model:
        from pathlib import Path

        from facetalk.face.flame import FlameFace, load_flame

        if Path(config.flame_model).expanduser().is_file():
            return FlameFace(load_flame(config.flame_model), channels)
        # a saved model names the FLAME file it was trained with; generating needs no face
        return None
    if sizes.kind == "params":
        return None
    raise InvalidInputError(f"emotion_control predicts face parameters: ARKit weights or FLAME parameters, not {sizes.kind}")


@register_model("emotion_control", EmotionControlConfig, inputs=_inputs,
                presets={"small": {"hidden": 96, "predictor_hidden": 64, "emotion_dim": 64, "style_layers": 2},
                         "tiny": {"content_dim": 8, "style_dim": 8, "style_layers": 1, "style_heads": 2, "hidden": 16,
                                  "predictor_hidden": 8, "emotion_dim": 8}})  # fmt: skip
def emotion_control(config: EmotionControlConfig, sizes: DataSizes) -> EmotionControl:
    """The paper's sizes; `small` for CPU training, `tiny` for tests."""
    for option, value, known in (("prior_source", config.prior_source, PRIOR_SOURCES),
                                 ("request_basis", config.request_basis, REQUEST_BASES)):  # fmt: skip
        if value not in known:
            raise InvalidInputError(f"model emotion_control: {option} must be one of {', '.join(known)}, got {value!r}")
    return EmotionControl(feature_dim=sizes.feature_dim, param_dim=sizes.motion_dim, content_dim=config.content_dim,
                          style_dim=config.style_dim, style_layers=config.style_layers, style_heads=config.style_heads,
                          hidden=config.hidden, predictor_hidden=config.predictor_hidden, emotion_dim=config.emotion_dim,
                          augment=config.augment, predictor=config.predictor,
                          num_subjects=sizes.num_subjects if config.speaker else 0, prior_source=config.prior_source,
                          request_basis=config.request_basis,
                          face=_face(config, sizes), fps=sizes.fps, kind=sizes.kind,
                          channels=sizes.channel_names())  # fmt: skip
