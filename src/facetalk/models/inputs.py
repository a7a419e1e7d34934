"""The one place that assembles a model's inputs, for training, `facetalk eval` and `facetalk animate` alike.

A model declares what it reads as an `InputSpec` (`Animator.inputs`). `InputPipeline` turns a dataset
`Sample` (training, evaluation) or a user's speech (animate) into a `ClipArrays` record holding
exactly those inputs; `WindowDataset` cuts records into training windows and `collate` pads windows
into batches (every key and shape is listed in `facetalk.data.collate.collate`). For inference,
`InputPipeline.batch` makes a batch of one whole clip the same way and applies the `Conditions`
(a requested emotion, a style reference, a speaker, a face).

Because every path goes through the same functions, a clip gives the same speech features, text
features, phones and emotion vectors whether it is trained on, evaluated or animated; and a model
that owns its speech encoder (fine-tuned) is always fed raw audio, never features of the original,
untuned encoder.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from facetalk.audio.rate import match_frames
from facetalk.data.cache import FeatureCache, audio_hash, text_hash
from facetalk.data.collate import Batch, collate
from facetalk.data.windows import UNKNOWN_SUBJECT, ClipArrays, Window, WindowDataset
from facetalk.errors import InvalidInputError
from facetalk.types import Alignment, Motion, Waveform

if TYPE_CHECKING:
    from facetalk.audio.encoders import SpeechEncoder
    from facetalk.data.sample import Sample
    from facetalk.eval.emotion import EmotionRecognizer
    from facetalk.models.base import Animator, Conditions
    from facetalk.text.embed import TextEmbedder

Speech = Literal["features", "audio", "none"]
FRAME_TIME_TOLERANCE_S = 1e-9
"""`0.3 * 10` is 3.0000000000000004 in floating point: a phone starting at a frame's time still holds that frame."""
Target = Literal["motion", "vertices"]
EMOTION_PRIOR_HOP = 1
"""Frames between the emotion recognizer's window centres for emotion priors: 1 scores every frame."""


@dataclass(frozen=True)
class InputSpec:
    """What a model reads besides `mask`, `lengths` and `subject` (which every batch has).

    Attributes:
        speech: "features" (speech features at the motion rate, from the encoder named in the
            model's metadata: batch key `features`), "audio" (raw speech for a model that owns its
            encoder: `audio`, `audio_mask`) or "none".
        text: per-frame text features (`text`).
        phones: per-frame phone ids and the token-level phones with their durations
            (`phone_ids`, `phone_tokens`, `phone_durations`, `phone_lengths`).
        generate_reads_phones: False when only training and evaluation read the phones (a model that
            predicts them when it generates, like `style_duration`): then generating needs no alignment.
        emotion: per-frame emotion vectors with their mask (`emotion`, `emotion_mask`), as a condition
            or as a target.
        style: a style reference motion (`style`, `style_mask`).
        template: the speaker's neutral face (`template`).
        emotion_prior: per-frame pseudo ground-truth emotion logits of the training motion, from the
            shipped motion emotion recognizer (`emotion_prior`; paper 002's emotion priors). Training
            and evaluation clips only: inference batches have none.
    """

    speech: Speech = "features"
    text: bool = False
    phones: bool = False
    generate_reads_phones: bool = True
    emotion: bool = False
    style: bool = False
    template: bool = False
    emotion_prior: bool = False

    @property
    def needs_alignment(self) -> bool:
        """Whether generating needs the words and phones of the speech with their times."""
        return self.text or (self.phones and self.generate_reads_phones)


@dataclass(frozen=True)
class FeatureSettings:
    """A registered speech encoder (`facetalk.audio.ENCODERS`) and its builder's options."""

    encoder: str = "mel"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TextSettings:
    """A registered text embedder ("minilm", or "hf" with a local `path` option) and its options."""

    embedder: str = "minilm"
    options: dict[str, Any] = field(default_factory=dict)


def phone_tokens(alignment: Alignment, num_frames: int, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """A clip's phone tokens and the token each frame lies in.

    Tokens are the aligned phones in time order, with a SIL token for every gap between them (and
    before the first, after the last). Frame t, at time t / fps, lies in the token whose [start,
    end) contains that time; a token too short to contain a frame time gets no frame.

    Returns:
        Token ids (N,) over `PHONE_VOCAB` and the token index of each frame (T,), non-decreasing.
    """
    from facetalk.text.phonemes import SILENCE, phone_id

    labels: list[str] = []
    starts: list[float] = []
    time = 0.0
    for phone in sorted(alignment.phones, key=lambda p: p.start):
        if phone.start > time:
            labels.append(SILENCE)
            starts.append(time)
        labels.append(phone.label)
        starts.append(phone.start)
        time = max(time, phone.end)
    labels.append(SILENCE)  # after the last phone
    starts.append(time)
    frame_times = np.arange(num_frames) / fps  # (T,)
    index = np.searchsorted(np.asarray(starts), frame_times + FRAME_TIME_TOLERANCE_S, side="right") - 1  # (T,)
    return np.asarray([phone_id(label) for label in labels], dtype=np.int64), np.maximum(index, 0).astype(np.int64)


class InputPipeline:
    """Builds the inputs `spec` declares, from dataset samples or from a user's speech.

    Args:
        spec: what the model reads.
        features: the speech encoder of `features` inputs.
        text: the text embedder of `text` inputs.
        cache: a feature cache directory: speech and text features of dataset clips are computed once
            and memory-mapped after; None computes them every time (inference).
        dataset_key: names the dataset in the cache (different datasets may reuse clip ids).
    """

    def __init__(self, spec: InputSpec, *, features: FeatureSettings | None = None, text: TextSettings | None = None,
                 cache: str | os.PathLike[str] | None = None, dataset_key: str = "") -> None:  # fmt: skip
        self.spec = spec
        self.features = features or FeatureSettings()
        self.text = text or TextSettings()
        self.cache = FeatureCache(cache) if cache is not None else None
        self.dataset_key = dataset_key

    @classmethod
    def for_model(cls, model: Animator, *, cache: str | os.PathLike[str] | None = None, dataset_key: str = "") -> InputPipeline:
        """The pipeline of a trained model: its declared inputs and the encoder settings saved with it."""
        features = model.metadata.get("features")
        if model.inputs.speech == "features" and not features:
            raise InvalidInputError(f"model {model.spec.name if model.spec else '?'}: no speech-feature settings saved with it")
        text = model.metadata.get("text") or {}
        return cls(model.inputs, features=FeatureSettings(**features) if features else None,
                   text=TextSettings(**text) if text else None, cache=cache, dataset_key=dataset_key)  # fmt: skip

    @functools.cached_property
    def speech_encoder(self) -> SpeechEncoder:
        """The encoder of `features` inputs, built on first use."""
        from facetalk.audio import build_encoder

        return build_encoder(self.features.encoder, **self.features.options)

    @functools.cached_property
    def text_embedder(self) -> TextEmbedder:
        """The text embedder of `text` inputs, built on first use."""
        from facetalk.text.embed import build_text_embedder

        return build_text_embedder(self.text.embedder, **self.text.options)

    @functools.cached_property
    def emotion_recognizer(self) -> EmotionRecognizer:
        """The shipped motion emotion recognizer of `emotion_prior` inputs, loaded on first use."""
        from facetalk.eval.emotion import load_recognizer, shipped_recognizer_path

        path = shipped_recognizer_path()
        if path is None:
            raise InvalidInputError("the model's emotion priors need the shipped emotion recognizer (weights/emotion_recognizer)")
        return load_recognizer(path)

    def emotion_prior(self, vertices: Motion, *, clip_id: str | None = None) -> np.ndarray:
        """Per-frame emotion logits (T, 7) of a clip's vertex motion; cached under `clip_id` when there is a cache."""
        from facetalk.eval.emotion import frame_logits

        def compute() -> np.ndarray:
            return frame_logits(self.emotion_recognizer, vertices, hop=EMOTION_PRIOR_HOP)

        if self.cache is None or clip_id is None:
            return compute()
        settings = {"recognizer": self.emotion_recognizer.state_digest(), "hop": EMOTION_PRIOR_HOP}
        content = hashlib.sha256(np.ascontiguousarray(vertices.data, dtype=np.float32).tobytes()).hexdigest()[:16]
        return self.cache.get(dataset=self.dataset_key, clip_id=clip_id, encoder="emotion-prior", settings=settings,
                              content=content, compute=compute)  # fmt: skip

    def speech_features(self, waveform: Waveform, *, fps: float, num_frames: int, clip_id: str | None = None) -> np.ndarray:
        """Speech features at the motion frame rate, (T, C); cached under `clip_id` when there is a cache."""

        def compute() -> np.ndarray:
            return self.speech_encoder.encode_at(waveform, fps)

        if self.cache is None or clip_id is None:
            return match_frames(compute(), num_frames)
        settings = {"options": self.features.options, "fps": fps}
        features = self.cache.get(dataset=self.dataset_key, clip_id=clip_id, encoder=self.features.encoder,
                                  settings=settings, content=audio_hash(waveform), compute=compute)  # fmt: skip
        return match_frames(features, num_frames)

    def text_features(self, alignment: Alignment, *, fps: float, num_frames: int, clip_id: str | None = None) -> np.ndarray:
        """Per-frame text features, (T, C_text); cached under `clip_id` when there is a cache."""

        def compute() -> np.ndarray:
            return self.text_embedder.frame_features(alignment, num_frames=num_frames, fps=fps).detach().cpu().numpy()

        if self.cache is None or clip_id is None:
            return compute()
        settings = {"text": self.text.options, "fps": fps}
        return self.cache.get(dataset=self.dataset_key, clip_id=clip_id, encoder=f"text-{self.text.embedder}",
                              settings=settings, content=f"{text_hash(alignment)}-{num_frames}", compute=compute)  # fmt: skip

    def clip(self, *, clip_id: str, waveform: Waveform, fps: float, num_frames: int, alignment: Alignment | None,
             motion: np.ndarray | None = None, speaker: str = "", subject: int = UNKNOWN_SUBJECT,
             emotion: np.ndarray | None = None, template: np.ndarray | None = None,
             emotion_prior: np.ndarray | None = None, cached: bool = False) -> ClipArrays:  # fmt: skip
        """A clip's declared inputs.

        Args:
            clip_id: names the clip (in errors, and in the cache when `cached`).
            waveform: its speech.
            fps: motion frames per second.
            num_frames: T.
            alignment: its words and phones (required when the model reads text or phones).
            motion: the target motion (T, D), when there is one.
            speaker: the speaker's name.
            subject: the speaker's index among the training subjects.
            emotion: per-frame emotion vectors (T, 7): labels, or the requested emotion.
            template: the neutral face (3V,).
            emotion_prior: pseudo ground-truth emotion logits (T, 7) of the target motion.
            cached: use the feature cache for this clip.
        """
        spec = self.spec
        if alignment is None and (spec.needs_alignment or (spec.phones and motion is not None)):
            raise InvalidInputError(f"{clip_id}: the model reads text or phones, and the clip has no alignment")
        key = clip_id if cached else None
        arrays: dict[str, Any] = {}
        if spec.speech == "features":
            arrays["features"] = self.speech_features(waveform, fps=fps, num_frames=num_frames, clip_id=key)
        elif spec.speech == "audio":
            arrays["audio"], arrays["sample_rate"] = waveform.samples, waveform.sample_rate
        if spec.text:
            assert alignment is not None
            arrays["text"] = self.text_features(alignment, fps=fps, num_frames=num_frames, clip_id=key)
        if spec.phones and alignment is not None:
            arrays["phone_ids"], arrays["phone_index"] = phone_tokens(alignment, num_frames, fps)
        if spec.emotion and emotion is not None:
            arrays["emotion"] = np.asarray(emotion, dtype=np.float32)[:num_frames]
        if spec.template and template is not None:
            arrays["template"] = np.asarray(template, dtype=np.float32).reshape(-1)
        if spec.emotion_prior and emotion_prior is not None:
            arrays["emotion_prior"] = np.asarray(emotion_prior, dtype=np.float32)[:num_frames]
        if spec.style and motion is not None and emotion is not None:  # the training motion's labels (same_emotion references)
            arrays["emotion_labels"] = np.asarray(emotion)[:num_frames].argmax(axis=1)
        return ClipArrays(clip_id=clip_id, num_frames=num_frames, fps=fps, motion=motion, speaker=speaker, subject=subject,
                          **arrays)  # fmt: skip

    def sample(self, sample: Sample, *, target: Target = "motion", subject: int = UNKNOWN_SUBJECT,
               cached: bool = True) -> ClipArrays:  # fmt: skip
        """A dataset clip's declared inputs, with its target motion (`target`: its motion or its vertices)."""
        if target == "motion":
            motion = sample.motion
        else:
            vertex_motion = sample.vertex_motion()
            if vertex_motion is None:
                raise InvalidInputError(f"{sample.dataset}/{sample.clip_id}: the target is vertices and the clip has none")
            motion = vertex_motion
        template = sample.template.reshape(-1) if sample.template is not None and target == "vertices" else None
        prior = None
        if self.spec.emotion_prior:
            vertices = sample.vertex_motion()
            if vertices is None:
                raise InvalidInputError(f"{sample.dataset}/{sample.clip_id}: no vertex motion to read emotion priors from")
            prior = self.emotion_prior(vertices, clip_id=sample.clip_id if cached else None)
        return self.clip(clip_id=sample.clip_id, waveform=sample.audio, fps=motion.fps, num_frames=motion.num_frames,
                         alignment=sample.alignment, motion=np.asarray(motion.data), speaker=sample.subject, subject=subject,
                         emotion=sample.emotion_frames(), template=template, emotion_prior=prior, cached=cached)  # fmt: skip

    def batch(self, clip: ClipArrays, conditions: Conditions | None = None) -> Batch:
        """A batch of one whole clip for `Animator.generate`, with `conditions` applied over the clip's own.

        The clip's target motion stays out: a model generates from its inputs only.
        """
        return next(self.batches(clip, conditions))[1]

    def batches(self, clip: ClipArrays, conditions: Conditions | None = None, *, length: int | None = None,
                stride: int | None = None) -> Iterator[tuple[Window, Batch]]:  # fmt: skip
        """`batch` for each window of `length` frames every `stride` frames (see `plan_windows`), made as needed.

        The default (`length` None) is one window, the whole clip. The per-frame inputs and the
        conditions' per-frame emotion are cut to each window; the style reference stays whole.
        """
        changes: dict[str, Any] = {"motion": None, "emotion_prior": None}
        if conditions is not None:
            changes["subject"] = conditions.subject
            if self.spec.emotion and conditions.emotion is not None:
                changes["emotion"] = match_frames(np.asarray(conditions.emotion, dtype=np.float32), clip.num_frames)
            if self.spec.template and conditions.template is not None:
                changes["template"] = np.asarray(conditions.template, dtype=np.float32).reshape(-1)
        if self.spec.style and (conditions is None or conditions.style is None):
            raise InvalidInputError(f"{clip.clip_id}: the model needs a style reference motion")
        windows = WindowDataset([dataclasses.replace(clip, **changes)], length=length, stride=stride, min_frames=1)
        for index, window in enumerate(windows.windows):
            item = windows[index]
            if self.spec.style:
                assert conditions is not None and conditions.style is not None
                item["style"] = np.asarray(conditions.style, dtype=np.float32)  # (T', D)
                if self.spec.template and conditions.style_template is not None:
                    item["style_template"] = np.asarray(conditions.style_template, dtype=np.float32).reshape(-1)  # (3V,)
            yield window, collate([item])


def cache_root(features_cache: str, default: Path) -> Path:
    """The feature cache directory: `features_cache` when set, else `default`."""
    return Path(features_cache).expanduser() if features_cache else default
