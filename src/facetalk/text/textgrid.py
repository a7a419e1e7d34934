"""Alignments as Praat TextGrids (praatio): tiers "words" and "phones", empty intervals for pauses.

Writing drops "SIL" phones (they become the empty intervals between phones); reading turns empty
phone intervals back into "SIL", so an alignment whose phones tile the audio round-trips exactly.
Reading also accepts TextGrids from other tools: the words tier is the one named "words" (or
"word"), else the first interval tier; the phones tier is the one named "phones" (or "phone",
"phonemes"), else another interval tier whose labels look like ARPAbet.
"""

from __future__ import annotations

import os
from pathlib import Path

from facetalk.errors import InvalidInputError
from facetalk.files import atomic_output
from facetalk.text.phonemes import SILENCE, is_arpabet
from facetalk.types import Alignment, Phone, Word

WORDS_TIER = "words"
PHONES_TIER = "phones"
_WORD_NAMES = ("words", "word")
_PHONE_NAMES = ("phones", "phone", "phonemes", "phoneme")
_SILENCE_LABELS = frozenset({"", "sil", "sp", "spn", "<sil>", "pau", "#"})
ARPABET_SHARE = 0.8  # a tier counts as phones when this share of its labels is ARPAbet


def write_textgrid(alignment: Alignment, path: str | os.PathLike[str], *, duration: float | None = None) -> Path:
    """Write `alignment` as a long-format TextGrid; the file appears complete or not at all.

    Args:
        alignment: words and phones to write.
        path: the TextGrid to write.
        duration: the end of the TextGrid (the audio's duration); default the alignment's end.
    """
    from praatio import textgrid

    end = max(duration if duration is not None else 0.0, alignment.duration)
    word_entries = [(w.start, w.end, w.text) for w in alignment.words if w.end > w.start]
    phone_entries = [(p.start, p.end, p.label) for p in alignment.phones if p.label != SILENCE and p.end > p.start]
    grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=end)
    grid.addTier(textgrid.IntervalTier(WORDS_TIER, word_entries, 0.0, end))
    grid.addTier(textgrid.IntervalTier(PHONES_TIER, phone_entries, 0.0, end))
    target = Path(path)
    with atomic_output(target) as tmp:
        grid.save(str(tmp), format="long_textgrid", includeBlankSpaces=True, reportingMode="silence")
    return target


def read_textgrid(path: str | os.PathLike[str]) -> Alignment:
    """Read words and phones from a TextGrid (see the module docstring for which tiers are used).

    Raises:
        InvalidInputError: a missing or malformed file, no interval tier, or phone labels that are
            not ARPAbet.
    """
    from praatio import textgrid

    file = Path(path)
    if not file.is_file():
        raise InvalidInputError(f"{file}: no such TextGrid file")
    try:
        grid = textgrid.openTextgrid(str(file), includeEmptyIntervals=True, reportingMode="silence", duplicateNamesMode="rename")
    except Exception as exc:  # praatio raises assorted errors on malformed input
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InvalidInputError(f"{file}: not a readable Praat TextGrid ({reason[:200]})") from None
    tiers = [tier for tier in grid.tiers if isinstance(tier, textgrid.IntervalTier)]
    if not tiers:
        raise InvalidInputError(f"{file}: no interval tier")
    words_tier = next((t for t in tiers if t.name.lower() in _WORD_NAMES), tiers[0])
    phones_tier = next((t for t in tiers if t.name.lower() in _PHONE_NAMES and t is not words_tier), None)
    if phones_tier is None:
        phones_tier = next((t for t in tiers if t is not words_tier and _looks_like_arpabet(t.entries)), None)
    words = tuple(Word(label.strip(), start, end) for start, end, label in words_tier.entries if label.strip())
    phones: list[Phone] = []
    for start, end, label in phones_tier.entries if phones_tier is not None else ():
        text = label.strip()
        if text.lower() in _SILENCE_LABELS:
            text = SILENCE
        elif not is_arpabet(text.upper()):
            raise InvalidInputError(f"{file}: phone label {label!r} at {start:.2f} s is not ARPAbet")
        phones.append(Phone(text.upper(), start, end))
    merged = _merge_silence(phones)
    try:
        return Alignment(words, tuple(merged))
    except InvalidInputError as exc:
        raise InvalidInputError(f"{file}: {exc}") from None


def _looks_like_arpabet(entries: list[tuple[float, float, str]]) -> bool:
    labels = [label.strip() for _, _, label in entries if label.strip().lower() not in _SILENCE_LABELS]
    return bool(labels) and sum(is_arpabet(label.upper()) for label in labels) >= ARPABET_SHARE * len(labels)


def _merge_silence(phones: list[Phone]) -> list[Phone]:
    out: list[Phone] = []
    for phone in phones:
        if out and phone.label == SILENCE and out[-1].label == SILENCE:
            out[-1] = Phone(SILENCE, out[-1].start, phone.end)
        else:
            out.append(phone)
    return out
