"""Whisper tiny.en transcription, and alignment without a transcript."""

from __future__ import annotations

from facetalk.text.align import align, normalize_transcript
from facetalk.text.transcribe import Transcription, transcribe

MIN_WORD_ACCURACY = 0.8
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
