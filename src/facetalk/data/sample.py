"""`Sample`: the one-clip record that every dataset adapter yields.

Datasets differ in what they carry: VOCASET and BIWI have vertices of a fixed topology, BEAT and Live
Link Face captures ARKit weights, facetalk's synthetic corpus both. A `Sample` holds the primary
animation in `motion` (whatever the dataset natively has) and, when a dataset has vertices besides
blendshapes, those in `vertices`; everything a dataset lacks is None.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facetalk.errors import InvalidInputError
from facetalk.types import EMOTIONS, Alignment, EmotionSchedule, Motion, Seconds, Waveform


@dataclass(frozen=True)
class Sample:
    """One clip of a dataset.

    Attributes:
        dataset: the registered dataset name ("native", "vocaset", ...).
        clip_id: unique within the dataset.
        subject: the speaker / actor id.
        audio: the speech.
        motion: the animation, T frames at `motion.fps` (blendshapes, vertices or params).
        vertices: vertex motion of the same T frames when the dataset has it besides `motion`
            (kind "vertices", metres).
        template: the subject's neutral face, metres, shape (V, 3).
        sentence_id: the sentence's id when sentences repeat across subjects.
        text: what is said.
        alignment: word and phone times, seconds.
        emotion: an `EmotionSchedule`, or per-frame emotion vectors over `EMOTIONS`, shape (T, 7).
        persona: the subject's style vector when the data was generated with one.
    """

    dataset: str
    clip_id: str
    subject: str
    audio: Waveform
    motion: Motion
    vertices: Motion | None = None
    template: np.ndarray | None = None
    sentence_id: str | None = None
    text: str | None = None
    alignment: Alignment | None = None
    emotion: EmotionSchedule | np.ndarray | None = None
    persona: np.ndarray | None = None

    def __post_init__(self) -> None:
        where = f"{self.dataset}/{self.clip_id}"
        if self.vertices is not None:
            if self.vertices.kind != "vertices":
                raise InvalidInputError(f"{where}: `vertices` must be vertex motion, got {self.vertices.kind!r}")
            if self.vertices.num_frames != self.motion.num_frames or self.vertices.fps != self.motion.fps:
                raise InvalidInputError(f"{where}: vertices and motion differ in frames or fps")
        if self.template is not None:
            template = np.asarray(self.template, dtype=np.float32)
            if template.ndim != 2 or template.shape[1] != 3:
                raise InvalidInputError(f"{where}: template must have shape (V, 3), got {template.shape}")
            object.__setattr__(self, "template", template)
        if isinstance(self.emotion, np.ndarray) and self.emotion.shape != (self.motion.num_frames, len(EMOTIONS)):
            raise InvalidInputError(f"{where}: per-frame emotion must have shape (T, {len(EMOTIONS)}), got {self.emotion.shape}")

    @property
    def fps(self) -> float:
        """Motion frames per second."""
        return self.motion.fps

    @property
    def num_frames(self) -> int:
        return self.motion.num_frames

    @property
    def duration(self) -> Seconds:
        return self.audio.duration

    def vertex_motion(self) -> Motion | None:
        """Vertex motion when the clip has any: `motion` itself or `vertices`."""
        return self.motion if self.motion.kind == "vertices" else self.vertices

    def emotion_frames(self) -> np.ndarray | None:
        """Per-frame emotion vectors, shape (T, 7); None when the clip has no emotion labels."""
        if isinstance(self.emotion, EmotionSchedule):
            return self.emotion.at_frames(self.num_frames, self.fps)
        if isinstance(self.emotion, np.ndarray):
            return self.emotion.astype(np.float32)
        return None
