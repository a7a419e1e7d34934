"""`facetalk synth`: build the synthetic corpus (speech, ARKit weights, face vertices, timings).

Clip `i` of a corpus is a pure function of (seed, i): its speaker, sentence, emotion schedule,
prosody and noise all come from `np.random.default_rng([seed, i])`, so a resumed build equals a
fresh one byte for byte. Clips are made in index order until their speech adds up to `hours`.

Crash safety: every file is written atomically, and a clip's record `clips/<id>.json` is written
last, so its presence means the clip is complete. A restarted build skips complete clips and
redoes the others. `manifest.jsonl`, `splits.json` and the final `corpus.json` are rebuilt from
the records at the end. The layout is specified in docs/synthetic-corpus.md.
"""

from __future__ import annotations

import json
import math
import os
import warnings
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facetalk.errors import InvalidInputError, OutputError, show_warning
from facetalk.files import atomic_output
from facetalk.synth.sentences import DEFAULT_NUM_SENTENCES, Sentence, generate_sentences
from facetalk.synth.speakers import Speaker, make_speakers
from facetalk.types import EMOTIONS, Alignment, EmotionKey, EmotionSchedule, Waveform

FORMAT_VERSION = 1
SECONDS_PER_HOUR = 3600.0

HELD_OUT_SPEAKER_SHARE = 0.1  # share of clips spoken by the held-out speakers
VAL_SENTENCE_SHARE = 0.05  # sentences held out for validation ...
TEST_SENTENCE_SHARE = 0.05  # ... and for testing
SPLITS = ("train", "val", "test", "test_unseen_speaker")

SENTENCE_EMOTION_PROBABILITY = 0.7  # an emotional sentence is spoken with its own emotion this often
TRANSITION_PROBABILITY = 0.35  # clips whose emotion changes from one category to another
MIN_INTENSITY, MAX_INTENSITY = 0.3, 1.0
TRANSITION_START = (0.15, 0.5)  # the change starts in this fraction of the clip ...
TRANSITION_LENGTH = (0.15, 0.4)  # ... and takes this fraction of it
RATE_JITTER = 0.07  # every clip's speaking rate is scaled by U(1 - j, 1 + j)
MAX_ALIGN_ATTEMPTS = 3  # espeak-ng speech whose forced alignment fails is re-spoken a little faster
RETRY_RATE_STEP = 0.04
PROSODY_SAMPLES = 100  # the emotion schedule is averaged over this many points to set the prosody

# Prosody of each emotion at full intensity: speaking-rate factor and pitch change in semitones
# (after the acoustic correlates summarised by Scherer, 2003: joy, anger and fear raise rate and
# pitch; sadness lowers both; disgust slows speech and lowers pitch).
EMOTION_RATE = {"neutral": 1.0, "happy": 1.08, "sad": 0.85, "surprise": 1.05, "fear": 1.12, "disgust": 0.92, "anger": 1.1}
EMOTION_PITCH = {"neutral": 0.0, "happy": 2.0, "sad": -2.0, "surprise": 3.0, "fear": 2.5, "disgust": -1.0, "anger": 1.0}

ProgressHook = Callable[[int], None]


@dataclass(frozen=True)
class ClipPlan:
    """Everything random about one clip, decided before synthesis."""

    index: int
    speaker: Speaker
    sentence: Sentence
    schedule_fractions: tuple[tuple[float, str, float], ...]  # (fraction of the clip, category, intensity)
    rate: float
    noise_seed: int

    @property
    def clip_id(self) -> str:
        return f"c{self.index:06d}"

    def schedule(self, duration: float) -> EmotionSchedule:
        return EmotionSchedule(tuple(EmotionKey(f * duration, c, i) for f, c, i in self.schedule_fractions))

    def prosody(self) -> tuple[float, float]:
        """Speaking-rate factor and pitch change (semitones) of the clip's average emotion."""
        vectors = self.schedule(1.0).at_frames(PROSODY_SAMPLES, PROSODY_SAMPLES).mean(axis=0)  # (7,)
        rate = float(sum(v * EMOTION_RATE[c] for v, c in zip(vectors, EMOTIONS, strict=True)))
        pitch = float(sum(v * EMOTION_PITCH[c] for v, c in zip(vectors, EMOTIONS, strict=True)))
        return rate, pitch


@dataclass(frozen=True)
class Corpus:
    """What a build needs besides the clip index."""

    out_dir: Path
    seed: int
    fps: float
    word_semantics: bool
    sentences: tuple[Sentence, ...]
    sentence_order: tuple[int, ...]
    sentence_split: dict[str, str]  # sentence id -> "train" | "val" | "test"
    speakers: tuple[Speaker, ...]

    @classmethod
    def create(cls, out_dir: Path, *, seed: int, fps: float, word_semantics: bool, num_sentences: int) -> Corpus:
        sentences = tuple(generate_sentences(num_sentences, seed=seed))
        order = np.random.default_rng([seed, 1]).permutation(len(sentences))
        num_val, num_test = round(VAL_SENTENCE_SHARE * len(sentences)), round(TEST_SENTENCE_SHARE * len(sentences))
        split = {s.id: "train" for s in sentences}
        held = np.random.default_rng([seed, 2]).permutation(len(sentences))
        for k in held[:num_val]:
            split[sentences[int(k)].id] = "val"
        for k in held[num_val : num_val + num_test]:
            split[sentences[int(k)].id] = "test"
        return cls(out_dir, seed, fps, word_semantics, sentences, tuple(int(k) for k in order), split, tuple(make_speakers(seed)))

    @classmethod
    def open(cls, out_dir: Path) -> Corpus:
        """The `Corpus` that built the corpus in `out_dir` (from its `corpus.json`), to re-plan its clips."""
        try:
            settings = json.loads((out_dir / "corpus.json").read_text())
        except (OSError, ValueError):
            raise InvalidInputError(f"{out_dir}: not a synthetic corpus (no readable corpus.json)") from None
        return cls.create(out_dir, seed=settings["seed"], fps=settings["fps"], word_semantics=settings["word_semantics"],
                          num_sentences=settings["num_sentences"])  # fmt: skip

    def plan(self, index: int) -> ClipPlan:
        rng = np.random.default_rng([self.seed, 0, index])
        train = [s for s in self.speakers if not s.held_out]
        held = [s for s in self.speakers if s.held_out]
        pool = held if rng.random() < HELD_OUT_SPEAKER_SHARE else train
        speaker = pool[int(rng.integers(len(pool)))]
        sentence = self.sentences[self.sentence_order[index % len(self.sentences)]]
        if sentence.emotion is not None and rng.random() < SENTENCE_EMOTION_PROBABILITY:
            first = sentence.emotion
        else:
            first = EMOTIONS[int(rng.integers(len(EMOTIONS)))]
        keys = [(0.0, first, float(rng.uniform(MIN_INTENSITY, MAX_INTENSITY)))]
        if rng.random() < TRANSITION_PROBABILITY:
            second = [e for e in EMOTIONS if e != first][int(rng.integers(len(EMOTIONS) - 1))]
            start = float(rng.uniform(*TRANSITION_START))
            end = start + float(rng.uniform(*TRANSITION_LENGTH))
            keys += [(start, first, keys[0][2]), (end, second, float(rng.uniform(MIN_INTENSITY, MAX_INTENSITY)))]
        rate = float(rng.uniform(1.0 - RATE_JITTER, 1.0 + RATE_JITTER))
        return ClipPlan(index, speaker, sentence, tuple(keys), rate, int(rng.integers(2**31)))

    def clip_split(self, plan: ClipPlan) -> str:
        return "test_unseen_speaker" if plan.speaker.held_out else self.sentence_split[plan.sentence.id]


# --- one clip ----------------------------------------------------------------------------------------


def clip_paths(out_dir: Path, clip_id: str) -> dict[str, Path]:
    """The files of a clip; "record" is written last and marks the clip complete."""
    base = out_dir / "clips" / clip_id
    return {
        "wav": base.with_suffix(".wav"),
        "npz": base.with_suffix(".npz"),
        "textgrid": base.with_suffix(".TextGrid"),
        "record": base.with_suffix(".json"),
    }


def make_clip(corpus: Corpus, index: int) -> dict[str, Any]:
    """Synthesize, animate and write clip `index`; returns its manifest record."""
    from facetalk.audio.io import save_wav
    from facetalk.synth.voices import speak
    from facetalk.text.textgrid import write_textgrid

    plan = corpus.plan(index)
    emotion_rate, emotion_pitch = plan.prosody()
    for attempt in range(MAX_ALIGN_ATTEMPTS):
        rate = plan.rate * emotion_rate * (1.0 + RETRY_RATE_STEP * attempt)
        waveform, alignment = speak(
            plan.sentence.text, plan.speaker.voice, rate=rate, pitch_semitones=emotion_pitch, seed=plan.noise_seed
        )
        if alignment.method == "forced":
            break
    duration = waveform.duration
    schedule = plan.schedule(duration)
    persona = plan.speaker.persona()
    weights = animate_clip(corpus, plan, waveform, alignment, schedule)  # (T, 52)
    vertices = plan.speaker.rig().to_vertices(weights).astype(np.float16)  # (T, V, 3)
    paths = clip_paths(corpus.out_dir, plan.clip_id)
    save_wav(waveform, paths["wav"])
    write_npz(
        paths["npz"],
        {"weights": weights.astype(np.float32), "vertices": vertices, "fps": np.asarray(corpus.fps, dtype=np.float32)},
    )
    write_textgrid(alignment, paths["textgrid"], duration=duration)
    record: dict[str, Any] = {
        "clip_id": plan.clip_id,
        "index": index,
        "split": corpus.clip_split(plan),
        "speaker": plan.speaker.id,
        "sentence_id": plan.sentence.id,
        "text": plan.sentence.text,
        "sentence_kind": plan.sentence.kind,
        "emotion": schedule.to_json(),
        "persona": {"preset": plan.speaker.persona_preset, "vector": [float(x) for x in persona.to_vector()]},
        "prosody": {"rate": round(rate, 6), "pitch_semitones": round(emotion_pitch, 6)},
        "alignment_method": alignment.method,
        "duration": duration,
        "num_frames": int(weights.shape[0]),
        "fps": corpus.fps,
        "sample_rate": waveform.sample_rate,
    }
    _write_json(paths["record"], record, indent=None)
    return record


def animate_clip(
    corpus: Corpus, plan: ClipPlan, waveform: Waveform, alignment: Alignment, emotion: EmotionSchedule
) -> np.ndarray:
    """The ARKit weights (T, 52) of a clip's speech: `plan`'s speaker and noise seed animating `alignment`.

    `make_clip` passes the plan's own emotion schedule; another schedule re-generates the same clip (same
    speech, timing, persona, blinks and idle motion) with a different emotion.
    """
    from facetalk.audio.prosody import extract_prosody
    from facetalk.face.arkit import ARKIT_NAMES

    num_frames = math.ceil(waveform.duration * corpus.fps)
    motion = _animator().animate(
        alignment,
        duration=waveform.duration,
        fps=corpus.fps,
        persona=plan.speaker.persona(),
        emotion=emotion,
        prosody=extract_prosody(waveform, fps=corpus.fps, num_frames=num_frames),
        seed=plan.noise_seed,
        word_semantics=corpus.word_semantics,
    )
    return motion.select(ARKIT_NAMES)


_ANIMATOR: Any = None


def _animator() -> Any:
    global _ANIMATOR
    if _ANIMATOR is None:
        from facetalk.procedural import ProceduralAnimator

        _ANIMATOR = ProceduralAnimator()
    return _ANIMATOR


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An uncompressed .npz that `np.load` reads, with fixed zip timestamps so that equal arrays give
    equal bytes (`np.savez` stamps each member with the current time)."""
    with atomic_output(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


def _write_json(path: Path, value: Any, *, indent: int | None = 2) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(value, indent=indent, sort_keys=True) + "\n")


def _read_record(out_dir: Path, index: int) -> dict[str, Any] | None:
    """The record of a complete clip, or None when the clip has to be (re)made."""
    paths = clip_paths(out_dir, f"c{index:06d}")
    if not all(path.is_file() for path in paths.values()):
        return None
    try:
        record: dict[str, Any] = json.loads(paths["record"].read_text())
    except (OSError, ValueError):
        return None
    return record


# --- the build ---------------------------------------------------------------------------------------


def build_corpus(
    out_dir: str | os.PathLike[str],
    *,
    hours: float,
    seed: int = 0,
    fps: float = 30.0,
    workers: int = 1,
    word_semantics: bool = True,
    num_sentences: int = DEFAULT_NUM_SENTENCES,
    max_clips: int | None = None,
    progress: bool = True,
    on_clip: ProgressHook | None = None,
) -> Path:
    """Build (or resume building) a synthetic corpus in `out_dir`.

    Args:
        out_dir: the corpus directory; an interrupted build there is resumed.
        hours: stop after the first clips whose speech adds up to this many hours.
        seed: decides everything: sentences, speakers, and every clip.
        fps: motion frame rate.
        workers: processes making clips; 1 makes them in this process.
        word_semantics: let the animator use MiniLM word meanings (slower).
        num_sentences: size of the generated sentence set.
        max_clips: stop after this many clips even if `hours` is not reached.
        progress: show a progress bar (seconds of speech) on stderr.
        on_clip: called with each clip's index once it is complete (in index order).

    Returns:
        `out_dir`.

    Raises:
        OutputError: `out_dir` holds a corpus built with other settings.
    """
    from tqdm import tqdm

    root = Path(out_dir)
    settings = {"version": FORMAT_VERSION, "seed": seed, "hours": hours, "fps": fps, "word_semantics": word_semantics,
                "num_sentences": num_sentences, "max_clips": max_clips}  # fmt: skip
    _check_settings(root, settings)
    corpus = Corpus.create(root, seed=seed, fps=fps, word_semantics=word_semantics, num_sentences=num_sentences)
    _write_json(root / "corpus.json", {**settings, "complete": False})
    _write_speakers(corpus)
    target = hours * SECONDS_PER_HOUR
    records: list[dict[str, Any]] = []
    total = 0.0
    with tqdm(total=round(target), unit="s", desc="speech", disable=not progress) as bar:
        for record in _clip_records(corpus, workers):
            records.append(record)
            total += float(record["duration"])
            bar.update(min(float(record["duration"]), max(0.0, target - bar.n)))
            if on_clip is not None:
                on_clip(int(record["index"]))
            if total >= target or (max_clips is not None and len(records) >= max_clips):
                break
    _finish(corpus, settings, records)
    return root


def _clip_records(corpus: Corpus, workers: int) -> Iterator[dict[str, Any]]:
    """Records of clips 0, 1, 2, ... in order, made (in `workers` processes) unless complete."""
    index = 0
    if workers <= 1:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as in the worker processes: the same float sums, so the same bytes
        try:
            while True:
                yield _read_record(corpus.out_dir, index) or make_clip(corpus, index)
                index += 1
        finally:
            torch.set_num_threads(threads)
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold onnx/torch threads
    initargs = (corpus, warnings.showwarning is show_warning)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=initargs) as pool:
        pending: list[Future[dict[str, Any]] | dict[str, Any]] = []
        try:
            while True:
                while len(pending) < 2 * workers:
                    done = _read_record(corpus.out_dir, index)
                    pending.append(done if done is not None else pool.submit(_worker_clip, index))
                    index += 1
                head = pending.pop(0)
                yield head if isinstance(head, dict) else head.result()
        finally:
            for item in pending:
                if not isinstance(item, dict):
                    item.cancel()


_WORKER_CORPUS: Corpus | None = None


def _init_worker(corpus: Corpus, one_line_warnings: bool) -> None:
    global _WORKER_CORPUS
    import torch

    torch.set_num_threads(1)  # one core per worker process
    if one_line_warnings:  # show warnings as the parent does (a spawned process starts with Python's defaults)
        warnings.showwarning = show_warning
    _WORKER_CORPUS = corpus


def _worker_clip(index: int) -> dict[str, Any]:
    assert _WORKER_CORPUS is not None, "worker not initialised"
    return make_clip(_WORKER_CORPUS, index)


def _check_settings(root: Path, settings: dict[str, Any]) -> None:
    existing = root / "corpus.json"
    if not existing.is_file():
        return
    try:
        old = json.loads(existing.read_text())
    except (OSError, ValueError):
        raise OutputError(f"{existing}: unreadable; remove the directory or choose another") from None
    differing = sorted(key for key in settings if old.get(key) != settings[key])
    if differing:
        raise OutputError(f"{root}: holds a corpus built with other settings ({', '.join(differing)}); choose another directory")


def _write_speakers(corpus: Corpus) -> None:
    for speaker in corpus.speakers:
        directory = corpus.out_dir / "speakers" / speaker.id
        template = speaker.rig().neutral.astype(np.float32)  # (V, 3) metres
        with atomic_output(directory / "template.npy") as tmp, tmp.open("wb") as file:
            np.lib.format.write_array(file, template, allow_pickle=False)
        persona = speaker.persona()
        _write_json(directory / "speaker.json", {**speaker.to_json(), "persona_vector": [float(x) for x in persona.to_vector()]})


def _finish(corpus: Corpus, settings: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Remove clips made beyond the end (by look-ahead workers), write manifest, splits, corpus.json."""
    root = corpus.out_dir
    keep = {r["clip_id"] for r in records}
    for path in sorted((root / "clips").glob("c*.*")):
        if path.name.split(".")[0] not in keep:
            path.unlink(missing_ok=True)
    with atomic_output(root / "manifest.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    splits: dict[str, Any] = {name: [r["clip_id"] for r in records if r["split"] == name] for name in SPLITS}
    splits["held_out_sentences"] = {
        name: sorted(sid for sid, split in corpus.sentence_split.items() if split == name) for name in ("val", "test")
    }
    splits["held_out_speakers"] = [s.id for s in corpus.speakers if s.held_out]
    _write_json(root / "splits.json", splits)
    _write_json(
        root / "sentences.json", [{"id": s.id, "text": s.text, "kind": s.kind, "emotion": s.emotion} for s in corpus.sentences]
    )
    stats = {"num_clips": len(records), "speech_seconds": round(sum(float(r["duration"]) for r in records), 3)}
    _write_json(root / "corpus.json", {**settings, "complete": True, **stats})
