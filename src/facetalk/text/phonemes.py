"""ARPAbet phones, their viseme classes, and the espeak-ng IPA that Piper reports, mapped to ARPAbet.

facetalk's phone labels are the 39 ARPAbet phones of the CMU Pronouncing Dictionary. Vowels carry a
stress digit where it is known (0 unstressed, 1 primary, 2 secondary: "AH0", "EY1"); consonants never
do. "SIL" marks silence.

Viseme classes (`Viseme`, `viseme`) group phones by what the mouth shows:

| class             | phones                       | mouth                                  |
|-------------------|------------------------------|----------------------------------------|
| BILABIAL          | P B M                        | lips pressed together                  |
| LABIODENTAL       | F V                          | lower lip under the upper teeth        |
| DENTAL            | TH DH                        | tongue tip between the teeth           |
| ALVEOLAR          | T D N L S Z                  | teeth nearly closed, tongue at ridge   |
| POSTALVEOLAR      | SH ZH CH JH                  | lips pushed forward, teeth close       |
| VELAR             | K G NG                       | jaw slightly open, tongue back         |
| GLOTTAL           | HH                           | mouth takes the next vowel's shape     |
| R                 | R                            | lips slightly rounded                  |
| W                 | W                            | lips tightly rounded                   |
| Y                 | Y                            | lips spread, jaw nearly closed         |
| ROUNDED_VOWEL     | UW UH OW AO OY               | rounded lips                           |
| OPEN_VOWEL        | AA AE AH AW AY               | open jaw                               |
| MID_FRONT_VOWEL   | EH EY IH IY ER               | spread lips, jaw half open             |
| SILENCE           | SIL                          | mouth at rest                          |

IPA from Piper comes one codepoint per entry: diphthongs arrive as two entries ("a", "ɪ"), stress
marks ("ˈ", "ˌ") precede the stressed vowel as entries of their own, the length mark "ː" follows its
vowel, " " separates words and punctuation marks pauses. `segment_ipa` merges such a stream into
phones and says which entries each phone took, so that callers can add up per-entry durations.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from facetalk.errors import InvalidInputError

VOWELS: tuple[str, ...] = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
CONSONANTS: tuple[str, ...] = (
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG",
    "P", "R", "S", "SH", "T", "TH", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
ARPABET: tuple[str, ...] = VOWELS + CONSONANTS
"""The 39 ARPAbet phones without stress digits."""

SILENCE = "SIL"
STRESS_DIGITS = ("0", "1", "2")

_VOWEL_SET = frozenset(VOWELS)
_PHONE_SET = frozenset(ARPABET)
PAD_PHONE = "<pad>"
PHONE_VOCAB: tuple[str, ...] = (PAD_PHONE, SILENCE, *ARPABET)
"""Phone ids of model inputs: 0 pads, 1 is silence, then the 39 ARPAbet phones without stress."""
_PHONE_IDS = {label: index for index, label in enumerate(PHONE_VOCAB)}


def base_phone(label: str) -> str:
    """The phone without its stress digit: `base_phone("AH0") == "AH"`; "SIL" stays "SIL"."""
    return label[:-1] if label[-1:] in STRESS_DIGITS else label


def stress(label: str) -> int | None:
    """The stress digit of a vowel label (0, 1 or 2), or None for consonants, silence and unmarked vowels."""
    return int(label[-1]) if label[-1:] in STRESS_DIGITS else None


def is_vowel(label: str) -> bool:
    return base_phone(label) in _VOWEL_SET


def is_arpabet(label: str) -> bool:
    """True for one of the 39 phones, with a stress digit only on vowels, or "SIL"."""
    if label == SILENCE:
        return True
    base = base_phone(label)
    return base in _PHONE_SET and (base == label or base in _VOWEL_SET)


def with_stress(label: str, digit: int | None) -> str:
    """`label` with its stress digit set (vowels only); `digit=None` removes it."""
    base = base_phone(label)
    if base not in _VOWEL_SET or digit is None:
        return base
    return f"{base}{digit}"


class Viseme(enum.Enum):
    """What the mouth shows for a phone; see the table in the module docstring."""

    BILABIAL = "bilabial"
    LABIODENTAL = "labiodental"
    DENTAL = "dental"
    ALVEOLAR = "alveolar"
    POSTALVEOLAR = "postalveolar"
    VELAR = "velar"
    GLOTTAL = "glottal"
    R = "r"
    W = "w"
    Y = "y"
    ROUNDED_VOWEL = "rounded_vowel"
    OPEN_VOWEL = "open_vowel"
    MID_FRONT_VOWEL = "mid_front_vowel"
    SILENCE = "silence"


VISEME_OF_PHONE: dict[str, Viseme] = {
    **dict.fromkeys(("P", "B", "M"), Viseme.BILABIAL),
    **dict.fromkeys(("F", "V"), Viseme.LABIODENTAL),
    **dict.fromkeys(("TH", "DH"), Viseme.DENTAL),
    **dict.fromkeys(("T", "D", "N", "L", "S", "Z"), Viseme.ALVEOLAR),
    **dict.fromkeys(("SH", "ZH", "CH", "JH"), Viseme.POSTALVEOLAR),
    **dict.fromkeys(("K", "G", "NG"), Viseme.VELAR),
    "HH": Viseme.GLOTTAL,
    "R": Viseme.R,
    "W": Viseme.W,
    "Y": Viseme.Y,
    **dict.fromkeys(("UW", "UH", "OW", "AO", "OY"), Viseme.ROUNDED_VOWEL),
    **dict.fromkeys(("AA", "AE", "AH", "AW", "AY"), Viseme.OPEN_VOWEL),
    **dict.fromkeys(("EH", "EY", "IH", "IY", "ER"), Viseme.MID_FRONT_VOWEL),
    SILENCE: Viseme.SILENCE,
}


def viseme(label: str) -> Viseme:
    """The viseme class of an ARPAbet label (stress digits are ignored) or "SIL"."""
    try:
        return VISEME_OF_PHONE[base_phone(label)]
    except KeyError:
        raise InvalidInputError(f"{label!r} is not an ARPAbet phone") from None


# --- espeak-ng IPA (as Piper reports it, en-us) → ARPAbet -------------------------------------------

PRIMARY_STRESS = "ˈ"
SECONDARY_STRESS = "ˌ"
LENGTH_MARKS = frozenset("ːˑ")
WORD_BOUNDARY = " "
PAUSE_MARKS = frozenset(".,;:!?…—–-()\"'")
# Diacritics that only refine the phone before them (syllabic ◌̩ is handled as a phone of its own).
MODIFIERS = frozenset("ʰʲ˞̪̯̃ˤ")

IPA_TO_ARPABET: dict[str, tuple[str, ...]] = {
    # diphthongs and affricates (two entries each in Piper's stream)
    "aɪ": ("AY",), "aʊ": ("AW",), "eɪ": ("EY",), "oʊ": ("OW",), "əʊ": ("OW",), "ɔɪ": ("OY",),
    "tʃ": ("CH",), "dʒ": ("JH",),
    # syllabic consonants: a reduced vowel plus the consonant, as the CMU dictionary writes them
    "n̩": ("AH", "N"), "l̩": ("AH", "L"), "m̩": ("AH", "M"),
    # r-coloured vowels
    "ɚ": ("ER",), "ɝ": ("ER",), "ɜ": ("ER",),
    # monophthongs
    "i": ("IY",), "ɪ": ("IH",), "ᵻ": ("IH",), "ɨ": ("IH",), "e": ("EH",), "ɛ": ("EH",), "æ": ("AE",),
    "a": ("AA",), "ɑ": ("AA",), "ɒ": ("AA",), "ɐ": ("AH",), "ʌ": ("AH",), "ə": ("AH",),
    "ɔ": ("AO",), "o": ("OW",), "ʊ": ("UH",), "u": ("UW",), "ʉ": ("UW",), "y": ("UW",),
    # consonants
    "p": ("P",), "b": ("B",), "m": ("M",), "f": ("F",), "v": ("V",), "θ": ("TH",), "ð": ("DH",),
    "t": ("T",), "d": ("D",), "n": ("N",), "l": ("L",), "ɫ": ("L",), "s": ("S",), "z": ("Z",),
    "ʃ": ("SH",), "ʒ": ("ZH",), "k": ("K",), "ɡ": ("G",), "g": ("G",), "ŋ": ("NG",), "h": ("HH",),
    "ɹ": ("R",), "r": ("R",), "ɾ": ("T",), "ʔ": ("T",), "w": ("W",), "ʍ": ("W",), "j": ("Y",),
    "x": ("K",), "ç": ("HH",), "ɬ": ("L",), "ɲ": ("N",), "ɱ": ("M",), "β": ("V",), "ɣ": ("G",),
}  # fmt: skip
"""espeak-ng IPA phones to ARPAbet without stress. The flap ɾ and glottal stop ʔ become T, as the CMU
dictionary spells "butter" and "button"; "oː" (as in "more") is AO, see `_LONG_VOWELS`."""

# A length mark changes the ARPAbet vowel for these (espeak writes "more" as m-o-ː-ɹ, CMU as M AO R).
_LONG_VOWELS: dict[str, tuple[str, ...]] = {"o": ("AO",), "ɜ": ("ER",), "a": ("AA",)}
_MAX_KEY = max(len(key) for key in IPA_TO_ARPABET)

SegmentKind = Literal["phone", "word", "pause", "unknown"]


@dataclass(frozen=True)
class IpaSegment:
    """A run of entries of a Piper/espeak IPA stream that forms one unit.

    Attributes:
        kind: "phone" (with ARPAbet labels), "word" (a word boundary " "), "pause" (punctuation) or
            "unknown" (a symbol this table does not know).
        ipa: the entries joined, stress and length marks included, e.g. "ˈaɪ" or "ɑː".
        arpabet: the ARPAbet labels, with stress digits on vowels; empty unless kind is "phone".
        first: index of the first entry.
        stop: index one past the last entry.
    """

    kind: SegmentKind
    ipa: str
    arpabet: tuple[str, ...]
    first: int
    stop: int


def segment_ipa(entries: Sequence[str]) -> list[IpaSegment]:
    """Merge an IPA stream into phones, longest match first.

    A stress mark belongs to the next phone (its entry's duration too) and sets the stress of the next
    vowel; a length mark or modifier belongs to the phone before it. Vowels without a stress mark get
    stress 0.

    Args:
        entries: one IPA symbol (usually one codepoint) per entry, as in Piper's `phonemes`.
    """
    segments: list[IpaSegment] = []
    pending_stress: int | None = None
    pending_first: int | None = None  # index of stress marks waiting for their phone
    i = 0
    while i < len(entries):
        entry = entries[i]
        if entry in (PRIMARY_STRESS, SECONDARY_STRESS):
            pending_stress = 1 if entry == PRIMARY_STRESS else 2
            pending_first = i if pending_first is None else pending_first
            i += 1
            continue
        if entry in LENGTH_MARKS or entry in MODIFIERS:
            if segments and segments[-1].kind == "phone" and segments[-1].stop == i:
                last = segments[-1]
                labels = last.arpabet
                if entry in LENGTH_MARKS and last.ipa.lstrip("ˈˌ") in _LONG_VOWELS:
                    digit = stress(labels[0])
                    labels = tuple(with_stress(label, digit) for label in _LONG_VOWELS[last.ipa.lstrip("ˈˌ")])
                segments[-1] = IpaSegment("phone", last.ipa + entry, labels, last.first, i + 1)
            i += 1
            continue
        first = pending_first if pending_first is not None else i
        if entry == WORD_BOUNDARY or entry in PAUSE_MARKS:
            kind: SegmentKind = "word" if entry == WORD_BOUNDARY else "pause"
            segments.append(IpaSegment(kind, "".join(entries[first : i + 1]), (), first, i + 1))
            pending_stress = pending_first = None
            i += 1
            continue
        for width in range(min(_MAX_KEY, len(entries) - i), 0, -1):
            key = "".join(entries[i : i + width])
            if key in IPA_TO_ARPABET:
                break
        else:
            segments.append(IpaSegment("unknown", "".join(entries[first : i + 1]), (), first, i + 1))
            pending_first = None
            i += 1
            continue
        labels = IPA_TO_ARPABET[key]
        if any(label in _VOWEL_SET for label in labels):
            digit = pending_stress if pending_stress is not None else 0
            labels = tuple(with_stress(label, digit) for label in labels)
            pending_stress = None
        segments.append(IpaSegment("phone", "".join(entries[first : i + width]), labels, first, i + width))
        pending_first = None
        i += width
    return segments


def ipa_to_arpabet(ipa: str | Sequence[str]) -> list[str]:
    """ARPAbet labels (with stress on vowels) for an IPA string such as "həlˈoʊ wˈɜːld".

    Word boundaries and punctuation are dropped.

    Raises:
        InvalidInputError: a symbol that is not in the table.
    """
    segments = segment_ipa(list(ipa))
    unknown = [segment.ipa for segment in segments if segment.kind == "unknown"]
    if unknown:
        raise InvalidInputError(f"IPA symbols without an ARPAbet equivalent: {' '.join(unknown)}")
    return [label for segment in segments for label in segment.arpabet]


def phone_id(label: str) -> int:
    """The id of a phone label in `PHONE_VOCAB`: stress is dropped, and anything that is not an
    ARPAbet phone (silence, noise, spoken-noise markers of aligners) counts as silence."""
    return _PHONE_IDS.get(base_phone(label), _PHONE_IDS[SILENCE])
