"""A contact sheet of the default face's blendshapes: the neutral face, then every shape at weight 1.

The neutral cell shows the whole face; the shapes of the eyes and brows are shown on the upper face,
all other shapes on the lower face. Each of these views has one camera framed on all the poses at
once, so that what differs between two cells of a view is the shape and not the framing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from facetalk.errors import InvalidInputError
from facetalk.face.default_face import BLENDSHAPE_REGIONS, SceneMesh, default_rig, scene_mesh
from facetalk.files import atomic_output
from facetalk.render.offscreen import Camera, Renderer, frame_camera
from facetalk.render.video import caption_font

NEUTRAL_LABEL = "neutral"
LABEL_HEIGHT_FRACTION = 0.125  # the label strip under each cell, relative to the cell size
LABEL_TEXT_FRACTION = 0.6  # text size relative to the label strip
LABEL_MIN_PX = 8
LABEL_MAX_WIDTH_FRACTION = 0.96  # of the cell width
LABEL_BACKGROUND = (245, 245, 245)
LABEL_COLOR = (20, 20, 20)
MIN_CELL = 16
# ARKit's mouthClose only means something on an open jaw (Apple illustrates it that way too).
SHOWN_WITH = {"mouthClose": "jawOpen"}
SHEET_MARGIN = 1.05  # every pose is inside the framed box already, so little room is needed
UPPER_REGIONS = ("eye_", "brow_", "forehead")  # shapes of these regions are shown on the upper face
VIEWS = {"face": ("skin",), "upper": ("eyes", "brows"), "lower": ("mouth", "jaw", "cheeks")}  # the regions each view frames


def label_height(cell: int) -> int:
    """Height in pixels of the label strip under a cell of `cell` x `cell` pixels."""
    return max(LABEL_MIN_PX + 2, round(cell * LABEL_HEIGHT_FRACTION))


def cell_box(index: int, *, columns: int, cell: int) -> tuple[int, int, int, int]:
    """Pixel box (left, top, right, bottom) of the rendered image of cell `index` (labels excluded)."""
    row, column = divmod(index, columns)
    top = row * (cell + label_height(cell))
    return column * cell, top, (column + 1) * cell, top + cell


def face_sheet(
    path: str | Path,
    *,
    columns: int = 8,
    cell: int = 256,
    weight: float = 1.0,
    yaw: float = 0.0,
    pitch: float = 0.0,
    backend: str | None = None,
) -> Path:
    """Render the neutral face and each blendshape of `default_rig()` as a labelled PNG grid.

    Cell 0 is the neutral face, cell k the rig's k-th shape (ARKit order) at `weight`, except that
    mouthClose is shown together with jawOpen; each cell has its name in a strip underneath. The
    sheet is `columns * cell` pixels wide and `ceil((K + 1) / columns) * (cell + label_height(cell))`
    high.

    Args:
        path: output PNG, written atomically.
        columns: cells per row.
        cell: size of each square cell's image in pixels.
        weight: the weight each shape is shown at.
        yaw: degrees to orbit the camera toward the subject's left (about 35 for a 3/4 view).
        pitch: degrees to orbit the camera upward.
        backend: offscreen backend, "egl" or "osmesa"; see `facetalk.render.offscreen`.

    Returns:
        The path written.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InvalidInputError(f"{path}: a face sheet is written as .png")
    if columns < 1 or cell < MIN_CELL:
        raise InvalidInputError(f"{path}: need columns >= 1 and cell >= {MIN_CELL}, got columns={columns}, cell={cell}")
    rig = default_rig()
    weights = np.concatenate([np.zeros((1, rig.num_shapes), np.float32), weight * np.eye(rig.num_shapes, dtype=np.float32)])
    labels = [NEUTRAL_LABEL, *rig.names]
    for name, companion in SHOWN_WITH.items():
        if name in rig.names and companion in rig.names:
            weights[1 + rig.names.index(name), rig.names.index(companion)] = weight
            labels[1 + rig.names.index(name)] = f"{name} + {companion}"
    scene = scene_mesh(rig.to_vertices(weights))  # (K + 1, N, 3)
    skin = scene.vertices[:, : rig.topology.num_vertices]  # (K + 1, V, 3)
    # One camera per part of the face, framed on that part's skin in every pose at once: a shape that
    # moves outside the neutral box stays in view, and the accessories deep inside the head (eyeballs,
    # mouth bag) don't shrink the face. The neutral cell shows the whole face.
    cameras = {
        part: frame_camera(
            skin[:, np.concatenate([rig.topology.region(r) for r in regions])], yaw=yaw, pitch=pitch, margin=SHEET_MARGIN
        )
        for part, regions in VIEWS.items()
    }
    parts = ["face", *(_part(name) for name in rig.names)]
    return _labelled_grid(scene, labels, [cameras[part] for part in parts], path, columns=columns, cell=cell, backend=backend)


def contact_strip(
    face_vertices: np.ndarray,
    labels: Sequence[str],
    path: str | Path,
    *,
    columns: int | None = None,
    cell: int = 256,
    backend: str | None = None,
) -> Path:
    """Render poses of the default face topology side by side, labelled, as a PNG.

    Args:
        face_vertices: one pose per cell, shape (K, V, 3), e.g. frames of several clips or speakers.
        labels: one label per pose.
        path: output PNG, written atomically.
        columns: cells per row; all in one row by default.
        cell: size of each square cell in pixels.
        backend: offscreen backend, "egl" or "osmesa".
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise InvalidInputError(f"{path}: a contact strip is written as .png")
    if len(face_vertices) != len(labels) or not len(labels):
        raise InvalidInputError(f"{path}: need one label per pose, got {len(face_vertices)} poses and {len(labels)} labels")
    scene = scene_mesh(face_vertices)
    skin = scene.vertices[:, : len(face_vertices[0])]
    camera = frame_camera(skin, margin=SHEET_MARGIN)  # one camera: the cells compare directly
    return _labelled_grid(scene, labels, [camera] * len(labels), path, columns=columns or len(labels), cell=cell, backend=backend)


def _labelled_grid(
    scene: SceneMesh,
    labels: Sequence[str],
    cameras: Sequence[Camera],
    path: Path,
    *,
    columns: int,
    cell: int,
    backend: str | None,
) -> Path:
    """Render each pose of `scene` through its camera into a grid of labelled cells; write the PNG."""
    rows = math.ceil(len(labels) / columns)
    strip = label_height(cell)
    sheet = Image.new("RGB", (columns * cell, rows * (cell + strip)), LABEL_BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font_size = max(LABEL_MIN_PX, round(strip * LABEL_TEXT_FRACTION))
    font = caption_font(font_size)
    widest = max(draw.textlength(label, font=font) for label in labels)
    if widest > cell * LABEL_MAX_WIDTH_FRACTION:  # long names (mouthLowerDownRight) must fit small cells
        font = caption_font(max(LABEL_MIN_PX, int(font_size * cell * LABEL_MAX_WIDTH_FRACTION / widest)))
    with Renderer(scene.triangles, scene.colors, width=cell, height=cell, backend=backend) as renderer:
        for index, (label, camera, vertices) in enumerate(zip(labels, cameras, scene.vertices, strict=True)):
            renderer.camera = camera
            left, top, right, bottom = cell_box(index, columns=columns, cell=cell)
            sheet.paste(Image.fromarray(renderer.render(vertices)), (left, top))
            draw.text(((left + right) / 2, bottom + strip / 2), label, font=font, fill=LABEL_COLOR, anchor="mm")
    with atomic_output(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path


def _part(name: str) -> str:
    """ "upper" for shapes of the eyes and brows, "lower" for the rest (mouth, jaw, cheeks, nose)."""
    return "upper" if BLENDSHAPE_REGIONS.get(name, "").startswith(UPPER_REGIONS) else "lower"
