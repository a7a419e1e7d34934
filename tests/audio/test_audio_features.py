"""The paper-003 mel spectrogram against librosa, and Whisper's log-mel against transformers."""

from __future__ import annotations

from collections.abc import Callable

import librosa
import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor

from facetalk.audio import MelSpectrogram, WhisperLogMel, mel_filterbank

MEL_DB_TOLERANCE = 1e-3  # dB; float32 STFTs in torch and librosa agree to about 4e-5 dB


def librosa_mel_db(samples: np.ndarray, hop: int) -> np.ndarray:
    """librosa's reference computation with paper 003's parameters: (F, 128) dB."""
    power = librosa.feature.melspectrogram(y=samples, sr=16000, n_fft=2048, hop_length=hop, n_mels=128)
    return librosa.power_to_db(power).T


def test_filterbank_matches_librosa() -> None:
    ours = mel_filterbank(sample_rate=16000, n_fft=2048, n_mels=128)
    assert np.abs(ours - librosa.filters.mel(sr=16000, n_fft=2048, n_mels=128)).max() < 1e-7


@pytest.mark.filterwarnings("ignore:n_fft=2048 is too large")  # librosa, on the 0.1 s clip
@pytest.mark.parametrize("fps", [25, 30, 60])
@pytest.mark.parametrize("duration_s", [0.1, 1.37, 4.0])
def test_mel_matches_librosa(make_speech: Callable[..., np.ndarray], fps: int, duration_s: float) -> None:
    samples = make_speech(duration_s)
    samples[: len(samples) // 4] = 0.0  # silence exercises the 80 dB floor
    mel = MelSpectrogram(fps=fps)
    ours = mel(torch.from_numpy(samples)[None])[0].numpy()  # (F, 128)
    reference = librosa_mel_db(samples, mel.hop)
    assert ours.shape == reference.shape == (mel.num_frames(len(samples)), 128)
    assert np.abs(ours - reference).max() < MEL_DB_TOLERANCE


def test_mel_frame_rate_is_the_motion_rate() -> None:
    assert MelSpectrogram(fps=25).hop == 640 and MelSpectrogram(fps=25).frame_rate == 25.0
    assert MelSpectrogram(fps=60).hop == 267  # 16000 / 60 rounded: 59.93 frames/s
    assert MelSpectrogram(fps=25).num_frames(16000) == 26  # centred frames at 0, 40, ..., 1000 ms


def test_mel_batch_equals_items(make_speech: Callable[..., np.ndarray]) -> None:
    batch = np.stack([make_speech(1.0, seed=1), 0.1 * make_speech(1.0, seed=2)])
    mel = MelSpectrogram()
    together = mel(torch.from_numpy(batch))
    for i in range(2):
        assert torch.allclose(together[i], mel(torch.from_numpy(batch[i : i + 1]))[0], atol=1e-4)


def test_whisper_log_mel_matches_feature_extractor(make_speech: Callable[..., np.ndarray]) -> None:
    extractor = WhisperFeatureExtractor(feature_size=80)
    samples = make_speech(3.3)
    reference = extractor(samples, sampling_rate=16000, return_tensors="np").input_features[0]  # (80, 3000)
    padded = np.pad(samples, (0, extractor.n_samples - len(samples)))
    ours = WhisperLogMel(filters=extractor.mel_filters)(torch.from_numpy(padded)[None])[0].numpy()
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() < 1e-5
