"""A cache of per-clip features (speech, text): each clip is encoded once, then memory-mapped.

Entries live at `<root>/<dataset>/<encoder>-<settings hash>/<clip id>-<content hash>.npy`. The
settings hash covers everything that changes the features (encoder options, motion fps, this
module's format version); the content hash (`audio_hash` of the speech, or `text_hash` of the
transcript and its alignment) makes a rebuilt corpus with reused clip ids miss instead of returning
stale features. Files are written atomically, so a killed run leaves no partial entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from facetalk.files import atomic_output
from facetalk.types import Alignment, Waveform

CACHE_VERSION = 1
HASH_CHARS = 16


def settings_hash(settings: Mapping[str, Any]) -> str:
    """A short stable hash of JSON-serializable settings."""
    text = json.dumps({"cache_version": CACHE_VERSION, **settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def dataset_key(dataset: str, root: str | os.PathLike[str]) -> str:
    """The cache's name for a dataset directory: its adapter's name and a hash of its resolved path."""
    return f"{dataset}-{settings_hash({'root': str(Path(root).resolve())})}"


def audio_hash(waveform: Waveform) -> str:
    """A short hash of a waveform's samples and rate."""
    digest = hashlib.sha256(waveform.samples.tobytes())
    digest.update(str(waveform.sample_rate).encode())
    return digest.hexdigest()[:HASH_CHARS]


def text_hash(alignment: Alignment) -> str:
    """A short hash of an alignment's words and their times (what per-frame text features depend on)."""
    words = [(word.text, round(word.start, 6), round(word.end, 6)) for word in alignment.words]
    return hashlib.sha256(json.dumps(words).encode()).hexdigest()[:HASH_CHARS]


class FeatureCache:
    """Encoder features on disk.

    Args:
        root: the cache directory (e.g. `facetalk.audio.cache_dir() / "features"`).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, *, dataset: str, clip_id: str, encoder: str, settings: Mapping[str, Any], content: str) -> Path:
        """Where the features of one clip are stored (`content`: `audio_hash` or `text_hash` of what is encoded)."""
        safe_id = clip_id.replace(os.sep, "__")
        return self.root / dataset / f"{encoder}-{settings_hash(settings)}" / f"{safe_id}-{content}.npy"

    def get(self, *, dataset: str, clip_id: str, encoder: str, settings: Mapping[str, Any], content: str,
            compute: Callable[[], np.ndarray]) -> np.ndarray:  # fmt: skip
        """The clip's features, memory-mapped read-only; computed with `compute()` and stored on a miss."""
        path = self.path(dataset=dataset, clip_id=clip_id, encoder=encoder, settings=settings, content=content)
        if not path.is_file():
            features = np.ascontiguousarray(compute(), dtype=np.float32)
            with atomic_output(path) as tmp, open(tmp, "wb") as file:
                np.save(file, features)
        return np.load(path, mmap_mode="r")
