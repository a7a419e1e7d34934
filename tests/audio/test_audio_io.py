"""Loading speech from files: formats, channel mixing, resampling, validation, WAV writing."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf

from facetalk.audio import MIN_DURATION_S, load_audio, save_wav
from facetalk.errors import InvalidInputError
from facetalk.types import Waveform

TONE_HZ = 440.0


def tone(frequency: float, duration_s: float, sample_rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def peak_frequency(samples: np.ndarray, sample_rate: int) -> float:
    """Frequency of the largest FFT bin, refined by parabolic interpolation of the log magnitude."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    k = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
    offset = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + offset) * sample_rate / len(samples)


def ffmpeg(*args: str) -> None:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args], check=True)


@pytest.mark.parametrize("fmt", ["wav", "flac", "ogg", "mp3"])
def test_soundfile_formats_load(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"tone.{fmt}"
    sf.write(path, tone(TONE_HZ, 1.0, 22050), 22050, format=fmt.upper())
    waveform = load_audio(path)
    assert waveform.sample_rate == 16000 and waveform.samples.dtype == np.float32 and waveform.samples.ndim == 1
    # Lossy codecs add encoder delay and padding; lossless ones are exact in length.
    assert abs(waveform.duration - 1.0) < (0.1 if fmt in ("ogg", "mp3") else 1e-4)
    assert abs(peak_frequency(waveform.samples, 16000) - TONE_HZ) < 1.0


@pytest.mark.parametrize("suffix", ["m4a", "mp4"])
def test_ffmpeg_formats_load(tmp_path: Path, suffix: str) -> None:
    wav = tmp_path / "tone.wav"
    sf.write(wav, tone(TONE_HZ, 1.5, 44100), 44100)
    path = tmp_path / f"speech.{suffix}"
    if suffix == "mp4":  # a video file with a sound track
        ffmpeg("-f", "lavfi", "-i", "color=c=black:s=32x32:d=1.5:r=10", "-i", str(wav), "-c:v", "mpeg4", "-c:a", "aac",
               "-shortest", str(path))  # fmt: skip
    else:
        ffmpeg("-i", str(wav), "-c:a", "aac", str(path))
    waveform = load_audio(path)
    assert waveform.sample_rate == 16000
    assert abs(waveform.duration - 1.5) < 0.1
    assert abs(peak_frequency(waveform.samples, 16000) - TONE_HZ) < 1.0


def test_stereo_44k_becomes_mono_16k_with_duration_preserved(tmp_path: Path) -> None:
    duration = 2.5
    left, right = tone(300.0, duration, 44100, 0.6), tone(300.0, duration, 44100, 0.2)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 44100, subtype="FLOAT")
    waveform = load_audio(path)
    assert waveform.samples.shape == (round(duration * 16000),)
    assert waveform.duration == pytest.approx(duration, abs=1 / 16000)
    # The mix is the channel mean: amplitude (0.6 + 0.2) / 2 = 0.4, away from the filter's edges.
    middle = waveform.samples[4000:-4000]
    assert np.abs(middle).max() == pytest.approx(0.4, abs=2e-3)
    assert abs(peak_frequency(waveform.samples, 16000) - 300.0) < 0.5


def test_resampling_preserves_a_sines_frequency(tmp_path: Path) -> None:
    frequency = 1234.5
    path = tmp_path / "sine48k.flac"
    sf.write(path, tone(frequency, 4.0, 48000), 48000)
    waveform = load_audio(path)
    assert waveform.samples.shape == (4 * 16000,)
    assert abs(peak_frequency(waveform.samples, 16000) - frequency) < 0.05  # bins are 0.25 Hz wide


def test_other_target_rate(tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    sf.write(path, tone(TONE_HZ, 1.0, 16000), 16000)
    waveform = load_audio(path, sample_rate=24000)
    assert waveform.sample_rate == 24000 and len(waveform.samples) == 24000


def test_silence_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(8000, np.float32), 16000)
    waveform = load_audio(path)
    assert waveform.duration == pytest.approx(0.5)
    assert not waveform.samples.any()


def test_minimum_duration_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    sf.write(path, tone(TONE_HZ, MIN_DURATION_S, 16000), 16000)
    assert load_audio(path).duration == pytest.approx(MIN_DURATION_S)


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "missing.wav"


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "folder.wav"
    path.mkdir()
    return path


def _garbage(suffix: str) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        path = tmp_path / f"garbage.{suffix}"
        path.write_bytes(b"this is not audio\n" * 50)
        return path

    return make


def _empty_wav(tmp_path: Path) -> Path:
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros(0, np.float32), 16000)
    return path


def _too_short(tmp_path: Path) -> Path:
    path = tmp_path / "short.wav"
    sf.write(path, tone(TONE_HZ, 0.05, 16000), 16000)
    return path


def _nan_wav(tmp_path: Path) -> Path:
    path = tmp_path / "nan.wav"
    samples = tone(TONE_HZ, 0.5, 16000)
    samples[100] = np.nan
    sf.write(path, samples, 16000, subtype="FLOAT")
    return path


def _inf_flac_like(tmp_path: Path) -> Path:
    path = tmp_path / "inf.wav"
    samples = tone(TONE_HZ, 0.5, 16000)
    samples[-1] = np.inf
    sf.write(path, samples, 16000, subtype="DOUBLE")
    return path


def _video_without_audio(tmp_path: Path) -> Path:
    path = tmp_path / "silent_film.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:s=32x32:d=1:r=10", "-c:v", "mpeg4", str(path))
    return path


BAD_INPUTS = {
    "missing": (_missing, "no such audio file"),
    "directory": (_directory, "not a file"),
    "garbage-wav": (_garbage("wav"), "cannot decode audio"),
    "garbage-m4a": (_garbage("m4a"), "cannot decode audio"),
    "empty": (_empty_wav, "shorter than the minimum"),
    "too-short": (_too_short, "shorter than the minimum"),
    "nan": (_nan_wav, "non-finite"),
    "inf": (_inf_flac_like, "non-finite"),
    "no-audio-stream": (_video_without_audio, "no audio stream"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_gives_one_line_error_naming_the_file(tmp_path: Path, case: str) -> None:
    make, reason = BAD_INPUTS[case]
    path = make(tmp_path)
    with pytest.raises(InvalidInputError) as info:
        load_audio(path)
    message = str(info.value)
    assert str(path) in message
    assert reason in message
    assert "\n" not in message


def test_save_wav_round_trip(tmp_path: Path) -> None:
    samples = tone(TONE_HZ, 0.5, 16000)
    samples[:10] = 1.5  # clipped to full scale on write
    path = save_wav(Waveform(samples, 16000), tmp_path / "out" / "speech.wav")
    info = sf.info(path)
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "PCM_16", 16000, 1)
    back = load_audio(path)
    assert np.abs(back.samples - np.clip(samples, -1, 1)).max() <= 1 / 32767
    assert sorted(p.name for p in path.parent.iterdir()) == ["speech.wav"]  # no temporary file left behind


def test_loaded_speech_is_named_by_its_file_in_messages(tmp_path: Path) -> None:
    path = tmp_path / "speech.wav"
    sf.write(path, tone(220.0, 0.5, 16000), 16000)
    waveform = load_audio(path)
    assert waveform.source == str(path) and waveform.name == str(path)
    assert Waveform(waveform.samples, 16000) == waveform  # the name is not part of the value
    with pytest.raises(InvalidInputError, match=r"^speech\.wav: speech has non-finite samples$"):
        Waveform(np.full(4, np.nan), 16000, source="speech.wav")
    with pytest.raises(InvalidInputError, match=r"^waveform: speech must be mono"):
        Waveform(np.zeros((4, 2)), 16000)
