"""`audio_text_fusion`: paper 003, Fan, Lin, Saito, Wang, Komura, "Joint Audio-Text Model for Expressive
Speech-Driven 3D Facial Animation" (shared/papers/003_9e44c13c583ae83e.txt).

Blocks, top to bottom in the order the paper introduces them (B batch, T motion frames, C speech
channels, C_text text channels, W = 128 audio width, A = 128 audio embedding, L = 64 text embedding,
D motion channels: 3V vertex coordinates or K blendshapes):

1. Audio encoding (Method, "Audio Encoding"; Implementation Details): the 128-bin dB mel spectrogram
   at the motion frame rate (the `mel` speech encoder, cached features (B, T, C)), four dilated
   temporal convolutions (W filters, kernel 3, dilations 1, 2, 4, 8, each followed by a LeakyReLU,
   residual connections), the speaker one-hot concatenated to the last convolution's output, and an
   A-unit FC layer: H_a (B, T, A).
2. Text encoding (Method, "Text Encoding"): per-frame word embeddings of a pretrained language model
   (the input pipeline's `text` features (B, T, C_text): word vectors repeated over each word's
   aligned frames, zero in pauses, 16-frame moving average; `facetalk.text.embed`), FC 128,
   LeakyReLU, FC 64 and a 64-unit LSTM: H_l (B, T, L).
3. Tensor fusion (Eq. 2, Zadeh et al. 2017): H_m = [H_a; 1] ⊗ [H_l; 1] per frame, flattened:
   (B, T, (A + 1)(L + 1)). Its last row is [H_l; 1] and its last column [H_a; 1], so the unimodal
   embeddings pass through unchanged beside their products.
4. Decoder (Eq. 3): FC 128, two bidirectional LSTM layers of 128 units, FC to D channels: vertex
   offsets added to the speaker's neutral face, or blendshape weights. Trained with the MSE of Eq. 4
   (the `reconstruction` loss term, kind l2) and Adam at a constant learning rate (the configs).

Ablations (Table 3) are switches: `audio=False` (text only), `text=False` (audio only) and
`fusion="concat"` ([H_a; H_l] instead of the outer product).

What the paper leaves open, and what this file does:

- The mel spectrogram's dB values are standardized per bin with the training set's statistics
  (`FeatureNorm`) before the convolutions; the paper says nothing about scaling them.
- "Residual connections between layers": each convolution's output is added to its input wherever
  the two have the same width (every layer when the mel has W bins, as in the paper).
- The FC layers after the speaker concatenation and before the BLSTMs have no activation (none is
  named); the text encoder's LSTM output is H_l as is.
- A pause carries no word, so its text embedding is zero: H_l is set to 0 on frames whose text
  features are all zero (pauses beyond the smoothing window, and padding). The LSTM still runs over
  them and keeps its state across the pause. At such frames the fused vector holds only [H_a; 1]
  (Eq. 2 with H_l = 0), so nothing from the text path reaches the decoder. A batch without `text`
  is read as all pause (a clip without words).
- Unseen speakers: the paper animates them "conditioned on all six training identities"; a model
  has one chosen identity for them (`unseen_subject`, the index of a training speaker), used when a
  batch's `subject` is -1 (what `facetalk eval` and `animate` pass for a speaker it was not trained on).
- Text only drops the whole audio encoder, the speaker one-hot included (it is concatenated inside
  the audio encoder).
- Padding: convolutions see zeros beyond a clip's last frame (each layer's output is masked), and
  the LSTMs run over each window's real frames only (packed sequences), so padding never changes
  real frames and the backward direction starts at the clip's real end.
- The output layer starts at zero: the untrained model outputs the neutral face (or zero weights).
  Vertex models work in data units × `motion_scale` (metres are too small for Adam's steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from facetalk.data.collate import Batch
from facetalk.errors import InvalidInputError
from facetalk.models.base import Animator, DataSizes, ModelOutput, register_model
from facetalk.models.inputs import InputSpec
from facetalk.models.modules.feature_norm import FeatureNorm

DILATIONS = (1, 2, 4, 8)
"""The four dilated convolutions of the audio encoder (Implementation Details)."""
KERNEL_SIZE = 3
LEAKY_SLOPE = 0.01
"""PyTorch's default LeakyReLU slope; the paper gives none."""
FUSIONS = ("tensor", "concat")


# --- Pure functions ---------------------------------------------------------------------------------


def tensor_fusion(audio: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Eq. 2: [H_a; 1] ⊗ [H_l; 1] per frame, flattened row-major.

    Args:
        audio: H_a, shape (B, T, A).
        text: H_l, shape (B, T, L).

    Returns:
        H_m, shape (B, T, (A + 1)(L + 1)); entry i (L + 1) + j is a_i l_j with a_A = l_L = 1.
    """
    ones = audio.new_ones(*audio.shape[:-1], 1)
    a = torch.cat([audio, ones], dim=-1)  # (B, T, A + 1)
    t = torch.cat([text, ones], dim=-1)  # (B, T, L + 1)
    return (a[..., :, None] * t[..., None, :]).flatten(-2)  # (B, T, (A + 1)(L + 1))


def _run_lstm(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """`lstm` over each sequence's first `lengths` frames only; padded frames come out zero. (B, T, C) -> (B, T, H)."""
    packed = pack_padded_sequence(x, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)
    out, _ = lstm(packed)
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]


# --- Blocks -----------------------------------------------------------------------------------------


class AudioEncoder(nn.Module):
    """Dilated residual convolutions over the mel frames, the speaker one-hot, an FC layer: (B, T, C) -> (B, T, A).

    Args:
        feature_dim: C, mel bins.
        num_subjects: training speakers (the one-hot's size).
        width: W, filters of every convolution.
        dim: A, the embedding size.
    """

    def __init__(self, *, feature_dim: int, num_subjects: int, width: int, dim: int) -> None:
        super().__init__()
        self.norm = FeatureNorm(feature_dim)
        self.convs = nn.ModuleList(
            nn.Conv1d(feature_dim if i == 0 else width, width, KERNEL_SIZE, dilation=d, padding=d * (KERNEL_SIZE - 1) // 2)
            for i, d in enumerate(DILATIONS)
        )
        self.act = nn.LeakyReLU(LEAKY_SLOPE)
        self.num_subjects = num_subjects
        self.fc = nn.Linear(width + num_subjects, dim)

    def forward(self, features: torch.Tensor, subject: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """H_a from features (B, T, C), subject indices (B,) in [0, num_subjects) and the frame mask (B, T)."""
        keep = mask[:, None, :]  # (B, 1, T): zeros beyond each clip, as the convolution's own padding
        x = self.norm(features).transpose(1, 2) * keep  # (B, C, T)
        for conv in self.convs:
            h = self.act(conv(x)) * keep  # (B, W, T)
            x = h + x if h.shape == x.shape else h
        one_hot = F.one_hot(subject, self.num_subjects).to(x.dtype)  # (B, S)
        speaker = one_hot[:, :, None].expand(-1, -1, x.shape[-1])  # (B, S, T)
        return self.fc(torch.cat([x, speaker], dim=1).transpose(1, 2))  # (B, T, A)


class TextEncoder(nn.Module):
    """FC, LeakyReLU, FC, LSTM over per-frame word embeddings: (B, T, C_text) -> (B, T, L); zero in pauses.

    Args:
        text_dim: C_text, the language model's width.
        hidden: units of the first FC layer (paper: 128).
        dim: L, units of the second FC layer and of the LSTM (paper: 64).
    """

    def __init__(self, *, text_dim: int, hidden: int, dim: int) -> None:
        super().__init__()
        self.text_dim = text_dim
        self.mlp = nn.Sequential(nn.Linear(text_dim, hidden), nn.LeakyReLU(LEAKY_SLOPE), nn.Linear(hidden, dim))
        self.lstm = nn.LSTM(dim, dim, batch_first=True)

    def forward(self, text: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """H_l from text features (B, T, C_text) and each window's real frames (B,)."""
        words = (text != 0).any(dim=-1, keepdim=True).to(text.dtype)  # (B, T, 1): 0 in pauses and padding
        return _run_lstm(self.lstm, self.mlp(text), lengths) * words  # (B, T, L)


class Decoder(nn.Module):
    """FC, two bidirectional LSTM layers, FC (Eq. 3): (B, T, C_in) -> (B, T, D).

    Args:
        in_dim: the fused vector's size.
        width: units of the first FC layer and of each LSTM direction (paper: 128).
        layers: bidirectional LSTM layers (paper: 2).
        motion_dim: D.
    """

    def __init__(self, *, in_dim: int, width: int, layers: int, motion_dim: int) -> None:
        super().__init__()
        self.project = nn.Linear(in_dim, width)
        self.lstm = nn.LSTM(width, width, num_layers=layers, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * width, motion_dim)
        nn.init.zeros_(self.head.weight)  # the untrained model outputs the template (or zero weights)
        nn.init.zeros_(self.head.bias)

    def forward(self, fused: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(_run_lstm(self.lstm, self.project(fused), lengths))  # (B, T, D)


# --- The model --------------------------------------------------------------------------------------


class AudioTextFusion(Animator):
    """Paper 003's joint audio-text model, with its ablations.

    Args:
        feature_dim: C, mel bins (unused when `audio` is off).
        text_dim: C_text, text feature channels (unused when `text` is off).
        motion_dim: D.
        num_subjects: training speakers.
        audio: use the audio encoder (off: the "text only" ablation).
        text: use the text encoder (off: the "audio only" ablation).
        fusion: "tensor" (Eq. 2) or "concat" (Table 3's "C").
        audio_width: W, filters of the dilated convolutions.
        audio_dim: A, the audio embedding.
        text_hidden: the text encoder's first FC layer.
        text_dim_out: L, the text embedding.
        decoder_width: the decoder's FC and LSTM units.
        decoder_layers: bidirectional LSTM layers.
        unseen_subject: the training speaker whose one-hot an unseen speaker (subject -1) gets.
        motion_scale: data units × this inside the model (vertex models).
        fps: motion frames per second.
        kind: "blendshapes", "vertices" or "params".
        channels: channel names of blendshape or parameter output.
    """

    def __init__(self, *, feature_dim: int, text_dim: int, motion_dim: int, num_subjects: int, audio: bool = True,
                 text: bool = True, fusion: str = "tensor", audio_width: int = 128, audio_dim: int = 128,
                 text_hidden: int = 128, text_dim_out: int = 64, decoder_width: int = 128, decoder_layers: int = 2,
                 unseen_subject: int = 0, motion_scale: float = 1.0, fps: float = 30.0, kind: str = "blendshapes",
                 channels: tuple[str, ...] = ()) -> None:  # fmt: skip
        super().__init__()
        if not (audio or text):
            raise InvalidInputError("audio_text_fusion: at least one of audio and text must be on")
        if fusion not in FUSIONS:
            raise InvalidInputError(f"audio_text_fusion: unknown fusion {fusion!r} (known: {', '.join(FUSIONS)})")
        if audio and not 0 <= unseen_subject < max(num_subjects, 1):
            raise InvalidInputError(f"audio_text_fusion: unseen_subject {unseen_subject} is not one of the "
                                    f"{num_subjects} training speakers")  # fmt: skip
        self.fps, self.kind, self.channels = fps, kind, tuple(channels)
        self.motion_dim, self.motion_scale, self.fusion = motion_dim, motion_scale, fusion
        self.num_subjects, self.unseen_subject = num_subjects, unseen_subject
        self.audio = AudioEncoder(feature_dim=feature_dim, num_subjects=num_subjects, width=audio_width,
                                  dim=audio_dim) if audio else None  # fmt: skip
        self.text = TextEncoder(text_dim=text_dim, hidden=text_hidden, dim=text_dim_out) if text else None
        if audio and text:
            fused = (audio_dim + 1) * (text_dim_out + 1) if fusion == "tensor" else audio_dim + text_dim_out
        else:
            fused = audio_dim if audio else text_dim_out
        self.decoder = Decoder(in_dim=fused, width=decoder_width, layers=decoder_layers, motion_dim=motion_dim)

    def fit_feature_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        if self.audio is not None:
            self.audio.norm.fit(mean, std)

    def subjects(self, subject: torch.Tensor) -> torch.Tensor:
        """Training-speaker indices (B,): unseen speakers (-1 or out of range) get `unseen_subject`."""
        unseen = (subject < 0) | (subject >= self.num_subjects)
        return torch.where(unseen, torch.full_like(subject, self.unseen_subject), subject)

    def embed(self, batch: Batch) -> dict[str, torch.Tensor]:
        """The unimodal embeddings of a batch: `audio` H_a (B, T, A) and `text` H_l (B, T, L), those in use."""
        mask, lengths = batch["mask"], batch["lengths"]
        out = {}
        if self.audio is not None:
            out["audio"] = self.audio(batch["features"], self.subjects(batch["subject"]), mask)  # (B, T, A)
        if self.text is not None:
            text = batch.get("text")
            if text is None:  # no words at all: every frame is a pause
                text = mask.new_zeros(*mask.shape, self.text.text_dim)
            out["text"] = self.text(text, lengths)  # (B, T, L)
        return out

    def fuse(self, embeddings: dict[str, torch.Tensor]) -> torch.Tensor:
        """The decoder's input (B, T, C_in): Eq. 2, their concatenation, or the one embedding in use."""
        if len(embeddings) == 1:
            return next(iter(embeddings.values()))
        if self.fusion == "tensor":
            return tensor_fusion(embeddings["audio"], embeddings["text"])
        return torch.cat([embeddings["audio"], embeddings["text"]], dim=-1)

    def forward(self, batch: Batch) -> ModelOutput:
        embeddings = self.embed(batch)
        motion = self.decoder(self.fuse(embeddings), batch["lengths"]) / self.motion_scale  # (B, T, D)
        if self.kind == "vertices":
            template = batch.get("template")
            if template is None or template.shape[-1] != self.motion_dim:
                raise InvalidInputError(f"audio_text_fusion: a vertex model needs the speaker's neutral face "
                                        f"(template of {self.motion_dim} values)")  # fmt: skip
            motion = motion + template[:, None, :]
        extras = {f"{name}_embedding": value for name, value in embeddings.items()}
        return ModelOutput(motion=motion, extras=extras)


# --- Registered builders ----------------------------------------------------------------------------


@dataclass
class AudioTextFusionConfig:
    """Options of `audio_text_fusion` (see `AudioTextFusion`); the paper's sizes are the defaults.

    Attributes:
        audio: use the audio encoder (False: Table 3's "Text Only").
        text: use the text encoder (False: Table 3's "Audio Only").
        fusion: "tensor" (Eq. 2) or "concat" (Table 3's "Audio+Text (C)").
    """

    audio: bool = True
    text: bool = True
    fusion: str = "tensor"
    audio_width: int = 128
    audio_dim: int = 128
    text_hidden: int = 128
    text_dim: int = 64
    decoder_width: int = 128
    decoder_layers: int = 2
    unseen_subject: int = 0
    motion_scale: float = 1.0


def _inputs(config: AudioTextFusionConfig) -> InputSpec:
    return InputSpec(speech="features" if config.audio else "none", text=config.text, template=True)


@register_model("audio_text_fusion", AudioTextFusionConfig, inputs=_inputs,
                presets={"tiny": {"audio_width": 16, "audio_dim": 8, "text_hidden": 16, "text_dim": 4,
                                  "decoder_width": 8, "decoder_layers": 2}})  # fmt: skip
def audio_text_fusion(config: AudioTextFusionConfig, sizes: DataSizes) -> AudioTextFusion:
    """The paper's sizes (W = A = 128, text 128/64, decoder 128 with two BLSTMs); `tiny` for tests."""
    return AudioTextFusion(feature_dim=sizes.feature_dim, text_dim=sizes.text_dim, motion_dim=sizes.motion_dim,
                           num_subjects=sizes.num_subjects, audio=config.audio, text=config.text, fusion=config.fusion,
                           audio_width=config.audio_width, audio_dim=config.audio_dim, text_hidden=config.text_hidden,
                           text_dim_out=config.text_dim, decoder_width=config.decoder_width,
                           decoder_layers=config.decoder_layers, unseen_subject=config.unseen_subject,
                           motion_scale=config.motion_scale, fps=sizes.fps, kind=sizes.kind,
                           channels=sizes.channel_names())  # fmt: skip
