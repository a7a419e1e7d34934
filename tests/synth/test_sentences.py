"""The sentence grammar: size, variety, determinism and ARPAbet phone coverage."""

from __future__ import annotations

import pytest

from facetalk.errors import InvalidInputError
from facetalk.synth.sentences import EMOTIONAL_CATEGORIES, KINDS, Sentence, generate_sentences, phone_counts, unknown_words
from facetalk.text.phonemes import ARPABET
from facetalk.types import EMOTIONS

NUM_SENTENCES = 2000
MIN_PHONE_COUNT = 50


@pytest.fixture(scope="module")
def sentences() -> list[Sentence]:
    return generate_sentences(NUM_SENTENCES, seed=0)


def test_sentences_are_distinct_and_numbered(sentences: list[Sentence]) -> None:
    assert len(sentences) == NUM_SENTENCES
    assert len({s.text.lower() for s in sentences}) == NUM_SENTENCES
    assert [s.id for s in sentences[:3]] == ["s00000", "s00001", "s00002"]


def test_all_kinds_and_emotions_occur(sentences: list[Sentence]) -> None:
    assert {s.kind for s in sentences} == set(KINDS)
    assert {s.emotion for s in sentences if s.kind == "emotional"} == set(EMOTIONAL_CATEGORIES)
    assert set(EMOTIONAL_CATEGORIES) == set(EMOTIONS) - {"neutral"}
    assert all((s.emotion is None) == (s.kind != "emotional") for s in sentences)
    assert all(s.text.endswith("?") for s in sentences if s.kind == "question")
    assert all(s.text.endswith("!") for s in sentences if s.kind == "exclamation")


def test_generation_is_seeded() -> None:
    assert generate_sentences(50, seed=3) == generate_sentences(50, seed=3)
    assert generate_sentences(50, seed=3) != generate_sentences(50, seed=4)
    assert generate_sentences(80, seed=3)[:50] == generate_sentences(50, seed=3)


def test_every_word_is_in_the_cmu_dictionary(sentences: list[Sentence]) -> None:
    assert unknown_words(sentences) == set()


def test_every_arpabet_phone_occurs_often(sentences: list[Sentence]) -> None:
    counts = phone_counts(sentences)
    assert set(counts) == set(ARPABET) and len(ARPABET) == 39
    rare = {phone: n for phone, n in counts.items() if n < MIN_PHONE_COUNT}
    assert not rare, rare


def test_impossible_requests_are_errors() -> None:
    with pytest.raises(InvalidInputError, match="positive"):
        generate_sentences(0)
