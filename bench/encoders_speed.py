"""Speech encoder speed and memory: real-time factor and peak memory for 30 s and 10 min of audio.

Every (encoder, duration) case runs in a fresh subprocess, so one case's allocations cannot hide in
another's. Inside it the encoder is built and warmed up on 1 s of audio and the input is made; then
the kernel's peak-RSS counter is reset (`echo 5 > /proc/self/clear_refs`), `encoder.encode` runs, and
the figure reported is the peak RSS during `encode` minus the RSS just before it: every byte the
encoding touches (torch activations, numpy buffers, the output features), but not the model weights
or the input audio, which exist before it starts. Real-time factor = wall-clock time of `encode` /
audio duration (below 1 is faster than real time).

Each case is measured twice: with glibc malloc as it comes, and with `MALLOC_MMAP_THRESHOLD_` fixed
at 128 KiB. By default glibc raises its mmap threshold after large frees, so later large buffers
come from the heap and freed heap memory stays in the RSS: the default figure includes memory that
is free but not returned, and varies from run to run; the fixed-threshold figure is what the
encoding actually holds at its peak. The output features (F x C float32) grow with the input by
necessity, so the ratios are also given without them.

The wav2vec2-base row is an UNTRAINED model built from `Wav2Vec2Config()` (95 M parameters): it
stands in for the size class of wav2vec 2.0 / HuBERT / WavLM base, whose weights are not available
offline here. Its speed and memory are those of a trained model of that size; its features are noise.

    .venv/bin/python bench/encoders_speed.py [--threads 2] [--cases mel,whisper-tiny.en,wav2vec2-base]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DURATIONS_S = (30.0, 600.0)
WARMUP_S = 1.0
CASES = ("mel", "whisper-tiny.en", "wav2vec2-base")
LABELS = {"mel": "mel (paper 003, 128 bins)", "whisper-tiny.en": "whisper-tiny.en (default)",
          "wav2vec2-base": "wav2vec2-base UNTRAINED stand-in"}  # fmt: skip
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's initial default, held fixed
KIB = 1024
MIB = 1024 * 1024


def speech_like(duration_s: float, sample_rate: int = 16000) -> np.ndarray:
    """A voiced, syllable-modulated harmonic signal with noise, float32 (S,)."""
    rng = np.random.default_rng(0)
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    phase = 2 * np.pi * np.cumsum(140.0 + 30.0 * np.sin(2 * np.pi * 0.7 * t)) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    signal = 0.2 * voiced * (0.5 + 0.5 * np.sin(2 * np.pi * 4.0 * t) ** 2) + 0.01 * rng.standard_normal(len(t))
    return signal.astype(np.float32)


def status_kib(field: str) -> int:
    """A `VmRSS`/`VmHWM`-style field of /proc/self/status, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def build(case: str, workdir: Path) -> object:
    from facetalk.audio import build_encoder

    if case == "wav2vec2-base":
        import torch
        import transformers

        torch.manual_seed(0)
        transformers.Wav2Vec2Model(transformers.Wav2Vec2Config()).save_pretrained(workdir / "w2v2")
        extractor = transformers.Wav2Vec2FeatureExtractor(do_normalize=True)  # type: ignore[no-untyped-call]
        extractor.save_pretrained(workdir / "w2v2")
        return build_encoder("hf", path=workdir / "w2v2")
    return build_encoder(case)


def worker(case: str, duration_s: float, threads: int) -> dict[str, float]:
    """Measure one case in this process; returns the figures."""
    import torch

    from facetalk.types import Waveform

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as workdir:
        encoder = build(case, Path(workdir))
        encoder.encode(Waveform(speech_like(WARMUP_S), 16000))  # type: ignore[attr-defined]
        waveform = Waveform(speech_like(duration_s), 16000)
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        before = status_kib("VmRSS")
        start = time.perf_counter()
        features = encoder.encode(waveform)  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - start
        peak = status_kib("VmHWM")
    return {"seconds": elapsed, "rtf": elapsed / duration_s, "peak_growth_mib": (peak - before) * KIB / MIB,
            "output_mib": features.nbytes / MIB, "frames": float(len(features))}  # fmt: skip


def run_case(case: str, duration_s: float, threads: int, *, fixed_threshold: bool) -> dict[str, float]:
    """Run one case in a fresh interpreter; returns its figures."""
    env = dict(os.environ)
    if fixed_threshold:
        env["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD_BYTES)
    command = [sys.executable, __file__, "--threads", str(threads), "--worker", case, str(duration_s)]
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--worker", nargs=2, metavar=("CASE", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], float(args.worker[1]), args.threads)))
        return

    from facetalk.audio.encoders import whisper_tiny_en_dir

    start = time.perf_counter()
    whisper_tiny_en_dir()  # convert once (a no-op when cached) so no case pays for it
    print(f"whisper tiny.en in the cache: {time.perf_counter() - start:.1f} s; torch threads: {args.threads}; "
          f"load average before: {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'encoder':<34} {'audio':>6} {'time s':>7} {'RTF':>7} {'peak MiB':>9} {'peak MiB fixed':>14} {'output MiB':>10}")
    for case in args.cases.split(","):
        runs = []
        for duration in DURATIONS_S:
            default = run_case(case, duration, args.threads, fixed_threshold=False)
            fixed = run_case(case, duration, args.threads, fixed_threshold=True)
            runs.append((default, fixed))
            audio = f"{duration / 60:g} min" if duration >= 60 else f"{duration:g} s"
            print(f"{LABELS[case]:<34} {audio:>6} {default['seconds']:7.2f} {default['rtf']:7.4f} "
                  f"{default['peak_growth_mib']:9.1f} {fixed['peak_growth_mib']:14.1f} {default['output_mib']:10.1f}",
                  flush=True)  # fmt: skip
        (short, short_fixed), (long, long_fixed) = runs
        without = [r["peak_growth_mib"] - r["output_mib"] for r in (short, long, short_fixed, long_fixed)]
        print(f"{'':<34} peak 10 min / 30 s: {long['peak_growth_mib'] / short['peak_growth_mib']:.2f}x default, "
              f"{long_fixed['peak_growth_mib'] / short_fixed['peak_growth_mib']:.2f}x fixed; "
              f"without the output: {without[1] / without[0]:.2f}x default, {without[3] / without[2]:.2f}x fixed")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
