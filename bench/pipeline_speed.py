"""Every stage of `facetalk animate`, in seconds per second of audio, on a 1-minute and a 10-minute input.

The input is a paragraph of English read by espeak-ng (en-us), repeated to each length, with its
transcript. Each length runs in a fresh subprocess that loads every model once (their load times are
reported apart, as one-time costs), then times each stage once on the whole input:

- transcription (faster-whisper tiny.en), alignment (pocketsphinx, chunked), the procedural
  animator (prosody + rules + word meanings), Whisper encoder features, the `composite_regional`
  forward pass, the fit of its vertices to the 52 ARKit weights, and the exports (npz, ARKit JSON,
  Live Link CSV, GLB);
- the CPU time of each stage beside its wall time;
- the peak RSS of the process after each stage (the kernel's high-water mark, so a stage's figure
  includes everything before it).

The fit is also checked against `scipy.optimize.lsq_linear` on a sample of frames (largest weight
difference). Beside them: `facetalk animate` on a 3-second sentence from the shell (wall time with
interpreter start, procedural with a transcript, and `--model composite_regional`), and the PyPI
package `openfacefx` (numpy only, rule-based; never a facetalk dependency) installed into a
throwaway virtual environment under /tmp and run on the same input with facetalk's TextGrid
(`openfacefx mfa --textgrid ... --retarget arkit`), wall time with interpreter start.

Every stage is timed in wall seconds and in CPU seconds of the process (user + sys, all threads):
the machine these figures come from is shared and loaded, so wall time depends on the neighbours
and CPU time much less; read the ratios, and the CPU column beside the wall one.

`--long SECONDS` instead runs `facetalk animate` (no video, the four export formats) on that much
speech in a fresh process, as the CLI does, and reports its time and the process's peak RSS: with
`--long-path model` (the default) `--model composite_regional` without alignment (`--long 3600`: about
10 minutes of wall time on a busy machine); `transcript`, the procedural animator with the transcript;
`transcribed`, the procedural animator on speech alone (Whisper first).

    .venv/bin/python bench/pipeline_speed.py [--lengths 60 600] [--threads 2] [--no-peer]
    .venv/bin/python bench/pipeline_speed.py --long 3600 [--long-path model|transcript|transcribed]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import numpy as np

from facetalk.assets import asset_path

PARAGRAPH = asset_path("speech/paragraph.txt").read_text().strip()
SHORT_SENTENCE = "Bring me the red book from the shelf, please."
LENGTHS_S = (60.0, 600.0)
FPS = 30.0
FIT_CHECK_FRAMES = 200
PEER_PACKAGE = "openfacefx"
PEER_VENV = Path(tempfile.gettempdir()) / "facetalk-bench-openfacefx"
EXPORTS = {"npz": ".npz", "arkit-json": ".json", "livelink-csv": ".csv", "glb": ".glb"}
MIB = 1024  # VmHWM and ru_maxrss are in KiB on Linux
STAGES = ("transcription", "alignment", "procedural", "whisper features", "model forward", "ARKit fit", "exports")


def synthesize(seconds: float, directory: Path) -> tuple[Path, str]:
    """The paragraph read by espeak-ng, repeated (then cut at a sentence) to about `seconds`."""
    import soundfile

    from facetalk.synth.voices import espeak

    sentences = [s.strip() + "." for s in PARAGRAPH.split(".") if s.strip()]
    once = espeak(PARAGRAPH, "en-us")
    repeats = max(1, round(seconds / once.duration * len(sentences)))
    text = " ".join(sentences[i % len(sentences)] for i in range(repeats))
    waveform = espeak(text, "en-us")
    path = directory / f"speech_{round(seconds)}s.wav"
    soundfile.write(str(path), waveform.samples, waveform.sample_rate)
    return path, text


def peak_mib() -> float:
    """The process's peak RSS: the kernel's VmHWM (ru_maxrss would carry the parent's peak across exec)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / MIB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MIB


def timed(results: dict[str, float], cpu: dict[str, float], peaks: dict[str, float], stage: str, fn):  # type: ignore[no-untyped-def]
    """Run `fn`, recording its wall time, the process's CPU time (user + sys, all threads) and the peak RSS after it."""
    start, start_cpu = time.perf_counter(), time.process_time()
    out = fn()
    results[stage] = time.perf_counter() - start
    cpu[stage] = time.process_time() - start_cpu
    peaks[stage] = peak_mib()
    return out


def measure(wav: Path, text: str, out_dir: Path) -> dict[str, object]:
    """All stages on one input, in this process (see the module docstring)."""
    import warnings

    from scipy.optimize import lsq_linear

    from facetalk.animate import model_inputs
    from facetalk.audio import load_audio
    from facetalk.audio.prosody import extract_prosody
    from facetalk.export import export_motion
    from facetalk.face.default_face import default_rig
    from facetalk.models.base import open_model
    from facetalk.models.windowed import generate_windowed
    from facetalk.procedural import ProceduralAnimator
    from facetalk.text.align import _cmu, _decoder, _g2p, align
    from facetalk.text.embed import default_text_embedder
    from facetalk.text.textgrid import write_textgrid
    from facetalk.text.transcribe import _model as whisper_model
    from facetalk.text.transcribe import transcribe

    loads: dict[str, float] = {}
    for name, load in (
        ("Whisper tiny.en (transcription)", whisper_model),
        ("MiniLM (word meanings)", default_text_embedder),
        ("pocketsphinx decoder", _decoder),
        ("CMU dictionary", _cmu),
        ("g2p-en (words outside the dictionary)", _g2p),
        ("default face rig", default_rig),
    ):
        start = time.perf_counter()
        load()
        loads[name] = time.perf_counter() - start
    start = time.perf_counter()
    model, directory = open_model("composite_regional")
    model_inputs(_head(load_audio(wav)), model, directory)  # the first call builds the speech encoder
    loads["composite_regional + its Whisper encoder"] = time.perf_counter() - start

    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    peaks: dict[str, float] = {"start": peak_mib()}
    waveform = timed(times, cpu, peaks, "load audio", lambda: load_audio(wav))
    timed(times, cpu, peaks, "transcription", lambda: transcribe(waveform))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        alignment = timed(times, cpu, peaks, "alignment", lambda: align(waveform, text))

    def procedural():  # type: ignore[no-untyped-def]
        prosody = extract_prosody(waveform, fps=FPS)
        return ProceduralAnimator().animate(alignment, duration=waveform.duration, fps=FPS, prosody=prosody)

    motion = timed(times, cpu, peaks, "procedural", procedural)
    rig = default_rig()
    pipeline, clip, conditions = timed(times, cpu, peaks, "whisper features", lambda: model_inputs(waveform, model, directory))
    vertices = timed(times, cpu, peaks, "model forward", lambda: generate_windowed(model, pipeline, clip, conditions))
    fitted = timed(times, cpu, peaks, "ARKit fit", lambda: rig.fit_motion(vertices))

    def exports() -> None:
        for fmt, ext in EXPORTS.items():
            export_motion(fitted, out_dir / f"model{ext}", format=fmt)

    timed(times, cpu, peaks, "exports", exports)
    for fmt, ext in EXPORTS.items():  # the procedural path writes the same formats: not timed twice
        export_motion(motion, out_dir / f"procedural{ext}", format=fmt)
    textgrid = out_dir / "speech.TextGrid"
    write_textgrid(alignment, textgrid, duration=waveform.duration)

    sample = np.linspace(0, vertices.num_frames - 1, min(FIT_CHECK_FRAMES, vertices.num_frames)).astype(int)
    basis = rig.deltas.reshape(rig.num_shapes, -1).T.astype(np.float64)
    targets = (vertices.vertices()[sample].astype(np.float64) - rig.neutral[None]).reshape(len(sample), -1)
    reference = np.stack([lsq_linear(basis, t, bounds=(0.0, 1.0), method="bvls").x for t in targets])
    return {
        "duration": waveform.duration,
        "frames": vertices.num_frames,
        "times": times,
        "cpu": cpu,
        "peaks": peaks,
        "loads": loads,
        "chunks": len(alignment.chunks),
        "forced_chunks": sum(chunk.method == "forced" for chunk in alignment.chunks),
        "words": len(alignment.words),
        "warnings": [str(w.message) for w in caught],
        "fit_vs_lsq_linear": float(np.abs(fitted.data[sample] - reference).max()),
        "textgrid": str(textgrid),
    }


def _head(waveform):  # type: ignore[no-untyped-def]
    """The first second of a waveform."""
    from facetalk.types import Waveform

    return Waveform(waveform.samples[: waveform.sample_rate], waveform.sample_rate)


def shell_seconds(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + sys of the command and its children) of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def peer_command() -> tuple[list[str] | None, str]:
    """The `openfacefx` console script in a throwaway venv, installing it first if needed."""
    script = PEER_VENV / "bin" / "openfacefx"
    if not script.exists():
        shutil.rmtree(PEER_VENV, ignore_errors=True)
        venv.create(PEER_VENV, with_pip=True)
        install = subprocess.run(
            [str(PEER_VENV / "bin" / "pip"), "install", "-q", PEER_PACKAGE], capture_output=True, text=True, check=False
        )
        if install.returncode != 0:
            reason = (install.stderr.strip().splitlines() or ["pip failed"])[-1]
            return None, f"{PEER_PACKAGE} did not install from PyPI ({reason})"
    version = subprocess.run(
        [str(PEER_VENV / "bin" / "python"), "-c", f"import importlib.metadata as m; print(m.version('{PEER_PACKAGE}'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return [str(script)], f"{PEER_PACKAGE} {version}"


PATHS = {
    "procedural path, transcript given": ("load audio", "alignment", "procedural", "exports"),
    "procedural path, transcribed": ("load audio", "transcription", "alignment", "procedural", "exports"),
    "--model, no alignment, no video": ("load audio", "whisper features", "model forward", "ARKit fit", "exports"),
}
"""The paths of `facetalk animate` as sums of stages."""


def _rows(results: list[dict]) -> dict[str, tuple[list[float], list[float]]]:  # type: ignore[type-arg]
    """Per stage and per path: wall and CPU seconds per second of audio, one value per input."""
    rows = {}
    for name, stages in {**{stage: (stage,) for stage in ("load audio", *STAGES)}, **PATHS}.items():
        rows[name] = tuple([sum(r[key][s] for s in stages) / r["duration"] for r in results] for key in ("times", "cpu"))
    return rows  # type: ignore[return-value]


LONG_PATHS = {
    "model": "--model composite_regional, no alignment",
    "transcript": "procedural, transcript given",
    "transcribed": "procedural, transcribed",
}


def measure_long(wav: Path, text: str, path: str, out_dir: Path) -> dict[str, float]:
    """`facetalk animate` (no video) on a long input along one of `LONG_PATHS`, as the CLI runs it."""
    from facetalk.animate import animate, write_animation

    start_peak = peak_mib()
    start, start_cpu = time.perf_counter(), time.process_time()
    if path == "model":
        result = animate(wav, model="composite_regional", need_alignment=False)
    else:
        result = animate(wav, text=text if path == "transcript" else None)
    animated, animated_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    write_animation(result, out_dir, name="long", formats=tuple(EXPORTS), progress=False)
    return {
        "duration": result.waveform.duration,
        "animate_wall": animated,
        "animate_cpu": animated_cpu,
        "total_wall": time.perf_counter() - start,
        "total_cpu": time.process_time() - start_cpu,
        "peak_before_mib": start_peak,
        "peak_mib": peak_mib(),
    }


def run_long(args: argparse.Namespace, work: Path) -> None:
    """One path of `facetalk animate` on the long input in a fresh process: time and peak memory."""
    wav, text = synthesize(args.long, work)
    text_file = work / "long.txt"
    text_file.write_text(text)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    command = [sys.executable, __file__, "--threads", str(args.threads),
               "--long-child", str(wav), str(text_file), args.long_path, str(work / "long")]  # fmt: skip
    child = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if child.returncode != 0:
        sys.exit(f"the long case failed:\n{child.stderr[-3000:]}")
    r = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"{LONG_PATHS[args.long_path]}, no video, {r['duration']:.0f} s of speech ({', '.join(EXPORTS)}): "
          f"animate {r['animate_wall']:.0f} s wall / {r['animate_cpu']:.0f} s CPU, with the exports "
          f"{r['total_wall']:.0f} s wall ({r['total_wall'] / r['duration']:.4f} s/s) / {r['total_cpu']:.0f} s CPU "
          f"({r['total_cpu'] / r['duration']:.4f} s/s); peak RSS {r['peak_mib']:.0f} MiB "
          f"({r['peak_before_mib']:.0f} MiB after the imports)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=float, nargs="+", default=list(LENGTHS_S), help="input lengths in seconds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-peer", action="store_true", help=f"skip {PEER_PACKAGE}")
    long_help = "instead: one path end to end on this much speech (e.g. 3600), its time and peak memory"
    parser.add_argument("--long", type=float, metavar="SECONDS", help=long_help)
    parser.add_argument("--long-path", choices=list(LONG_PATHS), default="model", help="the path --long runs")
    parser.add_argument("--child", nargs=3, metavar=("WAV", "TEXT", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--long-child", nargs=4, metavar=("WAV", "TEXT", "PATH", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        wav, text_file, out = args.child
        print(json.dumps(measure(Path(wav), Path(text_file).read_text(), Path(out))))
        return
    if args.long_child:
        wav, text_file, path, out = args.long_child
        print(json.dumps(measure_long(Path(wav), Path(text_file).read_text(), path, Path(out))))
        return

    work = Path(tempfile.mkdtemp(prefix="facetalk-bench-"))
    try:
        run_long(args, work) if args.long else run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    """Measure every length in a subprocess, the shell runs and the peer; print the tables."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    results = []
    for seconds in args.lengths:
        wav, text = synthesize(seconds, work)
        (work / f"{wav.stem}.txt").write_text(text)
        out = work / wav.stem
        out.mkdir()
        command = [sys.executable, __file__, "--threads", str(args.threads), "--child", str(wav), str(work / f"{wav.stem}.txt")]
        child = subprocess.run([*command, str(out)], capture_output=True, text=True, env=env, check=False)
        if child.returncode != 0:
            sys.exit(f"the {seconds:.0f} s case failed:\n{child.stderr[-3000:]}")
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))

    print(f"{args.threads} threads, shared and loaded machine: read the ratios, and CPU beside wall time. "
          "Input: espeak-ng en-us, a paragraph repeated.")  # fmt: skip
    print("\nOne-time model loads (s):", ", ".join(f"{k} {v:.1f}" for k, v in results[0]["loads"].items()))
    header = " | ".join(f"{r['duration']:>5.0f} s wall | {r['duration']:>5.0f} s CPU" for r in results)
    print(f"\n{'stage (s per s of audio)':>33} | {header} | per-second cost, longest / shortest: wall, CPU")
    for stage, (walls, cpus) in _rows(results).items():
        cells = " | ".join(f"{wall:>12.4f} | {cpu:>11.4f}" for wall, cpu in zip(walls, cpus, strict=True))
        print(f"{stage:>33} | {cells} | {walls[-1] / walls[0]:.2f}, {cpus[-1] / cpus[0]:.2f}")
    print(f"\n{'peak RSS after stage (MiB)':>33} | " + " | ".join(f"{r['duration']:>5.0f} s" for r in results))
    for stage in ("start", "load audio", *STAGES):
        print(f"{stage:>33} | " + " | ".join(f"{r['peaks'][stage]:>7.0f}" for r in results))
    for r in results:
        print(
            f"\n{r['duration']:.0f} s: {r['words']} words in {r['chunks']} chunks, {r['forced_chunks']} force-aligned; "
            f"ARKit fit {r['frames'] / 30.0 / r['times']['ARKit fit']:.0f}x real time "
            f"({r['frames'] / 30.0 / r['cpu']['ARKit fit']:.0f}x per CPU second), "
            f"largest weight difference from lsq_linear {r['fit_vs_lsq_linear']:.1e}; warnings: {r['warnings'] or 'none'}"
        )
    audio = results[-1]["duration"] / results[0]["duration"]
    for key, what in (("times", "wall"), ("cpu", "CPU")):
        longest, shortest = (sum(r[key].values()) for r in (results[-1], results[0]))
        print(f"all stages, longest input / shortest: {longest / shortest:.1f}x the {what} time for {audio:.1f}x the audio")

    facetalk = Path(sys.executable).parent / "facetalk"
    import soundfile

    from facetalk.synth.voices import espeak

    short = espeak(SHORT_SENTENCE, "en-us")
    clip = work / "sentence.wav"
    soundfile.write(str(clip), short.samples, short.sample_rate)
    formats = ",".join(EXPORTS)
    base = [str(facetalk), "animate", str(clip), "--text", SHORT_SENTENCE, "-f", formats]
    procedural = shell_seconds([*base, "-o", str(work / "cli_procedural")])
    model = shell_seconds([*base, "--model", "composite_regional", "-o", str(work / "cli_model")])
    print(f"\n`facetalk animate` on a {short.duration:.1f} s sentence from the shell ({formats}, no video), wall / CPU: "
          f"procedural {procedural[0]:.1f} / {procedural[1]:.1f} s, "
          f"--model composite_regional {model[0]:.1f} / {model[1]:.1f} s")  # fmt: skip

    if args.no_peer:
        return
    command, label = peer_command()
    if command is None:
        print(f"\npeer: {label}")
        return
    print(f"\npeer: {label} (`openfacefx mfa --textgrid <facetalk's TextGrid> --retarget arkit`, from the shell)")
    for r in results:
        wall, cpu = shell_seconds(
            [*command, "mfa", "--textgrid", r["textgrid"], "--retarget", "arkit", "-o", str(work / "peer.json")]
        )
        ours_wall, ours_cpu = (sum(r[key][s] for s in ("procedural", "exports")) / r["duration"] for key in ("times", "cpu"))
        print(
            f"{r['duration']:>6.0f} s: wall {wall:.2f} s = {wall / r['duration']:.4f} s/s, CPU {cpu / r['duration']:.4f} s/s; "
            f"facetalk's procedural animator + exports, same alignment: wall {ours_wall:.4f}, CPU {ours_cpu:.4f} s/s "
            "(in process, no interpreter start)"
        )


if __name__ == "__main__":
    main()
