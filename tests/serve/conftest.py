"""A real `facetalk serve` (uvicorn in a thread, on a free loopback port) for the tests that need sockets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from facetalk.serve.app import ServeSettings, create_app


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The base URL of a server with the shipped streaming model, and a 1-second send timeout."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(ServeSettings(send_timeout_s=1.0))
    runner = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio"))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not runner.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    runner.should_exit = True
    thread.join(timeout=10)
