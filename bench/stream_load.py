"""Load test of `facetalk serve` on loopback: N concurrent WebSocket streams in real-time pacing.

Starts `facetalk serve` in a subprocess on a free port, then runs N clients at once (asyncio, the
`websockets` package). Each client sends its options, then the example speech looped to `--seconds`
as 16-bit PCM in 20 ms chunks, each sent when its audio would have been recorded, then
`{"end": true}`; it reads frames as they come, in the binary form (so that the clients' own cost
stays small). A frame's latency is its arrival at the client minus the send time of the chunk
holding its time. Optionally some stalled clients connect, stream and
never read their frames; the others must not notice. Everything stops by itself: the whole run is
bounded by `--seconds` plus a grace period, then the server is terminated.

Reported: p50/p95/max latency over all frames, errors (error messages, closes before "done",
exceptions), dropped frames (a stream's frames short of ceil(duration * fps) or not in order), and
the server's CPU seconds per second of streamed speech.

    .venv/bin/python bench/stream_load.py [--streams 50] [--seconds 60] [--stalled 1] [--model weights/conv_baseline_stream]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import websockets

from facetalk.assets import asset_path
from facetalk.audio import load_audio
from facetalk.stream import BINARY_FRAME

FRAME_BYTES = struct.calcsize(BINARY_FRAME) + 52 * 4
CHUNK_S = 0.02
SAMPLE_RATE = 16000
GRACE_S = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def client(url: str, pcm: bytes, *, stalled: bool = False) -> dict[str, object]:
    """One stream: returns its frame latencies (s), frame count, and error if any."""
    chunk = round(CHUNK_S * SAMPLE_RATE) * 2
    pieces = [pcm[i : i + chunk] for i in range(0, len(pcm), chunk)]
    sent_at: list[float] = []
    latencies: list[float] = []
    indices: list[float] = []
    result: dict[str, object] = {"error": None, "frames": 0, "done": False}
    # no client keepalive: on a saturated machine a late pong would end the stream instead of measuring it
    async with websockets.connect(url, max_size=2**22, open_timeout=30, ping_interval=None) as ws:
        await ws.send(json.dumps({"sample_rate": SAMPLE_RATE, "format": "binary"}))

        async def send() -> None:
            start = time.perf_counter()
            for k, piece in enumerate(pieces):
                await asyncio.sleep(max(0.0, start + (k + 1) * CHUNK_S - time.perf_counter()))
                sent_at.append(time.perf_counter())
                await ws.send(piece)
            await ws.send(json.dumps({"end": True}))

        async def receive() -> None:
            async for message in ws:
                now = time.perf_counter()
                if isinstance(message, str):  # {"done": ...} or {"error": ...}
                    body = json.loads(message)
                    result["error"], result["done"] = body.get("error"), bool(body.get("done"))
                    return
                for offset in range(0, len(message), FRAME_BYTES):  # binary frames: int32 index, float32 time, 52 weights
                    _, frame_time = struct.unpack_from(BINARY_FRAME, message, offset)
                    k = min(int(frame_time // CHUNK_S), len(pieces) - 1)
                    latencies.append(now - sent_at[k] if k < len(sent_at) else float("nan"))
                    indices.append(frame_time)

        if stalled:  # stream, never read; the server drops it once its buffers fill
            try:
                await send()
                await asyncio.sleep(5.0)
            except websockets.ConnectionClosed:
                pass
            return {"error": None, "frames": 0, "done": True, "stalled": True}
        sender = asyncio.create_task(send())
        await receive()
        await sender
    result["frames"] = len(indices)
    result["ordered"] = all(b > a for a, b in itertools.pairwise(indices))
    result["latencies"] = latencies
    return result


async def run(url: str, pcm: bytes, streams: int, stalled: int, timeout: float) -> list[dict[str, object]]:
    async def guarded(i: int) -> dict[str, object]:
        await asyncio.sleep(i * CHUNK_S / max(1, streams))  # spread the chunk phases over a chunk
        try:
            return await client(url, pcm, stalled=i >= streams)
        except Exception as exc:  # counted as an error of that stream
            return {"error": f"{type(exc).__name__}: {exc}", "frames": 0, "done": False}

    tasks = [asyncio.create_task(guarded(i)) for i in range(streams + stalled)]
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    return [t.result() if t in done else {"error": "timed out", "frames": 0, "done": False} for t in tasks]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--stalled", type=int, default=1)
    parser.add_argument("--model", default="conv_baseline_stream")
    args = parser.parse_args()
    samples = load_audio(asset_path("speech/example.wav")).samples
    samples = np.resize(samples, round(args.seconds * SAMPLE_RATE))  # the example, looped
    pcm = np.round(samples * 32767).astype("<i2").tobytes()
    port = free_port()
    command = [sys.executable, "-m", "facetalk.cli", "serve", "--port", str(port), "--model", args.model,
               "--max-streams", str(args.streams + args.stalled)]  # fmt: skip
    server = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        cpu_before = cpu_seconds(server.pid)
        began = time.perf_counter()
        results = asyncio.run(run(f"ws://127.0.0.1:{port}/v1/stream", pcm, args.streams, args.stalled, args.seconds + GRACE_S))
        wall = time.perf_counter() - began
        cpu = cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=30)
    expected = math.ceil(round(args.seconds * 30.0, 6))
    live = [r for r in results if not r.get("stalled")]
    errors = [r["error"] for r in live if r["error"] or not r["done"]]
    dropped = sum(max(0, expected - int(r["frames"])) for r in live if not r["error"]) + sum(
        1 for r in live if r.get("ordered") is False)  # fmt: skip
    latencies = np.asarray([x for r in live for x in r.get("latencies", [])], dtype=np.float64) * 1000  # type: ignore[attr-defined]
    print(f"{args.streams} streams (+{args.stalled} stalled) x {args.seconds:g} s in real time, wall {wall:.1f} s")
    if len(latencies):
        print(f"latency p50 {np.nanpercentile(latencies, 50):.1f} ms, p95 {np.nanpercentile(latencies, 95):.1f} ms, "
              f"max {np.nanmax(latencies):.1f} ms over {len(latencies)} frames")  # fmt: skip
    print(f"errors {len(errors)}{': ' + str(errors[:3]) if errors else ''}; dropped frames {dropped}")
    print(f"server CPU {cpu:.1f} s = {cpu / (args.streams * args.seconds):.4f} s per s of speech per stream")


if __name__ == "__main__":
    main()
