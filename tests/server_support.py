"""For the server tests: a real uvicorn on 127.0.0.1 in a thread, and concurrent clients."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import httpx
import uvicorn

from omnicx import Channel, ChannelEvent, ConfigurationError, SignatureError
from webchat_payloads import message, signed

CLIENTS = 16


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


def wait_ready(base_url: str, server: Any, log: Any, timeout: float = 60) -> None:
    """Wait until ``base_url/readyz`` answers 200; fail with the server's log if it never does.

    ``server`` is the `subprocess.Popen` running it, ``log`` the `Path` of its log.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def deliver(port: int, numbers: list[int], acked: set[int], stop: threading.Event) -> None:
    """Post each number's payload from CLIENTS threads; note each 2xx in ``acked``."""
    lock = threading.Lock()
    queue = list(reversed(numbers))

    def client() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            while not stop.is_set():
                with lock:
                    if not queue:
                        return
                    n = queue.pop()
                body, headers = signed(message(f"m{n:05}", n, text="x" * (n % 500)))
                try:
                    answer = http.post("/webchat/shop", content=body, headers=headers)
                except httpx.TransportError:
                    continue  # killed mid-request: not acknowledged
                if answer.status_code == 200:
                    with lock:
                        acked.add(n)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class Misconfigured:
    """An adapter whose verify breaks only on real requests (its start-up probe passed)."""

    channel: ClassVar[Channel] = Channel.WEBFORM
    account = "site"

    def verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        if not headers:
            raise SignatureError("missing signature")
        raise ConfigurationError("the signing key file is unreadable")

    def parse(self, body: bytes, headers: Mapping[str, str]) -> Sequence[ChannelEvent]:
        return []
