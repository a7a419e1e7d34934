"""Spectral features in torch: the 128-bin dB mel spectrogram of paper 003 and Whisper's log-mel.

Paper 003 (Fan et al., "Joint Audio-Text Model for Expressive Speech-Driven 3D Facial Animation",
Implementation Details) computes "128-channel mel-frequency power spectrograms" with librosa,
converts them to dB, and synchronizes them with the 25 fps motion. `MelSpectrogram` is that
computation with librosa 0.11's defaults for everything the paper does not state (2048-point
periodic Hann window, centred frames with zero padding, power 2, Slaney mel scale and area
normalisation, fmin 0 and fmax Nyquist, dB relative to 1.0 with a floor of 1e-10 and an 80 dB range),
and a hop of `round(sample_rate / fps)` samples so that there is one frame per motion frame. It
matches `librosa.feature.melspectrogram` followed by `librosa.power_to_db` (see tests/audio).

`WhisperLogMel` is the input of the Whisper encoder (OpenAI's `log_mel_spectrogram`, as in
transformers' `WhisperFeatureExtractor`), batched in torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

N_MELS = 128
"""Mel bins of paper 003's spectrogram."""
N_FFT = 2048
"""librosa's default FFT size, in samples."""
TOP_DB = 80.0
"""librosa's default dynamic range of `power_to_db`, in dB."""
AMIN = 1e-10
"""Power floor before taking the logarithm (librosa's default)."""
DB_PER_DECADE = 10.0
"""Decibels per factor of 10 in power."""

WHISPER_N_FFT = 400  # 25 ms at 16 kHz
WHISPER_HOP = 160  # 10 ms at 16 kHz
WHISPER_LOG_RANGE = 8.0  # log10 units kept below the maximum, i.e. 80 dB
WHISPER_LOG_OFFSET = 4.0  # (log10(mel) + 4) / 4 puts the features roughly in [-1, 1]

# Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa `htk=False`).
_SLANEY_F_SP = 200.0 / 3  # Hz per mel in the linear part
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(frequencies: np.ndarray) -> np.ndarray:
    """Slaney mel values of frequencies in Hz (librosa's `hz_to_mel` with `htk=False`)."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    mels = frequencies / _SLANEY_F_SP
    min_log_mel = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
    log_part = frequencies >= _SLANEY_MIN_LOG_HZ
    mels[log_part] = min_log_mel + np.log(frequencies[log_part] / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
    return mels


def mel_to_hz(mels: np.ndarray) -> np.ndarray:
    """Frequencies in Hz of Slaney mel values (the inverse of `hz_to_mel`)."""
    mels = np.asarray(mels, dtype=np.float64)
    frequencies = _SLANEY_F_SP * mels
    min_log_mel = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
    log_part = mels >= min_log_mel
    frequencies[log_part] = _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (mels[log_part] - min_log_mel))
    return frequencies


def mel_filterbank(*, sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Triangular Slaney mel filters with area normalisation (librosa's `filters.mel` defaults).

    Returns:
        float32 weights, shape (n_mels, n_fft // 2 + 1).
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)  # (n_fft // 2 + 1,)
    mel_freqs = mel_to_hz(np.linspace(hz_to_mel(np.array([fmin]))[0], hz_to_mel(np.array([fmax]))[0], n_mels + 2))
    widths = np.diff(mel_freqs)  # (n_mels + 1,)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]  # (n_mels + 2, n_fft // 2 + 1)
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2 : n_mels + 2] - mel_freqs[:n_mels]))[:, None]  # Slaney: unit area per filter
    return weights.astype(np.float32)


def power_to_db(power: torch.Tensor, *, top_db: float | None = TOP_DB, amin: float = AMIN) -> torch.Tensor:
    """10 log10 of a power spectrogram, floored at `top_db` below each item's maximum.

    Args:
        power: non-negative values, shape (B, ...).
        top_db: the dynamic range kept below the maximum of each batch item; None keeps everything.
        amin: the floor applied to `power` before the logarithm.

    Returns:
        dB values (reference power 1.0), the shape of `power`.
    """
    db = DB_PER_DECADE * torch.log10(torch.clamp(power, min=amin))
    if top_db is not None:
        peak = db.flatten(1).amax(dim=1).reshape(-1, *([1] * (db.dim() - 1)))  # (B, 1, ...)
        db = torch.maximum(db, peak - top_db)
    return db


class MelSpectrogram(nn.Module):
    """Paper 003's 128-bin dB mel spectrogram with one frame per motion frame.

    Frame i is centred on sample i * hop, so it describes the time i * hop / sample_rate, and a
    signal of S samples gives 1 + S // hop frames. With `fps` dividing `sample_rate` (25 or 50 fps
    at 16 kHz) the frame rate is exactly `fps`; otherwise the hop is rounded (30 fps at 16 kHz is
    a hop of 533 samples, 30.02 frames/s) and `to_motion_rate` absorbs the difference.

    Args:
        sample_rate: input rate, in Hz.
        fps: the wanted frame rate, in frames per second.
        n_mels: mel bins.
        n_fft: FFT size and window length, in samples.
        top_db: dynamic range kept below each item's maximum, in dB; None keeps everything.
    """

    filters: torch.Tensor
    window: torch.Tensor

    def __init__(self, *, sample_rate: int = 16000, fps: float = 25.0, n_mels: int = N_MELS, n_fft: int = N_FFT,
                 top_db: float | None = TOP_DB) -> None:  # fmt: skip
        super().__init__()
        self.sample_rate = sample_rate
        self.hop = max(1, round(sample_rate / fps))
        self.n_fft = n_fft
        self.n_mels = n_mels
        self.top_db = top_db
        filters = mel_filterbank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels)
        self.register_buffer("filters", torch.from_numpy(filters), persistent=False)  # (n_mels, n_fft // 2 + 1)
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)  # (n_fft,)

    @property
    def frame_rate(self) -> float:
        """Frames per second: sample_rate / hop."""
        return self.sample_rate / self.hop

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a signal of `num_samples` samples."""
        return 1 + num_samples // self.hop

    def power(self, samples: torch.Tensor) -> torch.Tensor:
        """Mel power spectrogram before the dB conversion.

        Args:
            samples: shape (B, S).

        Returns:
            Mel power, shape (B, F, n_mels) with F = 1 + S // hop.
        """
        stft = torch.stft(samples, self.n_fft, self.hop, window=self.window, center=True, pad_mode="constant",
                          return_complex=True)  # (B, n_fft // 2 + 1, F)  # fmt: skip
        spectrum = stft.real.square() + stft.imag.square()  # (B, n_fft // 2 + 1, F)
        return torch.matmul(self.filters, spectrum).transpose(1, 2)  # (B, F, n_mels)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        """Compute the dB mel spectrogram.

        Args:
            samples: shape (B, S).

        Returns:
            dB mel spectrogram, shape (B, F, n_mels) with F = 1 + S // hop.
        """
        return self.to_db(self.power(samples))

    def to_db(self, power: torch.Tensor) -> torch.Tensor:
        """dB conversion of `power` (B, F, n_mels) with this spectrogram's `top_db`."""
        return power_to_db(power, top_db=self.top_db)


class WhisperLogMel(nn.Module):
    """Whisper's log-mel input: 10 ms hop, clamped 8 log10 units below the maximum, scaled to about [-1, 1].

    Args:
        filters: the feature extractor's mel filters, shape (n_fft // 2 + 1, n_mels).
        n_fft: FFT size, in samples.
        hop: hop, in samples.
    """

    filters: torch.Tensor
    window: torch.Tensor

    def __init__(self, *, filters: np.ndarray, n_fft: int = WHISPER_N_FFT, hop: int = WHISPER_HOP) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop = hop
        self.register_buffer("filters", torch.as_tensor(np.asarray(filters, dtype=np.float32).T), persistent=False)
        self.register_buffer("window", torch.hann_window(n_fft, periodic=True), persistent=False)

    def forward(self, samples: torch.Tensor) -> torch.Tensor:
        """Compute the log-mel features.

        Args:
            samples: 16 kHz samples, already padded to the model's window, shape (B, S).

        Returns:
            Features, shape (B, n_mels, S // hop) (the channel-first layout Whisper's conv expects).
        """
        stft = torch.stft(samples, self.n_fft, self.hop, window=self.window, center=True, pad_mode="reflect",
                          return_complex=True)  # (B, n_fft // 2 + 1, S // hop + 1)  # fmt: skip
        power = (stft[..., :-1].real.square() + stft[..., :-1].imag.square()).contiguous()
        log_mel = torch.clamp(torch.matmul(self.filters, power), min=AMIN).log10()  # (B, n_mels, S // hop)
        peak = log_mel.amax(dim=(1, 2), keepdim=True)  # (B, 1, 1)
        log_mel = torch.maximum(log_mel, peak - WHISPER_LOG_RANGE)
        return (log_mel + WHISPER_LOG_OFFSET) / WHISPER_LOG_OFFSET
