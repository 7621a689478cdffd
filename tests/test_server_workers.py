"""``omnicx serve --workers N`` on PostgreSQL: several processes, each group-committing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import omnicx
from server_support import deliver, free_port, wait_ready
from webchat_payloads import CHANNEL


@pytest.mark.slow
def test_several_worker_processes_store_each_delivery_once(
        tmp_path: Path, postgres_schema: tuple[str, str]) -> None:
    url, schema = postgres_schema
    (tmp_path / "channels.toml").write_text(
        f'[[channel]]\ntype = "webchat"\nsecret = "{CHANNEL.secret!s}"\nsite = "{CHANNEL.site}"\n')
    port = free_port()
    with (tmp_path / "server.log").open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-c", "import sys; from omnicx._cli import main; sys.exit(main())",
             "--db", url, "--schema", schema, "serve", "--channels",
             str(tmp_path / "channels.toml"), "--port", str(port), "--workers", "2"],
            stdout=subprocess.DEVNULL, stderr=log_file,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        wait_ready(f"http://127.0.0.1:{port}", server, tmp_path / "server.log")
        acked: set[int] = set()
        # Every message twice: a redelivery may land on the other worker at the same time.
        deliver(port, [n for n in range(300) for _ in range(2)], acked, threading.Event())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert acked == set(range(300))
    log = (tmp_path / "server.log").read_text()
    assert log.count("Started server process") >= 2, log[-2000:]  # one line per worker
    with omnicx.open(url, schema=schema) as history:
        assert history.report()["interactions"] and history.verify().ok
        contact = history.contacts.find("anna@example.com")
        assert contact is not None
        page = history.timeline(contact, limit=1000)
        assert sorted(i.external_id for i in page.items) == [f"m{n:05}" for n in range(300)]
