"""Expressions over the speech: emotion prototypes, blinks, brow raises, gaze and word meaning.

Emotion prototypes (`EMOTION_PROTOTYPES`) are the FACS action-unit combinations of the six basic
emotions as EMFACS lists them (Ekman & Friesen; the prototypes tabulated in Ekman, Friesen & Hager,
"FACS Investigator's Guide", 2002), written as ARKit weights with the usual AU -> ARKit
correspondence:

| emotion  | action units                          | ARKit channels                                             |
|----------|---------------------------------------|------------------------------------------------------------|
| happy    | 6 + 12 (+ 14)                         | cheekSquint, eyeSquint, mouthSmile (+ mouthDimple)         |
| sad      | 1 + 4 + 15 (+ 17, lids drooping)      | browInnerUp, browDown, mouthFrown, mouthShrugLower, blink  |
| surprise | 1 + 2 + 5B + 26                       | browInnerUp, browOuterUp, eyeWide, jawOpen                 |
| fear     | 1 + 2 + 4 + 5 + 7 + 20 + 26           | brows up and together, eyeWide, eyeSquint, mouthStretch    |
| disgust  | 9 + 10 + 15 + 16 (+ 4)                | noseSneer, mouthUpperUp, mouthFrown, mouthLowerDown        |
| anger    | 4 + 5 + 7 + 23 + 24                   | browDown, eyeWide, eyeSquint, mouthPress, mouthRoll        |

Neutral is all zeros. A frame's overlay is its 7-way emotion vector (`EmotionSchedule.at_frames`)
times the prototype matrix, after a Gaussian low-pass in time so that keyframe changes ease in and
out; a Gaussian is a positive kernel, so a monotonic schedule stays monotonic.

Blinks: spontaneous blinks form a Poisson process at the persona's rate with a refractory gap, and
phrase boundaries (pauses, the end of the utterance) add a blink with some probability, as people
blink at syntactic breaks (Cummins, 2012). The lid closes fast and opens slowly (`BLINK_SHAPE_S`).

Brows rise on accented words: a word's prominence is its primary-stressed vowel's duration relative
to the utterance (accented syllables lengthen), raised for content words, for pitch accents when
prosody is given (a local pitch peak `ACCENT_SEMITONES` above the speaker's median), and for words
whose meaning is intense.

Word-driven expressions read the words' meaning from MiniLM word embeddings: each word is projected
on two semantic axes built from anchor words (SemAxis, An, Kwak & Ahn, ACL 2018): valence
(wonderful ... terrible) and arousal (amazing ... calm). Positive words bring a smile, negative ones
a frown and lowered brows, intense ones wide eyes and raised brows. This is information the audio
alone does not carry: the same audio with different words animates differently.
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from facetalk.face.arkit import ARKIT_NAMES, NUM_ARKIT
from facetalk.types import EMOTIONS, Seconds, Word

K = {name: i for i, name in enumerate(ARKIT_NAMES)}


def both(name: str, value: float) -> dict[str, float]:
    """`name` with Left and Right appended, both at `value`."""
    return {f"{name}Left": value, f"{name}Right": value}


EMOTION_PROTOTYPES: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {**both("mouthSmile", 0.7), **both("cheekSquint", 0.45), **both("eyeSquint", 0.3), **both("mouthDimple", 0.15)},
    "sad": {"browInnerUp": 0.6, **both("browDown", 0.2), **both("mouthFrown", 0.55), "mouthShrugLower": 0.3,
            **both("eyeBlink", 0.15), **both("eyeLookDown", 0.1)},
    "surprise": {"browInnerUp": 0.65, **both("browOuterUp", 0.65), **both("eyeWide", 0.6), "jawOpen": 0.18},
    "fear": {"browInnerUp": 0.65, **both("browOuterUp", 0.3), **both("browDown", 0.2), **both("eyeWide", 0.55),
             **both("eyeSquint", 0.1), **both("mouthStretch", 0.5), "jawOpen": 0.08},
    "disgust": {**both("noseSneer", 0.6), **both("mouthUpperUp", 0.4), **both("mouthFrown", 0.3),
                **both("mouthLowerDown", 0.15), **both("browDown", 0.3), **both("cheekSquint", 0.25), **both("eyeSquint", 0.2)},
    "anger": {**both("browDown", 0.7), **both("eyeWide", 0.2), **both("eyeSquint", 0.35), **both("mouthPress", 0.4),
              "mouthRollLower": 0.12, "mouthRollUpper": 0.12, **both("noseSneer", 0.15), "jawForward": 0.05},
}  # fmt: skip
"""FACS prototypes of the 7 emotion categories as ARKit weights at full intensity."""

EMOTION_SMOOTHING_S = 0.15
"""σ of the Gaussian that eases emotion changes in and out."""


def emotion_matrix() -> np.ndarray:
    """The prototypes as a matrix, rows in `EMOTIONS` order, shape (7, K)."""
    matrix = np.zeros((len(EMOTIONS), NUM_ARKIT))
    for row, emotion in enumerate(EMOTIONS):
        for name, value in EMOTION_PROTOTYPES[emotion].items():
            matrix[row, K[name]] = value
    return matrix


def emotion_weights(emotions: np.ndarray, fps: float, *, smoothing_s: float = EMOTION_SMOOTHING_S) -> np.ndarray:
    """ARKit weights of per-frame emotion vectors, eased in time, shape (T, K).

    Args:
        emotions: per-frame 7-way vectors (`EmotionSchedule.at_frames`), shape (T, 7).
        fps: frames per second.
        smoothing_s: σ of the Gaussian low-pass, in seconds.
    """
    if len(emotions) and smoothing_s > 0:
        emotions = gaussian_filter1d(emotions.astype(np.float64), smoothing_s * fps, axis=0, mode="nearest")
    return emotions @ emotion_matrix()


# --- Blinks -------------------------------------------------------------------------------------

BLINK_SHAPE_S = (0.07, 0.04, 0.16)
"""(closing, closed, opening) durations of a blink: the lid falls fast and rises slowly."""
BLINK_REFRACTORY_S = 0.8
"""Blinks closer than this to an earlier one are dropped."""
BOUNDARY_BLINK_DELAY_S = (0.0, 0.15)
"""A phrase-boundary blink starts this long (uniform) after the last word of the phrase ends."""
MIN_PAUSE_S = 0.12
"""A silence at least this long between words is a phrase boundary."""


def phrase_boundaries(words: Sequence[Word], *, min_pause_s: float = MIN_PAUSE_S) -> list[Seconds]:
    """Ends of words followed by a pause of at least `min_pause_s`, and the end of the last word."""
    out = [a.end for a, b in itertools.pairwise(words) if b.start - a.end >= min_pause_s]
    if words:
        out.append(words[-1].end)
    return out


def blink_times(
    rng: np.random.Generator,
    duration: Seconds,
    *,
    rate_hz: float,
    boundaries: Sequence[Seconds] = (),
    boundary_probability: float = 0.6,
) -> list[Seconds]:
    """Blink onsets: a Poisson process at `rate_hz`, plus blinks after phrase boundaries.

    Every random number is drawn whether or not it is used, so the draws of one part do not shift
    with the other's.
    """
    spontaneous: list[float] = []
    t = 0.0
    while rate_hz > 0:
        t += float(rng.exponential(1.0 / rate_hz))
        if t >= duration:
            break
        spontaneous.append(t)
    at_boundaries = []
    for boundary in boundaries:
        chance, delay = rng.uniform(), rng.uniform(*BOUNDARY_BLINK_DELAY_S)
        if chance < boundary_probability and boundary + delay < duration:
            at_boundaries.append(boundary + delay)
    kept: list[float] = []
    # Boundary blinks take precedence over spontaneous ones near them.
    for onset in sorted(at_boundaries) + sorted(spontaneous):
        if all(abs(onset - other) >= BLINK_REFRACTORY_S for other in kept):
            kept.append(onset)
    return sorted(kept)


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def pulse(times: np.ndarray, start: Seconds, attack: float, hold: float, release: float) -> np.ndarray:
    """0 → 1 over `attack` from `start`, 1 for `hold`, 1 → 0 over `release`; smoothstep ramps, shape (T,)."""
    rise = _smoothstep((times - start) / max(attack, 1e-6))
    fall = 1.0 - _smoothstep((times - start - attack - hold) / max(release, 1e-6))
    return np.minimum(rise, fall)


def blink_track(times: np.ndarray, onsets: Sequence[Seconds]) -> np.ndarray:
    """eyeBlink weight of a sequence of blinks, shape (T,)."""
    out = np.zeros(len(times))
    close, hold, open_ = BLINK_SHAPE_S
    for onset in onsets:
        out = np.maximum(out, pulse(times, onset, close, hold, open_))
    return out


# --- Word prominence, pitch accents and brow raises ------------------------------------------------

FUNCTION_WORDS = frozenset((
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as",
    "is", "am", "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "i",
    "you", "he", "she", "we", "they", "me", "him", "her", "us", "them", "my", "your", "his", "our", "their", "not",
    "no", "do", "does", "did", "have", "has", "had", "will", "would", "can", "could", "shall", "should", "may",
    "might", "must", "so", "than", "then", "there", "here", "what", "which", "who", "whom", "whose", "when", "where",
    "why", "how", "all", "any", "some", "just", "very", "too", "also", "up", "down", "out", "over", "into", "about",
))  # fmt: skip
"""Words that rarely carry an accent."""
ACCENT_SEMITONES = 2.0
"""A pitch peak this far above the utterance's median pitch is a pitch accent."""
ACCENT_PEAK_WINDOW_S = 0.15
"""A pitch accent is the highest voiced pitch within this distance either side."""
BROW_RAISE_SHAPE_S = (0.12, 0.1, 0.4)
"""(attack, minimum hold, release) of a brow raise; the hold also lasts through the accented vowel."""
BROW_REFRACTORY_S = 0.6
"""Brow raises closer than this to a stronger one are dropped."""
PROMINENCE_THRESHOLD = 0.6
"""Words whose prominence (see `word_prominence`) reaches this raise the brows."""


def clean_word(text: str) -> str:
    """Lower case without surrounding punctuation."""
    return re.sub(r"^[^\w']+|[^\w']+$", "", text.lower())


def pitch_accents(pitch_hz: np.ndarray, voiced: np.ndarray, fps: float) -> list[tuple[Seconds, float]]:
    """(time, strength in 0 ... 1) of pitch accents: local voiced pitch peaks well above the median.

    Args:
        pitch_hz: per-frame pitch, 0 where unvoiced, shape (T,).
        voiced: per-frame voicing, shape (T,).
        fps: frames per second.
    """
    if voiced.sum() < 3:
        return []
    semitones = np.full(len(pitch_hz), -np.inf)
    semitones[voiced] = 12.0 * np.log2(pitch_hz[voiced] / np.median(pitch_hz[voiced]))
    reach = max(1, round(ACCENT_PEAK_WINDOW_S * fps))
    out = []
    for t in np.flatnonzero(voiced & (semitones >= ACCENT_SEMITONES)):
        window = semitones[max(0, t - reach) : t + reach + 1]
        if semitones[t] >= window.max():
            out.append((float(t / fps), float(np.clip((semitones[t] - 1.0) / 4.0, 0.0, 1.0))))
    return out


@dataclass(frozen=True)
class WordAccent:
    """A word's accented stretch: where its stressed vowel is, and how prominent the word is."""

    start: Seconds
    end: Seconds
    prominence: float


def word_accents(words: Sequence[Word], phones: Sequence[tuple[str, Seconds, Seconds]]) -> list[WordAccent]:
    """Every word's stressed vowel (or its whole span) and a prominence from duration and word class.

    Prominence = 0.5 × (the stressed vowel's duration / the median vowel duration − 0.5), plus 0.3
    for content words; about 0 ... 1.2 in practice.

    Args:
        words: the timed words.
        phones: (label, start, end) of the phones, shifted like the words.
    """
    vowels = [(label, s, e) for label, s, e in phones if label[-1:] in "012"]
    median = float(np.median([e - s for _, s, e in vowels])) if vowels else 0.1
    out = []
    for word in words:
        inside = [(label, s, e) for label, s, e in vowels if s >= word.start - 1e-3 and e <= word.end + 1e-3]
        stressed = [v for v in inside if v[0].endswith("1")] or [v for v in inside if v[0].endswith("2")] or inside
        start, end = (stressed[0][1], stressed[0][2]) if stressed else (word.start, word.end)
        lengthening = (end - start) / max(median, 1e-3) - 0.5
        content = clean_word(word.text) not in FUNCTION_WORDS
        out.append(WordAccent(start, end, 0.5 * lengthening + (0.3 if content and stressed else 0.0)))
    return out


def brow_raise_track(times: np.ndarray, raises: Sequence[tuple[Seconds, Seconds, float]]) -> np.ndarray:
    """Brow raise envelope of (start, end, strength) raises, stronger first with a refractory gap, shape (T,)."""
    attack, hold, release = BROW_RAISE_SHAPE_S
    kept: list[tuple[float, float, float]] = []
    for start, end, strength in sorted(raises, key=lambda r: -r[2]):
        if all(abs(start - other[0]) >= BROW_REFRACTORY_S for other in kept):
            kept.append((start, end, strength))
    out = np.zeros(len(times))
    for start, end, strength in kept:
        out = np.maximum(out, strength * pulse(times, start - attack, attack, max(hold, end - start), release))
    return out


# --- Word meaning (MiniLM) ----------------------------------------------------------------------

VALENCE_ANCHORS = (
    ("wonderful", "happy", "love", "great", "joy", "beautiful", "excellent", "delighted", "fantastic", "glad"),
    ("terrible", "sad", "hate", "awful", "horrible", "miserable", "disgusting", "angry", "painful", "tragic"),
)
"""(positive, negative) anchor words of the valence axis."""
AROUSAL_ANCHORS = (
    ("amazing", "incredible", "shocking", "extremely", "absolutely", "furious", "thrilled", "terrified", "urgent",
     "enormous", "never", "exciting"),
    ("calm", "quiet", "ordinary", "usual", "plain", "okay", "slightly", "somewhat", "maybe", "gentle", "boring", "normal"),
)  # fmt: skip
"""(high, low) anchor words of the arousal axis."""
AXIS_DEAD_ZONE = (0.07, 0.08)
"""(valence, arousal) projections within this of 0 count as 0: everyday words land there."""
AXIS_FULL_SCALE = (0.25, 0.22)
"""(valence, arousal) projections this far past the dead zone count as 1."""
WORD_ATTACK_S = 0.2
WORD_RELEASE_S = 0.6
SENTENCE_MOOD_SHARE = 0.35
"""The utterance's mean valence, at this share, colours the whole utterance."""


WORD_VECTOR_CACHE = 16384
"""Word vectors kept per process; the oldest go first."""
_VECTORS: dict[str, np.ndarray] = {}
_VECTORS_LOCK = threading.Lock()


def _word_vectors(words: Sequence[str]) -> np.ndarray:
    """The MiniLM vector of each word (at least one) on its own, unit length, shape (W, 384).

    Words not seen before in this process are embedded together in one batch.
    """
    from facetalk.text.embed import default_text_embedder

    with _VECTORS_LOCK:
        new = [word for word in dict.fromkeys(words) if word not in _VECTORS]
        if new:
            vectors = default_text_embedder().embed_each(new).double().numpy()
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            _VECTORS.update(zip(new, vectors, strict=True))
        out = np.stack([_VECTORS[word] for word in words])
        for old in list(_VECTORS)[: max(0, len(_VECTORS) - WORD_VECTOR_CACHE)]:
            del _VECTORS[old]
        return out


@functools.cache
def _axes() -> np.ndarray:
    """The two semantic axes as differences of anchor centroids, shape (2, 384)."""
    axes = []
    for high, low in (VALENCE_ANCHORS, AROUSAL_ANCHORS):
        pole = [_word_vectors(group).mean(axis=0) for group in (high, low)]
        axes.append(pole[0] / np.linalg.norm(pole[0]) - pole[1] / np.linalg.norm(pole[1]))
    return np.stack(axes)


def meaning_projections(words: Sequence[str]) -> np.ndarray:
    """(valence, arousal) projections of each word's MiniLM vector on the two axes, shape (W, 2).

    Words are cleaned already (`clean_word`) and there is at least one.
    """
    return _word_vectors(words) @ _axes().T


WORD_AFFECT_LEXICON = "text/word_affect.npz"
"""`meaning_projections` of the CMU dictionary's words, made by assets/text/make_word_affect.py."""


@functools.cache
def _lexicon() -> tuple[dict[str, int], np.ndarray]:
    """The shipped projections: each word's row, and the rows (W, 2)."""
    from facetalk.assets import asset_path

    with np.load(asset_path(WORD_AFFECT_LEXICON)) as data:
        words = data["words"].tobytes().decode().split("\n")
        projections = data["projections"].astype(np.float64)
    return {word: i for i, word in enumerate(words)}, projections


def word_affect(words: Sequence[str]) -> np.ndarray:
    """(valence in -1 ... 1, arousal in -1 ... 1) of each word from its meaning, shape (W, 2).

    Words are embedded on their own (lower case, no punctuation) so that they share the anchors'
    space. The CMU dictionary's words come precomputed (`WORD_AFFECT_LEXICON`), so MiniLM is loaded
    only for other words; their vectors are cached per process.
    """
    out = np.zeros((len(words), 2))
    cleaned = [clean_word(text) for text in words]
    rows = [i for i, word in enumerate(cleaned) if word]
    if not rows:
        return out
    index, shipped = _lexicon()
    projection = np.zeros((len(rows), 2))
    found = [index.get(cleaned[i], -1) for i in rows]
    known = [k for k, j in enumerate(found) if j >= 0]
    projection[known] = shipped[[found[k] for k in known]]
    unknown = [k for k, j in enumerate(found) if j < 0]
    if unknown:
        projection[unknown] = meaning_projections([cleaned[rows[k]] for k in unknown])
    dead = np.asarray(AXIS_DEAD_ZONE)
    scale = np.asarray(AXIS_FULL_SCALE)
    out[rows] = np.sign(projection) * np.clip((np.abs(projection) - dead) / scale, 0.0, 1.0)
    return out


WORD_EXPRESSIONS: dict[str, dict[str, float]] = {
    "positive": {**both("mouthSmile", 0.35), **both("cheekSquint", 0.25), **both("eyeSquint", 0.1)},
    "negative": {**both("mouthFrown", 0.35), **both("browDown", 0.3), "browInnerUp": 0.1, **both("noseSneer", 0.08)},
    "intense": {**both("eyeWide", 0.3), "browInnerUp": 0.2, **both("browOuterUp", 0.2)},
}
"""ARKit weights at full positive valence, full negative valence and full arousal."""


def word_expression_weights(words: Sequence[Word], affect: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Word-driven expressions: each word's affect eased over its span, plus the utterance's mood, (T, K).

    Args:
        words: the timed words.
        affect: (valence, arousal) per word, shape (W, 2).
        times: frame times, shape (T,).
    """
    out = np.zeros((len(times), NUM_ARKIT))
    if not words:
        return out
    positive = np.zeros(len(times))
    negative = np.zeros(len(times))
    intense = np.zeros(len(times))
    for word, (valence, arousal) in zip(words, affect, strict=True):
        envelope = pulse(times, word.start - WORD_ATTACK_S, WORD_ATTACK_S, word.end - word.start, WORD_RELEASE_S)
        positive = np.maximum(positive, max(valence, 0.0) * envelope)
        negative = np.maximum(negative, max(-valence, 0.0) * envelope)
        intense = np.maximum(intense, max(arousal, 0.0) * envelope)
    mood = SENTENCE_MOOD_SHARE * float(np.mean(affect[:, 0]))
    span = pulse(times, words[0].start - WORD_ATTACK_S, WORD_ATTACK_S, words[-1].end - words[0].start, WORD_RELEASE_S)
    positive = np.maximum(positive, max(mood, 0.0) * span)
    negative = np.maximum(negative, max(-mood, 0.0) * span)
    for track, kind in ((positive, "positive"), (negative, "negative"), (intense, "intense")):
        for name, value in WORD_EXPRESSIONS[kind].items():
            out[:, K[name]] += value * track
    return out


# --- Idle motion: gaze shifts and micro-expressions -------------------------------------------------

GAZE_FIXATION_S = (0.6, 2.5)
"""A gaze fixation lasts this long (uniform)."""
GAZE_AWAY_PROBABILITY = 0.45
"""Chance that a fixation looks slightly away from the listener rather than at them."""
GAZE_RANGE = 0.25
"""Largest eyeLook weight of a glance away (a 6° turn of the eyes)."""
SACCADE_S = 0.045
IDLE_GRID_HZ = 100.0
"""Idle noise is drawn on this fixed grid and interpolated, so it does not depend on the fps."""
IDLE_SMOOTHING_S = 0.35
IDLE_CHANNELS: dict[str, float] = {
    "browInnerUp": 0.05, "browOuterUpLeft": 0.03, "browOuterUpRight": 0.03, "eyeSquintLeft": 0.04,
    "eyeSquintRight": 0.04, "mouthSmileLeft": 0.03, "mouthSmileRight": 0.03, "cheekSquintLeft": 0.02,
    "cheekSquintRight": 0.02, "mouthLeft": 0.02, "mouthRight": 0.02, "noseSneerLeft": 0.015, "noseSneerRight": 0.015,
}  # fmt: skip
"""Channels with slow micro-motion and its size (standard deviation of the weight)."""


def gaze_weights(rng: np.random.Generator, times: np.ndarray, duration: Seconds, amount: float) -> np.ndarray:
    """Saccades between fixations, mostly at the listener (eyeLook* channels), shape (T, K)."""
    out = np.zeros((len(times), NUM_ARKIT))
    t = 0.0
    yaw_now, pitch_now = 0.0, 0.0
    yaw = np.zeros(len(times))
    pitch = np.zeros(len(times))
    while t < duration:
        away = rng.uniform() < GAZE_AWAY_PROBABILITY
        target = rng.uniform(-1.0, 1.0, size=2) * GAZE_RANGE * amount
        new_yaw, new_pitch = (float(target[0]), 0.5 * float(target[1])) if away else (0.0, 0.0)
        step = _smoothstep((times - t) / SACCADE_S)
        yaw = yaw + (new_yaw - yaw_now) * step
        pitch = pitch + (new_pitch - pitch_now) * step
        yaw_now, pitch_now = new_yaw, new_pitch
        t += float(rng.uniform(*GAZE_FIXATION_S))
    # Positive yaw looks toward the subject's left: the left eye turns out, the right eye in.
    for side, sign in (("Left", 1.0), ("Right", -1.0)):
        out[:, K[f"eyeLookOut{side}"]] = np.maximum(sign * yaw, 0.0)
        out[:, K[f"eyeLookIn{side}"]] = np.maximum(-sign * yaw, 0.0)
        out[:, K[f"eyeLookUp{side}"]] = np.maximum(pitch, 0.0)
        out[:, K[f"eyeLookDown{side}"]] = np.maximum(-pitch, 0.0)
    return out


def idle_weights(rng: np.random.Generator, times: np.ndarray, duration: Seconds, amount: float) -> np.ndarray:
    """Slow zero-mean micro-motion on `IDLE_CHANNELS`, the same curve at any fps, shape (T, K)."""
    out = np.zeros((len(times), NUM_ARKIT))
    grid = np.arange(0.0, duration + 1.0 / IDLE_GRID_HZ, 1.0 / IDLE_GRID_HZ)
    sigma = IDLE_SMOOTHING_S * IDLE_GRID_HZ
    noise = gaussian_filter1d(rng.standard_normal((len(grid), len(IDLE_CHANNELS))), sigma, axis=0, mode="wrap")
    noise /= max(float(np.sqrt(1.0 / (2.0 * np.sqrt(np.pi) * sigma))), 1e-12)  # unit variance after the filter
    for j, (name, size) in enumerate(IDLE_CHANNELS.items()):
        out[:, K[name]] = amount * size * np.interp(times, grid, noise[:, j])
    return out
