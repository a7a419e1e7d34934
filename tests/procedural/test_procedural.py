"""The procedural animator: lip closure, jaw and energy, personas, emotions, blinks, words, any fps."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d

from facetalk.audio.prosody import extract_prosody
from facetalk.errors import InvalidInputError
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.face.default_face import default_rig
from facetalk.face.topology import LANDMARKS
from facetalk.procedural import PERSONAS, Persona, ProceduralAnimator
from facetalk.procedural.animator import LIP_OPENERS
from facetalk.procedural.coarticulation import closure_frames
from facetalk.procedural.expressions import EMOTION_PROTOTYPES
from facetalk.procedural.persona import PERSONA_RANGES
from facetalk.text.phonemes import Viseme, base_phone, stress, viseme
from facetalk.types import EMOTIONS, Alignment, EmotionKey, EmotionSchedule, Motion, Word

K = {name: i for i, name in enumerate(ARKIT_NAMES)}
LIP_CLOSE_THRESHOLD_MM = 1.0  # the rest slit is 0.1 mm; measured worst case at bilabials ~0.25 mm
OPEN_VOWEL_GAP_MM = 4.0  # stressed AA/AE/AO reach at least this lip gap (measured 6-10 mm)
# Jaw opening vs the linear RMS envelope, Pearson r per sentence. From the phones alone the jaw
# follows vowel/consonant alternation (measured r = 0.38-0.77, mean 0.54 over the 12 sentences);
# with the energy contour modulating the jaw, r = 0.56-0.88, mean 0.72.
MIN_JAW_ENERGY_R = 0.3
MIN_MEAN_JAW_ENERGY_R = 0.45
MIN_MEAN_JAW_ENERGY_R_PROSODY = 0.6
# Two presets on one sentence: mean |weight difference| (measured >= 0.008) and the mean over
# frames of the largest vertex displacement difference (measured >= 1.3 mm, see the test).
MIN_PERSONA_WEIGHT_DIFF = 0.005
MIN_PERSONA_VERTEX_DIFF_MM = 1.0
MAX_SMILE_STEP = 0.03  # per frame at 30 fps on a neutral → happy ramp over ~2 s
STILL = dataclasses.replace(PERSONAS["neutral"], idle_motion=0.0, blink_rate_hz=0.0, brow_activity=0.0)


@pytest.fixture(scope="module")
def animator() -> ProceduralAnimator:
    return ProceduralAnimator()


def _lip_gap_mm(motion: Motion) -> np.ndarray:
    vertices = default_rig().to_vertices(motion.select(ARKIT_NAMES))
    upper, lower = LANDMARKS["upper_lip_inner"], LANDMARKS["lower_lip_inner"]
    return np.linalg.norm(vertices[:, upper] - vertices[:, lower], axis=-1) * 1000.0  # (T,)


@pytest.mark.parametrize("fps", [25.0, 30.0, 60.0])
def test_output_shape_range_fps(animator: ProceduralAnimator, one_sentence, fps: float) -> None:  # type: ignore[no-untyped-def]
    duration = one_sentence.waveform.duration
    motion = animator.animate(one_sentence.reference, duration=duration, fps=fps, word_semantics=False)
    assert motion.kind == "blendshapes" and motion.channels == ARKIT_NAMES and motion.fps == fps
    assert motion.num_frames == math.ceil(duration * fps)
    assert motion.data.dtype == np.float32 and np.isfinite(motion.data).all()
    assert motion.data.min() >= 0.0 and motion.data.max() <= 1.0
    assert motion.data[:, K["jawOpen"]].max() > 0.2  # it talks


@pytest.mark.parametrize("fps", [25.0, 30.0])
def test_every_bilabial_closes_the_lips(animator: ProceduralAnimator, speech_corpus, fps: float) -> None:  # type: ignore[no-untyped-def]
    checked = 0
    for clip in speech_corpus:
        motion = animator.animate(clip.reference, duration=clip.waveform.duration, fps=fps, word_semantics=False)
        gap = _lip_gap_mm(motion)
        for phone in clip.reference.phones:
            if viseme(phone.label) is not Viseme.BILABIAL:
                continue
            frames = closure_frames(phone.start, phone.end, motion.times)
            best = frames[np.argmin(gap[frames])]
            assert gap[best] < LIP_CLOSE_THRESHOLD_MM, f"{clip.text!r}: {phone} gap {gap[best]:.2f} mm"
            jaw, close = motion.data[best, K["jawOpen"]], motion.data[best, K["mouthClose"]]
            assert close >= 0.95 * jaw and close > 0.05  # the lips hold shut over a lowered jaw
            assert motion.data[best, K["mouthPressLeft"]] > 0.1
            checked += 1
    assert checked >= 25


def test_every_persona_closes_the_lips(animator: ProceduralAnimator, speech_corpus) -> None:  # type: ignore[no-untyped-def]
    clip = speech_corpus[8]  # Peter Piper
    for name, persona in PERSONAS.items():
        motion = animator.animate(
            clip.reference, duration=clip.waveform.duration, persona=persona, emotion=EmotionSchedule.constant("surprise"),
            word_semantics=False,
        )  # fmt: skip
        gap = _lip_gap_mm(motion)
        shift = persona.timing_offset_s
        for phone in clip.reference.phones:
            if viseme(phone.label) is Viseme.BILABIAL:
                frames = closure_frames(phone.start + shift, phone.end + shift, motion.times)
                assert gap[frames].min() < LIP_CLOSE_THRESHOLD_MM, f"{name}: {phone}"


def test_open_vowels_open_the_jaw(animator: ProceduralAnimator, speech_corpus) -> None:  # type: ignore[no-untyped-def]
    open_gaps, high_jaw, open_jaw = [], [], []
    for clip in speech_corpus:
        motion = animator.animate(clip.reference, duration=clip.waveform.duration, word_semantics=False)
        gap = _lip_gap_mm(motion)
        for phone in clip.reference.phones:
            frames = closure_frames(phone.start, phone.end, motion.times)
            jaw = motion.data[frames, K["jawOpen"]].max()
            if base_phone(phone.label) in ("AA", "AE", "AO") and stress(phone.label) == 1:
                open_gaps.append(gap[frames].max())
                open_jaw.append(jaw)
            elif base_phone(phone.label) in ("IY", "UW"):
                high_jaw.append(jaw)
    assert min(open_gaps) > OPEN_VOWEL_GAP_MM
    assert np.mean(open_jaw) > 1.5 * np.mean(high_jaw)


def test_jaw_follows_the_energy_envelope(animator: ProceduralAnimator, speech_corpus) -> None:  # type: ignore[no-untyped-def]
    plain, with_prosody = [], []
    for clip in speech_corpus:
        prosody = extract_prosody(clip.waveform, fps=30.0)
        envelope = 10.0 ** (prosody.energy / 20.0)  # linear RMS
        for out, extra in ((plain, None), (with_prosody, prosody)):
            motion = animator.animate(clip.reference, duration=clip.waveform.duration, prosody=extra, word_semantics=False)
            out.append(np.corrcoef(motion.data[:, K["jawOpen"]], envelope)[0, 1])
    assert min(plain) > MIN_JAW_ENERGY_R
    assert np.mean(plain) > MIN_MEAN_JAW_ENERGY_R
    assert np.mean(with_prosody) > MIN_MEAN_JAW_ENERGY_R_PROSODY > np.mean(plain)


def test_personas_differ_measurably(animator: ProceduralAnimator, speech_corpus) -> None:  # type: ignore[no-untyped-def]
    clip = speech_corpus[5]
    rig = default_rig()
    motions = {
        name: animator.animate(clip.reference, duration=clip.waveform.duration, persona=persona, word_semantics=False).data
        for name, persona in PERSONAS.items()
    }
    vertices = {name: rig.to_vertices(data) for name, data in motions.items()}
    for a, b in itertools.combinations(PERSONAS, 2):
        weight_diff = np.abs(motions[a] - motions[b]).mean()
        vertex_diff = (np.linalg.norm(vertices[a] - vertices[b], axis=-1).max(axis=1).mean()) * 1000.0
        assert weight_diff > MIN_PERSONA_WEIGHT_DIFF, (a, b, weight_diff)
        assert vertex_diff > MIN_PERSONA_VERTEX_DIFF_MM, (a, b, vertex_diff)


def test_persona_vectors() -> None:
    assert len(PERSONAS) >= 8 and PERSONAS["neutral"] == Persona()
    vectors = np.stack([p.to_vector() for p in PERSONAS.values()])
    assert len({tuple(v) for v in vectors}) == len(PERSONAS)
    for persona in PERSONAS.values():
        assert Persona.from_vector(persona.to_vector()) == persona
    a, b = Persona.random(1), Persona.random(1)
    assert a == b and a != Persona.random(2)
    for seed in range(20):
        for name, value in zip(Persona.field_names(), Persona.random(seed).to_vector(), strict=True):
            low, high = PERSONA_RANGES[name]
            assert low - 1e-6 <= value <= high + 1e-6
    with pytest.raises(InvalidInputError):
        Persona(articulation=-1.0)
    with pytest.raises(InvalidInputError):
        Persona.from_vector(np.zeros(3))


def test_neutral_to_happy_raises_the_smile_smoothly(animator: ProceduralAnimator, one_sentence) -> None:  # type: ignore[no-untyped-def]
    duration = one_sentence.waveform.duration
    schedule = EmotionSchedule((EmotionKey(0.3, "neutral"), EmotionKey(duration - 0.3, "happy")))
    for persona in (STILL, PERSONAS["neutral"]):
        motion = animator.animate(
            one_sentence.reference, duration=duration, persona=persona, emotion=schedule, word_semantics=False
        )
        for side in ("Left", "Right"):
            smile = motion.data[:, K[f"mouthSmile{side}"]]
            smooth = uniform_filter1d(smile.astype(np.float64), size=9, mode="nearest")  # 0.3 s
            assert smooth[-1] - smooth[0] > 0.5
            assert np.abs(np.diff(smile)).max() < MAX_SMILE_STEP
            tolerance = 1e-6 if persona is STILL else 0.01  # idle micro-motion wobbles by ~0.03
            assert np.diff(smooth).min() > -tolerance


@pytest.mark.parametrize("emotion", [e for e in EMOTIONS if e != "neutral"])
def test_emotions_show_their_prototype(animator: ProceduralAnimator, one_sentence, emotion: str) -> None:  # type: ignore[no-untyped-def]
    duration = one_sentence.waveform.duration
    kwargs = {"duration": duration, "persona": STILL, "word_semantics": False}
    neutral = animator.animate(one_sentence.reference, **kwargs).data  # type: ignore[arg-type]
    shown = animator.animate(one_sentence.reference, emotion=EmotionSchedule.constant(emotion), **kwargs).data  # type: ignore[arg-type]
    prototype = EMOTION_PROTOTYPES[emotion]
    strongest = max(prototype, key=lambda name: prototype[name])
    assert (shown - neutral)[:, K[strongest]].mean() > 0.5 * prototype[strongest]


def test_seeded_determinism_and_blinks(animator: ProceduralAnimator, speech_corpus) -> None:  # type: ignore[no-untyped-def]
    clip = speech_corpus[2]
    kwargs = {"duration": clip.waveform.duration, "word_semantics": False}
    a = animator.animate(clip.reference, seed=3, **kwargs).data  # type: ignore[arg-type]
    b = animator.animate(clip.reference, seed=3, **kwargs).data  # type: ignore[arg-type]
    assert np.array_equal(a, b)
    motions = [animator.animate(clip.reference, seed=s, **kwargs).data for s in range(6)]  # type: ignore[arg-type]
    closed = [tuple(np.flatnonzero(m[:, K["eyeBlinkLeft"]] > 0.9)) for m in motions]
    assert sum(len(c) > 0 for c in closed) >= 4  # most seeds blink in this 4.5 s sentence with a pause
    assert len(set(closed)) >= 4  # and the seeds blink at different times
    for m in motions:
        assert np.array_equal(m[:, K["eyeBlinkLeft"]], m[:, K["eyeBlinkRight"]])  # both eyes blink together
    speech = [animator.animate(clip.reference, seed=s, **kwargs).data[:, K["jawOpen"]] for s in (0, 1)]  # type: ignore[arg-type]
    assert np.array_equal(speech[0], speech[1])  # the seed touches only blinks, gaze and idle motion


def test_frame_rates_agree(animator: ProceduralAnimator, one_sentence) -> None:  # type: ignore[no-untyped-def]
    duration = one_sentence.waveform.duration
    m30 = animator.animate(one_sentence.reference, duration=duration, fps=30.0, word_semantics=False).data
    m60 = animator.animate(one_sentence.reference, duration=duration, fps=60.0, word_semantics=False).data
    frames = min(len(m30), len(m60[::2]))
    difference = np.abs(m30[:frames] - m60[::2][:frames]).max(axis=0)  # (K,)
    # The same curves sampled at other times, except where closure is forced on the frames inside
    # each bilabial, which depend on the frame grid.
    sealed = [K[name] for name in (*LIP_OPENERS, "mouthClose")]
    assert np.delete(difference, sealed).max() < 1e-5
    assert difference[sealed].max() < 0.1


def test_silence_and_no_words(animator: ProceduralAnimator) -> None:
    motion = animator.animate(Alignment(), duration=2.0, fps=25.0, seed=1)
    assert motion.num_frames == 50
    assert motion.data[:, K["jawOpen"]].max() < 0.05
    with pytest.raises(InvalidInputError):
        animator.animate(Alignment(), duration=1.0, fps=0.0)


def test_brows_rise_on_accented_words(animator: ProceduralAnimator, speech_corpus) -> None:  # type: ignore[no-untyped-def]
    clip = speech_corpus[2]
    prosody = extract_prosody(clip.waveform, fps=30.0)
    kwargs = {"duration": clip.waveform.duration, "prosody": prosody, "word_semantics": False}
    active = animator.animate(clip.reference, persona=dataclasses.replace(STILL, brow_activity=1.5), **kwargs).data  # type: ignore[arg-type]
    still = animator.animate(clip.reference, persona=STILL, **kwargs).data  # type: ignore[arg-type]
    assert still[:, K["browInnerUp"]].max() == 0.0
    assert active[:, K["browInnerUp"]].max() > 0.2
    assert 0.05 < (active[:, K["browInnerUp"]] > 0.05).mean() < 0.8  # raises come and go


def test_word_meaning_changes_the_expression(animator: ProceduralAnimator, one_sentence) -> None:  # type: ignore[no-untyped-def]
    """Same phones and timings (so identical audio), only the word texts differ."""
    reference = one_sentence.reference
    positive = ("love", "wonderful", "happy", "beautiful", "joy", "delightful", "amazing", "great")
    negative = ("hate", "terrible", "sad", "horrible", "grief", "awful", "disgusting", "miserable")

    def retexted(texts: tuple[str, ...]) -> Alignment:
        words = tuple(Word(texts[i % len(texts)], w.start, w.end) for i, w in enumerate(reference.words))
        return Alignment(words, reference.phones)

    kwargs = {"duration": one_sentence.waveform.duration, "persona": STILL}
    happy = animator.animate(retexted(positive), **kwargs).data  # type: ignore[arg-type]
    unhappy = animator.animate(retexted(negative), **kwargs).data  # type: ignore[arg-type]
    smile = K["mouthSmileLeft"], K["mouthSmileRight"]
    frown = K["mouthFrownLeft"], K["mouthFrownRight"], K["browDownLeft"], K["browDownRight"]
    assert happy[:, smile].mean() > unhappy[:, smile].mean() + 0.1
    assert unhappy[:, frown].mean() > happy[:, frown].mean() + 0.1
    assert np.array_equal(happy[:, K["jawOpen"]], unhappy[:, K["jawOpen"]])
    plain = animator.animate(retexted(positive), word_semantics=False, **kwargs).data  # type: ignore[arg-type]
    assert np.array_equal(plain, animator.animate(retexted(negative), word_semantics=False, **kwargs).data)  # type: ignore[arg-type]


@pytest.mark.parametrize("power", [1.0, 0.8])
def test_blend_in_blocks_equals_blending_every_segment_everywhere(speech_corpus, power: float, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from facetalk.procedural import coarticulation as co

    phones, offset = [], 0.0
    for clip in speech_corpus:  # about half a minute of phones, one clip after another
        phones += [dataclasses.replace(p, start=p.start + offset, end=p.end + offset) for p in clip.reference.phones]
        offset = phones[-1].end
    segments = co.segments_from_phones(phones)
    times = np.arange(math.ceil(offset * 30)) / 30
    log_d = np.concatenate(
        [co.dominance(segments, times, power=power), np.full((1, len(times), len(co.PARAMS)), np.log(co.REST_DOMINANCE))]
    )
    weight = np.exp(log_d - log_d.max(axis=0))
    targets = np.concatenate([np.stack([s.target for s in segments]), np.zeros((1, len(co.PARAMS)))])
    everywhere = np.einsum("stp,sp->tp", weight, targets) / weight.sum(axis=0)
    monkeypatch.setattr(co, "BLEND_BLOCK_FRAMES", 100)  # many blocks, most segments out of reach of each
    np.testing.assert_allclose(co.blend(segments, times, power=power), everywhere, atol=1e-12)


def test_shipped_word_meanings_equal_the_live_model() -> None:
    from facetalk.procedural import expressions as ex

    index, shipped = ex._lexicon()
    assert len(index) > 100_000
    words = ["wonderful", "terrible", "lighthouse", "don't", "furious", "okay", *sorted(index)[::20_000]]
    live = ex.meaning_projections(words)
    np.testing.assert_allclose(shipped[[index[w] for w in words]], live, atol=1e-4)
    assert ex.word_affect(["Wonderful!"])[0, 0] > 0.5 and ex.word_affect(["terrible"])[0, 0] < -0.5
    assert (ex.word_affect(["zyxwivian"]) == ex.word_affect(["zyxwivian"])).all()  # not shipped: from MiniLM
