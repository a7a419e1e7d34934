"""`facetalk serve --workers 2`: two processes on one port answer for each other's jobs, and stream."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import numpy as np
import pytest
import soundfile
from websockets.sync.client import connect

from facetalk.assets import asset_path, weights_path
from facetalk.audio import load_audio

pytestmark = pytest.mark.skipif(weights_path("conv_baseline_stream") is None, reason="needs weights/conv_baseline_stream")


def multipart(fields: dict[str, str], audio: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="a.wav"\r\n'
                 "Content-Type: audio/wav\r\n\r\n".encode() + audio + b"\r\n")  # fmt: skip
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_two_workers_share_jobs_and_stream(tmp_path: object) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "facetalk.cli", "serve", "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        workers = set()
        while len(workers) < 2:  # both workers up: /health answers from each (each connection goes to either)
            assert time.time() < deadline and server.poll() is None, "the workers did not come up"
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5) as health:
                    workers.add(json.loads(health.read())["worker"])
            except OSError:
                time.sleep(0.5)
        samples = load_audio(asset_path("speech/example.wav")).samples[:32000]
        wav = io.BytesIO()
        soundfile.write(wav, samples, 16000, format="WAV", subtype="PCM_16")
        body, kind = multipart({"wait": "false", "format": "json"}, wav.getvalue())
        request = urllib.request.Request(f"{base}/v1/animate", data=body, headers={"Content-Type": kind})
        with urllib.request.urlopen(request, timeout=60) as started:
            status_url = base + json.loads(started.read())["status_url"]
        statuses, answered = [], set()
        for _ in range(40):  # each request on a fresh connection, which the kernel hands to either worker
            with urllib.request.urlopen(status_url, timeout=30) as answer:
                statuses.append(json.loads(answer.read())["status"])
            with urllib.request.urlopen(f"{base}/health", timeout=30) as health:
                answered.add(json.loads(health.read())["worker"])
            if statuses[-1] == "done" and len(answered) == 2:
                break
            time.sleep(0.1)
        assert statuses[-1] == "done" and set(statuses) <= {"running", "done"}, statuses
        with urllib.request.urlopen(status_url + "/result", timeout=30) as result:
            assert len(json.loads(result.read())["frames"]) == 60
        pcm = np.round(samples * 32767).astype("<i2").tobytes()
        with connect(f"ws://127.0.0.1:{port}/v1/stream") as ws:
            ws.send("{}")
            for i in range(0, len(pcm), 640):
                ws.send(pcm[i : i + 640])
            ws.send('{"end": true}')
            frames = 0
            while "done" not in (message := json.loads(ws.recv(timeout=30))):
                frames += len(message["frames"])
        assert message == {"done": True, "frames": 60} and frames == 60
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
