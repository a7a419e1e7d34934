"""Paper 003's Figures 3 and 4 for a trained `audio_text_fusion` model (docs/models/audio_text_fusion.md).

Figure 3 analogue (`audio_text_fusion_pearson.png`): how strongly each modality's embedding goes with
each vertex's predicted motion, over the clips of a split. A vertex's predicted offset from the
neutral face is projected on its main direction of motion (first principal axis over all frames);
the score of the vertex is the mean over the embedding's channels of |Pearson r| between the channel
and that projection. Blue is no correlation, red the strongest of the two faces (one shared scale).

Figure 4 analogue (`audio_text_fusion_text_tsne.png`): the text encoder's output H_l for every frame
of one held-out sentence, projected to 2-D with t-SNE, coloured by the predicted eyeWide
(ARKit's AU5, upper lid raiser) and labelled with the word each frame lies in; pause frames
(H_l = 0) are grey crosses.

    .venv/bin/python docs/figures/audio_text_fusion_figures.py RUN/best CORPUS [--split test] [--clip CLIP_ID]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib
import numpy as np
import torch

from facetalk.data.formats.native import NativeDataset
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.face.default_face import default_rig
from facetalk.face.topology import face_topology
from facetalk.models.base import Conditions, load_model
from facetalk.models.inputs import InputPipeline
from facetalk.text.embed import word_frame_index

matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = Path(__file__).parent
CELL = 360
COLORMAP = "jet"  # the paper's blue-to-red
EYE_WIDE = ("eyeWideLeft", "eyeWideRight")
TSNE_PERPLEXITY = 15.0
MIN_STD = 1e-9


def predict(model: torch.nn.Module, pipeline: InputPipeline, sample: object, subjects: list[str]) -> dict[str, np.ndarray]:
    """One clip's predicted motion (T, D) and embeddings (T, A) and (T, L), as `facetalk eval` feeds it."""
    clip = pipeline.sample(sample, cached=False)  # type: ignore[arg-type]
    subject = subjects.index(sample.subject) if sample.subject in subjects else -1  # type: ignore[attr-defined]
    batch = pipeline.batch(clip, Conditions(subject=subject))
    with torch.no_grad():
        output = model(batch)
    out = {"motion": output.motion[0].numpy()}
    for name in ("audio", "text"):
        if f"{name}_embedding" in output.extras:
            out[name] = output.extras[f"{name}_embedding"][0].numpy()
    return out


def pearson_per_vertex(embedding: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Mean over channels of |r| between each channel (N, C) and each vertex's main-axis offset (N, V, 3): (V,)."""
    centred = offsets - offsets.mean(axis=0)
    axes = np.stack([np.linalg.svd(centred[:, v], full_matrices=False)[2][0] for v in range(centred.shape[1])])  # (V, 3)
    motion = np.einsum("nvk,vk->nv", centred, axes)  # (N, V)
    x = embedding - embedding.mean(axis=0)
    x = x / np.maximum(x.std(axis=0), MIN_STD)
    y = motion / np.maximum(motion.std(axis=0), MIN_STD)
    r = x.T @ y / len(x)  # (C, V)
    return np.abs(r).mean(axis=0)


def draw(values: np.ndarray, top: float) -> np.ndarray:
    from facetalk.render.offscreen import Renderer, frame_camera

    face = face_topology()
    colors = np.asarray(matplotlib.colormaps[COLORMAP](values / top))[:, :3] ** 2.2  # sRGB map -> linear
    with Renderer(face.triangles, colors, width=CELL, height=CELL, camera=frame_camera(face.vertices)) as renderer:
        return renderer.render(face.vertices)


def figure3(results: list[dict[str, np.ndarray]], out: Path) -> None:
    rig = default_rig()
    from facetalk.types import Motion

    motion = np.concatenate([r["motion"] for r in results])  # (N, 52)
    offsets = rig.animate(Motion(np.clip(motion, 0, 1), 30.0, "blendshapes", ARKIT_NAMES)).vertices() - rig.neutral[None]
    scores = {name: pearson_per_vertex(np.concatenate([r[name] for r in results]), offsets)
              for name in ("audio", "text") if name in results[0]}  # fmt: skip
    regions = face_topology()
    top = max(float(s.max()) for s in scores.values())
    fig, axes = plt.subplots(1, len(scores), figsize=(4.2 * len(scores), 4.4))
    for ax, (name, score) in zip(np.atleast_1d(axes), scores.items(), strict=True):
        upper, lips = score[regions.region("upper_face")].mean(), score[regions.region("lips")].mean()
        print(f"{name}: mean |r| upper face {upper:.3f}, lips {lips:.3f}, whole face {score.mean():.3f}")
        ax.imshow(draw(score, top))
        ax.set_title(f"{name} embedding\n|r| upper face {upper:.2f}, lips {lips:.2f}")
        ax.axis("off")
    mappable = plt.cm.ScalarMappable(cmap=COLORMAP, norm=matplotlib.colors.Normalize(0.0, top))
    fig.colorbar(mappable, ax=list(np.atleast_1d(axes)), fraction=0.03, label="mean |Pearson r|")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}")


def figure4(result: dict[str, np.ndarray], sample: object, out: Path) -> None:
    from sklearn.manifold import TSNE

    text = result["text"]  # (T, L)
    eye = result["motion"][:, [ARKIT_NAMES.index(n) for n in EYE_WIDE]].mean(axis=1)  # (T,)
    pause = ~np.any(text != 0, axis=1)
    points = TSNE(perplexity=min(TSNE_PERPLEXITY, len(text) - 1), init="pca", random_state=0).fit_transform(text)
    words = sample.alignment.words  # type: ignore[attr-defined]
    index = word_frame_index(words, len(text), sample.fps).numpy()  # type: ignore[attr-defined]
    fig, ax = plt.subplots(figsize=(7.5, 6.0))
    ax.scatter(*points[pause].T, marker="x", c="0.6", s=18, label="pause (H_l = 0)")
    dots = ax.scatter(*points[~pause].T, c=eye[~pause], cmap="viridis", s=22)
    for w, word in enumerate(words):
        frames = np.flatnonzero(index == w)
        if len(frames):
            middle = frames[len(frames) // 2]
            ax.annotate(word.text, points[middle], fontsize=9, xytext=(3, 3), textcoords="offset points")
    fig.colorbar(dots, ax=ax, label="predicted eyeWide (AU5 analogue)")
    ax.set_title(f'"{sample.text}"', fontsize=9)  # type: ignore[attr-defined]
    ax.legend(loc="best", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--clip", default="", help="the held-out sentence of Figure 4 (default: the split's longest clip)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.model)
    pipeline = InputPipeline.for_model(model)
    subjects = list(model.metadata.get("subjects", []))
    samples = list(NativeDataset(args.corpus, split=args.split))
    results = [predict(model, pipeline, sample, subjects) for sample in samples]
    figure3(results, HERE / "audio_text_fusion_pearson.png")
    if "text" in results[0]:
        chosen = next((i for i, s in enumerate(samples) if s.clip_id == args.clip), None)
        if chosen is None:
            chosen = int(np.argmax([s.num_frames for s in samples]))
        figure4(results[chosen], samples[chosen], HERE / "audio_text_fusion_text_tsne.png")


if __name__ == "__main__":
    main()
