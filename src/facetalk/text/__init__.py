"""The text side of speech: transcription, forced alignment, ARPAbet phones and visemes, TextGrids.

Heavy dependencies (faster-whisper, pocketsphinx, g2p-en, praatio) load on first use.
"""

from facetalk.text.align import AlignmentFallbackWarning, AlignmentResult, align, normalize_transcript
from facetalk.text.phonemes import ARPABET, Viseme, base_phone, ipa_to_arpabet, is_vowel, stress, viseme
from facetalk.text.textgrid import read_textgrid, write_textgrid
from facetalk.text.transcribe import Transcription, transcribe

__all__ = [
    "ARPABET",
    "AlignmentFallbackWarning",
    "AlignmentResult",
    "Transcription",
    "Viseme",
    "align",
    "base_phone",
    "ipa_to_arpabet",
    "is_vowel",
    "normalize_transcript",
    "read_textgrid",
    "stress",
    "transcribe",
    "viseme",
    "write_textgrid",
]
