"""Contact strips for docs/synthetic-corpus.md: one cell per speaker, one cell per emotion.

    .venv/bin/python docs/figures/corpus_figures.py CORPUS_DIR

Reads a corpus written by `facetalk synth` through the native dataset reader and writes
docs/figures/corpus_speakers.png (each speaker's own face at its widest-open frame of its first clip)
and docs/figures/corpus_emotions.png (for each emotion, the frame of strongest expression from the
clip that shows it most, on that clip's speaker's face).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from facetalk.data.formats.native import NativeDataset
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.render import contact_strip
from facetalk.types import EMOTIONS, EmotionKey, EmotionSchedule

HERE = Path(__file__).parent
JAW = ARKIT_NAMES.index("jawOpen")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    corpus = NativeDataset(parser.parse_args().corpus, split="all")

    first_clip: dict[str, int] = {}
    strongest: dict[str, tuple[float, int, int]] = {}  # emotion -> (intensity, clip index, frame)
    for index, record in enumerate(corpus.records):
        first_clip.setdefault(str(record["speaker"]), index)
        # Choose from the manifest alone: loading every clip's audio and vertices would be slow.
        schedule = EmotionSchedule(tuple(EmotionKey(k["time"], k["emotion"], k["intensity"]) for k in record["emotion"]))
        vectors = schedule.at_frames(int(record["num_frames"]), float(record["fps"]))  # (T, 7)
        for k, name in enumerate(EMOTIONS[1:], start=1):
            frame = int(np.argmax(vectors[:, k]))
            if vectors[frame, k] > strongest.get(name, (0.0, -1, -1))[0]:
                strongest[name] = (float(vectors[frame, k]), index, frame)

    speaker_poses, speaker_labels = [], []
    for speaker, index in sorted(first_clip.items()):
        sample = corpus[index]
        assert sample.vertices is not None
        frame = int(np.argmax(sample.motion.data[:, JAW]))
        speaker_poses.append(sample.vertices.vertices()[frame])
        held_out = " (held out)" if corpus.speaker(speaker).get("held_out") else ""
        speaker_labels.append(f"{speaker}{held_out}")
    contact_strip(np.stack(speaker_poses), speaker_labels, HERE / "corpus_speakers.png", columns=5, cell=200)

    emotion_poses, emotion_labels = [], []
    for name in EMOTIONS[1:]:
        intensity, index, frame = strongest[name]
        sample = corpus[index]
        assert sample.vertices is not None
        emotion_poses.append(sample.vertices.vertices()[frame])
        emotion_labels.append(f"{name} {intensity:.2f}")
    contact_strip(np.stack(emotion_poses), emotion_labels, HERE / "corpus_emotions.png", cell=200)
    print(f"wrote {HERE / 'corpus_speakers.png'} and {HERE / 'corpus_emotions.png'}")


if __name__ == "__main__":
    main()
