"""The server: /health, POST /v1/animate (direct and as a job), WebSocket /v1/stream and its errors."""

from __future__ import annotations

import asyncio
import io
import json
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from facetalk.assets import asset_path
from facetalk.audio import load_audio
from facetalk.serve import ServeSettings, create_app
from facetalk.stream import BINARY_FRAME, AnimationStream, stream_chunks
from facetalk.types import EmotionSchedule

SECONDS = 2.0


@pytest.fixture(scope="module")
def pcm() -> bytes:
    """The first seconds of the example speech as 16-bit little-endian PCM."""
    samples = load_audio(asset_path("speech/example.wav")).samples[: round(SECONDS * 16000)]
    return np.round(samples * 32767).astype("<i2").tobytes()


@pytest.fixture(scope="module")
def wav(pcm: bytes) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, np.frombuffer(pcm, "<i2"), 16000, format="WAV", subtype="PCM_16")
    return out.getvalue()


def client_for(model_dir: Path, **limits: object) -> TestClient:
    return TestClient(create_app(ServeSettings(model=str(model_dir), **limits)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(tiny_stream_model_dir: Path) -> Iterator[TestClient]:
    with client_for(tiny_stream_model_dir, max_upload_bytes=200_000, max_streams=3, sync_limit_s=5.0) as c:
        yield c


def chunks(pcm: bytes, size: int = 640) -> list[bytes]:
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def run_stream(ws, pcm: bytes, messages: list[int] | None = None) -> tuple[list[dict], dict]:  # type: ignore[no-untyped-def]
    """Send all of `pcm` at once in 20 ms chunks, then the end; the frames and the final message
    (and each frames message's frame count appended to `messages`)."""
    frames: list[dict] = []
    for chunk in chunks(pcm):
        ws.send_bytes(chunk)
    ws.send_text(json.dumps({"end": True}))
    while True:
        message = ws.receive_json()
        if message.get("done"):
            return frames, message
        frames += message["frames"]
        if messages is not None:
            messages.append(len(message["frames"]))


def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["streams"] == 0 and body["max_streams"] == 3


def test_websocket_stream_equals_the_engine(client: TestClient, pcm: bytes, tiny_stream_model_dir: Path) -> None:
    from facetalk.models.base import load_model

    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({"sample_rate": 16000, "emotion": "happy:0.5", "persona": "spk01"}))
        messages: list[int] = []
        frames, done = run_stream(ws, pcm, messages)
    # 100 chunks sent at once: frames computed together go out together (one message per frame-making chunk was 60)
    assert sum(messages) == 60 and len(messages) < 30, messages
    engine = AnimationStream(load_model(tiny_stream_model_dir), emotion=EmotionSchedule.parse("happy:0.5"), persona="spk01")
    want = list(stream_chunks(engine, chunks(pcm)))
    assert done["frames"] == len(frames) == len(want) == 60
    assert [f["time"] for f in frames] == pytest.approx([f.time for f in want], abs=1e-6)
    names = list(frames[0]["weights"])
    assert len(names) == 52 and names[17] == "jawOpen"
    got = np.array([[f["weights"][n] for n in names] for f in frames])
    np.testing.assert_allclose(got, np.stack([f.weights for f in want]), atol=6e-5)


def test_binary_frames(client: TestClient, pcm: bytes) -> None:
    size = struct.calcsize(BINARY_FRAME) + 52 * 4
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_text(json.dumps({"format": "binary"}))
        received = b""
        for chunk in chunks(pcm):
            ws.send_bytes(chunk)
        ws.send_text('{"end": true}')
        while True:
            message = ws.receive()
            if message.get("text"):
                assert json.loads(message["text"])["done"]
                break
            received += message["bytes"]
    assert len(received) == 60 * size
    index, t = struct.unpack_from(BINARY_FRAME, received, 59 * size)
    assert index == 59 and t == pytest.approx(59 / 30)


@pytest.mark.parametrize(
    ("first", "status", "words"),
    [
        ("not json", 400, "JSON"),
        ('{"sample_rate": 44100}', 400, "44100"),
        ('{"sample_rate": "16k"}', 400, "integer"),
        ('{"colour": "red"}', 400, "colour"),
        ('{"persona": "nobody"}', 400, "persona"),
        ('{"emotion": "joyful"}', 400, "emotion"),
        ('{"format": "xml"}', 400, "format"),
        (b"\x00\x01", 400, "first message"),
    ],
)
def test_bad_first_messages_get_their_answer(client: TestClient, first: str | bytes, status: int, words: str) -> None:
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_bytes(first) if isinstance(first, bytes) else ws.send_text(first)
        answer = ws.receive_json()
        assert answer["status"] == status and words in answer["error"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 4000 + status
    assert client.get("/health").json()["streams"] == 0


def test_bad_messages_mid_stream(client: TestClient, pcm: bytes) -> None:
    for bad, words in ((b"\x01\x02\x03", "2 bytes"), ('{"volume": 3}', "text message"), ("[1]", "JSON object")):
        with client.websocket_connect("/v1/stream") as ws:
            ws.send_text("{}")
            ws.send_bytes(pcm[:6400])
            ws.send_bytes(bad) if isinstance(bad, bytes) else ws.send_text(bad)
            message = ws.receive_json()
            while "frames" in message:
                message = ws.receive_json()
            assert message["status"] == 400 and words in message["error"]


def test_live_emotion_change_and_oversize_chunk(tiny_stream_model_dir: Path, pcm: bytes) -> None:
    with client_for(tiny_stream_model_dir, max_chunk_bytes=1000) as small, small.websocket_connect("/v1/stream") as ws:
        ws.send_text("{}")
        ws.send_text('{"emotion": "anger:1.0", "persona": "smiley"}')
        ws.send_bytes(pcm[:1000])
        ws.send_bytes(pcm[:1002])
        message = ws.receive_json()
        while "frames" in message:
            message = ws.receive_json()
        assert message["status"] == 413


def test_idle_stream_gets_408_and_is_closed(tiny_stream_model_dir: Path, pcm: bytes) -> None:
    with client_for(tiny_stream_model_dir, idle_timeout_s=0.5) as c, c.websocket_connect("/v1/stream") as ws:
        ws.send_text("{}")
        ws.send_bytes(pcm[:6400])
        started = time.perf_counter()
        message = ws.receive_json()
        while "frames" in message:  # the frames of the chunk, then nothing more arrives
            message = ws.receive_json()
        assert message["status"] == 408 and "nothing received" in message["error"]
        assert 0.4 < time.perf_counter() - started < 5.0
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4408
        assert c.get("/health").json()["streams"] == 0


def test_stream_limit_and_abrupt_disconnects(tiny_stream_model_dir: Path, pcm: bytes) -> None:
    with client_for(tiny_stream_model_dir, max_streams=1) as c:
        with c.websocket_connect("/v1/stream") as first:
            first.send_text("{}")
            first.send_bytes(pcm[:3200])
            with c.websocket_connect("/v1/stream") as second:
                answer = second.receive_json()
                assert answer["status"] == 429
            # the first stream goes on regardless
            assert run_stream(first, pcm[3200:])[1]["frames"] == 60
        for _ in range(3):  # vanish mid-stream, three times
            with c.websocket_connect("/v1/stream") as gone:
                gone.send_text("{}")
                gone.send_bytes(pcm[:6400])
        deadline = time.time() + 5
        while c.get("/health").json()["streams"] and time.time() < deadline:
            time.sleep(0.05)
        assert c.get("/health").json()["streams"] == 0
        with c.websocket_connect("/v1/stream") as again:
            again.send_text("{}")
            assert run_stream(again, pcm)[1]["frames"] == 60


def test_api_key(tiny_stream_model_dir: Path, wav: bytes) -> None:
    with client_for(tiny_stream_model_dir, api_key="s3cret") as c:
        assert c.get("/health").status_code == 200  # health and the viewer stay open
        refused = c.post("/v1/animate", files={"audio": ("a.wav", wav, "audio/wav")})
        assert refused.status_code == 401 and "API key" in refused.json()["error"]
        ok = c.post("/v1/animate", files={"audio": ("a.wav", wav, "audio/wav")}, headers={"X-API-Key": "s3cret"})
        assert ok.status_code == 200
        with c.websocket_connect("/v1/stream") as ws:
            assert ws.receive_json()["status"] == 401
        with c.websocket_connect("/v1/stream?api_key=s3cret") as ws:
            ws.send_text("{}")
            ws.send_text('{"end": true}')
            assert ws.receive_json() == {"done": True, "frames": 0}


def test_animate_formats(client: TestClient, wav: bytes) -> None:
    body = client.post("/v1/animate", files={"audio": ("a.wav", wav, "audio/wav")}, data={"format": "json"}).json()
    assert body["fps"] == 30.0 and len(body["frames"]) == 60 and len(body["frames"][0]["weights"]) == 52
    glb = client.post("/v1/animate", files={"audio": ("a.wav", wav, "audio/wav")}, data={"format": "glb"})
    assert glb.status_code == 200 and glb.content[:4] == b"glTF"
    csv = client.post("/v1/animate", files={"audio": ("a.wav", wav, "audio/wav")}, data={"format": "livelink-csv"})
    assert csv.text.startswith("Timecode,BlendShapeCount,") and len(csv.text.strip().splitlines()) == 61


def test_animate_job_with_progress(client: TestClient, wav: bytes) -> None:
    started = client.post("/v1/animate", files={"audio": ("a.wav", wav, "audio/wav")}, data={"wait": "false"})
    assert started.status_code == 202
    status_url = started.json()["status_url"]
    deadline = time.time() + 20
    status = client.get(status_url).json()
    while status["status"] == "running" and time.time() < deadline:
        assert 0.0 <= status["progress"] <= 1.0
        time.sleep(0.05)
        status = client.get(status_url).json()
    assert status["status"] == "done" and status["progress"] == 1.0
    assert len(client.get(status["result_url"]).json()["frames"]) == 60
    assert client.get("/v1/jobs/nope").status_code == 404


def test_animate_bad_requests(client: TestClient, wav: bytes) -> None:
    big = client.post("/v1/animate", files={"audio": ("a.wav", wav * 4, "audio/wav")})
    assert big.status_code == 413 and "larger" in big.json()["error"]
    cases = [
        (client.post("/v1/animate", data={"format": "json"}), 400, "audio"),
        (client.post("/v1/animate", files={"audio": ("a.wav", wav, "audio/wav")}, data={"format": "mp3"}), 400, "format"),
        (client.post("/v1/animate", files={"audio": ("a.wav", b"RIFF not audio", "audio/wav")}), 400, ""),
        (client.post("/v1/animate", content=b"raw", headers={"content-type": "text/plain"}), 400, "audio"),
        (client.post("/v1/animate", files={"audio": ("a.wav", wav, "audio/wav")}, data={"emotion": "glee"}), 400, "emotion"),
        (client.get("/v1/nothing"), 404, ""),
    ]
    for response, status, words in cases:
        assert response.status_code == status, response.text
        assert words in response.json()["error"]


def test_viewer_and_face_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "cdn" not in page.text.lower()
    face = client.get("/v1/face.glb")
    assert face.status_code == 200 and face.content[:4] == b"glTF"
    assert client.get("/v1/example.wav").content[:4] == b"RIFF"


def test_watchdog_drops_a_stream_whose_send_blocks() -> None:
    """A client that takes no frames (its send never completes): the stream's task is cancelled after
    the send timeout with a 408, as after the idle timeout; sends that complete keep it alive."""
    from facetalk.serve.app import Outbox, Watchdog
    from facetalk.stream import Frame

    class Socket:
        """Takes messages while `reading`, then never again (the socket buffers full)."""

        def __init__(self) -> None:
            self.reading, self.messages = True, 0

        async def send_bytes(self, data: bytes) -> None:
            while not self.reading:
                await asyncio.sleep(3600)
            self.messages += 1

    async def run() -> tuple[int, object, float]:
        client = Socket()
        watchdog: Watchdog | None = None
        outbox: Outbox | None = None

        async def stream() -> None:
            nonlocal watchdog, outbox
            watchdog = Watchdog(idle_s=30.0, send_s=0.3)
            outbox = Outbox(client, ("jawOpen",), binary=True, watchdog=watchdog)  # type: ignore[arg-type]
            await asyncio.sleep(3600)  # as the stream's coroutine waits for its next chunk

        task = asyncio.create_task(stream())
        await asyncio.sleep(0.05)
        assert outbox is not None and watchdog is not None
        for i in range(3):  # read: each put goes out
            outbox.put([Frame(i, i / 30, np.zeros(1, np.float32))])
            await asyncio.sleep(0.2)
        client.reading = False
        outbox.put([Frame(3, 0.1, np.zeros(1, np.float32))])
        started = time.perf_counter()
        with pytest.raises(asyncio.CancelledError):  # (a TimeoutError if the watchdog never fired)
            await asyncio.wait_for(task, 5.0)
        watchdog.close()
        outbox.close()
        return client.messages, watchdog.expired, time.perf_counter() - started

    messages, expired, waited = asyncio.run(run())
    assert messages == 3 and 0.25 < waited < 2.0, (messages, waited)
    assert expired is not None and expired.status == 408 and "does not read" in str(expired)  # type: ignore[attr-defined]
