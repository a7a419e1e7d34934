"""Speech in: loading and resampling, spectral features, speech encoders, motion-rate alignment."""

from facetalk.audio.encoders import (
    DEFAULT_ENCODER,
    ENCODERS,
    HFSpeechEncoder,
    LayerSelection,
    MelEncoder,
    SpeechEncoder,
    build_encoder,
    convert_ct2_whisper,
    default_encoder,
    load_hf_encoder,
    read_ct2_model,
    whisper_tiny_en_dir,
)
from facetalk.audio.features import MelSpectrogram, WhisperLogMel, mel_filterbank, power_to_db
from facetalk.audio.io import MIN_DURATION_S, SAMPLE_RATE, load_audio, resample, save_wav
from facetalk.audio.rate import num_motion_frames, to_motion_rate
from facetalk.files import cache_dir

__all__ = [
    "DEFAULT_ENCODER",
    "ENCODERS",
    "MIN_DURATION_S",
    "SAMPLE_RATE",
    "HFSpeechEncoder",
    "LayerSelection",
    "MelEncoder",
    "MelSpectrogram",
    "SpeechEncoder",
    "WhisperLogMel",
    "build_encoder",
    "cache_dir",
    "convert_ct2_whisper",
    "default_encoder",
    "load_audio",
    "load_hf_encoder",
    "mel_filterbank",
    "num_motion_frames",
    "power_to_db",
    "read_ct2_model",
    "resample",
    "save_wav",
    "to_motion_rate",
    "whisper_tiny_en_dir",
]
