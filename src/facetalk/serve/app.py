"""`facetalk serve`: animation over HTTP and WebSocket, and the browser viewer (FastAPI + uvicorn).

- `GET /health`: `{"status": "ok", "model", "personas", "streams", "max_streams", "jobs", "worker"}`
  (`streams` and `max_streams` of the worker process `worker` that answered).
- `POST /v1/animate`: a multipart upload (`audio`: the speech file; form fields `format`,
  `emotion`, `persona`, `model`, `wait`) answered with the animation in the export format, or, for
  speech longer than `sync_limit_s` (or `wait=false`), `202 {"job", "status_url"}`; `GET
  /v1/jobs/{id}` reports `{"status": "running" | "done" | "failed", "progress"}` and `GET
  /v1/jobs/{id}/result` returns the file.
- `WebSocket /v1/stream`: a first JSON text message with the options (`sample_rate`, `emotion`,
  `persona`, `model`, `format`: "json" or "binary", `lookahead`), then binary 16-bit little-endian
  PCM chunks, answered with `{"frames": [{"time": s, "weights": {name: value}}]}` (or binary
  frames, `facetalk.stream.frames_binary`); text messages `{"emotion": ...}` / `{"persona": ...}`
  change them live; `{"end": true}` flushes the lookahead, answers `{"done": true, "frames": n}`
  and closes.
- `GET /`: the viewer (static files; three.js from the npm package installed by `make`).

Every bad request gets a JSON body `{"error": message}` with a 4xx status; on the WebSocket the
error message is followed by a close with code 4000 + the HTTP status (4400 malformed, 4401 API
key, 4408 idle, 4413 too large, 4429 too many streams). Each stream is one coroutine that reads
its chunks and feeds their features, and one task that sends its frames (`Outbox`); the model
runs of all streams with frames due within `batch_window_s` are one batched run (`Batcher`). A
client that stops reading blocks only its own sender until `send_timeout_s` drops it (`Watchdog`),
a vanished one ends its coroutine. `serve(workers=N)` runs N such processes on one port.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import os
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.websockets import WebSocketDisconnect, WebSocketState

from facetalk.errors import FacetalkError, InvalidInputError
from facetalk.models.base import Animator
from facetalk.stream import DEFAULT_STREAM_MODEL, AnimationStream, Frame, frame_json, frames_binary, frames_message, run_streams
from facetalk.types import EmotionSchedule, Motion, Waveform

STATIC_DIR = Path(__file__).parent / "static"
THREE_ENV = "FACETALK_THREE_DIR"
"""Overrides where the three.js npm package is (default: `<venv>/node/node_modules/three`, installed by `make`)."""
RESPONSE_FORMATS = {"npz": ("application/octet-stream", ".npz"), "arkit-json": ("application/json", ".json"),
                    "livelink-csv": ("text/csv", ".csv"), "glb": ("model/gltf-binary", ".glb"),
                    "json": ("application/json", ".json")}  # fmt: skip
"""`POST /v1/animate` formats: the export formats, and "json" (the WebSocket's frames form)."""
WS_CLOSE_BASE = 4000
"""WebSocket close code of an error: 4000 + its HTTP status."""
PROGRESS_CHUNK_S = 1.0
"""Speech per step of a job that streams, for its progress."""
SETTINGS_ENV = "FACETALK_SERVE_SETTINGS"
"""How `serve(workers=N)` hands its settings (JSON) to the worker processes."""


@dataclass
class ServeSettings:
    """Limits and choices of a server.

    Attributes:
        model: the default model (a streaming one, so that the WebSocket has a default).
        api_key: when set, every `/v1` request needs it (`X-API-Key` header, `Authorization: Bearer`,
            or the `api_key` query parameter, which browsers' WebSockets need).
        max_upload_bytes: the largest upload.
        max_duration_s: the longest speech, uploaded or streamed.
        max_streams: concurrent WebSocket streams.
        max_chunk_bytes: the largest PCM message.
        sync_limit_s: uploads longer than this become jobs.
        idle_timeout_s: a stream that sends nothing for this long is closed.
        send_timeout_s: a stream whose client does not take its frames for this long is dropped.
        max_jobs: jobs kept (finished ones are forgotten oldest first).
        batch_window_s: how long a model run waits for the chunks of other streams to join it (more
            streams per run cost less CPU each; a frame waits up to this long).
        workdir: where uploads, results and jobs go (shared by the worker processes of one server);
            None: a new temporary directory.
    """

    model: str = DEFAULT_STREAM_MODEL
    api_key: str | None = None
    max_upload_bytes: int = 25 * 2**20
    max_duration_s: float = 600.0
    max_streams: int = 64
    max_chunk_bytes: int = 2**16
    sync_limit_s: float = 30.0
    idle_timeout_s: float = 30.0
    send_timeout_s: float = 10.0
    max_jobs: int = 32
    batch_window_s: float = 0.01
    workdir: str | None = None


class RequestError(FacetalkError):
    """A bad request: a one-line message and its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class JobStore:
    """Jobs as small JSON files (`{"status", "progress", "error", "path", "media_type"}`) in a directory,
    so that every worker process of a server answers for every job."""

    def __init__(self, directory: Path, limit: int) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.limit = limit

    def create(self, media_type: str) -> str:
        """A new running job's id; the oldest finished jobs are forgotten beyond `limit`."""
        jobs = sorted(self.directory.glob("*.json"), key=lambda path: path.stat().st_mtime)
        finished = [path for path in jobs if (self.get(path.stem) or {}).get("status") != "running"]
        while len(jobs) >= self.limit and finished:
            oldest = finished.pop(0)
            oldest.unlink(missing_ok=True)
            jobs.remove(oldest)
        if len(jobs) >= self.limit:
            raise RequestError(429, f"too many running jobs (limit {self.limit})")
        job_id = uuid.uuid4().hex
        self.update(job_id, status="running", progress=0.0, error=None, path=None, media_type=media_type)
        return job_id

    def update(self, job_id: str, **fields: Any) -> None:
        """Change fields of a job (written whole, then renamed: a reader never sees half a file)."""
        job = {**(self.get(job_id) or {}), **fields}
        partial = self.directory / f"{job_id}.{os.getpid()}.{threading.get_ident()}.tmp"
        partial.write_text(json.dumps(job))
        partial.replace(self.directory / f"{job_id}.json")

    def get(self, job_id: str) -> dict[str, Any] | None:
        """A job's fields, or None for an unknown id."""
        if not job_id.isalnum():
            return None
        try:
            value: dict[str, Any] = json.loads((self.directory / f"{job_id}.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return value

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*.json"))


class Batcher:
    """Runs the model of every stream with frames due in one go (`facetalk.stream.run_streams`).

    A stream's coroutine feeds its chunks as they come and `request`s its frames; the batcher task
    wakes, lets the other streams' chunks arrive for `window_s`, runs every requesting stream at
    once and hands each its frames (`Outbox.put`): one model run per window instead of one per
    chunk, whatever the number of streams (the model's cost is mostly per run, not per frame). A
    stream that fell behind has all its waiting chunks in that run, so it catches up at once.
    """

    def __init__(self, window_s: float = 0.0) -> None:
        self.window_s = window_s
        self.waiting: dict[AnimationStream, Outbox] = {}
        self.wake = asyncio.Event()

    def request(self, stream: AnimationStream, outbox: Outbox) -> None:
        """Compute `stream`'s frames due (those of its chunks fed so far) in the next run, into `outbox`."""
        self.waiting[stream] = outbox
        self.wake.set()

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            await asyncio.sleep(self.window_s)  # the chunks that arrive meanwhile join the run
            items, self.waiting = self.waiting, {}
            streams = [stream for stream in items if stream.ready]  # one that ended meanwhile has none due
            try:
                results = run_streams(streams)
            except Exception as exc:  # a bug: each stream of the run reports it
                for outbox in items.values():
                    outbox.abort(RequestError(500, f"internal error ({type(exc).__name__})"))
                continue
            for stream, frames in zip(streams, results, strict=True):
                items[stream].put(frames)


class Outbox:
    """A stream's frames waiting to be sent, and the task that sends them: everything waiting goes as
    one message, so a stream that fell behind catches up in a few large messages, not many small ones."""

    def __init__(self, websocket: WebSocket, channels: tuple[str, ...], *, binary: bool, watchdog: Watchdog) -> None:
        self.websocket, self.channels, self.binary, self.watchdog = websocket, channels, binary, watchdog
        self.frames: list[Frame] = []
        self.sent = 0
        self.ready = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.task = asyncio.create_task(self.run())

    def put(self, frames: list[Frame]) -> None:
        if frames:
            self.frames += frames
            self.idle.clear()
            self.ready.set()

    def abort(self, error: RequestError) -> None:
        """End the stream with `error` (see `Watchdog.abort`)."""
        self.watchdog.abort(error)

    async def run(self) -> None:
        while True:
            await self.ready.wait()
            self.ready.clear()
            while self.frames:
                frames, self.frames = self.frames, []
                self.watchdog.sending = self.watchdog.loop.time()
                if self.binary:
                    await self.websocket.send_bytes(frames_binary(frames))
                else:
                    await self.websocket.send_text(frames_message(frames, self.channels))
                self.watchdog.sending = None
                self.sent += len(frames)
            self.idle.set()

    async def drain(self) -> None:
        """Wait until every frame put has been sent (or raise what stopped the sender: a vanished client)."""
        idle = asyncio.ensure_future(self.idle.wait())
        try:
            await asyncio.wait([idle, self.task], return_when=asyncio.FIRST_COMPLETED)
        finally:
            idle.cancel()
        if not self.idle.is_set():
            self.task.result()

    def close(self) -> None:
        if self.task.done() and not self.task.cancelled():
            self.task.exception()  # retrieved: a send to a client that vanished, reported by its receive already
        self.task.cancel()


class Watchdog:
    """The idle and send timeouts of one stream without a timer per message: one timer, re-armed lazily.

    The stream's coroutine `touch`es it on every message received and its `Outbox` marks its sends;
    once nothing has arrived for `idle_s`, or a send has not finished for `send_s`, the timer cancels
    the coroutine's task, which turns the cancellation into the 408 of `expired` (`abort` does the
    same with another error). (`asyncio.timeout`
    around every receive and send cost two timer-heap entries per message, a tenth of the server's
    CPU with 50 streams.)
    """

    def __init__(self, *, idle_s: float, send_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        self.idle_s, self.send_s = idle_s, send_s
        self.received = self.loop.time()
        self.sending: float | None = None  # when the send in progress began
        self.expired: RequestError | None = None
        self.handle = self.loop.call_later(min(idle_s, send_s), self.check)

    def touch(self) -> None:
        self.received = self.loop.time()

    def abort(self, error: RequestError) -> None:
        """End the stream now with `error`, whatever its coroutine is waiting for."""
        if self.expired is None:
            self.expired = error
            if self.task is not None:
                self.task.cancel()

    def check(self) -> None:
        now = self.loop.time()
        if self.sending is not None and now - self.sending >= self.send_s:
            self.expired = RequestError(408, "the client does not read its frames")
        elif now - self.received >= self.idle_s:
            self.expired = RequestError(408, f"nothing received for {self.idle_s:g} s")
        if self.expired is None:
            sending = self.send_s - (now - self.sending) if self.sending is not None else self.send_s
            self.handle = self.loop.call_later(min(self.idle_s - (now - self.received), sending), self.check)
        elif self.task is not None:
            self.task.cancel()

    def close(self) -> None:
        self.handle.cancel()


@dataclass
class ServerState:
    settings: ServeSettings
    models: dict[str, Animator] = field(default_factory=dict)
    streams: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    workdir: Path = field(init=False)
    jobs: JobStore = field(init=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.settings.workdir or tempfile.mkdtemp(prefix="facetalk-serve-"))
        self.jobs = JobStore(self.workdir / "jobs", self.settings.max_jobs)

    def model(self, name: str | None) -> Animator:
        """A loaded model by name (loaded once, shared read-only by every request)."""
        from facetalk.models.base import open_model

        key = name or self.settings.model
        with self.lock:
            if key not in self.models:
                try:
                    self.models[key], _ = open_model(key)
                except FacetalkError as exc:
                    raise RequestError(400, f"model {key!r}: {exc}") from None
            return self.models[key]


def _schedule(value: Any) -> EmotionSchedule | None:
    """An emotion option: "happy:0.8", a list of {time, emotion, intensity} keys, or null."""
    if value in (None, ""):
        return None
    try:
        if isinstance(value, str):
            return EmotionSchedule.parse(value)
        if isinstance(value, list) and all(isinstance(k, dict) for k in value):
            from facetalk.types import EmotionKey

            return EmotionSchedule(tuple(EmotionKey(float(k["time"]), str(k["emotion"]), float(k.get("intensity", 1.0)))
                                         for k in value))  # fmt: skip
    except (InvalidInputError, KeyError, TypeError, ValueError) as exc:
        raise RequestError(400, f"emotion: {exc}") from None
    raise RequestError(400, "emotion must be 'category[:intensity]' or a list of {time, emotion, intensity} keys")


def _check_key(settings: ServeSettings, headers: Any, query: Any) -> None:
    if settings.api_key is None:
        return
    bearer = headers.get("authorization", "")
    given = headers.get("x-api-key") or (bearer[7:] if bearer.lower().startswith("bearer ") else None) or query.get("api_key")
    if given != settings.api_key:
        raise RequestError(401, "missing or wrong API key")


def animate_file(state: ServerState, path: Path, *, model: str | None, emotion: EmotionSchedule | None, persona: str | None,
                 progress: Callable[[float], None] = lambda _: None) -> Motion:  # fmt: skip
    """Animate a speech file with a model; streaming models go in steps of `PROGRESS_CHUNK_S` to report progress."""
    from facetalk.animate import animate_with_model
    from facetalk.audio import load_audio

    waveform = load_audio(path)
    if waveform.duration > state.settings.max_duration_s:
        raise RequestError(413, f"speech of {waveform.duration:.0f} s is longer than {state.settings.max_duration_s:g} s")
    animator = state.model(model)
    try:
        stream = AnimationStream(animator, emotion=emotion, persona=persona)
    except InvalidInputError:
        if persona not in (None, "", "neutral"):
            raise RequestError(400, "persona applies to streaming models only") from None
        motion = animate_with_model(waveform, model or state.settings.model, emotion=emotion)
        progress(1.0)
        return motion
    frames: list[Frame] = []
    step = round(PROGRESS_CHUNK_S * waveform.sample_rate)
    for start in range(0, len(waveform.samples), step):
        frames += stream.push(waveform.samples[start : start + step])
        progress(min(1.0, (start + step) / max(1, len(waveform.samples))))
    frames += stream.end()
    data = np.stack([f.weights for f in frames]) if frames else np.zeros((0, len(stream.channels)), np.float32)
    return Motion(data, stream.fps, "blendshapes", stream.channels)


def write_response(motion: Motion, fmt: str, directory: Path) -> Path:
    """`motion` in a response format, written under `directory`."""
    from facetalk.export import export_motion

    path = directory / f"animation{RESPONSE_FORMATS[fmt][1]}"
    if fmt == "json":
        frames = [frame_json(Frame(i, i / motion.fps, row), motion.channels) for i, row in enumerate(motion.data)]
        path.write_text(json.dumps({"fps": motion.fps, "frames": frames}))
    else:
        export_motion(motion, path, format=fmt)
    return path


def three_dir() -> Path | None:
    """The three.js package directory, if installed."""
    candidates = [os.environ.get(THREE_ENV, ""), str(Path(sys.prefix) / "node" / "node_modules" / "three")]
    return next((Path(c) for c in candidates if c and (Path(c) / "build" / "three.module.js").is_file()), None)


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """The FastAPI application of `facetalk serve`."""
    state = ServerState(settings or ServeSettings())
    batcher = Batcher(state.settings.batch_window_s)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(batcher.run())
        try:
            yield
        finally:
            task.cancel()

    app = FastAPI(title="facetalk", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.facetalk = state

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(RequestError)
    async def request_error(_: Request, exc: RequestError) -> JSONResponse:
        return error(exc.status, str(exc))

    @app.exception_handler(FacetalkError)
    async def user_error(_: Request, exc: FacetalkError) -> JSONResponse:
        return error(400, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error(422, f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(Exception)
    async def bug(_: Request, exc: Exception) -> JSONResponse:
        return error(500, f"internal error ({type(exc).__name__})")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        loaded = state.models.get(state.settings.model)
        metadata = loaded.metadata if loaded is not None else {}
        personas = [*(metadata.get("personas") or {}), *(metadata.get("subjects") or [])]
        return {"status": "ok", "model": state.settings.model, "personas": personas, "streams": state.streams,
                "max_streams": state.settings.max_streams, "jobs": len(state.jobs), "worker": os.getpid()}  # fmt: skip

    @app.post("/v1/animate")
    async def animate(request: Request) -> Response:
        _check_key(state.settings, request.headers, request.query_params)
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            raise RequestError(411, "the upload needs a Content-Length")
        if int(length) > state.settings.max_upload_bytes:
            raise RequestError(413, f"upload of {int(length)} bytes is larger than {state.settings.max_upload_bytes}")
        try:
            form = await request.form(max_files=1, max_fields=8)
        except Exception as exc:  # malformed multipart bodies
            raise RequestError(400, f"not a multipart form upload ({type(exc).__name__})") from None
        upload = form.get("audio")
        if upload is None or isinstance(upload, str):
            raise RequestError(400, "the form needs a file field 'audio'")
        fmt = str(form.get("format") or "json")
        if fmt not in RESPONSE_FORMATS:
            raise RequestError(400, f"unknown format {fmt!r} (known: {', '.join(RESPONSE_FORMATS)})")
        emotion = _schedule(form.get("emotion"))
        persona = str(form.get("persona") or "") or None
        model = str(form.get("model") or "") or None
        wait = str(form.get("wait") or "auto")
        directory = Path(tempfile.mkdtemp(dir=state.workdir))
        path = directory / f"upload{Path(upload.filename or 'speech.wav').suffix or '.wav'}"
        with path.open("wb") as out:
            shutil.copyfileobj(upload.file, out)
        await upload.close()
        duration = await run_in_threadpool(_duration, path)
        if duration > state.settings.max_duration_s:
            raise RequestError(413, f"speech of {duration:.0f} s is longer than {state.settings.max_duration_s:g} s")
        if wait == "true" or (wait == "auto" and duration <= state.settings.sync_limit_s):
            motion = await run_in_threadpool(animate_file, state, path, model=model, emotion=emotion, persona=persona)
            result = await run_in_threadpool(write_response, motion, fmt, directory)
            return Response(result.read_bytes(), media_type=RESPONSE_FORMATS[fmt][0])
        job_id = state.jobs.create(RESPONSE_FORMATS[fmt][0])

        def run() -> None:
            def progress(value: float) -> None:
                state.jobs.update(job_id, progress=value)

            try:
                result = write_response(animate_file(state, path, model=model, emotion=emotion, persona=persona,
                                                     progress=progress), fmt, directory)  # fmt: skip
                state.jobs.update(job_id, status="done", progress=1.0, path=str(result))
            except Exception as exc:  # reported through the job's status, never raised
                state.jobs.update(job_id, status="failed", error=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

        threading.Thread(target=run, daemon=True).start()
        return JSONResponse({"job": job_id, "status_url": f"/v1/jobs/{job_id}"}, status_code=202)

    @app.get("/v1/jobs/{job_id}")
    async def job_status(job_id: str, request: Request) -> dict[str, Any]:
        _check_key(state.settings, request.headers, request.query_params)
        job = state.jobs.get(job_id)
        if job is None:
            raise RequestError(404, f"no job {job_id!r}")
        return {"status": job["status"], "progress": round(job["progress"], 3), "error": job["error"],
                "result_url": f"/v1/jobs/{job_id}/result" if job["status"] == "done" else None}  # fmt: skip

    @app.get("/v1/jobs/{job_id}/result")
    async def job_result(job_id: str, request: Request) -> Response:
        _check_key(state.settings, request.headers, request.query_params)
        job = state.jobs.get(job_id)
        if job is None:
            raise RequestError(404, f"no job {job_id!r}")
        if job["status"] != "done" or job["path"] is None:
            raise RequestError(409, f"job {job_id} is {job['status']}")
        return FileResponse(job["path"], media_type=job["media_type"])

    @app.get("/v1/face.glb")
    async def face() -> Response:
        """The default face with its 52 morph targets, at rest (the viewer's mesh)."""
        path = state.workdir / "face.glb"
        if not path.is_file():
            from facetalk.export import export_motion
            from facetalk.face.arkit import ARKIT_NAMES

            rest = Motion(np.zeros((1, len(ARKIT_NAMES)), np.float32), 30.0, "blendshapes", ARKIT_NAMES)
            await run_in_threadpool(export_motion, rest, path, format="glb")
        return FileResponse(path, media_type="model/gltf-binary")

    @app.get("/v1/example.wav")
    async def example() -> Response:
        from facetalk.assets import asset_path

        return FileResponse(asset_path("speech/example.wav"), media_type="audio/wav")

    @app.websocket("/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        counted = False
        watchdog: Watchdog | None = None
        outbox: Outbox | None = None
        try:
            _check_key(state.settings, websocket.headers, websocket.query_params)
            if state.streams >= state.settings.max_streams:
                raise RequestError(429, f"too many streams (limit {state.settings.max_streams})")
            state.streams += 1
            counted = True
            options = await _receive_options(websocket, state.settings.idle_timeout_s)
            animation = _open(state, options)
            binary = options.get("format", "json") == "binary"
            limit = round(state.settings.max_duration_s * animation.features.sample_rate)
            received = 0
            watchdog = Watchdog(idle_s=state.settings.idle_timeout_s, send_s=state.settings.send_timeout_s)
            outbox = Outbox(websocket, animation.channels, binary=binary, watchdog=watchdog)
            while True:
                message = await websocket.receive()
                watchdog.touch()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    chunk = message["bytes"]
                    if len(chunk) > state.settings.max_chunk_bytes:
                        raise RequestError(413, f"a chunk of {len(chunk)} bytes is larger than {state.settings.max_chunk_bytes}")
                    received += len(chunk) // 2
                    if received > limit:
                        raise RequestError(413, f"the stream is longer than the limit of {state.settings.max_duration_s:g} s")
                    animation.feed(chunk)
                    if animation.ready:
                        batcher.request(animation, outbox)
                    continue
                control = _json_object(message.get("text"))
                if control.get("end") is True:
                    outbox.put(animation.end())  # with the frames of a request not run yet: it finds none due
                    await outbox.drain()
                    await websocket.send_text(json.dumps({"done": True, "frames": outbox.sent}))
                    await websocket.close(1000)
                    return
                if animation.ready:  # the frames of the chunks before a change are computed without it
                    outbox.put(run_streams([animation])[0])
                if "emotion" in control:
                    animation.set_emotion(_schedule(control["emotion"]))
                if "persona" in control:
                    animation.set_persona(control["persona"])
                if not {"emotion", "persona"} & control.keys():
                    raise RequestError(400, 'a text message is {"end": true}, {"emotion": ...} or {"persona": ...}')
        except WebSocketDisconnect:
            return
        except (FacetalkError, asyncio.CancelledError) as caught:
            exc = caught
            if isinstance(exc, asyncio.CancelledError):  # the watchdog's timeout, or the server's shutdown
                if watchdog is None or watchdog.expired is None:
                    raise
                asyncio.current_task().uncancel()  # type: ignore[union-attr]
                exc = watchdog.expired
            status = exc.status if isinstance(exc, RequestError) else 400
            if outbox is not None:  # the frames not sent yet are dropped with the stream
                outbox.close()
            if websocket.application_state == WebSocketState.CONNECTED:
                try:
                    await asyncio.wait_for(websocket.send_text(json.dumps({"error": str(exc), "status": status})), 1.0)
                    await asyncio.wait_for(websocket.close(WS_CLOSE_BASE + status), 1.0)
                except (TimeoutError, WebSocketDisconnect, RuntimeError):
                    pass
        finally:
            if counted:
                state.streams -= 1
            if watchdog is not None:
                watchdog.close()
            if outbox is not None:
                outbox.close()

    three = three_dir()
    if three is not None:
        app.mount("/vendor/three", StaticFiles(directory=three), name="three")
    app.mount("/", StaticFiles(directory=STATIC_DIR, html=True), name="viewer")
    return app


def _duration(path: Path) -> float:
    from facetalk.audio import load_audio

    waveform: Waveform = load_audio(path)
    return waveform.duration


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "")
    except json.JSONDecodeError:
        raise RequestError(400, "a text message must be a JSON object") from None
    if not isinstance(value, dict):
        raise RequestError(400, "a text message must be a JSON object")
    return value


async def _receive_options(websocket: WebSocket, timeout: float) -> dict[str, Any]:
    """The first message: a JSON object of options."""
    try:
        message = await asyncio.wait_for(websocket.receive(), timeout)
    except TimeoutError:
        raise RequestError(408, f"no options received for {timeout:g} s") from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    if message.get("text") is None:
        raise RequestError(400, "the first message must be a JSON text message with the options")
    options = _json_object(message["text"])
    unknown = set(options) - {"sample_rate", "emotion", "persona", "model", "format", "lookahead"}
    if unknown:
        raise RequestError(400, f"unknown option {sorted(unknown)[0]!r}")
    if options.get("format", "json") not in ("json", "binary"):
        raise RequestError(400, "format must be 'json' or 'binary'")
    return options


def _open(state: ServerState, options: dict[str, Any]) -> AnimationStream:
    rate = options.get("sample_rate", 16000)
    if not isinstance(rate, int) or isinstance(rate, bool):
        raise RequestError(400, "sample_rate must be an integer")
    lookahead = options.get("lookahead")
    if lookahead is not None and (not isinstance(lookahead, int) or isinstance(lookahead, bool)):
        raise RequestError(400, "lookahead must be an integer number of frames")
    persona = options.get("persona")
    if persona is not None and not isinstance(persona, str):
        raise RequestError(400, "persona must be a string")
    return AnimationStream(state.model(options.get("model")), emotion=_schedule(options.get("emotion")), persona=persona,
                           lookahead=lookahead, sample_rate=rate)  # fmt: skip


def worker_app() -> FastAPI:
    """The app of one worker process of `serve(workers=N)`, its settings read from `SETTINGS_ENV`."""
    return _ready(create_app(ServeSettings(**json.loads(os.environ[SETTINGS_ENV]))))


def _ready(app: FastAPI) -> FastAPI:
    """`app` with its default model loaded before the first client, for one thread per process."""
    import torch

    torch.set_num_threads(1)  # many small streams: one thread each is fastest
    app.state.facetalk.model(None)
    # the ~200,000 objects of the libraries and the model never become garbage: out of the collector's sight,
    # a full collection takes microseconds instead of stopping every stream for 0.2 s
    gc.freeze()
    return app


def serve(*, host: str = "127.0.0.1", port: int = 8000, settings: ServeSettings | None = None, workers: int = 1) -> None:
    """Run the server until interrupted, in `workers` processes sharing the port and the jobs (each
    process runs its own streams, up to `max_streams` each)."""
    import uvicorn

    settings = settings or ServeSettings()
    # no per-message deflate: frames hardly compress, and zlib was a fifth of the server's CPU under load
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "warning", "ws": "websockets-sansio",
                               "ws_per_message_deflate": False}  # fmt: skip
    if workers == 1:
        uvicorn.run(_ready(create_app(settings)), **options)
        return
    shared = dataclasses.replace(settings, workdir=settings.workdir or tempfile.mkdtemp(prefix="facetalk-serve-"))
    os.environ[SETTINGS_ENV] = json.dumps(dataclasses.asdict(shared))
    uvicorn.run(f"{__name__}:worker_app", factory=True, workers=workers, **options)
