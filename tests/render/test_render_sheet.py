"""The blendshape contact sheet: its size, 53 rendered cells with labels, and clean failures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facetalk.errors import InvalidInputError, OutputError
from facetalk.face.arkit import ARKIT_NAMES
from facetalk.render.sheet import LABEL_BACKGROUND, cell_box, face_sheet, label_height

COLUMNS = 8
CELL = 64
MIN_CELL_STD = 15.0  # a rendered face cell; an empty slot is flat label background
DARK_TEXT = 128  # label text is drawn dark on a light strip


def test_sheet_has_one_labelled_cell_per_shape_plus_neutral(tmp_path: Path) -> None:
    out = face_sheet(tmp_path / "sheet.png", columns=COLUMNS, cell=CELL)
    image = np.asarray(Image.open(out).convert("RGB"))
    num_cells = len(ARKIT_NAMES) + 1
    rows = math.ceil(num_cells / COLUMNS)
    assert image.shape == (rows * (CELL + label_height(CELL)), COLUMNS * CELL, 3)
    for index in range(rows * COLUMNS):
        left, top, right, bottom = cell_box(index, columns=COLUMNS, cell=CELL)
        pixels = image[top:bottom, left:right]
        if index < num_cells:
            assert pixels.std() > MIN_CELL_STD, f"cell {index} is blank"
            label = image[bottom : bottom + label_height(CELL), left:right]
            assert (label.min(axis=-1) < DARK_TEXT).any(), f"cell {index} has no label"
        else:
            assert (pixels == LABEL_BACKGROUND).all(), f"slot {index} should be empty"


def test_sheet_needs_a_png_path(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"sheet\.jpg"):
        face_sheet(tmp_path / "sheet.jpg", cell=CELL)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_sheet_path_raises_output_error(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("not a directory")
    with pytest.raises(OutputError, match=r"plain\.txt"):
        face_sheet(tmp_path / "plain.txt" / "sheet.png", cell=CELL)
    assert [p.name for p in tmp_path.iterdir()] == ["plain.txt"]


def test_contact_strip_renders_one_labelled_cell_per_pose(tmp_path):
    from facetalk.face.default_face import default_rig
    from facetalk.render import contact_strip

    rig = default_rig()
    weights = np.zeros((3, rig.num_shapes), np.float32)
    weights[1, rig.names.index("jawOpen")] = 1.0
    weights[2, rig.names.index("eyeBlinkLeft")] = 1.0
    path = contact_strip(rig.to_vertices(weights), ["rest", "jaw", "blink"], tmp_path / "strip.png", cell=96)
    image = np.asarray(Image.open(path))
    assert image.shape[:2] == (96 + label_height(96), 3 * 96)
    cells = [image[:96, k * 96 : (k + 1) * 96].astype(float) for k in range(3)]
    assert all(c.std() > 10 for c in cells)  # a face in every cell
    assert np.abs(cells[1] - cells[0]).mean() > 1 and np.abs(cells[2] - cells[0]).mean() > 0.2  # the poses show
    with pytest.raises(InvalidInputError, match="one label per pose"):
        contact_strip(rig.to_vertices(weights), ["a"], tmp_path / "bad.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["strip.png"]
