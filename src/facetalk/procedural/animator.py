"""The procedural animator: timed phones and words (plus optional prosody) to ARKit-52 weights.

Layers, each added onto a (T, 52) array of weights, in this order:

1. Speech (`visemes.py`, `coarticulation.py`): Cohen & Massaro dominance blending of the phones'
   target poses in an articulatory space, shifted by the persona's timing offset, scaled by the
   persona's articulation and jaw/lip balance and, when prosody is given, by the local loudness
   (louder syllables open wider: `energy_jaw_gain` per dB around the speech level).
2. Emotion (`expressions.emotion_weights`): FACS prototypes following the `EmotionSchedule`.
3. Persona biases: resting smile or frown, raised or lowered brows.
4. Emphasis: brow raises on prominent words and pitch accents; word-driven expressions from the
   words' meaning (MiniLM) when `word_semantics` is on.
5. Eyes and idle motion: blinks (random and at phrase boundaries), gaze shifts, micro-motion.
6. Asymmetry: paired channels shift toward one side; the mouth drifts a little sideways.
7. Lip closure, last, over everything above: `mouthClose` = closure × `jawOpen` and the channels
   that part the lips are scaled by (1 − closure), so that a closure of 1 (forced inside every P, B
   and M) seals the lips whatever the jaw, the emotion or the persona do.

Everything random comes from one `numpy.random.Generator` seeded with `seed`, and idle noise is drawn
on a fixed time grid, so a seed gives the same animation at any frame rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d

from facetalk.audio.prosody import Prosody
from facetalk.audio.rate import num_motion_frames
from facetalk.errors import InvalidInputError
from facetalk.face.arkit import ARKIT_NAMES, NUM_ARKIT
from facetalk.procedural import expressions as ex
from facetalk.procedural.coarticulation import (
    DOMINANCE_POWER,
    bilabial_intervals,
    blend,
    enforce_closures,
    segments_from_phones,
)
from facetalk.procedural.persona import PERSONAS, Persona
from facetalk.procedural.visemes import PARAM_INDEX
from facetalk.types import Alignment, EmotionSchedule, Motion, Seconds, Word

K = {name: i for i, name in enumerate(ARKIT_NAMES)}

SPEECH_CHANNELS: dict[str, tuple[str, ...]] = {
    "jaw": ("jawOpen",),
    "funnel": ("mouthFunnel",),
    "pucker": ("mouthPucker",),
    "stretch": ("mouthStretchLeft", "mouthStretchRight"),
    "upper_up": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "lower_down": ("mouthLowerDownLeft", "mouthLowerDownRight"),
    "roll_lower": ("mouthRollLower",),
    "roll_upper": ("mouthRollUpper",),
    "press": ("mouthPressLeft", "mouthPressRight"),
    "shrug_lower": ("mouthShrugLower",),
    "tongue": ("tongueOut",),
}
"""The ARKit channels each articulatory parameter drives ("closure" is handled last)."""
JAW_PARAMS = ("jaw", "tongue")
LIP_PARAMS = ("funnel", "pucker", "stretch", "upper_up", "lower_down", "roll_lower", "roll_upper", "shrug_lower")

LIP_OPENERS: tuple[str, ...] = (
    "mouthFunnel", "mouthUpperUpLeft", "mouthUpperUpRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthShrugUpper", "mouthRollLower", "tongueOut",
)  # fmt: skip
"""Channels that part the closed lips on the default face (by more than 0.5 mm at weight 1)."""

ASYMMETRIC_PREFIXES: tuple[str, ...] = (
    "mouthSmile", "mouthFrown", "mouthDimple", "mouthStretch", "mouthPress", "mouthUpperUp", "mouthLowerDown",
    "browDown", "browOuterUp", "cheekSquint", "noseSneer", "eyeSquint",
)  # fmt: skip
"""Left/right pairs that asymmetry redistributes (not blinks or gaze, which stay paired)."""
ASYMMETRY_MOUTH_SHIFT = 0.08
"""mouthLeft (or mouthRight) at full asymmetry: a lopsided speaker's mouth sits off-centre."""
ENERGY_SMOOTHING_S = 0.04
"""σ of the Gaussian on the energy contour before it modulates the jaw."""
ENERGY_GAIN_RANGE = (0.6, 1.35)
"""The loudness gain on the jaw stays within this range."""
BROW_RAISE_WEIGHTS = {"browInnerUp": 0.3, "browOuterUpLeft": 0.25, "browOuterUpRight": 0.25}
"""Brow channels at a full-strength raise and brow_activity 1."""
PITCH_ACCENT_SHARE = 0.6
"""How much a pitch accent inside a word adds to its prominence (per unit accent strength)."""
AROUSAL_PROMINENCE = 0.4
"""How much a word's arousal (MiniLM) adds to its prominence."""


class ProceduralAnimator:
    """Rule-based speech animation: phones and words to ARKit-52 weights at any fps.

    Args:
        dominance_power: Cohen & Massaro's exponent c of the dominance functions.
        emotion_smoothing_s: σ of the Gaussian that eases emotion changes.
        energy_jaw_gain: relative jaw opening per dB of loudness around the speech level, when
            prosody is given.
        boundary_blink_probability: chance of a blink at each phrase boundary (at blink rate 0.3 Hz;
            it scales with the persona's rate, up to 0.9).
        word_expression_gain: gain of the word-driven expressions (before the persona's expressivity).
        min_pause_s: a pause between words at least this long is a phrase boundary.
    """

    def __init__(
        self,
        *,
        dominance_power: float = DOMINANCE_POWER,
        emotion_smoothing_s: float = ex.EMOTION_SMOOTHING_S,
        energy_jaw_gain: float = 0.025,
        boundary_blink_probability: float = 0.6,
        word_expression_gain: float = 1.0,
        min_pause_s: float = ex.MIN_PAUSE_S,
    ) -> None:
        self.dominance_power = dominance_power
        self.emotion_smoothing_s = emotion_smoothing_s
        self.energy_jaw_gain = energy_jaw_gain
        self.boundary_blink_probability = boundary_blink_probability
        self.word_expression_gain = word_expression_gain
        self.min_pause_s = min_pause_s

    def animate(
        self,
        alignment: Alignment,
        *,
        duration: Seconds,
        fps: float = 30.0,
        persona: Persona | None = None,
        emotion: EmotionSchedule | None = None,
        prosody: Prosody | None = None,
        seed: int = 0,
        word_semantics: bool = True,
    ) -> Motion:
        """ARKit-52 blendshape motion of an aligned utterance.

        Args:
            alignment: timed words and ARPAbet phones.
            duration: the clip's length; T = ceil(duration × fps) frames (frame i at i / fps).
            fps: frames per second.
            persona: the speaker's style; `PERSONAS["neutral"]` by default.
            emotion: the emotion over time; neutral throughout by default.
            prosody: pitch and energy of the speech, on any frame grid (resampled to this one); adds
                loudness-driven jaw opening and pitch-accent brow raises.
            seed: seeds blinks, gaze and idle motion.
            word_semantics: read word meanings with MiniLM for word-driven expressions.

        Returns:
            Motion of kind "blendshapes" with channels `ARKIT_NAMES`, weights in [0, 1].
        """
        if not (math.isfinite(fps) and fps > 0):
            raise InvalidInputError(f"fps must be positive, got {fps}")
        num_frames = num_motion_frames(duration, fps)
        persona = persona or PERSONAS["neutral"]
        rng = np.random.default_rng(seed)
        times = np.arange(num_frames) / fps  # (T,)
        shift = persona.timing_offset_s
        words = [Word(w.text, w.start + shift, w.end + shift) for w in alignment.words]
        if prosody is not None:
            prosody = prosody.resample(num_frames, fps)

        params = blend(segments_from_phones(alignment.phones, shift=shift), times, power=self.dominance_power)  # (T, P)
        closure = enforce_closures(params[:, PARAM_INDEX["closure"]], times, bilabial_intervals(alignment.phones, shift=shift))
        weights = self._speech(params, persona, prosody, times, shift)  # (T, K)

        if emotion is not None:
            emotions = emotion.at_frames(num_frames, fps)  # (T, 7)
            weights += persona.expressivity * ex.emotion_weights(emotions, fps, smoothing_s=self.emotion_smoothing_s)
        self._biases(weights, persona)

        affect = np.zeros((len(words), 2))
        if word_semantics and words:
            affect = ex.word_affect([w.text for w in words])
            weights += persona.expressivity * self.word_expression_gain * ex.word_expression_weights(words, affect, times)
        weights += persona.brow_activity * self._brow_raises(alignment, words, affect, prosody, times, shift)

        rate = persona.blink_rate_hz
        boundary_probability = min(0.9, self.boundary_blink_probability * rate / 0.3)
        boundaries = ex.phrase_boundaries(words, min_pause_s=self.min_pause_s)
        onsets = ex.blink_times(rng, duration, rate_hz=rate, boundaries=boundaries, boundary_probability=boundary_probability)
        blink = ex.blink_track(times, onsets)
        for side in ("Left", "Right"):
            channel = K[f"eyeBlink{side}"]
            weights[:, channel] = weights[:, channel] + (1.0 - weights[:, channel]) * blink
        weights += ex.gaze_weights(rng, times, duration, persona.idle_motion)
        weights += ex.idle_weights(rng, times, duration, persona.idle_motion)

        self._asymmetry(weights, persona.asymmetry)
        weights = np.clip(weights, 0.0, 1.0)
        self._seal_lips(weights, closure)
        return Motion(np.clip(weights, 0.0, 1.0).astype(np.float32), fps, "blendshapes", ARKIT_NAMES)

    # --- layers -----------------------------------------------------------------------------------

    def _speech(
        self, params: np.ndarray, persona: Persona, prosody: Prosody | None, times: np.ndarray, shift: Seconds
    ) -> np.ndarray:
        """Articulatory parameters (T, P) to ARKit weights (T, K), with the persona's and loudness gains."""
        jaw_gain = persona.articulation * (0.5 + persona.jaw_vs_lips)
        lip_gain = persona.articulation * (1.5 - persona.jaw_vs_lips)
        loudness = self._loudness_gain(prosody, times, shift) if prosody is not None else np.ones(len(times))
        weights = np.zeros((len(times), NUM_ARKIT))
        for name, channels in SPEECH_CHANNELS.items():
            value = params[:, PARAM_INDEX[name]]
            if name in JAW_PARAMS:
                value = value * jaw_gain * loudness
            elif name in LIP_PARAMS:
                value = value * lip_gain * np.sqrt(loudness)
            else:  # press: part of the closure, not of the articulation's size
                value = value * min(persona.articulation, 1.0)
            for channel in channels:
                weights[:, K[channel]] += value
        return weights

    def _loudness_gain(self, prosody: Prosody, times: np.ndarray, shift: Seconds) -> np.ndarray:
        """Jaw gain from the energy contour around the speech level (the median voiced energy), (T,)."""
        energy = prosody.energy.astype(np.float64)
        if len(energy) > 1:
            energy = gaussian_filter1d(energy, ENERGY_SMOOTHING_S * prosody.fps, mode="nearest")
        speech = energy[prosody.voiced] if prosody.voiced.sum() >= 3 else energy
        level = float(np.median(speech)) if len(speech) else 0.0
        gain = np.clip(1.0 + self.energy_jaw_gain * (energy - level), *ENERGY_GAIN_RANGE)
        # The face runs `shift` seconds off the audio: sample the audio's gain at t - shift.
        return np.interp(times - shift, np.arange(len(gain)) / prosody.fps, gain) if len(gain) else np.ones(len(times))

    @staticmethod
    def _biases(weights: np.ndarray, persona: Persona) -> None:
        smile, brow = persona.smile_bias, persona.brow_bias
        for side in ("Left", "Right"):
            weights[:, K[f"mouthSmile{side}"]] += max(smile, 0.0)
            weights[:, K[f"cheekSquint{side}"]] += 0.4 * max(smile, 0.0)
            weights[:, K[f"mouthFrown{side}"]] += max(-smile, 0.0)
            weights[:, K[f"browOuterUp{side}"]] += max(brow, 0.0)
            weights[:, K[f"browDown{side}"]] += max(-brow, 0.0)
        weights[:, K["browInnerUp"]] += max(brow, 0.0)

    def _brow_raises(
        self,
        alignment: Alignment,
        words: Sequence[Word],
        affect: np.ndarray,
        prosody: Prosody | None,
        times: np.ndarray,
        shift: Seconds,
    ) -> np.ndarray:
        """Brow raises on prominent words (duration, word class, pitch accents, arousal), (T, K)."""
        out = np.zeros((len(times), NUM_ARKIT))
        if not words:
            return out
        phones = [(p.label, p.start + shift, p.end + shift) for p in alignment.phones]
        accents = ex.word_accents(words, phones)
        pitch = ex.pitch_accents(prosody.pitch_hz, prosody.voiced, prosody.fps) if prosody is not None else []
        raises = []
        for accent, word, (_, arousal) in zip(accents, words, affect, strict=True):
            # Pitch accents are found on the frame grid of the face, which already runs `shift` off the audio.
            peak = max((s for t, s in pitch if word.start <= t + shift < word.end), default=0.0)
            prominence = accent.prominence + PITCH_ACCENT_SHARE * peak + AROUSAL_PROMINENCE * max(arousal, 0.0)
            if prominence >= ex.PROMINENCE_THRESHOLD:
                raises.append((accent.start, accent.end, float(min(prominence, 1.2)) / 1.2))
        track = ex.brow_raise_track(times, raises)
        for name, value in BROW_RAISE_WEIGHTS.items():
            out[:, K[name]] = value * track
        return out

    @staticmethod
    def _asymmetry(weights: np.ndarray, asymmetry: float) -> None:
        if asymmetry == 0:
            return
        for prefix in ASYMMETRIC_PREFIXES:
            left, right = K[f"{prefix}Left"], K[f"{prefix}Right"]
            weights[:, left] *= 1.0 + asymmetry
            weights[:, right] *= 1.0 - asymmetry
        weights[:, K["mouthLeft" if asymmetry > 0 else "mouthRight"]] += ASYMMETRY_MOUTH_SHIFT * abs(asymmetry)

    @staticmethod
    def _seal_lips(weights: np.ndarray, closure: np.ndarray) -> None:
        """mouthClose = closure × jawOpen; lip-parting channels fade as the lips seal (in place)."""
        closure = np.clip(closure, 0.0, 1.0)
        for name in LIP_OPENERS:
            weights[:, K[name]] *= 1.0 - closure
        jaw = weights[:, K["jawOpen"]]
        weights[:, K["mouthClose"]] = np.minimum(np.maximum(weights[:, K["mouthClose"]], closure * jaw), jaw)
