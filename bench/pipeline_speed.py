"""Every stage of `facetalk animate`, in seconds per second of audio, on a 1-minute and a 10-minute input.

The input is a paragraph of English read by espeak-ng (en-us), repeated to each length, with its
transcript. Each length runs in a fresh subprocess that loads every model once (their load times are
reported apart, as one-time costs), then times each stage once on the whole input:

- transcription (faster-whisper tiny.en), alignment (pocketsphinx, chunked), the procedural
  animator (prosody + rules + word meanings), Whisper encoder features, the `composite_regional`
  forward pass, the fit of its vertices to the 52 ARKit weights, and the exports (npz, ARKit JSON,
  Live Link CSV, GLB);
- the peak RSS of the process after each stage (the kernel's high-water mark, so a stage's figure
  includes everything before it).

The fit is also checked against `scipy.optimize.lsq_linear` on a sample of frames (largest weight
difference). Beside them: `facetalk animate` on a 3-second sentence from the shell (wall time with
interpreter start, procedural with a transcript, and `--model composite_regional`), and the PyPI
package `openfacefx` (numpy only, rule-based; never a facetalk dependency) installed into a
throwaway virtual environment under /tmp and run on the same input with facetalk's TextGrid
(`openfacefx mfa --textgrid ... --retarget arkit`), wall time with interpreter start.

The machine these figures come from is shared and loaded: read the ratios, not the seconds.

    .venv/bin/python bench/pipeline_speed.py [--lengths 60 600] [--threads 2] [--no-peer]
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
MIB = 1024  # ru_maxrss is in KiB on Linux
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
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MIB


def timed(results: dict[str, float], peaks: dict[str, float], stage: str, fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    results[stage] = time.perf_counter() - start
    peaks[stage] = peak_mib()
    return out


def measure(wav: Path, text: str, out_dir: Path) -> dict[str, object]:
    """All stages on one input, in this process (see the module docstring)."""
    import warnings

    from scipy.optimize import lsq_linear

    from facetalk.animate import STYLE_REF_FILE
    from facetalk.audio import load_audio
    from facetalk.audio.prosody import extract_prosody
    from facetalk.export import export_motion, read_motion
    from facetalk.face.default_face import default_rig
    from facetalk.models.base import Conditions, feature_encoder, load_model, pretrained_path
    from facetalk.procedural import ProceduralAnimator
    from facetalk.text.align import _decoder, align
    from facetalk.text.embed import default_text_embedder
    from facetalk.text.textgrid import write_textgrid
    from facetalk.text.transcribe import _model as whisper_model
    from facetalk.text.transcribe import transcribe

    loads: dict[str, float] = {}
    for name, load in (
        ("Whisper tiny.en (transcription)", whisper_model),
        ("MiniLM (word meanings)", default_text_embedder),
        ("pocketsphinx decoder", _decoder),
    ):
        start = time.perf_counter()
        load()
        loads[name] = time.perf_counter() - start
    start = time.perf_counter()
    directory = pretrained_path("composite_regional")
    model = load_model(directory)
    encoder = feature_encoder(model)
    encoder.encode_at(_head(load_audio(wav)), model.fps)  # the first call builds the encoder
    loads["composite_regional + its Whisper encoder"] = time.perf_counter() - start

    times: dict[str, float] = {}
    peaks: dict[str, float] = {"start": peak_mib()}
    waveform = timed(times, peaks, "load audio", lambda: load_audio(wav))
    timed(times, peaks, "transcription", lambda: transcribe(waveform))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        alignment = timed(times, peaks, "alignment", lambda: align(waveform, text))

    def procedural():  # type: ignore[no-untyped-def]
        prosody = extract_prosody(waveform, fps=FPS)
        return ProceduralAnimator().animate(alignment, duration=waveform.duration, fps=FPS, prosody=prosody)

    motion = timed(times, peaks, "procedural", procedural)
    rig = default_rig()
    style = read_motion(directory / STYLE_REF_FILE)
    conditions = Conditions(template=rig.neutral.reshape(-1), style=style.data)
    features = timed(times, peaks, "whisper features", lambda: encoder.encode_at(waveform, model.fps))
    vertices = timed(times, peaks, "model forward", lambda: model.generate(features, conditions))
    fitted = timed(times, peaks, "ARKit fit", lambda: rig.fit_motion(vertices))

    def exports() -> None:
        for fmt, ext in EXPORTS.items():
            export_motion(fitted, out_dir / f"model{ext}", format=fmt)

    timed(times, peaks, "exports", exports)
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


def shell_seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=float, nargs="+", default=list(LENGTHS_S), help="input lengths in seconds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-peer", action="store_true", help=f"skip {PEER_PACKAGE}")
    parser.add_argument("--child", nargs=3, metavar=("WAV", "TEXT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        wav, text_file, out = args.child
        print(json.dumps(measure(Path(wav), Path(text_file).read_text(), Path(out))))
        return

    work = Path(tempfile.mkdtemp(prefix="facetalk-bench-"))
    try:
        run(args, work)
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

    print(f"{args.threads} threads, shared and loaded machine: read the ratios. Input: espeak-ng en-us, a paragraph repeated.")
    print("\nOne-time model loads (s):", ", ".join(f"{k} {v:.1f}" for k, v in results[0]["loads"].items()))
    header = " | ".join(f"{r['duration']:.0f} s audio" for r in results)
    print(f"\n{'stage (s per s of audio)':>28} | {header} | ratio of per-second cost, longest / shortest")
    rows = {stage: [r["times"][stage] / r["duration"] for r in results] for stage in ("load audio", *STAGES)}
    rows["procedural path, transcript given"] = [
        sum(r["times"][s] for s in ("load audio", "alignment", "procedural", "exports")) / r["duration"] for r in results
    ]
    rows["procedural path, transcribed"] = [
        v + r["times"]["transcription"] / r["duration"]
        for v, r in zip(rows["procedural path, transcript given"], results, strict=True)
    ]
    rows["--model, no alignment, no video"] = [
        sum(r["times"][s] for s in ("load audio", "whisper features", "model forward", "ARKit fit", "exports")) / r["duration"]
        for r in results
    ]
    for stage, values in rows.items():
        print(f"{stage:>28} | " + " | ".join(f"{v:>11.4f}" for v in values) + f" | {values[-1] / values[0]:.2f}")
    print(f"\n{'peak RSS after stage (MiB)':>28} | " + header)
    for stage in ("start", "load audio", *STAGES):
        print(f"{stage:>28} | " + " | ".join(f"{r['peaks'][stage]:>11.0f}" for r in results))
    for r in results:
        print(
            f"\n{r['duration']:.0f} s: {r['words']} words in {r['chunks']} chunks, {r['forced_chunks']} force-aligned; "
            f"ARKit fit {r['frames'] / 30.0 / r['times']['ARKit fit']:.0f}x real time, "
            f"largest weight difference from lsq_linear {r['fit_vs_lsq_linear']:.1e}; warnings: {r['warnings'] or 'none'}"
        )
    longest, shortest = (sum(r["times"].values()) for r in (results[-1], results[0]))
    audio = results[-1]["duration"] / results[0]["duration"]
    print(f"all stages, longest input / shortest: {longest / shortest:.1f}x the time for {audio:.1f}x the audio")

    facetalk = Path(sys.executable).parent / "facetalk"
    import soundfile

    from facetalk.synth.voices import espeak

    short = espeak(SHORT_SENTENCE, "en-us")
    clip = work / "sentence.wav"
    soundfile.write(str(clip), short.samples, short.sample_rate)
    formats = ",".join(EXPORTS)
    base = [str(facetalk), "animate", str(clip), "--text", SHORT_SENTENCE, "-f", formats]
    procedural_s = shell_seconds([*base, "-o", str(work / "cli_procedural")])
    model_s = shell_seconds([*base, "--model", "composite_regional", "-o", str(work / "cli_model")])
    print(f"\n`facetalk animate` on a {short.duration:.1f} s sentence from the shell ({formats}, no video): "
          f"procedural {procedural_s:.1f} s, --model composite_regional {model_s:.1f} s")  # fmt: skip

    if args.no_peer:
        return
    command, label = peer_command()
    if command is None:
        print(f"\npeer: {label}")
        return
    print(f"\npeer: {label} (`openfacefx mfa --textgrid <facetalk's TextGrid> --retarget arkit`, wall time from the shell)")
    for r in results:
        seconds = shell_seconds(
            [*command, "mfa", "--textgrid", r["textgrid"], "--retarget", "arkit", "-o", str(work / "peer.json")]
        )
        ours = sum(r["times"][s] for s in ("procedural", "exports")) / r["duration"]
        print(
            f"{r['duration']:>6.0f} s: {seconds:.2f} s = {seconds / r['duration']:.4f} s per s of audio; facetalk's "
            f"procedural animator + exports, same alignment: {ours:.4f} s per s (in process, no interpreter start)"
        )


if __name__ == "__main__":
    main()
