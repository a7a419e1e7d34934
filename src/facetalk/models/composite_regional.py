"""`composite_regional`: paper 001, Wu et al., "Speech-Driven 3D Face Animation with Composite and
Regional Facial Movements" (ACM MM 2023).

Blocks, top to bottom in the order the paper introduces them (B batch, S samples, F encoder frames,
T motion frames, T' reference frames, C_in speech channels, E = C_face embedding channels, D motion
channels: 3V vertex coordinates or K blendshapes):

1. §4.4 speech features Z_audio (B, T, E): cached features at the motion rate, or a speech encoder
   fine-tuned end to end on the window's audio, its frames resampled to the motion rate; then
   standardized and projected to E channels.
2. §4.2 adaptive modulation: a reference motion (B, T', D) is centred on its mean face (Eq. 1),
   embedded frame by frame with the matrix W, encoded by a ResNet1D with two stride-2 stages
   (T' -> T'/4), and summarised by its temporal mean and std, which a linear layer maps to the mean
   and std the audio features take on through AdaIN (Eq. 2): Z_fuse.
3. §4.3 sparsity regularizer: W's L1 norm, returned as `extras["embedding_l1"]`; its weight β is a
   loss weight of the training config (paper: 1e-4), not part of the model.
4. §4.4 decoder: W·S̄ (the embedded neutral face) is added to every frame of Z_fuse, a stride-1
   ResNet1D-18 predicts Z_pred (B, T, E), and Eq. 3 turns it into vertices with the same W:
   Ŝ_i = S̄ + α·Wᵀ·Z_pred[i].

What the paper leaves open, and what this file does:

- Z_audio must have C_face channels because W·S̄ is added to Z_fuse; the paper's HuBERT has 1024, so
  we put a linear projection C_in -> E after a per-channel standardization of the features.
- "a linear layer" maps (μ(Z_face), σ(Z_face)) to (μ_predict, σ_predict): we use one linear layer on
  their concatenation; σ_predict goes through a softplus to stay positive, its bias starting where
  the softplus is 1, so that at initialization the modulation only standardizes Z_audio.
- ResNet1D has a kernel-3 stride-1 stem (see `facetalk.models.modules.resnet1d`); every temporal
  mean and std counts real frames only. The decoder normalises each frame with a LayerNorm; the face
  encoder uses BatchNorm over real frames (`face_encoder_norm="batch"`, the image ResNet's norm). A
  per-frame LayerNorm there erases each frame's magnitude, so the encoder cannot tell a speaker who
  moves a lot from one who barely moves: trained that way, its last ReLUs all died, its output was
  constant, and the reference had no effect at all (docs/models/composite_regional.md).
- The reference is centred on its own mean face (Eq. 1, `reference_centre="mean"`) or, as an
  option, on its speaker's neutral face (`"template"`: identity is removed all the same, and a held
  expression such as a persona's smile stays in; the batch's `style_template`).
- In training the reference is the target window itself (the paper's setting: the driven sequence is
  its own reference) or another clip of the same speaker (`data.style.reference: same_speaker`); at
  inference it comes from `Conditions.style`.
- The decoder's last 1x1 convolution starts at zero: the untrained model outputs the template.
- The model works in data units × `motion_scale` (e.g. 1000: metres to millimetres) and returns data
  units.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facetalk.audio.encoders import SpeechEncoder
from facetalk.data.collate import Batch
from facetalk.errors import InvalidInputError
from facetalk.models.base import Animator, DataSizes, ModelOutput, register_model
from facetalk.models.inputs import InputSpec
from facetalk.models.modules.feature_norm import FeatureNorm
from facetalk.models.modules.resnet1d import ResNet1D
from facetalk.models.modules.speech_input import fine_tuned_encoder, speech_frames
from facetalk.types import Motion

OUTPUT_SCALE = 0.1
"""α of Eq. 3, scaling the predicted movements "for faster convergence" (§4.4)."""
PAPER_EMBED_DIM = 256
"""C_face, the rows of W (§4.5: W is 3N × 256)."""
RESNET18_WIDTHS = (64, 128, 256, 512)
RESNET18_BLOCKS = (2, 2, 2, 2)
"""ResNet-18's stages (§4.5), for both the decoder and the face encoder."""
DECODER_STRIDES = (1, 1, 1, 1)
"""No downsampling in the decoder: kernel 3, stride 1 everywhere keeps high-frequency detail (§4.4)."""
FACE_ENCODER_STRIDES = (1, 2, 2, 1)
"""Two stride-2 stages: Z_face has T'/4 frames (§4.2)."""
STATS_EPS = 1e-5
"""Added to a variance before its square root, in Eq. 2's σ(Z_audio) and in σ(Z_face)."""
REFERENCE_CENTRES = ("mean", "template")
"""Where the reference motion is centred before it is embedded: its own mean face (Eq. 1) or its speaker's neutral face."""
SOFTPLUS_INVERSE_OF_ONE = math.log(math.e - 1.0)
"""softplus(x) = 1 at this x: the initial bias of σ_predict."""
XYZ = 3


# --- Pure functions -------------------------------------------------------------------------------


def masked_mean_std(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over the real frames.

    Args:
        x: frames, shape (B, T, C).
        mask: 1 on real frames, 0 on padding, shape (B, T).

    Returns:
        Mean and std, each (B, C); the std is sqrt(variance + `STATS_EPS`), the variance divided by
        the number of real frames.
    """
    weights = mask.to(x.dtype)[..., None]  # (B, T, 1)
    count = weights.sum(dim=1).clamp_min(1.0)  # (B, 1)
    mean = (x * weights).sum(dim=1) / count  # (B, C)
    var = ((x - mean[:, None, :]).square() * weights).sum(dim=1) / count  # (B, C)
    return mean, torch.sqrt(var + STATS_EPS)


def adain(content: torch.Tensor, mask: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
          content_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:  # fmt: skip
    """Eq. 2, adaptive instance normalization over time: give each channel's real frames `mean` and `std`.

    Args:
        content: Z_audio, shape (B, T, C).
        mask: 1 on real frames, 0 on padding, shape (B, T); padding does not count in the statistics.
        mean: μ_predict, shape (B, C).
        std: σ_predict, shape (B, C).
        content_stats: μ(Z_audio) and σ(Z_audio), each (B, C), when they come from a longer clip
            than `content` (a window of it); default: `masked_mean_std(content, mask)`.

    Returns:
        Z_fuse, shape (B, T, C).
    """
    content_mean, content_std = content_stats if content_stats is not None else masked_mean_std(content, mask)  # (B, C) each
    return std[:, None, :] * (content - content_mean[:, None, :]) / content_std[:, None, :] + mean[:, None, :]


# --- §4.2 Adaptive modulating module --------------------------------------------------------------


class AdaptiveModulation(nn.Module):
    """A reference motion's speech-independent statistics, as the target mean and std of Z_audio.

    Args:
        embed_dim: E = C_face.
        widths: channels of the face encoder's four ResNet1D stages.
    """

    def __init__(self, embed_dim: int, *, widths: Sequence[int], norm: str = "batch", centre: str = "mean") -> None:
        super().__init__()
        if centre not in REFERENCE_CENTRES:
            raise ValueError(f"reference centre must be one of {', '.join(REFERENCE_CENTRES)}, got {centre!r}")
        self.centre = centre
        self.face_encoder = ResNet1D(embed_dim, embed_dim, widths=widths, blocks=RESNET18_BLOCKS, strides=FACE_ENCODER_STRIDES,
                                     norm=norm)  # fmt: skip
        self.to_stats = nn.Linear(2 * embed_dim, 2 * embed_dim)  # [μ(Z_face), σ(Z_face)] -> [μ_predict, σ_predict]
        with torch.no_grad():
            self.to_stats.bias[embed_dim:].fill_(SOFTPLUS_INVERSE_OF_ONE)

    def forward(self, reference: torch.Tensor, mask: torch.Tensor, embedding: torch.Tensor,
                neutral: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """μ_predict and σ_predict of a reference motion.

        Args:
            reference: reference motion {S_1 ... S_T'} in model units, shape (B, T', D).
            mask: 1 on real frames, 0 on padding, shape (B, T').
            embedding: W, shape (E, D).
            neutral: the reference speaker's neutral face in model units (B, D), for `centre="template"`;
                None is a zero face (blendshapes).

        Returns:
            μ_predict and σ_predict (positive), each (B, E).
        """
        weights = mask.to(reference.dtype)[..., None]  # (B, T', 1)
        if self.centre == "mean":  # Eq. 1: the reference's own mean face
            origin = (reference * weights).sum(dim=1, keepdim=True) / weights.sum(dim=1, keepdim=True).clamp_min(1.0)
        else:  # the speaker's neutral face: removes identity as Eq. 1 does, and keeps held expressions
            origin = torch.zeros_like(reference[:, :1]) if neutral is None else neutral[:, None, :]
        centred = (reference - origin) * weights  # (B, T', D); padding stays 0
        embedded = centred @ embedding.T  # (B, T', E)
        z_face = self.face_encoder(embedded.transpose(1, 2), mask).transpose(1, 2)  # (B, T'/4, E)
        face_mean, face_std = masked_mean_std(z_face, self.face_encoder.output_mask(mask))  # (B, E) each
        mean, raw_std = self.to_stats(torch.cat([face_mean, face_std], dim=-1)).chunk(2, dim=-1)  # (B, E) each
        return mean, F.softplus(raw_std)


# --- The model ------------------------------------------------------------------------------------


class CompositeRegional(Animator):
    """Speech to motion with adaptive modulation by a reference motion and a sparse shared embedding W.

    Args:
        speech_dim: C_in, channels of the cached features or of `speech_encoder`.
        motion_dim: D, motion channels (3V vertex coordinates or K blendshapes).
        embed_dim: E = C_face, rows of W (paper: 256).
        decoder_widths: channels of the decoder's four ResNet1D stages.
        encoder_widths: channels of the face encoder's four ResNet1D stages.
        composite: adaptive modulation on; False is the paper's "w/o composite" ablation (Z_fuse = Z_audio).
        output_scale: α of Eq. 3.
        motion_scale: the model works in data units × this (template and reference are multiplied by
            it, the output divided by it), e.g. 1000 for vertices in metres.
        speech_encoder: a speech encoder fine-tuned end to end on `batch["audio"]`; None reads cached
            features from `batch["features"]`. Kept as the submodule `encoder`, so the training loop's
            `freeze_encoder_steps` (parameters named "encoder.*") gives the paper's warm-up.
        face_encoder_norm: normalisation in the face encoder: "batch" (masked BatchNorm, which keeps a
            reference's amplitude) or "layer" (per-frame LayerNorm, blind to it).
        reference_centre: "mean" (Eq. 1) or "template" (the reference speaker's neutral face, which
            keeps held expressions in the reference).
        embed_identity: add W·S̄ to the decoder's input (§4.4); False keeps the face out of the
            decoder, so that its style can only come from the reference.
        fps: motion frames per second of the output.
        kind: "vertices", "blendshapes" or "params".
        channels: channel names of blendshape or parameter output.
    """

    encoder: SpeechEncoder | None
    modulation: AdaptiveModulation | None

    template_mean: torch.Tensor

    def __init__(self, *, speech_dim: int, motion_dim: int, embed_dim: int = PAPER_EMBED_DIM,
                 decoder_widths: Sequence[int] = RESNET18_WIDTHS, encoder_widths: Sequence[int] = RESNET18_WIDTHS,
                 composite: bool = True, output_scale: float = OUTPUT_SCALE, motion_scale: float = 1.0,
                 speech_encoder: SpeechEncoder | None = None, face_encoder_norm: str = "batch", reference_centre: str = "mean",
                 embed_identity: bool = True, fps: float = 30.0, kind: str = "vertices",
                 channels: Sequence[str] = ()) -> None:  # fmt: skip
        super().__init__()
        if speech_encoder is not None and speech_encoder.dim != speech_dim:
            raise ValueError(f"speech_dim {speech_dim} does not match the speech encoder's {speech_encoder.dim} channels")
        if not motion_scale > 0:
            raise ValueError(f"motion_scale must be positive, got {motion_scale}")
        self.fps, self.kind, self.channels = fps, kind, tuple(channels)
        self.motion_dim, self.output_scale, self.motion_scale = motion_dim, output_scale, motion_scale
        self.embed_identity = embed_identity
        self.encoder = speech_encoder
        self.feature_norm = FeatureNorm(speech_dim)
        self.audio_projection = nn.Linear(speech_dim, embed_dim)
        # W of §4.3-4.4, (E, D): embeds motion (x @ W.T) and decodes it (z @ W); nn.Linear's fan-in init
        self.embedding = nn.Parameter(torch.empty(embed_dim, motion_dim).uniform_(-1.0, 1.0) / math.sqrt(motion_dim))
        # The training set's mean neutral face, data units (D,): W embeds S̄ minus it, i.e. the speaker's identity,
        # as the paper's mean-normalised data do; embedding absolute positions would swamp Z_fuse.
        self.register_buffer("template_mean", torch.zeros(motion_dim))
        self.modulation = None
        if composite:
            self.modulation = AdaptiveModulation(embed_dim, widths=encoder_widths, norm=face_encoder_norm,
                                                 centre=reference_centre)  # fmt: skip
        self.decoder = ResNet1D(embed_dim, embed_dim, widths=decoder_widths, blocks=RESNET18_BLOCKS, strides=DECODER_STRIDES)
        # Z_pred starts at 0, so the untrained model outputs the template (Ŝ_i = S̄) instead of noise that the
        # first steps would spend removing; FaceFormer zero-initialises its output map the same way.
        for param in self.decoder.head.parameters():
            nn.init.zeros_(param)

    def fit_feature_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Standardize the speech features (cached, or the fine-tuned encoder's output) with these (C_in,) statistics."""
        self.feature_norm.fit(mean, std)

    def fit_template_mean(self, mean: torch.Tensor) -> None:
        """Embed neutral faces relative to this (D,) mean face of the training speakers (data units)."""
        self.template_mean.copy_(mean)

    def forward(self, batch: Batch) -> ModelOutput:
        """Predict motion for a padded batch.

        Reads `features` (B, T, C_in) or, with a speech encoder, `audio` (B, S); `mask` (B, T);
        `template` (B, D) if any (else zeros); and the reference: `style` (B, T', D) with
        `style_mask` (B, T'), else the target `motion` (B, T, D) with `mask`; and, for a window of a
        longer clip, that clip's `speech_mean` and `speech_std` (B, E) (`clip_context`).

        Returns:
            `motion` (B, T, D) in data units; `extras["embedding_l1"]`, the 0-dim ‖W‖₁ (§4.3).
        """
        speech = self._speech(batch)  # (B, T, C_in)
        mask = batch.get("mask")
        if mask is None:
            mask = torch.ones(speech.shape[:2], device=speech.device)  # (B, T)
        z_audio = self.audio_projection(self.feature_norm(speech))  # (B, T, E)

        if self.modulation is not None:  # §4.2
            reference, reference_mask = self._reference(batch)  # (B, T', D), (B, T')
            neutral = batch.get("style_template", batch.get("template"))  # the reference speaker's face, (B, D)
            neutral = None if neutral is None else neutral * self.motion_scale
            mean, std = self.modulation(reference * self.motion_scale, reference_mask, self.embedding, neutral)  # (B, E) each
            clip_stats = (batch["speech_mean"], batch["speech_std"]) if "speech_mean" in batch else None  # see clip_context
            z_fuse = adain(z_audio, mask, mean, std, clip_stats)  # (B, T, E)
        else:
            z_fuse = z_audio

        template = self._template(batch, speech) * self.motion_scale  # S̄, (B, D)
        hidden = z_fuse  # (B, T, E)
        if self.embed_identity:
            identity = template - self.template_mean * self.motion_scale  # S̄ relative to the training speakers' mean face
            hidden = hidden + (identity @ self.embedding.T)[:, None, :]  # + W·S̄ on every frame
        z_pred = self.decoder(hidden.transpose(1, 2), mask).transpose(1, 2)  # (B, T, E)
        motion = template[:, None, :] + self.output_scale * (z_pred @ self.embedding)  # Eq. 3, (B, T, D)
        return ModelOutput(motion=motion / self.motion_scale, extras={"embedding_l1": self.embedding.abs().sum()})

    @torch.no_grad()
    def generate(self, batch: Batch) -> Motion:
        """Motion for one clip, in the style of the batch's `style` on the face of its `template`.

        A style reference is required unless the model is the "w/o composite" ablation (`forward`
        says so), and the neutral face for vertex output.
        """
        if self.kind == "vertices" and "template" not in batch:
            raise InvalidInputError("composite_regional: vertex output needs the neutral face (Conditions.template)")
        return super().generate(batch)

    @torch.no_grad()
    def clip_context(self, windows: Iterable[Batch]) -> dict[str, torch.Tensor]:
        """μ(Z_audio) and σ(Z_audio) of Eq. 2 over the whole clip, as `speech_mean` and `speech_std` (1, E).

        Summed window by window in float64, so a long clip's windows are modulated as the whole clip would be.
        """
        if self.modulation is None:
            return {}
        was_training = self.training
        self.eval()
        try:
            sums = []  # per window: Σ z, Σ z², frames; (1, 2E + 1)
            for batch in windows:
                z_audio = self.audio_projection(self.feature_norm(self._speech(batch))).double()  # (1, T, E)
                weights = batch["mask"].double()[..., None]  # (1, T, 1)
                sums.append(torch.cat([(z_audio * weights).sum(dim=1), (z_audio.square() * weights).sum(dim=1),
                                       weights.sum(dim=1)], dim=-1))  # fmt: skip
        finally:
            self.train(was_training)
        if not sums:
            return {}
        total = torch.stack(sums).sum(dim=0)  # (1, 2E + 1)
        dim = (total.shape[-1] - 1) // 2
        count = total[:, -1:].clamp_min(1.0)
        mean = total[:, :dim] / count
        variance = (total[:, dim : 2 * dim] / count - mean.square()).clamp_min(0.0)
        return {"speech_mean": mean.float(), "speech_std": torch.sqrt(variance + STATS_EPS).float()}

    def _speech(self, batch: Batch) -> torch.Tensor:
        """Z_audio's input at the motion rate, shape (B, T, C_in)."""
        return speech_frames(batch, self.encoder, channels=self.feature_norm.mean.shape[0], fps=self.fps,
                             model="composite_regional")

    def _reference(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The reference motion (B, T', D) in data units and its frame mask (B, T')."""
        if "style" not in batch:  # training windows get one from data.style, inference from Conditions.style
            raise InvalidInputError("composite_regional: needs a style reference motion (Conditions.style)")
        reference, mask = batch["style"], batch.get("style_mask")
        if reference.ndim != 3 or reference.shape[-1] != self.motion_dim or reference.shape[1] == 0:
            raise InvalidInputError(f"composite_regional: style reference of shape {tuple(reference.shape)}, "
                                    f"expected (B, T', {self.motion_dim}) with T' >= 1")  # fmt: skip
        if mask is None:
            mask = torch.ones(reference.shape[:2], device=reference.device)
        return reference, mask

    def _template(self, batch: Batch, speech: torch.Tensor) -> torch.Tensor:
        """S̄ in data units, shape (B, D); zeros when the batch has none (blendshapes, parameters)."""
        template = batch.get("template")
        if template is None:
            return torch.zeros(speech.shape[0], self.motion_dim, device=speech.device, dtype=speech.dtype)
        if template.ndim != 2 or template.shape[-1] != self.motion_dim:
            shape = tuple(template.shape)
            raise InvalidInputError(f"composite_regional: template of shape {shape}, expected (B, {self.motion_dim})")
        return template


def embedding_influence(model: CompositeRegional) -> np.ndarray:
    """How strongly each embedding channel reaches each vertex or channel (paper Figure 7).

    Returns:
        float32 (E, V) for vertex models, the L2 norm over xyz of each vertex's three columns of W;
        (E, K) absolute values of W otherwise.
    """
    weights = model.embedding.detach().cpu().numpy().astype(np.float32)  # (E, D)
    if model.kind != "vertices":
        return np.abs(weights)
    if weights.shape[1] % XYZ:
        raise InvalidInputError(f"composite_regional: vertex model with {weights.shape[1]} channels, not a multiple of 3")
    return np.linalg.norm(weights.reshape(weights.shape[0], -1, XYZ), axis=-1)  # (E, V)


# --- Registered builders --------------------------------------------------------------------------


@dataclass
class CompositeRegionalConfig:
    """Options of `composite_regional` (see `CompositeRegional`).

    Attributes:
        embed_dim: E = C_face (paper: 256).
        widths: channels of the four ResNet1D stages of the decoder and the face encoder.
        composite: adaptive modulation on (False: the "w/o composite" ablation).
        motion_scale: data units × this inside the model.
        encoder: a registered speech encoder to fine-tune end to end (fed raw audio); None reads cached features.
        encoder_options: its builder's options (`freeze: true` keeps it fixed).
        face_encoder_norm: "batch" or "layer".
        reference_centre: "mean" (Eq. 1) or "template".
        embed_identity: add W·S̄ to the decoder's input (§4.4).
    """

    embed_dim: int = PAPER_EMBED_DIM
    widths: list[int] = field(default_factory=lambda: list(RESNET18_WIDTHS))
    composite: bool = True
    motion_scale: float = 1.0
    encoder: str | None = None
    encoder_options: dict[str, Any] = field(default_factory=dict)
    face_encoder_norm: str = "batch"
    reference_centre: str = "mean"
    embed_identity: bool = True


def _inputs(config: CompositeRegionalConfig) -> InputSpec:
    return InputSpec(speech="audio" if config.encoder else "features", style=config.composite, template=True)


@register_model("composite_regional", CompositeRegionalConfig, inputs=_inputs,
                presets={"small": {"embed_dim": 128, "widths": [32, 64, 128, 256]},
                         "tiny": {"embed_dim": 16, "widths": [8, 8, 16, 16]}})  # fmt: skip
def composite_regional(config: CompositeRegionalConfig, sizes: DataSizes) -> CompositeRegional:
    """The paper's sizes: E = 256, ResNet-18 widths (64, 128, 256, 512) in the decoder and the face encoder.
    Presets: `small` (E = 128, widths 32-256: trains on a 2-core CPU, the shipped synthetic-corpus model)
    and `tiny` (E = 16, widths 8-16: tests). The reference motion, not a speaker id, carries the style."""
    speech_encoder = fine_tuned_encoder(config.encoder, config.encoder_options, feature_dim=sizes.feature_dim,
                                        model="composite_regional")
    return CompositeRegional(speech_dim=sizes.feature_dim, motion_dim=sizes.motion_dim, embed_dim=config.embed_dim,
                             decoder_widths=config.widths, encoder_widths=config.widths, composite=config.composite,
                             motion_scale=config.motion_scale, speech_encoder=speech_encoder,
                             face_encoder_norm=config.face_encoder_norm, reference_centre=config.reference_centre,
                             embed_identity=config.embed_identity,
                             fps=sizes.fps, kind=sizes.kind, channels=sizes.channel_names())  # fmt: skip
