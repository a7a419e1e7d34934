"""The streaming engine: chunked output equals the model's offline output; state, emotion, persona, flush."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from facetalk.assets import asset_path
from facetalk.audio import load_audio
from facetalk.audio.rate import num_motion_frames
from facetalk.errors import InvalidInputError
from facetalk.models.base import Animator, Conditions, build_model
from facetalk.models.inputs import InputPipeline
from facetalk.stream import (
    AnimationStream,
    Frame,
    MelStream,
    file_chunks,
    frame_json,
    frames_message,
    run_streams,
    stream_chunks,
)
from facetalk.types import EmotionSchedule, Waveform

TOLERANCE = 2e-5
"""Streamed and offline frames differ by float rounding: the stream's FFT in float64 numpy, the offline one in float32 torch."""


def offline(model: Animator, waveform: Waveform, conditions: Conditions | None = None) -> np.ndarray:
    """The model on the whole clip through the input pipeline (what `facetalk animate --model` runs)."""
    pipeline = InputPipeline.for_model(model)
    frames = num_motion_frames(waveform.duration, model.fps)
    clip = pipeline.clip(clip_id="example", waveform=waveform, fps=model.fps, num_frames=frames, alignment=None)
    return model.generate(pipeline.batch(clip, conditions)).data


@pytest.fixture(scope="module")
def speech() -> Waveform:
    waveform = load_audio(asset_path("speech/example.wav"))
    return Waveform(waveform.samples[: 3 * waveform.sample_rate], waveform.sample_rate)


def streamed(stream: AnimationStream, samples: np.ndarray, chunk: int) -> np.ndarray:
    chunks = [samples[i : i + chunk] for i in range(0, len(samples), chunk)]
    frames = list(stream_chunks(stream, chunks))
    assert [f.index for f in frames] == list(range(len(frames)))
    return np.stack([f.weights for f in frames])


def test_mel_stream_equals_offline_features(tiny_stream_model: Callable[..., Animator], speech: Waveform) -> None:
    pipeline = InputPipeline.for_model(tiny_stream_model())
    expected = pipeline.speech_encoder.encode_at(speech, 30.0)
    mel = MelStream(pipeline.speech_encoder, 30.0)
    parts = [mel.push(speech.samples[i : i + 317]) for i in range(0, len(speech.samples), 317)]
    got = np.concatenate([*parts, mel.end()])
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-3, rtol=0)  # dB: 1e-3 dB of float32 FFT rounding


@pytest.mark.parametrize("chunk", [320, 7, 4999])
def test_stream_equals_offline(tiny_stream_model: Callable[..., Animator], speech: Waveform, chunk: int) -> None:
    model = tiny_stream_model()
    expected = offline(model, speech)
    got = streamed(AnimationStream(model), speech.samples, chunk)
    assert got.shape == expected.shape == (num_motion_frames(speech.duration, 30.0), 52)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert expected.std() > 1e-3  # the comparison is of something that moves


def test_int16_pcm_chunks_equal_float_samples(tiny_stream_model: Callable[..., Animator], speech: Waveform) -> None:
    model = tiny_stream_model()
    pcm = np.round(speech.samples * 32767).astype("<i2")
    as_float = streamed(AnimationStream(model), pcm.astype(np.float32) / 32768.0, 640)
    as_bytes = streamed(AnimationStream(model), pcm.tobytes(), 1280)  # type: ignore[arg-type]
    np.testing.assert_array_equal(as_float, as_bytes)


def test_frames_leave_within_the_lookahead(tiny_stream_model: Callable[..., Animator], speech: Waveform) -> None:
    model = tiny_stream_model()
    stream = AnimationStream(model)
    hop = 320
    for end in range(hop, len(speech.samples), hop):
        for frame in stream.push(speech.samples[end - hop : end]):
            # a frame leaves once the audio up to its time plus the lookahead has arrived, not later
            assert frame.time + stream.latency_s <= end / 16000 + hop / 16000 + 1 / 30
            assert frame.time + stream.latency_s > end / 16000 - hop / 16000 - 1 / 30
    assert stream.latency_s == pytest.approx((533 + 512) / 16000 + 1 / 30)


def test_emotion_and_persona_apply_and_match_offline(tiny_stream_model: Callable[..., Animator], speech: Waveform) -> None:
    model = tiny_stream_model()
    schedule = EmotionSchedule.parse("happy:0.8")
    frames = num_motion_frames(speech.duration, 30.0)
    expected = offline(model, speech, Conditions(subject=1, emotion=schedule.at_frames(frames, 30.0)))
    got = streamed(AnimationStream(model, emotion=schedule, persona="smiley"), speech.samples, 320)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert np.abs(got - offline(model, speech)).max() > 1e-3


def test_live_changes_apply_to_later_frames_only(tiny_stream_model: Callable[..., Animator], speech: Waveform) -> None:
    model = tiny_stream_model()
    plain, changed = AnimationStream(model), AnimationStream(model)
    half = len(speech.samples) // 2
    before = plain.push(speech.samples[:half])
    np.testing.assert_array_equal(np.stack([f.weights for f in changed.push(speech.samples[:half])]),
                                  np.stack([f.weights for f in before]))  # fmt: skip
    changed.set_emotion(EmotionSchedule.parse("anger"))
    changed.set_persona("spk00")
    after_plain = plain.push(speech.samples[half:]) + plain.end()
    after_changed = changed.push(speech.samples[half:]) + changed.end()
    assert after_changed[0].index == len(before)
    assert np.abs(np.stack([f.weights for f in after_changed]) - np.stack([f.weights for f in after_plain])).max() > 1e-3


def test_streams_keep_their_own_state(tiny_stream_model: Callable[..., Animator], speech: Waveform) -> None:
    model = tiny_stream_model()
    a, b = AnimationStream(model), AnimationStream(model)
    silence = np.zeros_like(speech.samples)
    got_a, got_b = [], []
    for i in range(0, len(speech.samples), 800):  # interleaved pushes to the same model
        got_a += a.push(speech.samples[i : i + 800])
        got_b += b.push(silence[i : i + 800])
    got_a += a.end()
    got_b += b.end()
    assert np.abs(np.stack([f.weights for f in got_a]) - offline(model, speech)).max() <= TOLERANCE
    assert np.abs(np.stack([f.weights for f in got_b]) - offline(model, Waveform(silence, 16000))).max() <= TOLERANCE


def test_smaller_lookahead_leaves_earlier_and_close(tiny_stream_model: Callable[..., Animator], speech: Waveform) -> None:
    model = tiny_stream_model()
    full, early = AnimationStream(model), AnimationStream(model, lookahead=0)
    assert early.latency_s < full.latency_s
    first = speech.samples[:8000]
    assert len(early.push(first)) == len(full.push(first)) + 1
    got = streamed(AnimationStream(model, lookahead=0), speech.samples, 320)
    assert got.shape == offline(model, speech).shape


def test_streams_refuse_what_they_cannot_do(tiny_stream_model: Callable[..., Animator], speech: Waveform) -> None:
    model = tiny_stream_model()
    with pytest.raises(InvalidInputError, match="44100"):
        AnimationStream(model, sample_rate=44100)
    with pytest.raises(InvalidInputError, match="persona"):
        AnimationStream(model, persona="nobody")
    with pytest.raises(InvalidInputError, match="lookahead"):
        AnimationStream(model, lookahead=5)
    floor = tiny_stream_model()
    floor.metadata["features"] = {"encoder": "mel", "options": {"fps": 30.0, "n_mels": 80}}  # the clip-wide dB floor
    with pytest.raises(InvalidInputError, match="top_db"):
        AnimationStream(floor)
    centred = build_model("conv_baseline_tiny", feature_dim=80, motion_dim=52, fps=30.0)
    assert centred.receptive_field() == (2, 2)  # a centred conv also has a bounded receptive field
    stream = AnimationStream(model)
    stream.end()
    with pytest.raises(InvalidInputError, match="ended"):
        stream.push(speech.samples[:10])
    with pytest.raises(InvalidInputError, match="2 bytes"):
        AnimationStream(model).push(b"abc")


def test_file_chunks_cover_the_file_and_pace() -> None:
    samples = np.arange(1000, dtype=np.float32)
    chunks = list(file_chunks(samples, chunk_s=0.02))
    assert [len(c) for c in chunks] == [320, 320, 320, 40]
    np.testing.assert_array_equal(np.concatenate(chunks), samples)
    import time

    start = time.perf_counter()
    list(file_chunks(np.zeros(1600, np.float32), chunk_s=0.02, realtime=True))
    assert time.perf_counter() - start >= 0.095


def test_facetalk_stream_prints_and_sends_live_link(tiny_stream_model_dir: Path) -> None:
    import json
    import socket

    from typer.testing import CliRunner

    from facetalk.cli import app

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5.0)
    speech = str(asset_path("speech/example.wav"))
    try:
        result = CliRunner().invoke(app, ["stream", speech, "--model", str(tiny_stream_model_dir), "--livelink",
                                          f"127.0.0.1:{receiver.getsockname()[1]}", "--emotion", "sad"])  # fmt: skip
        packets = [receiver.recv(2048) for _ in range(3)]
    finally:
        receiver.close()
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == num_motion_frames(load_audio(speech).duration, 30.0)
    assert lines[1]["time"] == pytest.approx(1 / 30, abs=1e-6) and len(lines[1]["weights"]) == 52
    assert all(p[0] == 6 and len(p) > 250 for p in packets)
    bad = CliRunner().invoke(app, ["stream", speech, "--model", str(tiny_stream_model_dir), "--persona", "bob"])
    assert bad.exit_code == 2 and "unknown persona 'bob'" in bad.output


def test_streams_run_together_as_alone(tiny_stream_model: Callable[..., Animator], speech: Waveform) -> None:
    model = tiny_stream_model()
    samples = [speech.samples, speech.samples[::-1].copy(), np.zeros_like(speech.samples)]
    together = [AnimationStream(model, persona=p) for p in ("spk00", "spk01", None)]
    together.append(AnimationStream(model, lookahead=0))  # a smaller lookahead runs alone
    samples.append(speech.samples)
    alone = [AnimationStream(model, persona=p) for p in ("spk00", "spk01", None)] + [AnimationStream(model, lookahead=0)]
    got: list[list] = [[] for _ in together]
    want: list[list] = [[] for _ in alone]
    for start in range(0, len(speech.samples), 480):
        for stream, x in zip(together, samples, strict=True):
            stream.feed(x[start : start + 480])
        for i, frames in enumerate(run_streams(together)):
            got[i] += frames
        for i, (stream, x) in enumerate(zip(alone, samples, strict=True)):
            want[i] += stream.push(x[start : start + 480])
    for i in range(len(together)):
        got[i] += together[i].end()
        want[i] += alone[i].end()
        assert len(got[i]) == len(want[i]) == 90
        assert np.abs(np.stack([f.weights for f in got[i]]) - np.stack([f.weights for f in want[i]])).max() <= TOLERANCE


def test_recomputed_windows_equal_incremental_and_offline(tiny_stream_model: Callable[..., Animator], speech: Waveform) -> None:
    """The model-agnostic path (rerun the model on each new frame's receptive field) against the incremental one."""
    model = tiny_stream_model()
    windowed = AnimationStream(model)
    windowed._state = None  # what a model without `stream_step` gets
    got = streamed(windowed, speech.samples, 320)
    incremental = streamed(AnimationStream(model), speech.samples, 320)
    expected = offline(model, speech)
    assert np.abs(got - expected).max() <= TOLERANCE
    assert np.abs(incremental - expected).max() <= TOLERANCE


def test_the_templated_json_message_is_frame_json() -> None:
    """`frames_message` (the WebSocket's fast path) writes exactly what `frame_json` gives, channel names
    with JSON's special characters included."""
    channels = ("jawOpen", 'odd "name" %s')
    frames = [Frame(0, 0.0, np.array([0.123456, -0.00001], np.float32)), Frame(1, 1 / 30, np.array([1.0, 0.5], np.float32))]
    assert json.loads(frames_message(frames, channels)) == {"frames": [frame_json(f, channels) for f in frames]}
