"""The synthetic corpus: voices and speakers, then seeded, resumable builds (these need the animator)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facetalk.errors import InvalidInputError, OutputError
from facetalk.face.identity import NUM_IDENTITY_MODES
from facetalk.synth.speakers import HELD_OUT_VOICES, VOICE_CATALOGUE, Speaker, make_speakers
from facetalk.synth.voices import Voice, scale_alignment, shift_playback, speak, synthesize
from facetalk.text.phonemes import is_arpabet
from facetalk.types import EmotionSchedule, Waveform

TEXT = "Judy measured the beige garage this morning."
NUM_CLIPS = 6
INTERRUPT_AFTER = 3
FPS = 30.0
TEMPO_TOLERANCE = 0.15


# --- speech ------------------------------------------------------------------------------------------


def test_seeded_piper_repeats_itself_exactly() -> None:
    first, timing = synthesize(TEXT, seed=11)
    again, timing_again = synthesize(TEXT, seed=11)
    other, _ = synthesize(TEXT, seed=12)
    assert np.array_equal(first.samples, again.samples) and timing == timing_again
    assert len(other.samples) != len(first.samples) or not np.array_equal(other.samples, first.samples)


def test_playback_shift_scales_duration_and_times() -> None:
    tone = Waveform(np.sin(np.arange(16000) * 2 * np.pi * 200 / 16000).astype(np.float32) * 0.5, 16000)
    faster = shift_playback(tone, 2.0)
    assert abs(faster.duration - 0.5) < 1e-3
    spectrum = np.abs(np.fft.rfft(faster.samples))
    assert abs(np.argmax(spectrum) * faster.sample_rate / len(faster.samples) - 400) < 5  # pitch doubled
    _, piper = speak(TEXT, Voice("piper"), seed=1)
    halved = scale_alignment(piper, 0.5)
    assert [p.end for p in halved.phones] == [p.end * 0.5 for p in piper.phones]


def test_shifted_piper_voice_keeps_tempo_and_exact_timing() -> None:
    plain, _ = speak(TEXT, Voice("piper", noise_scale=0.0, noise_w_scale=0.0))
    shifted, alignment = speak(TEXT, Voice("piper", noise_scale=0.0, noise_w_scale=0.0, shift_semitones=4.0))
    assert alignment.method == "forced"
    # Tempo is kept up to Piper's rounding of each phoneme to whole frames, which matters less at
    # the slower rate the shifted voice is synthesized at.
    assert abs(shifted.duration - plain.duration) < TEMPO_TOLERANCE * plain.duration
    assert abs(alignment.phones[-1].end - shifted.duration) < 0.02


def test_espeak_voice_is_force_aligned() -> None:
    waveform, alignment = speak(TEXT, Voice("espeak", "en-us+f2", pitch=58), rate=1.1, pitch_semitones=2.0)
    assert waveform.sample_rate == 16000 and 1.0 < waveform.duration < 6.0
    assert alignment.method == "forced"
    assert [w.text for w in alignment.words][:2] == ["judy", "measured"]
    assert all(is_arpabet(p.label) for p in alignment.phones)


def test_speakers_have_own_voices_faces_and_personas() -> None:
    presets = [f"preset{k}" for k in range(8)]
    speakers = make_speakers(5, preset_names=presets)
    train = [s for s in speakers if not s.held_out]
    held = [s for s in speakers if s.held_out]
    assert len(train) == len(VOICE_CATALOGUE) >= 8 and len(held) == len(HELD_OUT_VOICES) == 2
    assert len({s.voice for s in speakers}) == len(speakers)
    assert {s.persona_preset for s in train} == set(presets) and all(s.persona_preset is None for s in held)
    assert all(s.identity.shape == (NUM_IDENTITY_MODES,) for s in speakers)
    assert len({tuple(s.identity) for s in speakers}) == len(speakers)
    again = make_speakers(5, preset_names=presets)
    assert all(Speaker.from_json(a.to_json()).to_json() == b.to_json() for a, b in zip(speakers, again, strict=True))


# --- builds (need the procedural animator) ----------------------------------------------------------


def _build(out: Path, **kwargs: object) -> Path:
    from facetalk.synth.build import build_corpus

    options: dict[str, object] = {
        "hours": 1.0,
        "seed": 7,
        "fps": FPS,
        "max_clips": NUM_CLIPS,
        "word_semantics": False,
        "progress": False,
    }
    options.update(kwargs)
    return build_corpus(out, **options)  # type: ignore[arg-type]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class _Interrupt(Exception):
    """Raised by the test's progress hook to stop a build midway, as a crash would."""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("corpus"))


def test_build_writes_the_native_layout(built: Path) -> None:
    info = json.loads((built / "corpus.json").read_text())
    assert info["complete"] and info["num_clips"] == NUM_CLIPS and info["seed"] == 7
    records = [json.loads(line) for line in (built / "manifest.jsonl").read_text().splitlines()]
    assert [r["clip_id"] for r in records] == [f"c{i:06d}" for i in range(NUM_CLIPS)]
    speakers = sorted(p.name for p in (built / "speakers").iterdir())
    assert len(speakers) == len(VOICE_CATALOGUE) + len(HELD_OUT_VOICES)
    for name in speakers:
        assert np.load(built / "speakers" / name / "template.npy").shape[1] == 3
        assert "persona_vector" in json.loads((built / "speakers" / name / "speaker.json").read_text())
    for record in records:
        clip = built / "clips" / record["clip_id"]
        arrays = np.load(clip.with_suffix(".npz"))
        weights, vertices = arrays["weights"], arrays["vertices"]
        assert weights.dtype == np.float32 and weights.shape == (record["num_frames"], 52)
        assert vertices.dtype == np.float16 and vertices.shape[0] == record["num_frames"] and vertices.shape[2] == 3
        assert record["num_frames"] == int(np.ceil(record["duration"] * FPS))
        assert np.isfinite(weights).all() and (weights >= 0).all() and (weights <= 1).all()
        assert clip.with_suffix(".wav").is_file() and clip.with_suffix(".TextGrid").is_file()
        assert record["emotion"] and record["persona"]["vector"] and record["text"]
    splits = json.loads((built / "splits.json").read_text())
    assert sorted(c for name in ("train", "val", "test", "test_unseen_speaker") for c in splits[name]) == [
        r["clip_id"] for r in records
    ]
    assert len(splits["held_out_speakers"]) == 2


def test_interrupted_build_resumes_to_the_same_bytes(built: Path, tmp_path: Path) -> None:
    def stop(index: int) -> None:
        if index == INTERRUPT_AFTER - 1:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        _build(tmp_path, on_clip=stop)
    assert not (tmp_path / "manifest.jsonl").exists()
    assert len(list((tmp_path / "clips").glob("*.json"))) == INTERRUPT_AFTER
    _build(tmp_path)
    assert _files(tmp_path) == _files(built)


def test_two_workers_build_the_same_bytes(built: Path, tmp_path: Path) -> None:
    # Each clip depends on (seed, index) only, whichever process makes it and whatever it made before.
    _build(tmp_path, workers=2)
    assert _files(tmp_path) == _files(built)


def test_other_settings_in_the_same_directory_are_refused(built: Path) -> None:
    with pytest.raises(OutputError, match="other settings"):
        _build(built, seed=8)


def test_another_seed_gives_another_corpus(built: Path, tmp_path: Path) -> None:
    _build(tmp_path, seed=8, max_clips=1)
    first = json.loads((built / "manifest.jsonl").read_text().splitlines()[0])
    other = json.loads((tmp_path / "manifest.jsonl").read_text().splitlines()[0])
    assert (first["text"], first["speaker"], first["emotion"]) != (other["text"], other["speaker"], other["emotion"])


def test_a_clip_is_regenerated_with_another_emotion(built: Path) -> None:
    from facetalk.data.formats import open_dataset
    from facetalk.synth.build import Corpus, animate_clip

    corpus = Corpus.open(built)
    sample = open_dataset("native", built)[0]
    plan = corpus.plan(int(sample.clip_id.removeprefix("c")))
    assert isinstance(sample.emotion, EmotionSchedule)
    own = animate_clip(corpus, plan, sample.audio, sample.alignment, sample.emotion)
    # the stored clip again, up to the speech's 16-bit rounding and the TextGrid's times
    assert own.shape == sample.motion.data.shape and np.abs(own - sample.motion.data).max() < 0.01
    other = "anger" if sample.emotion.keys[0].category != "anger" else "happy"
    angry = animate_clip(corpus, plan, sample.audio, sample.alignment, EmotionSchedule.constant(other, 1.0))
    assert angry.shape == own.shape and np.abs(angry - own).max() > 0.1
    with pytest.raises(InvalidInputError):
        Corpus.open(built / "clips")


def test_relabelled_corpus_adds_the_training_speech_with_other_emotions(built: Path, tmp_path: Path) -> None:
    from facetalk.data.cache import dataset_key
    from facetalk.data.formats import open_dataset
    from facetalk.synth.relabel import relabel_corpus

    cache = tmp_path / "cache"
    for encoder, name in (("whisper-1", "c000000-aa.npy"), ("emotion-prior-1", "c000000-bb.npy")):
        (cache / dataset_key("native", built) / encoder).mkdir(parents=True)
        np.save(cache / dataset_key("native", built) / encoder / name, np.zeros(2))
    out = relabel_corpus(built, tmp_path / "relabelled", variants=1, seed=0, cache=cache)
    source, train = open_dataset("native", built, split="train"), open_dataset("native", out, split="train")
    assert len(train) == 2 * len(source) and len(open_dataset("native", out, split="all")) == NUM_CLIPS + len(source)
    for k, original in enumerate(source):
        variant = train[len(source) + k]
        assert variant.clip_id == f"{original.clip_id}e0" and variant.audio.samples.tobytes() == original.audio.samples.tobytes()
        assert variant.motion.data.shape == original.motion.data.shape
        assert isinstance(variant.emotion, EmotionSchedule) and isinstance(original.emotion, EmotionSchedule)
        assert variant.emotion.keys[0].category != original.emotion.keys[0].category
        assert np.abs(variant.motion.data - original.motion.data).max() > 0.05
    linked = cache / dataset_key("native", out)
    assert (linked / "whisper-1" / "c000000e0-aa.npy").is_file() == ("c000000" in source.clip_ids)
    assert (linked / "whisper-1" / "c000000-aa.npy").is_file() and not (linked / "emotion-prior-1" / "c000000e0-bb.npy").exists()
    with pytest.raises(OutputError):
        relabel_corpus(built, out, cache=cache)
