"""Forced alignment against Piper's reference timings, OOV words, the fallback, real speech, bad input."""

from __future__ import annotations

import difflib
import itertools
import subprocess
import sys
import warnings

import numpy as np
import pytest

from facetalk.assets import asset_path
from facetalk.errors import InvalidInputError
from facetalk.synth.voices import espeak, synthesize
from facetalk.text.align import (
    MAX_CHUNK_S,
    AlignmentFallbackWarning,
    AlignmentResult,
    TranscriptMismatchWarning,
    _decoder,
    _pronunciations,
    align,
    normalize_transcript,
)
from facetalk.text.phonemes import SILENCE, base_phone, is_arpabet, is_vowel, stress
from facetalk.text.textgrid import read_textgrid
from facetalk.types import Alignment, Waveform

WORD_MEDIAN_LIMIT_S = 0.050
PHONE_MEDIAN_LIMIT_S = 0.040
FRAME_S = 0.01
MIN_EXACT_SHARE = 0.75
PARAGRAPH = asset_path("speech/paragraph.txt").read_text().strip()
PARAGRAPH_MIN_S = 40.0
MEMORY_REPEATS = 4  # about three minutes of espeak-ng speech
MEMORY_MIN_S = 150.0
MEMORY_GROWTH_LIMIT_MB = 400.0  # one 20-minute utterance grew pocketsphinx by 16 GB


def boundary_errors(result: Alignment, reference: Alignment) -> tuple[list[float], list[float]]:
    """|start| and |end| differences of words (same sequence) and of phones matched by label."""
    assert [w.text for w in result.words] == [w.text for w in reference.words]
    words = [abs(a.start - b.start) for a, b in zip(result.words, reference.words, strict=True)]
    words += [abs(a.end - b.end) for a, b in zip(result.words, reference.words, strict=True)]
    ours = [p for p in result.phones if p.label != SILENCE]
    theirs = [p for p in reference.phones if p.label != SILENCE]
    # espeak and the CMU dictionary pronounce some words differently: compare the phones they share
    matcher = difflib.SequenceMatcher(
        None, [base_phone(p.label) for p in ours], [base_phone(p.label) for p in theirs], autojunk=False
    )
    phones = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            a, b = ours[block.a + k], theirs[block.b + k]
            phones += [abs(a.start - b.start), abs(a.end - b.end)]
    assert len(phones) > len(theirs)  # most phones are shared
    return words, phones


def assert_well_formed(result: AlignmentResult, duration: float) -> None:
    phones = result.phones
    assert phones[0].start == 0.0 and abs(phones[-1].end - duration) <= 2 * FRAME_S
    assert all(a.end == pytest.approx(b.start) for a, b in itertools.pairwise(phones))
    assert all(is_arpabet(p.label) for p in phones)
    times = [t for item in (*result.words, *phones) for t in (item.start, item.end)]
    assert np.allclose(np.round(np.array(times) / FRAME_S) * FRAME_S, times)  # 10 ms resolution


def test_agrees_with_piper_reference_timings(speech_corpus):
    word_errors: list[float] = []
    phone_errors: list[float] = []
    for clip in speech_corpus:
        result = align(clip.waveform, clip.text)
        assert result.method == "forced", clip.text
        assert_well_formed(result, clip.waveform.duration)
        words, phones = boundary_errors(result, clip.reference)
        word_errors += words
        phone_errors += phones
    word_median, phone_median = float(np.median(word_errors)), float(np.median(phone_errors))
    print(f"\nmedian boundary error vs Piper: words {word_median * 1000:.1f} ms, phones {phone_median * 1000:.1f} ms")
    assert word_median < WORD_MEDIAN_LIMIT_S
    assert phone_median < PHONE_MEDIAN_LIMIT_S


def test_result_does_not_depend_on_what_was_aligned_before():
    # pocketsphinx adapts its front end (cepstral mean, noise estimate) across utterances. Aligning a
    # muffled, quiet, noisy rendition in between moved a shared decoder's boundaries of the clean clip
    # by 10 ms; facetalk must not let that leak between calls, or a corpus built with 2 workers (or
    # resumed) would differ from one built in one go.
    text = "Will Roger move the blue boat?"  # a sentence where the shared decoder's drift showed
    clean, _ = synthesize(text, noise_scale=0.0, noise_w_scale=0.0)
    first = align(clean, text)
    muffled = np.convolve(clean.samples, np.ones(8) / 8, mode="same") * 0.05
    noisy = muffled + 0.02 * np.random.default_rng(0).standard_normal(len(muffled))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlignmentFallbackWarning)
        align(Waveform(noisy.astype(np.float32), clean.sample_rate), text)
    assert align(clean, text) == first


def test_stress_comes_from_the_dictionary(one_sentence):
    result = align(one_sentence.waveform, one_sentence.text)
    labels = {p.label for p in result.phones}
    assert {"R", "EH1", "D", "B", "UH1", "K"} <= labels  # "red book": stressed vowels
    assert all(stress(p.label) is not None for p in result.phones if is_vowel(p.label))


def test_unknown_words_get_phones():
    text = "The blorptastic zyxwiv sang"
    waveform, _ = synthesize(text)
    result = align(waveform, text)
    assert result.method == "forced"
    assert [w.text for w in result.words] == ["the", "blorptastic", "zyxwiv", "sang"]
    for word in result.words[1:3]:
        inside = [p.label for p in result.phones if word.start <= p.start and p.end <= word.end]
        assert len(inside) >= 4 and SILENCE not in inside, (word, inside)
        assert any(is_vowel(label) and stress(label) is not None for label in inside)


def dictionary_pronunciations(words: list[str]) -> dict[str, list[list[str]]]:
    return _pronunciations(words, _decoder())


def assert_dictionary_phones(result: AlignmentResult) -> None:
    """Each word's phones are one of its dictionary pronunciations: none dropped, none invented."""
    known = dictionary_pronunciations([w.text for w in result.words])
    for word in result.words:
        inside = [p.label for p in result.phones if word.start <= p.start and p.end <= word.end and p.label != SILENCE]
        assert inside in known[word.text], (word, inside)
    spoken = sum(p.label != SILENCE for p in result.phones)
    assert spoken == sum(len([p for p in result.phones if w.start <= p.start and p.end <= w.end]) for w in result.words)


def test_fallback_spreads_dictionary_phones_and_says_so(one_sentence):
    wrong = "Seventeen purple elephants were dancing quietly around the kitchen table"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = align(one_sentence.waveform, wrong)
    assert [str(w.message) for w in caught if issubclass(w.category, AlignmentFallbackWarning)]
    assert len(caught) == 1  # one line, not a fallback warning and a mismatch warning
    assert result.method == "dictionary" and [c.method for c in result.chunks] == ["dictionary"]
    assert [w.text for w in result.words] == normalize_transcript(wrong)
    assert_well_formed(result, one_sentence.waveform.duration)
    assert_dictionary_phones(result)
    assert sum(p.label != SILENCE for p in result.phones) == sum(
        len(dictionary_pronunciations(normalize_transcript(wrong))[w][0]) for w in normalize_transcript(wrong)
    )
    with pytest.raises(InvalidInputError, match="forced alignment failed"):
        align(one_sentence.waveform, wrong, method="forced")


def test_too_many_words_for_the_audio_warns_once(one_sentence):
    crowded = f"{one_sentence.text} {one_sentence.text} {one_sentence.text}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = align(one_sentence.waveform, crowded)
    assert len(caught) == 1 and issubclass(caught[0].category, (AlignmentFallbackWarning, TranscriptMismatchWarning))
    assert len(result.words) == len(normalize_transcript(crowded))
    assert all(w.end > w.start for w in result.words)  # every word reported is one a TextGrid can hold


@pytest.mark.parametrize("voice", ["espeak-ng en-us", "piper"])
def test_long_paragraph_aligns_chunk_by_chunk(voice):
    if voice == "piper":
        waveform, _ = synthesize(PARAGRAPH, noise_scale=0.0, noise_w_scale=0.0)
    else:
        waveform = espeak(PARAGRAPH, "en-us")
    assert waveform.duration > PARAGRAPH_MIN_S
    result = align(waveform, PARAGRAPH)
    assert len(result.chunks) >= 2 and all(c.end - c.start <= MAX_CHUNK_S for c in result.chunks)
    assert [c.method for c in result.chunks] == ["forced"] * len(result.chunks) and result.method == "forced"
    assert sum(c.words for c in result.chunks) == len(result.words)
    assert [w.text for w in result.words] == normalize_transcript(PARAGRAPH)
    assert_well_formed(result, waveform.duration)
    assert_dictionary_phones(result)


def test_long_speech_without_a_transcript_is_chunked_at_whisper_word_times():
    waveform = espeak(PARAGRAPH, "en-us")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AlignmentFallbackWarning)  # Whisper may mishear a word or two
        result = align(waveform)
    assert len(result.chunks) >= 2 and sum(c.words for c in result.chunks) == len(result.words)
    assert sum(c.method == "forced" for c in result.chunks) >= len(result.chunks) - 1
    assert len(result.words) == len(result.transcript.split()) > 0.9 * len(normalize_transcript(PARAGRAPH))
    assert_well_formed(result, waveform.duration)
    assert_dictionary_phones(result)


MEMORY_PROBE = """
import resource, sys
from facetalk.synth.voices import espeak
from facetalk.text.align import align
waveform = espeak(sys.argv[1], "en-us")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = align(waveform, sys.argv[1])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(waveform.duration, len(result.chunks), (after - before) / 1024)
"""


def test_aligner_memory_stays_bounded_on_minutes_of_speech():
    text = " ".join([PARAGRAPH] * MEMORY_REPEATS)
    probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, text], capture_output=True, text=True, check=True)
    duration, chunks, growth_mb = map(float, probe.stdout.split())
    assert duration > MEMORY_MIN_S and chunks >= duration / MAX_CHUNK_S
    assert growth_mb < MEMORY_GROWTH_LIMIT_MB


def test_fallback_can_be_requested(one_sentence):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asked for, so no warning
        result = align(one_sentence.waveform, one_sentence.text, method="phone-recognition")
    assert result.method == "phone-recognition" and len(result.words) == 8


def test_real_speech_aligns(alsa_recordings, speech_reader):
    heard = {}
    for path, said in alsa_recordings.items():
        result = align(path)  # a file: loaded by facetalk.audio, transcribed by Whisper, then aligned
        assert result.method == "forced", path
        assert_well_formed(result, speech_reader(path).duration)
        heard[path.name] = result.transcript
        at_48k = speech_reader(path, sample_rate=48000)
        again = align(Waveform(at_48k.samples, 48000), said)  # resampled inside
        assert [w.text for w in again.words] == said.split()
        assert_well_formed(again, at_48k.duration)
    # Whisper tiny.en hears "Rear Right" as "we're right": most, not all, must be exact
    exact = [name for name, path in zip(heard, alsa_recordings, strict=True) if heard[name] == alsa_recordings[path]]
    assert len(exact) >= MIN_EXACT_SHARE * len(heard), heard


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Dr. Smith's 3rd car, 1990!", "doctor smith's third car nineteen ninety"),
        ("It cost $5.50 -- 10% of 1,200.", "it cost five dollars and fifty cents ten percent of one thousand two hundred"),
        ("“Don’t” worry, it's well-known & 2.5 in 2005", "don't worry it's well known and two point five in two thousand five"),
        ("Café NAÏVE 21st 1900 1066", "cafe naive twenty first nineteen hundred ten sixty six"),
    ],
)
def test_normalize_transcript(text, words):
    assert normalize_transcript(text) == words.split()


def test_bad_input_is_a_one_line_error(tmp_path, one_sentence):
    with pytest.raises(InvalidInputError, match=r"missing\.wav"):
        align(tmp_path / "missing.wav", "hello")
    with pytest.raises(InvalidInputError, match="no words") as info:
        align(one_sentence.path, " -- ")
    assert one_sentence.path.name in str(info.value) and "\n" not in str(info.value)


def facetalk(*args):
    return subprocess.run([sys.executable, "-m", "facetalk.cli", *map(str, args)], capture_output=True, text=True)


def test_cli_align_writes_a_textgrid(tmp_path, one_sentence):
    out = tmp_path / "speech.TextGrid"
    result = facetalk("align", one_sentence.path, "--text", one_sentence.text, "-o", out)
    assert result.returncode == 0, result.stderr
    assert "forced" in result.stdout and not result.stderr
    assert [w.text for w in read_textgrid(out).words] == normalize_transcript(one_sentence.text)
    (tmp_path / "wrong.txt").write_text("Seventeen purple elephants were dancing quietly around the kitchen table\n")
    result = facetalk("align", one_sentence.path, "--text-file", tmp_path / "wrong.txt", "-o", out)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("\n") == 1 and "forced alignment failed" in result.stderr


@pytest.mark.parametrize("case", ["missing-transcript", "empty-transcript", "missing-audio"])
def test_cli_bad_input(tmp_path, one_sentence, case):
    (tmp_path / "empty.txt").write_text("  \n")
    args = {
        "missing-transcript": (one_sentence.path, "--text-file", tmp_path / "nope.txt"),
        "empty-transcript": (one_sentence.path, "--text-file", tmp_path / "empty.txt"),
        "missing-audio": (tmp_path / "nope.wav", "--text", "hello"),
    }[case]
    result = facetalk("align", *args, "-o", tmp_path / "out.TextGrid")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert {"missing-transcript": "nope.txt", "empty-transcript": "empty.txt", "missing-audio": "nope.wav"}[case] in lines[0]
    assert not (tmp_path / "out.TextGrid").exists()
