"""Session-wide fixtures: speech synthesized by facetalk's own Piper voice, with reference timings.

The dozen sentences are synthesized once per session, without Piper's noise so that every run hears
the same audio; their WAVs and reference alignments are kept in a session temporary directory, so
that tests can use files as well as waveforms.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facetalk.types import Alignment, Phone, Waveform, Word

SAMPLE_RATE = 16000
SENTENCES: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "I would like a cup of coffee, with milk and no sugar.",
    "How much wood would a woodchuck chuck?",
    "My father bought a large television yesterday.",
    "We were away a year ago.",
    "Judge the size of the boat before you pay for it.",
    "Peter Piper picked a peck of pickled peppers.",
    "The museum opens at nine in the morning.",
    "Thank you very much for your patience, everyone.",
    "Why did the old man leave his umbrella outside?",
)
ONE_SENTENCE = "Bring me the red book from the shelf."
ALSA_DIR = Path("/usr/share/sounds/alsa")
ALSA_WORDS = {f"{a}_{b}": f"{a} {b}".lower() for a in ("Front", "Rear", "Side") for b in ("Left", "Right", "Center")}
ALSA_WORDS.pop("Side_Center")  # not recorded


@dataclass(frozen=True)
class SpeechClip:
    """One synthesized utterance: its text, a WAV file, the waveform and Piper's reference timings."""

    text: str
    path: Path
    waveform: Waveform
    reference: Alignment


def read_speech(path: str | Path, sample_rate: int = SAMPLE_RATE) -> Waveform:
    """Load a file as 16 kHz mono with soundfile + soxr (independent of facetalk.audio)."""
    import soundfile
    import soxr

    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    mono = samples.mean(axis=1)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate)
    return Waveform(np.asarray(mono, dtype=np.float32), sample_rate)


def _write_clip(directory: Path, index: int, text: str) -> SpeechClip:
    import soundfile

    from facetalk.synth.voices import synthesize

    waveform, reference = synthesize(text, noise_scale=0.0, noise_w_scale=0.0)  # no noise: the same audio every run
    path = directory / f"sentence_{index:02d}.wav"
    soundfile.write(str(path), waveform.samples, waveform.sample_rate, subtype="PCM_16")
    path.with_suffix(".json").write_text(json.dumps({"text": text, **asdict(reference)}))
    return SpeechClip(text, path, waveform, reference)


def load_reference(path: Path) -> Alignment:
    """The reference alignment stored beside a clip's WAV."""
    raw = json.loads(path.with_suffix(".json").read_text())
    return Alignment(tuple(Word(**w) for w in raw["words"]), tuple(Phone(**p) for p in raw["phones"]))


@pytest.fixture(scope="session")
def speech_corpus(tmp_path_factory: pytest.TempPathFactory) -> list[SpeechClip]:
    """The dozen `SENTENCES`, synthesized once per session."""
    directory = tmp_path_factory.mktemp("speech_corpus")
    return [_write_clip(directory, i, text) for i, text in enumerate(SENTENCES)]


@pytest.fixture(scope="session")
def one_sentence(tmp_path_factory: pytest.TempPathFactory) -> SpeechClip:
    """A single short synthesized sentence for quick tests."""
    return _write_clip(tmp_path_factory.mktemp("one_sentence"), 0, ONE_SENTENCE)


@pytest.fixture(scope="session")
def speech_reader() -> Callable[..., Waveform]:
    return read_speech


@pytest.fixture(scope="session")
def sentences() -> tuple[str, ...]:
    """The texts of `speech_corpus`, without synthesizing them."""
    return SENTENCES


@pytest.fixture(scope="session")
def alsa_recordings() -> dict[Path, str]:
    """Real human speech: the ALSA channel-test recordings (48 kHz mono) and what they say."""
    found = {ALSA_DIR / f"{name}.wav": words for name, words in ALSA_WORDS.items() if (ALSA_DIR / f"{name}.wav").exists()}
    if not found:
        pytest.skip("alsa-utils recordings are not installed (/usr/share/sounds/alsa)")
    return found


STREAM_FEATURES = {"encoder": "mel", "options": {"fps": 30.0, "n_mels": 80, "n_fft": 1024, "top_db": None}}
"""The streaming mel of configs/conv_baseline/stream.yaml."""


def _tiny_stream_model(seed: int = 0) -> Any:
    import torch

    from facetalk.models.base import build_model

    torch.manual_seed(seed)
    model = build_model("conv_baseline_stream_tiny", feature_dim=80, motion_dim=52, num_subjects=2, fps=30.0)
    model.metadata = {"features": STREAM_FEATURES, "subjects": ["spk00", "spk01"], "personas": {"smiley": "spk01"}}
    model.fit_feature_stats(torch.full((80,), -60.0), torch.full((80,), 20.0))  # dB mel to about unit scale
    with torch.no_grad():  # weights inside (0, 1), where clipping hides nothing
        model.head.bias.fill_(0.5)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_stream_model() -> Callable[..., Any]:
    """A factory of untrained `conv_baseline_stream_tiny` models (seeded) on the streaming mel."""
    return _tiny_stream_model


@pytest.fixture(scope="session")
def tiny_stream_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved `conv_baseline_stream_tiny` model directory."""
    from facetalk.models.base import save_model

    return save_model(_tiny_stream_model(), tmp_path_factory.mktemp("stream_model") / "model")
