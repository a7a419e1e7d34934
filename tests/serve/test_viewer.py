"""The browser viewer in headless Chromium: the example, the mouth open on a vowel and closed on a bilabial.

Needs Debian's `chromium-headless-shell`, three.js in the venv (both installed by `make`) and the
shipped streaming model; skipped without them. The server runs in a thread on a free port (conftest.py).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facetalk.assets import asset_path, weights_path
from facetalk.serve.app import three_dir

CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium")
WINDOW = (1000, 880)
FACE_BOX = (16, 16, 656, 656)  # the face canvas on the page (16 px padding, 640 x 640)
MOUTH_BOX = (230, 370, 440, 490)  # the mouth on that canvas, page pixels
DARK = 45  # the mouth interior is near black; skin, lips and background are all brighter
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or three_dir() is None or weights_path("conv_baseline_stream") is None,
    reason="needs chromium-headless-shell, three.js (make) and weights/conv_baseline_stream",
)


def chromium(url: str, *args: str) -> str:
    command = [str(CHROMIUM), "--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
               f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=30000", *args, url]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.fixture(scope="module")
def frames() -> dict[str, int]:
    """A frame in the middle of an open vowel and one in the middle of a bilabial of the example."""
    from facetalk.audio import load_audio
    from facetalk.text.align import align

    alignment = align(load_audio(asset_path("speech/example.wav")), asset_path("speech/example.txt").read_text())
    phones = [(p.label.rstrip("012"), p) for p in alignment.phones]  # ARPAbet with stress digits
    vowel = max((p for label, p in phones if label in ("AA", "AE", "AY", "AW")), key=lambda p: p.end - p.start)
    bilabial = max((p for label, p in phones if label in ("M", "B", "P")), key=lambda p: p.end - p.start)
    return {name: round((p.start + p.end) / 2 * 30) for name, p in (("vowel", vowel), ("bilabial", bilabial))}


def dark_mouth_pixels(path: Path) -> int:
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.int32)
    left, top, right, bottom = MOUTH_BOX
    return int((pixels[top:bottom, left:right].max(axis=2) < DARK).sum())


def test_viewer_shows_the_example_without_errors(server: str, frames: dict[str, int], tmp_path: Path) -> None:
    dom = chromium(f"{server}/?example=1&frame={frames['vowel']}", "--dump-dom")
    assert 'data-ready="1"' in dom and 'data-errors="0"' in dom
    assert "52 morph targets" in dom or "frames at 30 fps" in dom
    counts = {}
    for name, frame in frames.items():
        shot = tmp_path / f"viewer_{name}.png"
        chromium(f"{server}/?example=1&frame={frame}", f"--screenshot={shot}")
        counts[name] = dark_mouth_pixels(shot)
        face = np.asarray(Image.open(shot).convert("RGB"))[FACE_BOX[1] : FACE_BOX[3], FACE_BOX[0] : FACE_BOX[2]]
        assert face.std() > 20  # a face was drawn, not an empty canvas
    assert counts["vowel"] > 400, counts  # an open mouth shows its dark interior
    assert counts["bilabial"] < 0.1 * counts["vowel"], counts  # closed lips hide it (a hairline gap may stay)
