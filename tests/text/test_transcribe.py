"""Whisper tiny.en transcription, and alignment without a transcript."""

from __future__ import annotations

import importlib
import itertools

import numpy as np

from facetalk.assets import asset_path
from facetalk.synth.voices import espeak
from facetalk.text.align import SAMPLE_RATE, align, normalize_transcript, quiet_frames
from facetalk.text.transcribe import MAX_BLOCK_S, Transcription, speech_blocks, transcribe
from facetalk.types import Waveform

MIN_WORD_ACCURACY = 0.8
PARAGRAPH = asset_path("speech/paragraph.txt").read_text().strip()
LONG_REPEATS = 3  # about 2.5 minutes of espeak-ng speech: two blocks
MIN_AGREEMENT_WITH_WHOLE = 0.95
CLIPS_TO_TRANSCRIBE = 4


def word_accuracy(hypothesis: list[str], reference: list[str]) -> float:
    """1 - word error rate (Levenshtein over words), floored at 0."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return max(0.0, 1.0 - previous[-1] / len(reference))


def test_transcribe_gives_timed_words_and_text(one_sentence):
    result = transcribe(one_sentence.waveform)
    assert isinstance(result, Transcription) and not result.phones
    assert normalize_transcript(result.text) == normalize_transcript(one_sentence.text)
    assert [w.text.lower() for w in result.words] == normalize_transcript(one_sentence.text)
    assert 0.0 <= result.words[0].start < result.words[-1].end <= one_sentence.waveform.duration + 0.05


def test_align_without_transcript(speech_corpus):
    accuracies = []
    for clip in speech_corpus[:CLIPS_TO_TRANSCRIBE]:
        result = align(clip.path)  # transcribe, then align
        assert result.method == "forced"
        accuracies.append(word_accuracy([w.text for w in result.words], normalize_transcript(clip.text)))
    # the mean, not the minimum: Whisper writes "seashells" where the text has "sea shells"
    assert sum(accuracies) / len(accuracies) >= MIN_WORD_ACCURACY, accuracies


def test_real_speech_transcribes(alsa_recordings, speech_reader):
    heard = [normalize_transcript(transcribe(speech_reader(path, sample_rate=48000)).text) for path in alsa_recordings]
    accuracy = [word_accuracy(words, said.split()) for words, said in zip(heard, alsa_recordings.values(), strict=True)]
    assert sum(accuracy) / len(accuracy) >= MIN_WORD_ACCURACY, heard


def test_long_speech_is_transcribed_block_by_block_at_pauses(monkeypatch):
    text = " ".join([PARAGRAPH] * LONG_REPEATS)
    waveform = espeak(text, "en-us")
    blocks = speech_blocks(waveform.samples)
    assert len(blocks) >= 2 and blocks[0][0] == 0 and blocks[-1][1] == len(waveform.samples)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(blocks))  # they tile the speech
    assert all(stop - start <= MAX_BLOCK_S * SAMPLE_RATE for start, stop in blocks)
    quiet, _ = quiet_frames(waveform.samples)
    frame = SAMPLE_RATE // 100
    assert all(quiet[stop // frame] for _, stop in blocks[:-1])  # every cut is in a pause

    result = transcribe(waveform)
    said = normalize_transcript(result.text)
    assert word_accuracy(said, normalize_transcript(text)) >= MIN_WORD_ACCURACY
    monkeypatch.setattr(importlib.import_module("facetalk.text.transcribe"), "MAX_BLOCK_S", np.inf)
    whole = transcribe(waveform)  # the whole input at once: the cut costs (almost) nothing
    assert word_accuracy(said, normalize_transcript(whole.text)) >= MIN_AGREEMENT_WITH_WHOLE
    starts = np.array([w.start for w in result.words])
    assert np.all(np.diff(starts) >= 0) and result.words[-1].end <= waveform.duration + 0.05
    cut = blocks[0][1] / SAMPLE_RATE  # words on both sides of the first cut, in the right place
    before = [w for w in result.words if w.end <= cut]
    after = [w for w in result.words if w.start >= cut]
    assert len(before) + len(after) == len(result.words) and before and after


def test_short_speech_is_one_block():
    samples = np.zeros(int(MAX_BLOCK_S * SAMPLE_RATE), np.float32)
    assert speech_blocks(Waveform(samples, SAMPLE_RATE).samples) == [(0, len(samples))]
