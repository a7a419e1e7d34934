"""Pseudo-speakers of the synthetic corpus: a voice, a style profile (persona) and a face shape each.

`VOICE_CATALOGUE` fixes the voices: three Piper renditions (normal, shifted up, shifted down),
five espeak-ng voice/variant pairs chosen because pocketsphinx aligns them reliably, and two
held-out voices (a Piper rendition shifted further up, another espeak-ng variant) used only by the
held-out speakers. A seed decides which persona and which identity face shape each speaker gets:
training speakers take the procedural animator's persona presets (in a seeded order), held-out
speakers random personas, and every speaker its own `random_identity` coefficients.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from facetalk.errors import InvalidInputError
from facetalk.face.identity import random_identity
from facetalk.synth.voices import Voice

if TYPE_CHECKING:
    from facetalk.face.rig import BlendshapeRig
    from facetalk.procedural import Persona

VOICE_CATALOGUE: tuple[Voice, ...] = (
    Voice("piper"),
    Voice("piper", rate=1.05, noise_scale=0.5, shift_semitones=3.0),
    Voice("piper", rate=0.92, noise_w_scale=1.0, shift_semitones=-2.5),
    Voice("espeak", "en-us+f2", pitch=58),
    Voice("espeak", "en-us+m2"),
    Voice("espeak", "en-us+klatt2", pitch=45),
    Voice("espeak", "en-us+f5", shift_semitones=2.0),
    Voice("espeak", "en-us+klatt3", rate=0.9),
)
"""The voices of the training speakers, one each."""
HELD_OUT_VOICES: tuple[Voice, ...] = (
    Voice("piper", rate=0.95, shift_semitones=5.0),
    Voice("espeak", "en-us-nyc+f2", pitch=54),
)
"""The voices of the held-out speakers, heard by no training speaker."""

IDENTITY_SEED_STRIDE = 1000  # speaker k of corpus seed s gets identity seed s * stride + k
PERSONA_SEED_OFFSET = 7919  # held-out personas come from Persona.random(seed * stride + offset + k)


@dataclass(frozen=True)
class Speaker:
    """A pseudo-speaker.

    Attributes:
        id: "spk00", "spk01", ...; held-out speakers come after the training ones.
        voice: how the speaker sounds.
        persona_preset: the name of a procedural persona preset, or None for a random persona.
        persona_seed: the seed of the random persona (unused with a preset).
        identity: identity shape coefficients, shape (M,), in `IDENTITY_MODES` order.
        held_out: True for speakers kept out of training (unseen-speaker tests).
    """

    id: str
    voice: Voice
    persona_preset: str | None
    persona_seed: int
    identity: np.ndarray
    held_out: bool = False

    def persona(self) -> Persona:
        """The speaker's style profile (needs the procedural animator)."""
        from facetalk.procedural import PERSONAS, Persona

        if self.persona_preset is not None:
            return PERSONAS[self.persona_preset]
        return Persona.random(self.persona_seed)

    def rig(self) -> BlendshapeRig:
        """The default rig on the speaker's own neutral face."""
        return _rig(tuple(float(c) for c in self.identity))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "voice": self.voice.to_json(),
            "persona_preset": self.persona_preset,
            "persona_seed": self.persona_seed,
            "identity": [float(c) for c in self.identity],
            "held_out": self.held_out,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Speaker:
        return cls(
            id=str(raw["id"]),
            voice=Voice.from_json(raw["voice"]),
            persona_preset=raw["persona_preset"],
            persona_seed=int(raw["persona_seed"]),
            identity=np.asarray(raw["identity"], dtype=np.float64),
            held_out=bool(raw["held_out"]),
        )


@functools.lru_cache(maxsize=16)
def _rig(identity: tuple[float, ...]) -> BlendshapeRig:
    from facetalk.face.default_face import default_rig
    from facetalk.face.identity import subject_topology

    return default_rig().with_topology(subject_topology(np.asarray(identity)))


def make_speakers(seed: int, *, preset_names: list[str] | None = None) -> list[Speaker]:
    """The corpus speakers for `seed`: one per `VOICE_CATALOGUE` voice, then the held-out ones.

    Args:
        seed: decides personas and face shapes.
        preset_names: the persona presets to bind to training speakers; default: the procedural
            animator's `PERSONAS` (it must have one per training voice).
    """
    if preset_names is None:
        from facetalk.procedural import PERSONAS

        preset_names = sorted(PERSONAS)
    if len(preset_names) < len(VOICE_CATALOGUE):
        raise InvalidInputError(f"{len(VOICE_CATALOGUE)} training speakers need as many persona presets, got {len(preset_names)}")
    order = np.random.default_rng(seed).permutation(len(preset_names))
    speakers: list[Speaker] = []
    for k, voice in enumerate(VOICE_CATALOGUE + HELD_OUT_VOICES):
        held_out = k >= len(VOICE_CATALOGUE)
        preset = None if held_out else sorted(preset_names)[int(order[k])]
        speakers.append(
            Speaker(
                id=f"spk{k:02d}",
                voice=voice,
                persona_preset=preset,
                persona_seed=seed * IDENTITY_SEED_STRIDE + PERSONA_SEED_OFFSET + k,
                identity=random_identity(seed * IDENTITY_SEED_STRIDE + k),
                held_out=held_out,
            )
        )
    return speakers
