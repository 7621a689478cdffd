"""A real webhook receiver on 127.0.0.1 for the tests and the benchmark.

It verifies every request with the receiver-side Standard Webhooks library,
as a CRM would, and can be told to be slow, to fail (500) or to be gone (410).
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import standardwebhooks

__all__ = ["Receiver", "free_port"]


class Receiver:
    """A webhook endpoint: ``mode`` is ``ok``, ``slow``, ``fail`` (500) or ``gone`` (410)."""

    def __init__(self, secret: str, port: int = 0) -> None:
        self.secret = secret
        self.mode = "ok"
        self.slow_for = 1.0
        self.received: list[dict[str, Any]] = []  # verified bodies, in arrival order
        self.ids: list[str] = []
        self.rejected = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if receiver.mode == "slow":
                    time.sleep(receiver.slow_for)
                if receiver.mode in ("fail", "gone"):
                    self.send_response(500 if receiver.mode == "fail" else 410)
                    self.end_headers()
                    return
                try:
                    verified = standardwebhooks.Webhook(receiver.secret).verify(
                        body, dict(self.headers.items()))
                except standardwebhooks.WebhookVerificationError:
                    with receiver.lock:
                        receiver.rejected += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.received.append(verified)
                    receiver.ids.append(self.headers["webhook-id"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/omnicx"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    """A port nothing listens on (a receiver that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
