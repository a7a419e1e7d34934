"""Over real sockets: a client that never reads its frames, and one that vanishes, do not hold up another."""

from __future__ import annotations

import asyncio
import json
import socket

import numpy as np
import pytest
import websockets

from facetalk.assets import asset_path, weights_path
from facetalk.audio import load_audio

pytestmark = pytest.mark.skipif(weights_path("conv_baseline_stream") is None, reason="needs weights/conv_baseline_stream")
SECONDS = 4.0


def pcm() -> bytes:
    samples = np.resize(load_audio(asset_path("speech/example.wav")).samples, round(SECONDS * 16000))
    return np.round(samples * 32767).astype("<i2").tobytes()


async def stalled(url: str, audio: bytes) -> None:
    """Streams everything at once with a tiny receive buffer, and never reads."""
    sock = socket.create_connection(url.removeprefix("ws://").split("/")[0].split(":"))  # type: ignore[arg-type]
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    async with websockets.connect(url, sock=sock, ping_interval=None, max_queue=1) as ws:
        await ws.send("{}")
        for i in range(0, len(audio), 3200):
            await ws.send(audio[i : i + 3200])
        await asyncio.sleep(SECONDS + 2)


async def vanishing(url: str, audio: bytes) -> None:
    ws = await websockets.connect(url)
    await ws.send("{}")
    await ws.send(audio[:32000])
    ws.transport.abort()  # no close handshake


async def normal(url: str, audio: bytes) -> dict[str, object]:
    frames = 0
    async with websockets.connect(url) as ws:
        await ws.send("{}")
        for i in range(0, len(audio), 640):  # 20 ms chunks, paced in real time
            await ws.send(audio[i : i + 640])
            await asyncio.sleep(0.02)
        await ws.send('{"end": true}')
        async for message in ws:
            body = json.loads(message)
            if "done" in body:
                return {"frames": frames, "done": body}
            frames += len(body["frames"])
    return {"frames": frames, "done": None}


def test_a_stalled_and_a_vanished_client_do_not_hold_up_a_normal_one(server: str) -> None:
    url = server.replace("http://", "ws://") + "/v1/stream"
    audio = pcm()

    async def run() -> dict[str, object]:
        others = [asyncio.create_task(stalled(url, audio)), asyncio.create_task(vanishing(url, audio))]
        result = await asyncio.wait_for(normal(url, audio), timeout=60)
        await asyncio.gather(*others, return_exceptions=True)
        return result

    result = asyncio.run(run())
    assert result["done"] == {"done": True, "frames": 120} and result["frames"] == 120
