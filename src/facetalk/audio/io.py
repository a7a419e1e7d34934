"""Reading and writing speech: any audio or video file in, 16 kHz mono float32 `Waveform` out.

wav, flac, ogg and mp3 are decoded by libsndfile (through soundfile); anything else (m4a, aac, opus
in a video container, mp4, mkv, ...) by the ffmpeg binary that imageio-ffmpeg bundles. Channels are
averaged to mono and the rate is converted with soxr at its very-high-quality setting.

Every problem with an input file is an `InvalidInputError` with a one-line message naming the file.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from facetalk.errors import InvalidInputError, MissingDependencyError, OutputError
from facetalk.files import atomic_output
from facetalk.types import Waveform

SAMPLE_RATE = 16000
"""The rate every facetalk model consumes, in Hz."""

MIN_DURATION_S = 0.1
"""Shorter inputs are rejected: no encoder produces a meaningful frame from less."""

SOUNDFILE_SUFFIXES = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga", ".mp3"})
"""Suffixes decoded by libsndfile; everything else goes to ffmpeg."""

RESAMPLE_QUALITY = "VHQ"
"""soxr's very-high-quality preset (passband to 95 % of Nyquist, 175 dB stop band)."""

FFMPEG_TIMEOUT_S = 600.0


def load_audio(path: str | os.PathLike[str], *, sample_rate: int = SAMPLE_RATE) -> Waveform:
    """Read an audio or video file as mono float32 speech at `sample_rate`.

    Args:
        path: any file libsndfile or ffmpeg can decode.
        sample_rate: the rate of the returned waveform, in Hz.

    Returns:
        The waveform, samples shape (S,).

    Raises:
        InvalidInputError: the file is missing, cannot be decoded, is shorter than `MIN_DURATION_S`,
            or holds non-finite samples.
        MissingDependencyError: the file needs ffmpeg and imageio-ffmpeg has no binary.
    """
    file = Path(path)
    if not file.exists():
        raise InvalidInputError(f"{file}: no such audio file")
    if not file.is_file():
        raise InvalidInputError(f"{file}: not a file")
    if sample_rate <= 0:
        raise InvalidInputError(f"{file}: the requested sample rate must be positive, got {sample_rate}")

    if file.suffix.lower() in SOUNDFILE_SUFFIXES:
        try:
            samples, rate = _read_soundfile(file)
        except InvalidInputError:
            # libsndfile rejects some valid files (e.g. a misnamed container); ffmpeg gets a second try.
            samples, rate = _read_ffmpeg(file, sample_rate), sample_rate
    else:
        samples, rate = _read_ffmpeg(file, sample_rate), sample_rate

    # Check before resampling: soxr would smear one NaN over the whole filter length.
    if not np.isfinite(samples).all():
        raise InvalidInputError(f"{file}: audio has non-finite samples (NaN or infinity)")
    duration = len(samples) / rate
    if duration < MIN_DURATION_S:
        raise InvalidInputError(f"{file}: audio is {duration:.3f} s long, shorter than the minimum {MIN_DURATION_S} s")
    return Waveform(resample(samples, rate, sample_rate), sample_rate, source=str(file))


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Change the sample rate of mono samples with soxr (very high quality).

    Args:
        samples: float samples, shape (S,).
        from_rate: their rate, in Hz.
        to_rate: the wanted rate, in Hz.

    Returns:
        float32 samples at `to_rate`, shape (round(S * to_rate / from_rate),).
    """
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    if from_rate == to_rate:
        return samples
    return np.asarray(soxr.resample(samples, from_rate, to_rate, quality=RESAMPLE_QUALITY), dtype=np.float32)


def save_wav(waveform: Waveform, path: str | os.PathLike[str]) -> Path:
    """Write `waveform` as a 16-bit PCM WAV file, atomically; samples beyond [-1, 1] are clipped.

    Returns:
        The path written.
    """
    target = Path(path)
    pcm = np.clip(waveform.samples, -1.0, 1.0)
    with atomic_output(target) as tmp:
        try:
            sf.write(tmp, pcm, waveform.sample_rate, subtype="PCM_16", format="WAV")
        except (sf.LibsndfileError, OSError) as exc:
            raise OutputError(f"{target}: cannot write WAV ({_one_line(exc)})") from None
    return target


def _read_soundfile(file: Path) -> tuple[np.ndarray, int]:
    """Decode with libsndfile; returns mono samples (S,) and their rate."""
    try:
        data, rate = sf.read(file, dtype="float32", always_2d=True)  # (S, channels)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"{file}: cannot decode audio ({_one_line(exc)})") from None
    return data.mean(axis=1, dtype=np.float32), int(rate)


def _read_ffmpeg(file: Path, sample_rate: int) -> np.ndarray:
    """Decode the first audio stream with ffmpeg to mono float32 at `sample_rate`; returns (S,)."""
    try:
        import imageio_ffmpeg

        ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise MissingDependencyError(f"{file}: decoding this format needs ffmpeg ({_one_line(exc)})") from None
    command = [ffmpeg, "-nostdin", "-v", "error", "-i", str(file), "-map", "0:a:0", "-vn", "-sn", "-dn",
               "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "-acodec", "pcm_f32le", "-"]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InvalidInputError(f"{file}: cannot decode audio ({_one_line(exc)})") from None
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace")
        reason = _one_line(stderr) or f"ffmpeg exit code {result.returncode}"
        if "matches no streams" in stderr:  # the -map 0:a:0 above found nothing
            reason = "no audio stream"
        raise InvalidInputError(f"{file}: cannot decode audio ({reason})")
    usable = len(result.stdout) - len(result.stdout) % 4
    return np.frombuffer(result.stdout[:usable], dtype="<f4").astype(np.float32)


def _one_line(message: object) -> str:
    """The last non-empty line of a (possibly multi-line) message, which is where tools put the cause."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return lines[-1] if lines else ""
