"""Load test of `facetalk serve` on loopback: N concurrent WebSocket streams in real-time pacing.

Starts `facetalk serve` in a subprocess on a free port, then runs N clients at once in one asyncio
loop (`Client`: a minimal WebSocket client on callbacks, a tenth of the `websockets` package's CPU
per message, since the clients share the machine with the server). Each client sends its options,
then the example speech looped to `--seconds` as 16-bit PCM in 20 ms chunks, each sent when its
audio would have been recorded, then `{"end": true}`; it reads frames as they come, in the binary
form. A frame's latency is its arrival at the client minus the send time of the chunk holding its
time. Optionally some stalled clients connect, stream and never read their frames; the others must
not notice. Everything stops by itself: the whole run is bounded by `--seconds` plus a grace
period, then the server is terminated.

Reported: p50/p95/max latency over all frames, errors (error messages, closes before "done",
exceptions), dropped frames (a stream's frames short of ceil(duration * fps) or not in order), the
server's CPU seconds per second of streamed speech, the clients' own CPU, and the load average.

    .venv/bin/python bench/stream_load.py [--streams 50] [--seconds 60] [--stalled 1] [--model weights/conv_baseline_stream]
                                          [--batch-window-ms 10] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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

from facetalk.assets import asset_path
from facetalk.audio import load_audio
from facetalk.stream import BINARY_FRAME

FRAME_BYTES = struct.calcsize(BINARY_FRAME) + 52 * 4
CHUNK_S = 0.02
SAMPLE_RATE = 16000
GRACE_S = 30.0
PHASES = 5
"""Phase groups: the clients' chunks go out at 5 moments spread over the 20 ms chunk."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Client(asyncio.Protocol):
    """One stream over a minimal WebSocket client (RFC 6455), driven by callbacks: no task, queue or
    coroutine wake-up per message, so 50 of them cost the machine little beside the server.

    Sends the handshake, the options, then a chunk every 20 ms on the loop's clock (each at the time
    its audio would have been recorded), then `{"end": true}`; client frames are masked with the
    all-zero key (allowed; the payload goes as it is). Reads the server's unfragmented frames: binary
    frames (`BINARY_FRAME` records), the final text message, pings (answered), the close.
    """

    def __init__(self, url: str, pcm: bytes, *, stalled: bool = False) -> None:
        host, _, path = url.removeprefix("ws://").partition("/")
        key = base64.b64encode(os.urandom(16)).decode()
        self.request = (f"GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()  # fmt: skip
        chunk = round(CHUNK_S * SAMPLE_RATE) * 2
        self.pieces = [pcm[i : i + chunk] for i in range(0, len(pcm), chunk)]
        self.stalled = stalled
        self.loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = self.loop.create_future()  # the handshake done and the options sent
        self.finished: asyncio.Future[dict[str, object]] = self.loop.create_future()
        self.buffer = bytearray()
        self.opened = False
        self.sent_at: list[float] = []
        self.latencies: list[float] = []
        self.times: list[float] = []
        self.result: dict[str, object] = {"error": None, "frames": 0, "done": False}
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            size = bytes([0x80 | n])
        else:
            size = bytes([0xFE]) + n.to_bytes(2, "big") if n < 2**16 else bytes([0xFF]) + n.to_bytes(8, "big")
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(bytes([0x80 | opcode]) + size + b"\0\0\0\0" + payload)

    def send_chunk(self, k: int, now: float) -> None:
        """Send chunk k (or, after the last, the end) at `now` on the loop's clock."""
        if k == len(self.pieces):
            self.send(0x1, b'{"end": true}')
            if self.stalled:  # never read: done a while after the end
                self.loop.call_later(5.0, self.finish, None)
        elif not self.finished.done():
            self.sent_at.append(now)
            self.send(0x2, self.pieces[k])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.opened:
            head, found, rest = bytes(self.buffer).partition(b"\r\n\r\n")
            if not found:
                return
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self.finish(f"handshake refused: {head.splitlines()[0].decode(errors='replace')}")
                return
            self.opened, self.buffer = True, bytearray(rest)
            self.send(0x1, json.dumps({"sample_rate": SAMPLE_RATE, "format": "binary"}).encode())
            self.ready.set_result(None)
            if self.stalled:
                self.transport.pause_reading()  # type: ignore[union-attr]
        while len(self.buffer) >= 2:
            opcode, length, at = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
            if length >= 126:
                at = 4 if length == 126 else 10
                if len(self.buffer) < at:
                    return
                length = int.from_bytes(self.buffer[2:at], "big")
            if len(self.buffer) < at + length:
                return
            payload = bytes(self.buffer[at : at + length])
            del self.buffer[: at + length]
            self.message(opcode, payload)

    def message(self, opcode: int, payload: bytes) -> None:
        now = self.loop.time()
        if opcode == 0x2:  # binary frames: int32 index, float32 time, 52 weights
            for offset in range(0, len(payload), FRAME_BYTES):
                _, frame_time = struct.unpack_from(BINARY_FRAME, payload, offset)
                k = min(int(frame_time // CHUNK_S), len(self.pieces) - 1)
                self.latencies.append(now - self.sent_at[k] if k < len(self.sent_at) else float("nan"))
                self.times.append(frame_time)
        elif opcode == 0x1:  # {"done": ...} or {"error": ...}
            body = json.loads(payload)
            self.result["done"] = bool(body.get("done"))
            self.finish(body.get("error"))
        elif opcode == 0x9:
            self.send(0xA, payload)
        elif opcode == 0x8:
            self.finish(None if self.result["done"] else f"closed before done ({int.from_bytes(payload[:2], 'big')})")

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost before the handshake ({exc})"))
        self.finish(None if self.result["done"] or self.stalled else f"connection lost ({exc})")

    def finish(self, error: object) -> None:
        if self.finished.done():
            return
        if self.stalled:
            error = None
        self.result.update(error=error, frames=len(self.times), latencies=self.latencies, times=self.times, stalled=self.stalled,
                           ordered=all(b > a for a, b in itertools.pairwise(self.times)))  # fmt: skip
        self.finished.set_result(self.result)
        if self.transport is not None:
            self.transport.close()


def pace(clients: list[Client], k: int, start: float) -> None:
    """Send chunk k of every client of a phase group, and schedule chunk k + 1 (one timer for the group)."""
    loop = asyncio.get_running_loop()
    now = loop.time()
    for c in clients:
        c.send_chunk(k, now)
    if k < len(clients[0].pieces):
        loop.call_at(start + (k + 2) * CHUNK_S, pace, clients, k + 1, start)


async def run(url: str, pcm: bytes, streams: int, stalled: int, timeout: float) -> list[dict[str, object]]:
    """All clients connect; then each phase group sends a chunk every 20 ms, the groups' phases spread
    over the chunk as independent sources' would be; the results once every client finished."""
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    loop = asyncio.get_running_loop()
    clients = [Client(url, pcm, stalled=i >= streams) for i in range(streams + stalled)]

    async def connect(c: Client) -> None:
        await asyncio.wait_for(loop.create_connection(lambda: c, host, int(port)), 60)
        await asyncio.wait_for(c.ready, 60)

    connected = await asyncio.gather(*(connect(c) for c in clients), return_exceptions=True)
    for c, outcome in zip(clients, connected, strict=True):
        if isinstance(outcome, BaseException):  # counted as an error of that stream
            c.finish(f"{type(outcome).__name__}: {outcome}")
    start = loop.time()
    for phase in range(PHASES):
        group = [c for i, c in enumerate(clients) if i % PHASES == phase and not c.finished.done()]
        if group:
            loop.call_at(start + phase * CHUNK_S / PHASES + CHUNK_S, pace, group, 0, start + phase * CHUNK_S / PHASES)
    await asyncio.wait([c.finished for c in clients], timeout=timeout)
    for c in clients:
        c.finish("timed out")
    return [c.finished.result() for c in clients]


def cpu_seconds(pid: int) -> float:
    """CPU seconds of process `pid` and of its live children (the server's worker processes)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # a process that ended meanwhile
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--stalled", type=int, default=1)
    parser.add_argument("--model", default="conv_baseline_stream")
    parser.add_argument("--batch-window-ms", type=float, default=10.0, help="the server's --batch-window-ms")
    parser.add_argument("--workers", type=int, default=1, help="the server's --workers")
    args = parser.parse_args()
    samples = load_audio(asset_path("speech/example.wav")).samples
    samples = np.resize(samples, round(args.seconds * SAMPLE_RATE))  # the example, looped
    pcm = np.round(samples * 32767).astype("<i2").tobytes()
    port = free_port()
    command = [sys.executable, "-m", "facetalk.cli", "serve", "--port", str(port), "--model", args.model,
               "--max-streams", str(args.streams + args.stalled), "--batch-window-ms", str(args.batch_window_ms),
               "--workers", str(args.workers)]  # fmt: skip
    server = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        cpu_before, client_before = cpu_seconds(server.pid), time.process_time()
        load_before = os.getloadavg()[0]
        began = time.perf_counter()
        results = asyncio.run(run(f"ws://127.0.0.1:{port}/v1/stream", pcm, args.streams, args.stalled, args.seconds + GRACE_S))
        wall = time.perf_counter() - began
        cpu = cpu_seconds(server.pid) - cpu_before
        client_cpu = time.process_time() - client_before
        load_after = os.getloadavg()[0]
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
        # where the slow frames are: over the run (by the frame's time) and across streams
        times = np.asarray([t for r in live for t in r.get("times", [])], dtype=np.float64)  # type: ignore[attr-defined]
        edges = np.linspace(0.0, args.seconds, 7)
        windows = [np.nanpercentile(latencies[(times >= a) & (times < b)], 95) for a, b in itertools.pairwise(edges)]
        print("p95 by sixth of the run: " + ", ".join(f"{w:.0f}" for w in windows) + " ms")
        per_stream = sorted(float(np.nanpercentile(r["latencies"], 95)) * 1000 for r in live if r.get("latencies"))  # type: ignore[arg-type]
        middle = per_stream[len(per_stream) // 2]
        print(f"p95 per stream: min {per_stream[0]:.0f}, median {middle:.0f}, max {per_stream[-1]:.0f} ms")
    print(f"errors {len(errors)}{': ' + str(errors[:3]) if errors else ''}; dropped frames {dropped}")
    print(f"server CPU {cpu:.1f} s = {cpu / (args.streams * args.seconds):.4f} s per s of speech per stream "
          f"({cpu / wall:.0%} of a core); clients' CPU {client_cpu:.1f} s ({client_cpu / wall:.0%} of a core)")
    print(f"load average (1 min) {load_before:.2f} at the start, {load_after:.2f} at the end")


if __name__ == "__main__":
    main()
