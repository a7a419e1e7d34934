"""Counterfactual training clips: a synthetic corpus's training speech re-animated with other emotions.

In the synthetic corpus a clip's emotion goes with what is said: an emotional sentence is mostly
spoken with its own emotion (`SENTENCE_EMOTION_PROBABILITY`), its words drive expressions of their
own, and the emotion sets the speech's rate and pitch. A model conditioned on the emotion label
learns part of that as the emotion's effect (asked for happy, it opens the jaw a little more, as
happy sentences do). `relabel_corpus` writes a corpus holding every clip of the source (its files
linked, not copied) and, for each training clip, `variants` more training clips `<id>e<k>`: the
same speech, timing, speaker, blinks and idle motion re-animated by the procedural animator
(`animate_clip`) with a constant emotion other than the clip's first one, at an intensity drawn as
the corpus draws them. Between a clip and its variants only the emotion differs.

The source's cached speech features are linked under the new corpus's cache key (the speech is the
same), all but the emotion priors, which depend on the motion.

    python -m facetalk.synth.relabel CORPUS OUT [--variants 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from facetalk.data.cache import dataset_key
from facetalk.data.formats.native import NativeDataset
from facetalk.errors import OutputError
from facetalk.files import cache_dir
from facetalk.synth.build import MAX_INTENSITY, MIN_INTENSITY, Corpus, _write_json, animate_clip, clip_paths, write_npz
from facetalk.types import EMOTIONS, EmotionSchedule

PRIOR_CACHE_PREFIX = "emotion-prior"
"""Cache entries that depend on a clip's motion, not its speech: not shared with the variants."""


def relabel_corpus(source: Path, out: Path, *, variants: int = 2, seed: int = 0, cache: Path | None = None,
                   progress: bool = True) -> Path:  # fmt: skip
    """Write `out`: the corpus at `source` plus `variants` re-labelled copies of each training clip.

    The corpus is written into `<out>.partial` and renamed to `out` when complete, so an interrupted run
    leaves no half corpus under `out`.

    Args:
        source: a complete synthetic corpus.
        out: a new directory.
        variants: re-labelled copies per training clip.
        seed: decides the copies' emotions and intensities.
        cache: the feature cache whose entries for `source` are linked for `out`; facetalk's by default.
        progress: show a progress bar (training clips) on stderr.

    Returns:
        `out`.

    Raises:
        OutputError: `out` exists.
    """
    from tqdm import tqdm

    if out.exists():
        raise OutputError(f"{out}: exists; choose a new directory")
    final, out = out, out.with_name(out.name + ".partial")
    shutil.rmtree(out, ignore_errors=True)  # what an interrupted run left
    corpus = Corpus.open(source)
    (out / "clips").mkdir(parents=True)
    for name in ("speakers", "sentences.json"):
        os.symlink((source / name).resolve(), out / name)
    for path in sorted((source / "clips").iterdir()):
        os.symlink(path.resolve(), out / "clips" / path.name)
    records = [json.loads(line) for line in (source / "manifest.jsonl").read_text().splitlines() if line.strip()]
    splits = json.loads((source / "splits.json").read_text())
    aliases: dict[str, str] = {}  # variant id -> its source clip's id
    train = NativeDataset(source, split="train", vertices=False)
    for index in tqdm(range(len(train)), unit="clip", desc="relabel", disable=not progress):
        sample, record = train[index], train.records[index]
        assert sample.alignment is not None, "a synthetic corpus clip has its TextGrid"
        plan = corpus.plan(int(record["index"]))
        rng = np.random.default_rng([seed, int(record["index"])])
        own = str(record["emotion"][0]["emotion"])
        others = [e for e in EMOTIONS if e != own]
        for k in range(variants):
            emotion = EmotionSchedule.constant(
                others[int(rng.integers(len(others)))], float(rng.uniform(MIN_INTENSITY, MAX_INTENSITY))
            )
            weights = animate_clip(corpus, plan, sample.audio, sample.alignment, emotion)  # (T, 52)
            clip_id = f"{sample.clip_id}e{k}"
            paths, original = clip_paths(out, clip_id), clip_paths(source, sample.clip_id)
            write_npz(paths["npz"], {"weights": weights.astype(np.float32),
                                     "vertices": plan.speaker.rig().to_vertices(weights).astype(np.float16),
                                     "fps": np.asarray(corpus.fps, dtype=np.float32)})  # fmt: skip
            for kind in ("wav", "textgrid"):
                os.symlink(original[kind].resolve(), paths[kind])
            variant: dict[str, Any] = {
                **record,
                "clip_id": clip_id,
                "emotion": emotion.to_json(),
                "relabelled_from": sample.clip_id,
            }
            _write_json(paths["record"], variant, indent=None)
            records.append(variant)
            splits["train"].append(clip_id)
            aliases[clip_id] = sample.clip_id
    with (out / "manifest.jsonl").open("w") as file:
        file.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    _write_json(out / "splits.json", splits)
    info = json.loads((source / "corpus.json").read_text())
    relabelled = {"source": str(source.resolve()), "variants": variants, "seed": seed}
    _write_json(out / "corpus.json", {**info, "num_clips": len(records), "relabelled": relabelled})
    out.rename(final)
    _link_features(cache or cache_dir() / "features", dataset_key("native", source), dataset_key("native", final), aliases)
    return final


def _link_features(cache: Path, source_key: str, out_key: str, aliases: dict[str, str]) -> None:
    """Link the source corpus's cached features (`<clip id>-<content hash>.npy`) under `out_key`, for its own
    clips and for each variant of theirs."""
    variants: dict[str, list[str]] = {}
    for clip_id, original in aliases.items():
        variants.setdefault(original, []).append(clip_id)
    for directory in sorted((cache / source_key).glob("*")) if (cache / source_key).is_dir() else []:
        own = directory.name.startswith(PRIOR_CACHE_PREFIX)
        target = cache / out_key / directory.name
        target.mkdir(parents=True, exist_ok=True)
        for path in directory.glob("*.npy"):
            clip_id, _, content = path.name.partition("-")
            for name in [clip_id] + ([] if own else variants.get(clip_id, [])):
                link = target / f"{name}-{content}"
                if not link.exists():
                    try:
                        os.link(path, link)
                    except OSError:
                        shutil.copyfile(path, link)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a synthetic corpus")
    parser.add_argument("out", type=Path, help="the new corpus directory")
    parser.add_argument("--variants", type=int, default=2, help="re-labelled copies per training clip")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    relabel_corpus(args.source, args.out, variants=args.variants, seed=args.seed)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
