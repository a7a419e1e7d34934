"""Speaker style profiles: a small vector of named numbers that changes how one sentence is animated.

A `Persona` scales and biases the procedural animator's layers (see `animator.py` for where each
field acts). `PERSONAS` holds named presets; `Persona.random` draws plausible speakers for the
synthetic corpus, each field uniformly from its range in `PERSONA_RANGES`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from facetalk.errors import InvalidInputError


@dataclass(frozen=True)
class Persona:
    """How one speaker moves their face.

    Attributes:
        articulation: gain of all speech mouth motion (1 = typical; < 1 mumbles, > 1 over-articulates).
        jaw_vs_lips: 0 ... 1, how much of the articulation the jaw does (0.5 = balanced); the lips
            do the rest (rounding, spreading, lip raise and drop).
        smile_bias: resting mouth-corner bias: positive smiles, negative frowns (ARKit weight).
        asymmetry: -1 ... 1 share of paired channels moved to the left (+) or right (-) side, and a
            small sideways mouth offset; 0 is symmetric.
        brow_activity: gain of brow raises on accents and emphasis (0 = still brows).
        brow_bias: resting brows: positive raised, negative lowered (ARKit weight).
        blink_rate_hz: spontaneous blinks per second (people blink 0.2-0.5 Hz while talking).
        timing_offset_s: the face leads (negative) or lags (positive) the audio by this much.
        expressivity: gain of emotion overlays and word-driven expressions.
        idle_motion: gain of the small background motions (gaze shifts, micro-expressions).
    """

    articulation: float = 1.0
    jaw_vs_lips: float = 0.5
    smile_bias: float = 0.0
    asymmetry: float = 0.0
    brow_activity: float = 1.0
    brow_bias: float = 0.0
    blink_rate_hz: float = 0.3
    timing_offset_s: float = 0.0
    expressivity: float = 1.0
    idle_motion: float = 1.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = float(getattr(self, f.name))
            low, high = PERSONA_LIMITS[f.name]
            if not (np.isfinite(value) and low <= value <= high):
                raise InvalidInputError(f"persona {f.name} must be in [{low}, {high}], got {value}")
            object.__setattr__(self, f.name, value)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def to_vector(self) -> np.ndarray:
        """The fields in declaration order, shape (len(field_names()),)."""
        return np.array([getattr(self, name) for name in self.field_names()], dtype=np.float64)

    @classmethod
    def from_vector(cls, vector: np.ndarray) -> Persona:
        """The persona whose `to_vector()` is `vector`."""
        values = np.asarray(vector, dtype=np.float64).reshape(-1)
        names = cls.field_names()
        if len(values) != len(names):
            raise InvalidInputError(f"a persona vector has {len(names)} values ({', '.join(names)}), got {len(values)}")
        return cls(**{name: float(v) for name, v in zip(names, values, strict=True)})

    @classmethod
    def random(cls, seed: int) -> Persona:
        """A plausible speaker: every field drawn uniformly from `PERSONA_RANGES`, deterministic in `seed`."""
        rng = np.random.default_rng(seed)
        return cls(**{name: float(rng.uniform(*PERSONA_RANGES[name])) for name in cls.field_names()})


PERSONA_LIMITS: dict[str, tuple[float, float]] = {
    "articulation": (0.0, 2.0),
    "jaw_vs_lips": (0.0, 1.0),
    "smile_bias": (-0.6, 0.6),
    "asymmetry": (-1.0, 1.0),
    "brow_activity": (0.0, 3.0),
    "brow_bias": (-0.5, 0.5),
    "blink_rate_hz": (0.0, 2.0),
    "timing_offset_s": (-0.2, 0.2),
    "expressivity": (0.0, 2.0),
    "idle_motion": (0.0, 3.0),
}
"""What a persona may hold at all."""

PERSONA_RANGES: dict[str, tuple[float, float]] = {
    "articulation": (0.6, 1.4),
    "jaw_vs_lips": (0.25, 0.75),
    "smile_bias": (-0.15, 0.25),
    "asymmetry": (-0.3, 0.3),
    "brow_activity": (0.3, 2.0),
    "brow_bias": (-0.1, 0.15),
    "blink_rate_hz": (0.15, 0.6),
    "timing_offset_s": (-0.05, 0.01),
    "expressivity": (0.6, 1.4),
    "idle_motion": (0.4, 1.6),
}
"""Where `Persona.random` draws each field: plausible speakers."""

PERSONAS: dict[str, Persona] = {
    "neutral": Persona(),
    "animated": Persona(articulation=1.35, jaw_vs_lips=0.55, smile_bias=0.1, brow_activity=1.8, blink_rate_hz=0.4,
                        expressivity=1.4, idle_motion=1.5),
    "reserved": Persona(articulation=0.75, brow_activity=0.3, blink_rate_hz=0.2, expressivity=0.6, idle_motion=0.4),
    "smiley": Persona(smile_bias=0.35, brow_bias=0.08, brow_activity=1.2, expressivity=1.2),
    "stern": Persona(articulation=0.85, jaw_vs_lips=0.65, smile_bias=-0.2, brow_bias=-0.3, brow_activity=0.5,
                     blink_rate_hz=0.15, expressivity=0.8, idle_motion=0.6),
    "mumbler": Persona(articulation=0.55, jaw_vs_lips=0.3, brow_activity=0.4, blink_rate_hz=0.35, timing_offset_s=0.0,
                       expressivity=0.7),
    "expressive-brows": Persona(brow_activity=2.8, brow_bias=0.12, blink_rate_hz=0.35, expressivity=1.3, idle_motion=1.3),
    "lopsided": Persona(asymmetry=0.6, smile_bias=0.12, jaw_vs_lips=0.45),
    "jaw-talker": Persona(articulation=1.15, jaw_vs_lips=0.9, brow_activity=0.8),
    "lip-talker": Persona(articulation=1.1, jaw_vs_lips=0.15, timing_offset_s=-0.04),
}  # fmt: skip
"""Named speaker styles; "neutral" is the default."""
