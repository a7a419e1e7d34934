"""Streaming animation: 16 kHz speech in chunks of any size in, ARKit-52 frames out as soon as they are known.

A model streams when every output frame depends on a bounded stretch of speech around it: its
speech features are computed frame by frame from a bounded audio window (the `mel` encoder without
a clip-wide dB floor, `top_db: null`), and the model declares a bounded receptive field in frames
(`receptive_field() -> (past, future)`, e.g. `conv_baseline` with its `lookahead` option). Then:

- `MelStream` turns incoming samples into speech features at the motion rate: mel frame i (centred
  on sample i * hop) is computed once its window has arrived, and motion frame j (the linear
  interpolation of the mel frames around j / fps, as `audio.rate.to_motion_rate` does) once both
  of them exist. The end of the stream pads zeros, as the offline spectrogram does.
- `AnimationStream` runs the model on the frames whose receptive field has arrived. A model that
  can compute just the frames new input completes (`IncrementalModel`: `conv_baseline` keeps each
  block's last input frames) does so; any other bounded model is rerun over the last `past`
  feature frames plus the new ones. An output frame whose whole receptive field lies inside that
  window is exactly the frame the model computes offline on the whole clip, because the zero
  padding at the window's edges only reaches frames outside the receptive field. Both paths give
  the offline frames up to float rounding of differently sized FFTs and convolutions
  (`tests/test_stream.py` checks 1e-5). `end()` flushes the lookahead.

A smaller `lookahead` than the model's emits frames earlier by treating the not yet arrived future
as the end of the clip (lower latency, frames no longer equal to offline). Emotion (an
`EmotionSchedule` on the stream's clock, or a constant) and persona (a training speaker of the
model) can change between pushes; they apply to the frames computed after the change.

    stream = AnimationStream(load_model("weights/conv_baseline_stream"))
    for chunk in chunks:                      # float32 samples or int16 PCM at 16 kHz
        for frame in stream.push(chunk):      # Frame(index, time, weights (52,))
            ...
    frames = stream.end()
"""

from __future__ import annotations

import functools
import json
import math
import os
import struct
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import torch

from facetalk.audio.features import AMIN, DB_PER_DECADE, MelSpectrogram
from facetalk.audio.io import SAMPLE_RATE
from facetalk.audio.rate import num_motion_frames
from facetalk.errors import InvalidInputError
from facetalk.models.base import Animator
from facetalk.types import EMOTIONS, EmotionSchedule, Seconds

if TYPE_CHECKING:
    from facetalk.audio.encoders import MelEncoder

PCM_SCALE = 32768.0
"""int16 PCM to float samples in [-1, 1), as soundfile reads 16-bit WAV files."""
DEFAULT_CHUNK_S = 0.02
"""Chunk length of `stream_file`: 20 ms, a typical audio callback."""
NEUTRAL_PERSONA = "neutral"
"""The persona of no particular training speaker (the model's unknown-speaker embedding)."""
DEFAULT_STREAM_MODEL = "conv_baseline_stream"
"""The shipped streaming model (weights/conv_baseline_stream)."""
BINARY_FRAME = "<if"
"""The binary form of a frame: int32 index, float32 time, then its K float32 weights, little-endian."""


@runtime_checkable
class BoundedModel(Protocol):
    """A model whose output frame t depends only on input frames t - past .. t + future."""

    def receptive_field(self) -> tuple[int, int]: ...


@runtime_checkable
class IncrementalModel(Protocol):
    """A bounded model that can compute only the frames new input completes (see `ConvBaseline.stream_step`)."""

    def stream_start(self) -> list[torch.Tensor]: ...

    def stream_step(self, state: list[torch.Tensor], batch: dict[str, torch.Tensor], *, final: bool) -> torch.Tensor: ...


@dataclass(frozen=True)
class Frame:
    """One animation frame.

    Attributes:
        index: frame number from the start of the stream.
        time: the frame's time on the stream's clock, index / fps.
        weights: the ARKit-52 weights in [0, 1], canonical order (`facetalk.face.arkit.ARKIT_NAMES`).
    """

    index: int
    time: Seconds
    weights: np.ndarray


def pcm16_to_float(data: bytes) -> np.ndarray:
    """16-bit little-endian PCM bytes to float32 samples; an odd byte count is a one-line error."""
    if len(data) % 2:
        raise InvalidInputError(f"16-bit PCM comes in whole samples of 2 bytes, got {len(data)} bytes")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / PCM_SCALE


class MelStream:
    """The `mel` encoder's features at the motion rate, computed as samples arrive.

    Equal to `MelEncoder.encode_at(waveform, fps)` on the whole stream (what training and offline
    inference compute), frame for frame.

    Args:
        encoder: a `facetalk.audio.encoders.MelEncoder` with `top_db` None.
        fps: the motion frame rate.
    """

    def __init__(self, encoder: MelEncoder, fps: float) -> None:
        mel = encoder.mel
        if mel.top_db is not None:
            raise InvalidInputError("a mel with a clip-wide dB floor (top_db) cannot stream: train on top_db: null")
        self.mel: MelSpectrogram = mel
        self._window = mel.window.numpy().astype(np.float64)  # (n_fft,)
        self._filters = mel.filters.numpy().T.astype(np.float64)  # (n_fft // 2 + 1, n_mels)
        self.fps = fps
        self.sample_rate: int = mel.sample_rate
        self.half = mel.n_fft // 2
        self.ratio = mel.frame_rate / fps  # mel frames per motion frame
        self._buffer = np.zeros(self.half, dtype=np.float32)  # samples from sample `_start` on (zeros before 0)
        self._start = -self.half
        self._received = 0  # samples pushed
        self._mel = np.zeros((0, mel.n_mels), dtype=np.float32)  # dB frames from index `_mel_start` on
        self._mel_start = 0
        self._motion = 0  # motion frames emitted
        self._ended = False

    @property
    def lookahead_s(self) -> Seconds:
        """Audio a motion frame needs beyond its time: the next mel frame's time plus half its window."""
        return (self.mel.hop + self.half) / self.sample_rate

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add samples; return the new motion-rate features, shape (N, C)."""
        if self._ended:
            raise InvalidInputError("the stream has ended; start a new one")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self._buffer = np.concatenate([self._buffer, samples])
        self._received += len(samples)
        # mel frame i reads samples i * hop - half .. i * hop + half - 1
        last = (self._received - self.half) // self.mel.hop
        if last < self._mel_start + len(self._mel):  # no new mel frame, so no new motion frame: most small chunks
            return self._mel[:0]
        self._add_mel(last=last)
        return self._motion_frames(final=None)

    def end(self) -> np.ndarray:
        """Pad the end with zeros as the offline spectrogram does; return the remaining features (N, C)."""
        if self._ended:
            return np.zeros((0, self.mel.n_mels), dtype=np.float32)
        last = self._received // self.mel.hop  # 1 + S // hop frames in all
        self._buffer = np.concatenate([self._buffer, np.zeros(self.half + self.mel.hop, dtype=np.float32)])
        self._add_mel(last=last)
        self._ended = True
        return self._motion_frames(final=num_motion_frames(self._received / self.sample_rate, self.fps))

    def _add_mel(self, *, last: int) -> None:
        """Compute mel frames up to index `last` (inclusive) from the buffer."""
        first = self._mel_start + len(self._mel)
        if last < first:
            return
        begin = first * self.mel.hop - self.half - self._start
        end = last * self.mel.hop + self.half - self._start
        # the few frames of a chunk in numpy: a tenth of torch.stft's call overhead, the same values to float rounding
        starts = range(begin, end - self.mel.n_fft + 1, self.mel.hop)
        frames = np.stack([self._buffer[i : i + self.mel.n_fft] for i in starts])  # (N, n_fft)
        spectrum = np.fft.rfft(frames * self._window, axis=1)  # (N, n_fft // 2 + 1)
        power = ((spectrum.real**2 + spectrum.imag**2) @ self._filters).astype(np.float32)  # (N, n_mels)
        # dB as `MelEncoder._finish` computes it, without the clip-wide floor
        np.maximum(power, AMIN, out=power)
        np.log10(power, out=power)
        power *= DB_PER_DECADE
        self._mel = np.concatenate([self._mel, power])

    def _motion_frames(self, *, final: int | None) -> np.ndarray:
        """Motion frames whose two mel frames exist (all `final` frames at the end, clamped to the last mel frame)."""
        available = self._mel_start + len(self._mel)  # mel frames so far
        if final is None:  # frame j needs mel frames floor(j * ratio) and the one after: j * ratio < available - 1
            count = max(self._motion, math.ceil((available - 1) / self.ratio))
            while count > self._motion and math.floor((count - 1) * self.ratio) + 1 >= available:  # float rounding
                count -= 1
        else:
            count = final
        j = np.arange(self._motion, count)
        position = np.minimum(j * self.ratio, available - 1)  # as `to_motion_rate` computes it
        left = np.floor(position).astype(np.int64)
        right = np.minimum(left + 1, available - 1)
        fraction = (position - left).astype(np.float32)[:, None]
        out = (1.0 - fraction) * self._mel[left - self._mel_start] + fraction * self._mel[right - self._mel_start]
        self._motion = count
        self._trim()
        return out.astype(np.float32)

    def _trim(self) -> None:
        """Forget mel frames and samples no future frame reads."""
        keep_mel = min(math.floor(self._motion * self.ratio), self._mel_start + len(self._mel))
        self._mel = self._mel[keep_mel - self._mel_start :]
        self._mel_start = keep_mel
        next_mel = self._mel_start + len(self._mel)
        keep = next_mel * self.mel.hop - self.half
        if keep > self._start:
            self._buffer = self._buffer[keep - self._start :]
            self._start = keep


def persona_subject(model: Animator, persona: str | None) -> int:
    """The training-subject index of `persona`: a training speaker of the model, or a persona preset
    one of them speaks with (`personas` in the model's metadata); "neutral" or None: -1 (no speaker)."""
    if persona in (None, "", NEUTRAL_PERSONA):
        return -1
    subjects = list(model.metadata.get("subjects") or [])
    speaker = dict(model.metadata.get("personas") or {}).get(persona, persona)
    if speaker not in subjects:
        known = sorted({NEUTRAL_PERSONA, *subjects, *dict(model.metadata.get("personas") or {})})
        raise InvalidInputError(f"unknown persona {persona!r} for this model (known: {', '.join(known)})")
    return subjects.index(speaker)


class AnimationStream:
    """One stream's state: its speech features, the model's pending frames, its emotion and persona.

    Args:
        model: a model that streams (see the module docstring); put into eval mode.
        emotion: an emotion schedule on the stream's clock (seconds from its first sample); None: no emotion input.
        persona: a training speaker or persona preset of the model (`persona_subject`).
        lookahead: frames of the model's lookahead to wait for, 0 .. the model's; None waits for all
            (the frames then equal the model's offline output).
        sample_rate: the rate of the pushed samples; the model's features need its own (16 kHz).
    """

    def __init__(self, model: Animator, *, emotion: EmotionSchedule | None = None, persona: str | None = None,
                 lookahead: int | None = None, sample_rate: int = SAMPLE_RATE) -> None:  # fmt: skip
        from facetalk.audio.encoders import MelEncoder
        from facetalk.models.inputs import InputPipeline

        name = model.spec.name if model.spec else type(model).__name__
        inputs = model.inputs
        if not isinstance(model, BoundedModel) or inputs.speech != "features" or inputs.needs_alignment or inputs.style:
            raise InvalidInputError(f"model {name} cannot stream: it needs a bounded receptive field on speech features only")
        encoder = InputPipeline.for_model(model).speech_encoder
        if not isinstance(encoder, MelEncoder):
            raise InvalidInputError(f"model {name} cannot stream: its features are not the mel spectrogram")
        if sample_rate != encoder.sample_rate:
            raise InvalidInputError(f"sample rate {sample_rate} Hz: streams take {encoder.sample_rate} Hz mono PCM")
        self.model = model.eval()
        self.features = MelStream(encoder, model.fps)
        self.fps = model.fps
        self.channels = model.channels
        self.past, future = model.receptive_field()
        if lookahead is not None and not 0 <= lookahead <= future:
            raise InvalidInputError(f"lookahead must be 0 .. {future} frames for this model, got {lookahead}")
        self.lookahead = future if lookahead is None else lookahead
        self.emotion = emotion
        self.subject = persona_subject(model, persona)
        self._inputs = np.zeros((0, encoder.dim), dtype=np.float32)  # feature frames from `_first` on
        self._emotion = np.zeros((0, len(EMOTIONS)), dtype=np.float32)
        self._emotion_mask = np.zeros(0, dtype=np.float32)
        self._first = 0
        self._emitted = 0  # output frames emitted
        # with the whole lookahead, a model that can compute just the new frames does (no recomputed context)
        self._state = model.stream_start() if isinstance(model, IncrementalModel) and self.lookahead == future else None

    @property
    def latency_s(self) -> Seconds:
        """Audio a frame waits for beyond its own time: the features' lookahead plus the model's."""
        return self.features.lookahead_s + self.lookahead / self.fps

    def set_emotion(self, emotion: EmotionSchedule | None) -> None:
        """Use `emotion` (times on the stream's clock) for the frames computed from now on."""
        self.emotion = emotion

    def set_persona(self, persona: str | None) -> None:
        """Animate as `persona` from the next push on."""
        self.subject = persona_subject(self.model, persona)

    def push(self, samples: np.ndarray | bytes) -> list[Frame]:
        """Add a chunk (float32 samples, or 16-bit little-endian PCM bytes); return the frames now known."""
        self.feed(samples)
        return run_streams([self])[0]

    def feed(self, samples: np.ndarray | bytes) -> None:
        """Add a chunk without running the model (`run_streams` runs many streams' models at once)."""
        if isinstance(samples, bytes | bytearray | memoryview):
            samples = pcm16_to_float(bytes(samples))
        self._add(self.features.push(samples))

    def end(self) -> list[Frame]:
        """End of speech: the remaining frames (the lookahead flushed)."""
        self._add(self.features.end())
        last = self._first + len(self._inputs)
        if last <= self._emitted:
            return []
        if self._state is not None:
            return _steps([self], final=True)[0]
        return self._emit(_forward(self.model, [self])[0], last)

    @property
    def ready(self) -> int:
        """Frames the model can emit now (their lookahead has arrived)."""
        return max(0, self._first + len(self._inputs) - self.lookahead - self._emitted)

    def _add(self, features: np.ndarray) -> None:
        if not len(features):
            return
        start = self._first + len(self._inputs)
        times = np.arange(start, start + len(features)) / self.fps
        if self.emotion is None:
            rows, mask = np.zeros((len(features), len(EMOTIONS)), np.float32), np.zeros(len(features), np.float32)
        else:
            rows, mask = self.emotion.at_times(times), np.ones(len(features), np.float32)
        self._inputs = np.concatenate([self._inputs, features])
        self._emotion = np.concatenate([self._emotion, rows])
        self._emotion_mask = np.concatenate([self._emotion_mask, mask])

    def _frames(self, motion: np.ndarray, start: int, stop: int) -> list[Frame]:
        """Frames `_emitted` .. `stop` - 1 from model output rows that begin with frame `start`."""
        if self.model.kind == "blendshapes":
            motion = np.clip(motion, 0.0, 1.0)
        frames = [Frame(t, t / self.fps, motion[t - start]) for t in range(self._emitted, stop)]
        self._emitted = stop
        return frames

    def _emit(self, motion: np.ndarray, last: int) -> list[Frame]:
        """Frames `_emitted` .. `last` - 1 from the model's output over the kept frames (W, D); forget what no frame needs."""
        frames = self._frames(motion, self._first, last)
        keep = max(0, last - self.past)  # the next frame's receptive field starts at `last - past`
        self._inputs, self._emotion = self._inputs[keep - self._first :], self._emotion[keep - self._first :]
        self._emotion_mask = self._emotion_mask[keep - self._first :]
        self._first = keep
        return frames


def _steps(streams: Sequence[AnimationStream], *, final: bool) -> list[list[Frame]]:
    """The incremental path, one batched step for streams of one model with states and new input of equal lengths:
    the model takes the frames not fed yet and returns those they complete."""
    count = len(streams[0]._inputs)
    batch = {
        "features": torch.from_numpy(np.stack([s._inputs for s in streams])),  # (B, n, C)
        "mask": torch.ones(len(streams), count),
        "lengths": torch.full((len(streams),), count),
        "subject": torch.tensor([s.subject for s in streams]),
        "emotion": torch.from_numpy(np.stack([s._emotion for s in streams])),  # (B, n, 7)
        "emotion_mask": torch.from_numpy(np.stack([s._emotion_mask for s in streams])),  # (B, n)
    }
    state = [torch.cat(levels) for levels in zip(*(s._state or [] for s in streams), strict=True)]
    with torch.inference_mode():
        motion = streams[0].model.stream_step(state, batch, final=final).numpy()  # type: ignore[operator]  # (B, n', D)
    out = []
    for i, stream in enumerate(streams):
        stream._state = [level[i : i + 1] for level in state]
        stream._first += count
        stream._inputs, stream._emotion = stream._inputs[count:], stream._emotion[count:]
        stream._emotion_mask = stream._emotion_mask[count:]
        out.append(stream._frames(motion[i], stream._emitted, stream._emitted + motion.shape[1]))
    return out


def _forward(model: Animator, streams: Sequence[AnimationStream]) -> list[np.ndarray]:
    """One run of `model` over the kept frames of each stream, padded at the end to the longest: (W_i, D) each."""
    lengths = [len(s._inputs) for s in streams]
    width = max(lengths)

    def padded(arrays: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack([np.pad(a, [(0, width - len(a))] + [(0, 0)] * (a.ndim - 1)) for a in arrays]))

    batch = {
        "features": padded([s._inputs for s in streams]),  # (B, W, C)
        "mask": (torch.arange(width)[None] < torch.tensor(lengths)[:, None]).float(),  # (B, W)
        "lengths": torch.tensor(lengths),
        "subject": torch.tensor([s.subject for s in streams]),
        "emotion": padded([s._emotion for s in streams]),  # (B, W, 7)
        "emotion_mask": padded([s._emotion_mask for s in streams]),  # (B, W)
    }
    with torch.inference_mode():
        motion = model(batch).motion.numpy()  # (B, W, D)
    return [motion[i, :n] for i, n in enumerate(lengths)]


def run_streams(streams: Sequence[AnimationStream]) -> list[list[Frame]]:
    """The frames each stream can emit now, with one model run for many streams: incremental streams
    whose states line up take one batched step, the others share one run over their windows.

    Windows are padded at their end; that padding only reaches frames beyond each stream's emitted
    ones when the stream waits for the model's whole lookahead, so those streams share a run and the
    others (a smaller `lookahead`) run alone: every stream gets what it would get by itself.
    """
    out: list[list[Frame]] = [[] for _ in streams]
    steps: dict[tuple[object, ...], list[int]] = {}
    groups: dict[tuple[int, int], list[int]] = {}
    for i, stream in enumerate(streams):
        if stream.ready and stream._state is not None:
            shapes = (len(stream._inputs), *(level.shape[1] for level in stream._state))
            steps.setdefault((id(stream.model), *shapes), []).append(i)
        elif stream.ready:
            exact = stream.lookahead == stream.model.receptive_field()[1]  # type: ignore[operator]
            groups.setdefault((id(stream.model), -1 if exact else i), []).append(i)
    for members in steps.values():
        for i, frames in zip(members, _steps([streams[i] for i in members], final=False), strict=True):
            out[i] = frames
    for members in groups.values():
        chosen = [streams[i] for i in members]
        for i, stream, motion in zip(members, chosen, _forward(chosen[0].model, chosen), strict=True):
            out[i] = stream._emit(motion, stream._first + len(stream._inputs) - stream.lookahead)
    return out


def stream_chunks(stream: AnimationStream, chunks: Iterable[np.ndarray | bytes]) -> Iterator[Frame]:
    """The frames of `chunks` pushed in order, then of the end: the Python iterator form of a stream."""
    for chunk in chunks:
        yield from stream.push(chunk)
    yield from stream.end()


def file_chunks(samples: np.ndarray, *, chunk_s: Seconds = DEFAULT_CHUNK_S, sample_rate: int = SAMPLE_RATE,
                realtime: bool = False) -> Iterator[np.ndarray]:  # fmt: skip
    """Cut `samples` into chunks of `chunk_s`; with `realtime`, yield each once its audio would have been recorded."""
    size = max(1, round(chunk_s * sample_rate))
    start = time.perf_counter()
    for offset in range(0, len(samples), size):
        chunk = samples[offset : offset + size]
        if realtime:
            time.sleep(max(0.0, start + (offset + len(chunk)) / sample_rate - time.perf_counter()))
        yield chunk


def open_stream(model: str | os.PathLike[str] = DEFAULT_STREAM_MODEL, *, emotion: EmotionSchedule | None = None,
                persona: str | None = None, lookahead: int | None = None) -> AnimationStream:  # fmt: skip
    """An `AnimationStream` of a model directory or shipped model name (the options as `AnimationStream` takes them)."""
    from facetalk.models.base import open_model

    animator, _ = open_model(model)
    return AnimationStream(animator, emotion=emotion, persona=persona, lookahead=lookahead)


def frame_json(frame: Frame, channels: tuple[str, ...]) -> dict[str, object]:
    """`{"time": s, "weights": {name: value}}`, values rounded to 1e-4 (the JSON form of the WebSocket and the CLI)."""
    weights = {name: round(float(v), 4) for name, v in zip(channels, frame.weights, strict=True)}
    return {"time": round(frame.time, 6), "weights": weights}


@functools.lru_cache(maxsize=8)
def _frame_template(channels: tuple[str, ...]) -> str:
    """A %-template of `frame_json`'s text: time to 1e-6, weights to 1e-4."""
    names = ", ".join(json.dumps(name).replace("%", "%%") + ": %.4f" for name in channels)
    return '{"time": %.6f, "weights": {' + names + "}}"


def frames_message(frames: Iterable[Frame], channels: tuple[str, ...]) -> str:
    """`{"frames": [frame_json(f), ...]}` as JSON text, formatted from a template (a fifth of `json.dumps`'s cost)."""
    template = _frame_template(channels)
    return '{"frames": [' + ", ".join(template % (f.time, *f.weights.tolist()) for f in frames) + "]}"


def frames_binary(frames: Iterable[Frame]) -> bytes:
    """Frames in the compact binary form (`BINARY_FRAME`, one after another)."""
    return b"".join(struct.pack(BINARY_FRAME, f.index, f.time) + np.asarray(f.weights, "<f4").tobytes() for f in frames)


def stream_file(speech: str | os.PathLike[str], *, model: str | os.PathLike[str] = DEFAULT_STREAM_MODEL,
                emotion: EmotionSchedule | None = None, persona: str | None = None, lookahead: int | None = None,
                chunk_s: Seconds = DEFAULT_CHUNK_S,
                realtime: bool = False) -> tuple[AnimationStream, Iterator[Frame]]:  # fmt: skip
    """Stream a speech file through a model in chunks of `chunk_s`, paced as recorded with `realtime`.

    Returns:
        The stream (its `channels`, `fps`, `latency_s`) and the iterator of its frames.
    """
    from facetalk.audio import load_audio

    waveform = load_audio(speech)
    stream = open_stream(model, emotion=emotion, persona=persona, lookahead=lookahead)
    return stream, stream_chunks(stream, file_chunks(waveform.samples, chunk_s=chunk_s, realtime=realtime))
