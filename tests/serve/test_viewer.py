"""The browser viewer in headless Chromium: the example, the mouth open on a vowel and closed on a bilabial,
the browser's WebSocket path, and the microphone (Chromium's fake capture device playing a WAV).

Needs Debian's `chromium-headless-shell`, three.js in the venv (both installed by `make`) and the
shipped streaming model; skipped without them. The server runs in a thread on a free port
(conftest.py); the page is driven over Chromium's DevTools protocol, polled until it is ready
(virtual time, which `--dump-dom` and `--screenshot` wait on, does not wait for all of it).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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
TIMEOUT_S = 90.0
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or three_dir() is None or weights_path("conv_baseline_stream") is None,
    reason="needs chromium-headless-shell, three.js (make) and weights/conv_baseline_stream",
)


@contextlib.contextmanager
def page(url: str, *flags: str) -> Iterator[Callable[..., Any]]:
    """Open `url` in headless Chromium (with extra command-line `flags`); yields `call(method, **params)`
    over the DevTools protocol."""
    from websockets.sync.client import connect

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [str(CHROMIUM), "--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
               f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--remote-debugging-port={port}", *flags, url]  # fmt: skip
    # a session of its own, so that its GPU and renderer processes end with it
    browser = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + TIMEOUT_S
        while True:
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=5))
                target = next(t for t in targets if t["type"] == "page")
                break
            except (OSError, StopIteration):
                assert time.time() < deadline, "Chromium's DevTools did not come up"
                time.sleep(0.2)
        with connect(target["webSocketDebuggerUrl"], max_size=None) as devtools:
            ids = itertools.count(1)

            def call(method: str, **params: Any) -> Any:
                number = next(ids)
                devtools.send(json.dumps({"id": number, "method": method, "params": params}))
                reply = json.loads(devtools.recv(timeout=30))
                while reply.get("id") != number:  # events
                    reply = json.loads(devtools.recv(timeout=30))
                return reply["result"]

            yield call
    finally:
        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait(timeout=10)


def wait_for(call: Callable[..., Any], expression: str) -> Any:
    """Evaluate `expression` in the page until it is truthy (or the timeout); return its value."""
    deadline = time.time() + TIMEOUT_S
    while True:
        value = call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")
        if value or time.time() > deadline:
            return value
        time.sleep(0.2)


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
    counts = {}
    for name, frame in frames.items():
        with page(f"{server}/?example=1&frame={frame}") as call:
            assert wait_for(call, "document.body.dataset.ready") == "1"
            assert wait_for(call, "document.body.dataset.errors") == "0"  # no error or rejected promise on the page
            assert "frames at 30 fps" in wait_for(call, "document.getElementById('status').textContent")
            shot = tmp_path / f"viewer_{name}.png"
            shot.write_bytes(base64.b64decode(call("Page.captureScreenshot", format="png")["data"]))
        counts[name] = dark_mouth_pixels(shot)
        face = np.asarray(Image.open(shot).convert("RGB"))[FACE_BOX[1] : FACE_BOX[3], FACE_BOX[0] : FACE_BOX[2]]
        assert face.std() > 20  # a face was drawn, not an empty canvas
    assert counts["vowel"] > 400, counts  # an open mouth shows its dark interior
    assert counts["bilabial"] < 0.1 * counts["vowel"], counts  # closed lips hide it (a hairline gap may stay)


def test_viewer_streams_over_the_websocket(server: str) -> None:
    """The browser's WebSocket path (what the microphone uses): the example sent as 16 kHz PCM chunks."""
    from facetalk.audio import load_audio
    from facetalk.audio.rate import num_motion_frames

    expected = num_motion_frames(load_audio(asset_path("speech/example.wav")).duration, 30.0)
    with page(f"{server}/?live=1") as call:
        done = wait_for(call, "document.body.dataset.liveDone")
        received = wait_for(call, "document.body.dataset.liveFrames")
    assert done == received == str(expected)  # every frame the server sent arrived


def test_viewer_streams_the_microphone(server: str) -> None:
    """The microphone path: Chromium's fake capture device plays the example WAV (looped) into
    getUserMedia; the page resamples it to 16 kHz and streams it over the WebSocket; frames come back
    and move the jaw as the file itself does; stopping the microphone ends the stream with every
    frame delivered. (A silent WAV leaves jawOpen at 0 this way.)"""
    from facetalk.stream import stream_file

    stream, offline = stream_file(asset_path("speech/example.wav"))
    jaw_offline = max(float(f.weights[stream.channels.index("jawOpen")]) for f in offline)
    flags = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             f"--use-file-for-fake-audio-capture={asset_path('speech/example.wav')}",
             "--autoplay-policy=no-user-gesture-required")  # fmt: skip
    with page(f"{server}/?mic=1", *flags) as call:
        assert wait_for(call, "document.body.dataset.mic") == "on"
        # 6.7 s of microphone: the whole example at least once
        frames = wait_for(call, "Number(document.body.dataset.liveFrames || 0) >= 200 && document.body.dataset.liveFrames")
        jaw = float(wait_for(call, "document.body.dataset.liveJaw"))
        call("Runtime.evaluate", expression="document.getElementById('mic').click()")  # stop: {"end": true}
        done = wait_for(call, "document.body.dataset.liveDone")
        received = wait_for(call, "document.body.dataset.liveFrames")
        status = call("Runtime.evaluate", expression="document.getElementById('status').textContent", returnByValue=True)
    assert frames and int(frames) >= 200, frames
    assert abs(jaw - jaw_offline) < 0.1, (jaw, jaw_offline)  # the jaw opens as on the file (0.94 here)
    assert done is not None and int(done) == int(received) >= int(frames), (done, received)
    assert "error" not in status["result"]["value"], status
