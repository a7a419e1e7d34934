"""`voca`: VOCA, Cudeiro, Bolkart, Laidlaw, Ranjan and Black, "Capture, Learning, and Synthesis of 3D
Speaking Styles" (CVPR 2019), the convolutional baseline every paper of the field compares against.

Blocks in the order of the paper's §4 (B batch, T motion frames, W window frames, C speech channels,
N training speakers, L latent channels, D motion channels: 3V vertex coordinates or K blendshapes):

1. Speech features: a window of W = 16 feature frames around each motion frame (the paper: 16
   DeepSpeech frames of 29 character logits), standardized per channel.
2. Encoder: the speaker's one-hot is concatenated to every frame of the window (W × (C + N)), four
   time convolutions (kernel 3 × 1, stride 2 × 1: each feature column is convolved over time alone;
   32, 32, 64, 64 filters, ReLU) take the window to one frame, the one-hot is concatenated again to
   the flattened output, and two fully connected layers (128 with tanh, then L = 50, linear) give
   the frame's latent code.
3. Decoder: one fully connected layer, linear, from the 50-dim code to the D vertex offsets, which
   are added to the speaker's neutral face (the template).
4. Losses (not in this file): L2 position + L2 velocity (`reconstruction` and `velocity` terms in
   `facetalk.train.objective`; the paper weighs them 1 and 10).

What the paper leaves open, and what this file does:

- Speech features: DeepSpeech is not shipped here; any cached speech features at the motion rate
  work (Whisper tiny.en on the synthetic corpus; a frozen local wav2vec 2.0 in the VOCASET config).
  The window is W feature frames at the motion rate: 16 frames at 30 fps are 0.53 s, where the
  paper's 16 DeepSpeech frames at 50 Hz are 0.32 s; `window` is an option. Frames outside the clip
  are zeros after standardization (the training mean).
- Wide features (Whisper's 384, wav2vec 2.0's 768 channels) make the column-wise time convolutions
  13-26 times dearer than on DeepSpeech's 29; `input_dim` projects them linearly to C' channels first
  (29 on the synthetic corpus: one training step 0.2 s instead of 4 s on one CPU thread).
- The paper normalizes its input with batch normalization; we standardize with the training set's
  statistics (`FeatureNorm`), which is the same thing at inference and needs no batch statistics.
- The paper initializes the decoder with the 50 PCA components of the training vertex offsets; we
  start it at zero (the untrained model outputs the template) and let training find the basis: the
  training framework has no PCA hook, and with the position and velocity losses on a linear decoder
  the optimum is the same subspace.
- An unseen speaker gets the average one-hot (1/N each); `Conditions.subject` animates in a chosen
  training speaker's style (`facetalk animate --subject`), as VOCA's own demo does.
- Every frame is predicted independently from its window: any length in one batched pass.
- The model works in data units × `motion_scale` (e.g. 100: metres to centimetres) and returns data
  units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from facetalk.data.collate import Batch
from facetalk.models.base import Animator, DataSizes, ModelOutput, register_model
from facetalk.models.inputs import InputSpec
from facetalk.models.modules.conditioning import batch_template, subject_one_hot
from facetalk.models.modules.feature_norm import FeatureNorm

PAPER_WINDOW = 16
"""W, speech frames per motion frame's window (§4: 16 DeepSpeech frames)."""
PAPER_FILTERS = (32, 32, 64, 64)
"""Filters of the four time convolutions (§4)."""
PAPER_HIDDEN = 128
"""Units of the first fully connected layer (tanh)."""
PAPER_LATENT = 50
"""L, units of the second fully connected layer, the decoder's input (§4: "50 units")."""
TIME_KERNEL, TIME_STRIDE = 3, 2


class VocaEncoder(nn.Module):
    """§4's encoder: windows of speech with the speaker one-hot to one latent code per window.

    Args:
        feature_dim: C, channels of the (projected) features.
        num_subjects: N.
        window: W, frames per window; four stride-2 convolutions take it to ceil(W / 16) frames.
        filters: filters of the four time convolutions.
        hidden: units of the tanh layer.
        latent: L.
    """

    def __init__(self, *, feature_dim: int, num_subjects: int, window: int, filters: Sequence[int], hidden: int,
                 latent: int) -> None:  # fmt: skip
        super().__init__()
        convs, channels, frames = [], 1, window
        for width in filters:
            convs.append(nn.Conv2d(channels, width, (TIME_KERNEL, 1), stride=(TIME_STRIDE, 1), padding=(TIME_KERNEL // 2, 0)))
            channels, frames = width, (frames - 1) // TIME_STRIDE + 1
        self.convs = nn.ModuleList(convs)
        flat = channels * frames * (feature_dim + num_subjects)
        self.hidden = nn.Linear(flat + num_subjects, hidden)
        self.latent = nn.Linear(hidden, latent)

    def forward(self, windows: torch.Tensor, one_hot: torch.Tensor) -> torch.Tensor:
        """Latent codes of windows.

        Args:
            windows: standardized speech, shape (M, W, C), M windows.
            one_hot: their speakers' one-hot vectors, shape (M, N).

        Returns:
            Codes, shape (M, L).
        """
        window = windows.shape[1]
        conditioned = torch.cat([windows, one_hot[:, None, :].expand(-1, window, -1)], dim=-1)  # (M, W, C + N)
        x = conditioned[:, None]  # (M, 1, W, C + N): an image whose rows are time
        for conv in self.convs:
            x = F.relu(conv(x))  # (M, filters, W', C + N)
        x = torch.cat([x.flatten(1), one_hot], dim=-1)  # (M, flat + N)
        return self.latent(torch.tanh(self.hidden(x)))  # (M, L)


class Voca(Animator):
    """Speech windows and a speaker one-hot to vertex offsets on the speaker's template.

    Args:
        feature_dim: C, speech feature channels.
        motion_dim: D, motion channels.
        num_subjects: N, training speakers (at least 1).
        window: W, feature frames per window, centred on the motion frame.
        filters: filters of the encoder's four time convolutions.
        hidden: units of the encoder's tanh layer.
        latent: L, the code the decoder reads.
        input_dim: C', channels the features are linearly projected to before the encoder (the paper
            reads 29 DeepSpeech channels); 0 reads them as they are.
        motion_scale: the model works in data units × this.
        fps: motion frames per second of the output.
        kind: "vertices", "blendshapes" or "params".
        channels: channel names of blendshape or parameter output.
    """

    def __init__(self, *, feature_dim: int, motion_dim: int, num_subjects: int, window: int = PAPER_WINDOW,
                 filters: Sequence[int] = PAPER_FILTERS, hidden: int = PAPER_HIDDEN, latent: int = PAPER_LATENT,
                 input_dim: int = 0, motion_scale: float = 1.0, fps: float = 30.0, kind: str = "vertices",
                 channels: Sequence[str] = ()) -> None:  # fmt: skip
        super().__init__()
        if window < 1:
            raise ValueError(f"window must be at least 1 frame, got {window}")
        if not motion_scale > 0:
            raise ValueError(f"motion_scale must be positive, got {motion_scale}")
        self.fps, self.kind, self.channels = fps, kind, tuple(channels)
        self.motion_dim, self.num_subjects = motion_dim, max(1, num_subjects)
        self.window, self.motion_scale = window, motion_scale
        self.norm = FeatureNorm(feature_dim)
        # the paper's DeepSpeech frames have 29 channels; wider features are projected to `input_dim` first
        self.projection = nn.Linear(feature_dim, input_dim) if input_dim else None  # (B, T, C) -> (B, T, C')
        self.encoder = VocaEncoder(feature_dim=input_dim or feature_dim, num_subjects=self.num_subjects, window=window,
                                     filters=filters, hidden=hidden, latent=latent)  # fmt: skip
        self.decoder = nn.Linear(latent, motion_dim)
        nn.init.zeros_(self.decoder.weight)  # the paper starts from a PCA basis; we from the template (module docstring)
        nn.init.zeros_(self.decoder.bias)

    def fit_feature_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.norm.fit(mean, std)

    def forward(self, batch: Batch) -> ModelOutput:
        """Predict motion for a padded batch: `features` (B, T, C), `subject` (B,), `template` (B, D) if any.

        Returns:
            `motion` (B, T, D) in data units.
        """
        features = self.norm(batch["features"])  # (B, T, C)
        if self.projection is not None:
            features = self.projection(features)  # (B, T, C')
        num_windows, num_frames, _ = features.shape
        before = self.window // 2
        padded = F.pad(features, (0, 0, before, self.window - 1 - before))  # (B, T + W - 1, C)
        windows = padded.unfold(1, self.window, 1).transpose(2, 3)  # (B, T, W, C): frames t - W/2 ... t + W/2 - 1
        one_hot = subject_one_hot(batch["subject"], self.num_subjects)  # (B, N)
        codes = self.encoder(windows.flatten(0, 1), one_hot.repeat_interleave(num_frames, dim=0))  # (B·T, L)
        offsets = self.decoder(codes).view(num_windows, num_frames, -1)  # (B, T, D)
        template = batch_template(batch, features, self.motion_dim, model="voca")  # (B, D)
        return ModelOutput(motion=template[:, None, :] + offsets / self.motion_scale)


@dataclass
class VocaConfig:
    """Options of `voca` (see `Voca`); the defaults are the paper's sizes."""

    window: int = PAPER_WINDOW
    filters: list[int] = field(default_factory=lambda: list(PAPER_FILTERS))
    hidden: int = PAPER_HIDDEN
    latent: int = PAPER_LATENT
    input_dim: int = 0
    motion_scale: float = 1.0


def _inputs(config: VocaConfig) -> InputSpec:
    return InputSpec(template=True)


@register_model("voca", VocaConfig, inputs=_inputs,
                presets={"tiny": {"window": 8, "filters": [4, 4, 8, 8], "hidden": 16, "latent": 8}})  # fmt: skip
def voca(config: VocaConfig, sizes: DataSizes) -> Voca:
    """The paper's sizes (W = 16, filters 32-64, 128 and 50 units); `tiny` for tests. The speaker one-hot carries the style."""
    return Voca(feature_dim=sizes.feature_dim, motion_dim=sizes.motion_dim, num_subjects=sizes.num_subjects,
                window=config.window, filters=config.filters, hidden=config.hidden, latent=config.latent,
                input_dim=config.input_dim, motion_scale=config.motion_scale, fps=sizes.fps, kind=sizes.kind,
                channels=sizes.channel_names())  # fmt: skip
