"""Paper 001's Figure 7 for our models: the vertex region each channel of the embedding W reaches.

For each model, the channels of W with the largest norm are drawn on the default face, coloured
from blue (no influence) through green to red (the channel's strongest vertex). It also prints how
concentrated the channels are: the share of each channel's squared influence held by its top 10 %
of vertices (median over all channels), which is 0.10 for a channel spread evenly over the face.

    .venv/bin/python docs/figures/composite_regional_regions.py RUN_WITH/best RUN_WITHOUT/best docs/figures/out.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw

from facetalk.face.topology import face_topology
from facetalk.models.base import load_model
from facetalk.models.composite_regional import embedding_influence
from facetalk.render.offscreen import Renderer, frame_camera
from facetalk.render.video import caption_font

CHANNELS = 8
CELL = 220
LABEL = 34
TOP_SHARE = 0.10
COLORMAP = "jet"  # the paper's blue-green-red


def concentration(influence: np.ndarray) -> float:
    """Median over channels of the share of squared influence on the channel's top 10 % of vertices."""
    energy = np.sort(influence**2, axis=1)[:, ::-1]  # (E, V), largest first
    top = max(1, round(TOP_SHARE * energy.shape[1]))
    return float(np.median(energy[:, :top].sum(axis=1) / energy.sum(axis=1)))


def row(influence: np.ndarray, face_vertices: np.ndarray) -> list[Image.Image]:
    """The strongest channels' influence drawn on the face, one image each."""
    strongest = np.argsort(-np.linalg.norm(influence, axis=1))[:CHANNELS]
    cells = []
    for channel in strongest:
        values = influence[channel] / influence[channel].max()
        colors = np.asarray(matplotlib.colormaps[COLORMAP](values))[:, :3] ** 2.2  # sRGB map -> linear
        camera = frame_camera(face_vertices)
        with Renderer(face_topology().triangles, colors, width=CELL, height=CELL, camera=camera) as renderer:
            cells.append(Image.fromarray(renderer.render(face_vertices)))
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("with_regularizer", type=Path)
    parser.add_argument("without_regularizer", type=Path)
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    face = face_topology().vertices
    rows = []
    for title, path in (
        ("with sparsity regularizer", args.with_regularizer),
        ("w/o sparsity regularizer", args.without_regularizer),
    ):
        influence = embedding_influence(load_model(path))  # type: ignore[arg-type]
        share = concentration(influence)
        print(f"{title}: median share of a channel's squared influence on its top 10 % of vertices = {share:.3f}")
        rows.append((f"{title} (top-10 % share {share:.2f})", row(influence, face)))
    sheet = Image.new("RGB", (CHANNELS * CELL, len(rows) * (CELL + LABEL)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = caption_font(20)
    for r, (title, cells) in enumerate(rows):
        top = r * (CELL + LABEL)
        draw.text((8, top + 6), title, fill=(20, 20, 20), font=font)
        for c, cell in enumerate(cells):
            sheet.paste(cell, (c * CELL, top + LABEL))
    sheet.save(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
