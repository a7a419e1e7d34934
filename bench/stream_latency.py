"""Latency of `facetalk.stream`: a speech file fed in 20 ms chunks, from a chunk's arrival to its frames' emission.

Chunk k holds the audio [k * 20 ms, (k + 1) * 20 ms) and arrives when its last sample has been
recorded; a frame belongs to the chunk holding its time (index / fps). Two measurements:

- simulated: the chunks are pushed as fast as possible; chunk k's arrival is (k + 1) * 20 ms on the
  audio clock and the frames a push emits leave at that arrival plus the push's measured compute
  time (a real-time sender whose compute fits in a chunk never queues). This separates the
  algorithmic latency (the lookahead) from compute.
- real time: the chunks are pushed at the pace they are recorded (`time.sleep` to each arrival)
  and every frame's emission is read from the wall clock.

Both report p50/p95/max latency, compute per frame and per chunk, and seconds of compute per
second of speech; the simulated run also checks the streamed frames against the model run offline
on the whole file (largest weight difference).

    .venv/bin/python bench/stream_latency.py [--model conv_baseline_stream] [--speech FILE] [--chunk-ms 20] [--lookahead N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from facetalk.animate import animate_with_model
from facetalk.assets import asset_path
from facetalk.audio import load_audio
from facetalk.stream import AnimationStream, Frame, open_stream


def measure(stream: AnimationStream, samples: np.ndarray, chunk: int, *, realtime: bool) -> dict[str, float]:
    """Push `samples` in chunks; latency per frame (s), compute per chunk (s)."""
    sample_rate = stream.features.sample_rate
    chunk_s = chunk / sample_rate
    latencies: list[float] = []
    computes: list[float] = []
    frames: list[Frame] = []
    start = time.perf_counter()
    pieces = [samples[i : i + chunk] for i in range(0, len(samples), chunk)]
    for k, piece in enumerate([*pieces, None]):
        arrival = min((k + 1) * chunk, len(samples)) / sample_rate  # audio clock; the end arrives with the last chunk
        if realtime:
            time.sleep(max(0.0, start + arrival - time.perf_counter()))
        began = time.perf_counter()
        out = stream.push(piece) if piece is not None else stream.end()
        done = time.perf_counter()
        computes.append(done - began)
        emitted = (done - start) if realtime else arrival + (done - began)
        for frame in out:
            frame_chunk = min(int(frame.time // chunk_s), len(pieces) - 1)
            latencies.append(emitted - min((frame_chunk + 1) * chunk, len(samples)) / sample_rate)
        frames += out
    audio_s = len(samples) / sample_rate
    lat = np.asarray(latencies) * 1000
    return {"frames": len(frames), "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
            "max_ms": float(lat.max()), "compute_per_frame_ms": 1000 * sum(computes) / len(frames),
            "compute_per_chunk_p95_ms": 1000 * float(np.percentile(computes, 95)),
            "compute_s_per_s": sum(computes) / audio_s, "weights": np.stack([f.weights for f in frames])}  # type: ignore[dict-item]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="conv_baseline_stream")
    parser.add_argument("--speech", type=Path, default=asset_path("speech/example.wav"))
    parser.add_argument("--chunk-ms", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lookahead", type=int, default=None, help="frames of the model's lookahead to wait for")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    waveform = load_audio(args.speech)
    chunk = round(args.chunk_ms / 1000 * waveform.sample_rate)
    probe = open_stream(args.model, lookahead=args.lookahead)
    print(f"model {args.model}: {probe.fps:g} fps, lookahead {probe.latency_s * 1000:.1f} ms "
          f"(features {probe.features.lookahead_s * 1000:.1f} ms + model {probe.lookahead} frames); "
          f"{waveform.duration:.1f} s of speech in {args.chunk_ms:g} ms chunks, {args.threads} thread(s)")  # fmt: skip
    offline = animate_with_model(waveform, args.model).data
    for realtime in (False, True):
        result = measure(open_stream(args.model, lookahead=args.lookahead), waveform.samples, chunk, realtime=realtime)
        weights = result.pop("weights")
        label = "real time" if realtime else "simulated"
        print(f"{label:>9}: latency p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, max {result['max_ms']:.1f} ms; "
              f"compute {result['compute_per_frame_ms']:.2f} ms/frame, p95 {result['compute_per_chunk_p95_ms']:.2f} ms/chunk, "
              f"{result['compute_s_per_s']:.4f} s/s; {result['frames']} frames, "
              f"max |streamed - offline| {np.abs(weights - offline).max():.2e}")  # fmt: skip


if __name__ == "__main__":
    main()
