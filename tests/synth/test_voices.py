"""facetalk's Piper speech synthesis and the reference alignment built from Piper's durations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from facetalk.errors import InvalidInputError
from facetalk.synth.voices import synthesize
from facetalk.text.align import normalize_transcript
from facetalk.text.phonemes import SILENCE, is_arpabet, is_vowel, stress

DURATION_TOLERANCE_S = 0.01


def test_one_sentence_has_exact_tiling_timings(one_sentence):
    waveform, reference = one_sentence.waveform, one_sentence.reference
    assert waveform.sample_rate == 16000 and waveform.samples.dtype == np.float32
    assert 0.1 < np.abs(waveform.samples).max() <= 1.0
    assert [w.text for w in reference.words] == normalize_transcript(one_sentence.text)
    phones = reference.phones
    assert phones[0].start == 0.0 and abs(phones[-1].end - waveform.duration) < DURATION_TOLERANCE_S
    assert all(a.end == pytest.approx(b.start) for a, b in itertools.pairwise(phones))  # phones tile
    assert phones[0].label == SILENCE and phones[-1].label == SILENCE
    assert all(is_arpabet(p.label) for p in phones)
    vowels = [p.label for p in phones if is_vowel(p.label)]
    assert vowels and all(stress(v) is not None for v in vowels) and any(stress(v) == 1 for v in vowels)
    for word in reference.words:  # each word is covered by the phones inside it
        inside = [p for p in phones if word.start - 1e-9 <= p.start and p.end <= word.end + 1e-9]
        assert inside and all(p.label != SILENCE for p in inside), word


def test_length_scale_slows_speech_down():
    fast, _ = synthesize("Good morning to you.", length_scale=0.8, noise_scale=0.0, noise_w_scale=0.0)
    slow, alignment = synthesize("Good morning to you.", length_scale=1.4, noise_scale=0.0, noise_w_scale=0.0)
    assert slow.duration > 1.4 * fast.duration
    assert [w.text for w in alignment.words] == ["good", "morning", "to", "you"]


def test_pauses_at_punctuation_are_silence():
    _, alignment = synthesize("Yes, of course.", noise_scale=0.0, noise_w_scale=0.0)
    labels = [p.label for p in alignment.phones]
    yes_end = alignment.words[0].end
    assert SILENCE in labels[1:-1]
    assert any(p.label == SILENCE and p.start == pytest.approx(yes_end) for p in alignment.phones)


def test_numbers_are_named_as_the_aligner_names_them():
    _, alignment = synthesize("It costs 25 dollars.")
    assert [w.text for w in alignment.words] == ["it", "costs", "twenty", "five", "dollars"]


def test_nothing_to_say_is_an_error():
    with pytest.raises(InvalidInputError, match="nothing to say"):
        synthesize(" ... ")
