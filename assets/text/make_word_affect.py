"""Precompute the procedural animator's word meanings for the CMU dictionary's words.

    python assets/text/make_word_affect.py

Writes `word_affect.npz` beside this script: `words` (the words, UTF-8, newline-separated, as
uint8) and `projections` (float32, (W, 2)): each word's MiniLM vector, said on its own, projected on
the valence and arousal axes (`facetalk.procedural.expressions.meaning_projections`). With it,
`facetalk animate` needs no language model for dictionary words. Rerun it whenever MiniLM, the
anchor words or the projection change; a test compares a sample with the live model.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from facetalk.procedural.expressions import meaning_projections
from facetalk.text.align import _cmu

HERE = Path(__file__).parent
BATCH = 4096


def main() -> None:
    words = sorted(word for word in _cmu() if re.fullmatch(r"[a-z][a-z']*", word))
    projections = np.concatenate([meaning_projections(words[i : i + BATCH]) for i in range(0, len(words), BATCH)])
    text = np.frombuffer("\n".join(words).encode(), dtype=np.uint8)
    np.savez_compressed(HERE / "word_affect.npz", words=text, projections=projections.astype(np.float32))
    print(f"wrote {HERE / 'word_affect.npz'} ({len(words)} words)")


if __name__ == "__main__":
    main()
