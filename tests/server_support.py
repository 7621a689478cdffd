"""A real uvicorn serving an ASGI app on 127.0.0.1, in a thread, for the server tests."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn


@contextlib.contextmanager
def running(app: Any, *, http: str = "auto", loop: str = "auto") -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yield its base URL, stop it afterwards."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http=http, loop=loop,
                            lifespan="on", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
