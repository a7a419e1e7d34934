"""ARPAbet helpers, viseme classes, and the espeak IPA → ARPAbet mapping used for Piper's timings."""

from __future__ import annotations

import pytest

from facetalk.errors import InvalidInputError
from facetalk.text.phonemes import (
    ARPABET,
    CONSONANTS,
    VOWELS,
    Viseme,
    base_phone,
    ipa_to_arpabet,
    is_arpabet,
    is_vowel,
    segment_ipa,
    stress,
    viseme,
)

EXPECTED_VISEMES = {
    Viseme.BILABIAL: "P B M",
    Viseme.LABIODENTAL: "F V",
    Viseme.DENTAL: "TH DH",
    Viseme.ALVEOLAR: "T D N L S Z",
    Viseme.POSTALVEOLAR: "SH ZH CH JH",
    Viseme.VELAR: "K G NG",
    Viseme.GLOTTAL: "HH",
    Viseme.R: "R",
    Viseme.W: "W",
    Viseme.Y: "Y",
    Viseme.ROUNDED_VOWEL: "UW UH OW AO OY",
    Viseme.OPEN_VOWEL: "AA AE AH AW AY",
    Viseme.MID_FRONT_VOWEL: "EH EY IH IY ER",
}


def test_inventory_and_helpers():
    assert len(ARPABET) == len(set(ARPABET)) == 39
    assert (len(VOWELS), len(CONSONANTS)) == (15, 24)
    assert base_phone("AH0") == "AH" and base_phone("CH") == "CH" and base_phone("SIL") == "SIL"
    assert (stress("EY1"), stress("IH2"), stress("AH0"), stress("T"), stress("AH")) == (1, 2, 0, None, None)
    assert is_vowel("ER0") and is_vowel("AW") and not is_vowel("W") and not is_vowel("SIL")
    assert is_arpabet("AA1") and is_arpabet("NG") and is_arpabet("SIL")
    assert not is_arpabet("T1") and not is_arpabet("AH3") and not is_arpabet("XX")


def test_every_phone_has_its_viseme_class():
    for expected, phones in EXPECTED_VISEMES.items():
        for phone in phones.split():
            assert viseme(phone) is expected, phone
            if is_vowel(phone):
                assert viseme(phone + "1") is expected
    covered = {phone for phones in EXPECTED_VISEMES.values() for phone in phones.split()}
    assert covered == set(ARPABET)
    assert viseme("SIL") is Viseme.SILENCE
    with pytest.raises(InvalidInputError, match="XX"):
        viseme("XX")


@pytest.mark.parametrize(
    ("ipa", "arpabet"),
    [
        ("həlˈoʊ wˈɜːld", "HH AH0 L OW1 W ER1 L D"),
        ("kˈɑːɹ", "K AA1 R"),  # r-coloured vowel: length mark merged, R kept
        ("mˈoːɹ", "M AO1 R"),  # espeak's long o is CMU's AO
        ("bˈʌʔn̩", "B AH1 T AH0 N"),  # glottal stop and syllabic n
        ("bˈɛɾɚ", "B EH1 T ER0"),  # flap, unstressed r-coloured vowel
        ("ɹˈoʊzᵻz", "R OW1 Z IH0 Z"),
        ("ˌaɪdˈiːə", "AY2 D IY1 AH0"),
        ("tʃˈɔɪs dʒˈʌdʒ", "CH OY1 S JH AH1 JH"),
        ("ðˈɛɹ ɪz", "DH EH1 R IH0 Z"),
        ("nˈaʊ θˈæŋks", "N AW1 TH AE1 NG K S"),
        ("ˈeɪ jˈuː", "EY1 Y UW1"),
        ("ʃˈʊɹ ʒ", "SH UH1 R ZH"),
    ],
)
def test_ipa_to_arpabet(ipa, arpabet):
    assert ipa_to_arpabet(ipa) == arpabet.split()


def test_segments_keep_their_entries_for_durations():
    entries = ["h", "ə", "l", "ˈ", "o", "ʊ", " ", "w", "ˈ", "ɜ", "ː", "l", "d", ","]
    segments = segment_ipa(entries)
    assert [s.kind for s in segments] == ["phone"] * 4 + ["word"] + ["phone"] * 4 + ["pause"]
    hello_ow = segments[3]
    assert hello_ow.arpabet == ("OW1",) and (hello_ow.first, hello_ow.stop) == (3, 6)  # the stress mark is its own
    world_er = segments[6]
    assert world_er.ipa == "ˈɜː" and (world_er.first, world_er.stop) == (8, 11)
    covered = [i for s in segments for i in range(s.first, s.stop)]
    assert covered == list(range(len(entries)))  # every entry (and so every sample) belongs to one segment


def test_unknown_symbols_are_reported():
    assert segment_ipa(["ʘ"])[0].kind == "unknown"
    with pytest.raises(InvalidInputError, match="ʘ"):
        ipa_to_arpabet("ʘa")


def test_mapping_covers_everything_piper_says_in_the_test_sentences(sentences):
    from facetalk.synth.voices import _voice

    voice = _voice()
    seen: set[str] = set()
    for sentence in sentences:
        for phonemes in voice.phonemize(sentence):
            segments = segment_ipa(phonemes)
            assert not [s.ipa for s in segments if s.kind == "unknown"], sentence
            seen.update(s.ipa.strip("ˈˌ") for s in segments if s.kind == "phone")
    assert len(seen) > 30  # the dozen sentences exercise most of the inventory
