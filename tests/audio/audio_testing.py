"""Helpers for the audio tests: synthetic speech-like signals and tiny transformers speech models.

Tiny models use the real architectures from transformers configs (width 16, two layers), saved with
`save_pretrained` to temporary directories and loaded back through `load_hf_encoder`; nothing is
downloaded. The real Whisper tiny.en is converted once per session into a temporary cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

SAMPLE_RATE = 16000
TINY_WIDTH = 16
TINY_LAYERS = 2
TINY_WHISPER_POSITIONS = 250  # a 5 s window instead of Whisper's 30 s keeps the tests fast
TINY_CONV = {"conv_dim": (TINY_WIDTH,) * 7, "conv_kernel": (10, 3, 3, 3, 3, 2, 2), "conv_stride": (5, 2, 2, 2, 2, 2, 2)}
HF_FAMILIES = ("wav2vec2", "hubert", "wavlm", "whisper")


def speech_like(duration_s: float, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """A voiced, syllable-modulated harmonic signal with a little noise: float32 (S,) in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    f0 = 140.0 + 30.0 * np.sin(2 * np.pi * 0.7 * t)  # Hz, a slowly moving pitch
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t) ** 2  # 4 Hz syllable rhythm
    signal = 0.2 * voiced * syllables + 0.01 * rng.standard_normal(len(t))
    return signal.astype(np.float32)


def tiny_model(family: str, directory: Path, *, do_normalize: bool = True) -> Path:
    import transformers

    torch.manual_seed(0)
    common = {"hidden_size": TINY_WIDTH, "num_hidden_layers": TINY_LAYERS, "num_attention_heads": 2, "intermediate_size": 32,
              "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2, **TINY_CONV}  # fmt: skip
    if family == "wav2vec2":
        model: torch.nn.Module = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(**common))
    elif family == "hubert":
        model = transformers.HubertModel(transformers.HubertConfig(**common))
    elif family == "wavlm":
        model = transformers.WavLMModel(transformers.WavLMConfig(**common, num_buckets=16, max_bucket_distance=100))
    else:
        config = transformers.WhisperConfig(
            vocab_size=64, num_mel_bins=80, d_model=TINY_WIDTH, encoder_layers=TINY_LAYERS, decoder_layers=1,
            encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
            max_source_positions=TINY_WHISPER_POSITIONS, max_target_positions=16, pad_token_id=0, bos_token_id=1,
            eos_token_id=0, decoder_start_token_id=1,
        )  # fmt: skip
        model = transformers.WhisperModel(config)
        extractor = transformers.WhisperFeatureExtractor(feature_size=80, chunk_length=TINY_WHISPER_POSITIONS // 50)
        extractor.save_pretrained(directory)
    if family != "whisper":
        transformers.Wav2Vec2FeatureExtractor(do_normalize=do_normalize).save_pretrained(directory)
    model.save_pretrained(directory)
    return directory
