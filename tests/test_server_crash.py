"""Durable before acknowledged, through group commit: SIGKILL ``omnicx serve`` under load.

The real CLI serves a SQLite file under uvicorn (and a PostgreSQL schema
with ``--workers 2``); 16 client threads deliver signed WebChat payloads
concurrently (with redeliveries mixed in) and note every 2xx. The server
(its whole process group, workers included) is killed with SIGKILL at a
random moment while requests are in flight, and restarted. After every kill, every acknowledged
message is stored; at the end, after the provider redelivered everything,
each message is stored exactly once and the database and chains are whole.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import omnicx
from server_support import deliver, free_port
from webchat_payloads import CHANNEL


class _Target:
    """Where the server stores: a SQLite file, or a PostgreSQL schema served by two workers."""

    def __init__(self, tmp: Path, postgres: tuple[str, str] | None) -> None:
        self.tmp = tmp
        self.postgres = postgres

    def args(self) -> list[str]:
        if self.postgres is None:
            return ["--db", str(self.tmp / "h.db")]
        url, schema = self.postgres
        return ["--db", url, "--schema", schema]

    def workers(self) -> list[str]:
        return [] if self.postgres is None else ["--workers", "2"]

    def stored(self) -> list[str]:
        if self.postgres is None:
            with sqlite3.connect(self.tmp / "h.db") as conn:
                return [row[0] for row in conn.execute("SELECT external_id FROM interactions")]
        import psycopg
        from psycopg import sql

        url, schema = self.postgres
        with psycopg.connect(url) as conn:
            return [row[0] for row in conn.execute(sql.SQL(
                "SELECT external_id FROM {}.interactions").format(sql.Identifier(schema)))]

    def open(self) -> omnicx.History:
        if self.postgres is None:
            return omnicx.open(self.tmp / "h.db")
        return omnicx.open(self.postgres[0], schema=self.postgres[1])


def _start(target: _Target, port: int) -> subprocess.Popen[bytes]:
    tmp = target.tmp
    (tmp / "channels.toml").write_text(
        f'[[channel]]\ntype = "webchat"\nsecret = "{CHANNEL.secret!s}"\nsite = "{CHANNEL.site}"\n')
    with (tmp / "server.log").open("ab") as log:
        server = subprocess.Popen(
            [sys.executable, "-c", "import sys; from omnicx._cli import main; sys.exit(main())",
             *target.args(), "serve", "--channels", str(tmp / "channels.toml"),
             "--port", str(port), *target.workers()],
            stdout=log, stderr=log, start_new_session=True,  # a group: workers die with it
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.05)
    os.killpg(server.pid, signal.SIGKILL)
    raise AssertionError((tmp / "server.log").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres-2-workers"])
def test_sigkill_under_concurrent_load_loses_nothing_acknowledged(
        tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    target = _Target(tmp_path, request.getfixturevalue("postgres_schema")
                     if backend.startswith("postgres") else None)
    rng = random.Random(20261130)
    acked: set[int] = set()
    total = 0
    kills = 0
    for _ in range(4):
        port = free_port()
        server = _start(target, port)
        # New messages, and redeliveries of some already sent.
        numbers = list(range(total, total + 3000))
        numbers += rng.sample(range(total), min(total, 200))
        rng.shuffle(numbers)
        total += 3000
        stop = threading.Event()
        load = threading.Thread(target=deliver, args=(port, numbers, acked, stop))
        load.start()
        before = len(acked)
        deadline = time.monotonic() + 60
        while len(acked) < before + rng.randint(100, 1200) and time.monotonic() < deadline:
            time.sleep(0.005)
        if server.poll() is None and load.is_alive():
            os.killpg(server.pid, signal.SIGKILL)
            kills += 1
        server.wait()
        stop.set()
        load.join()
        stored = target.stored()
        missing = {f"m{n:05}" for n in acked} - set(stored)
        assert not missing, f"acknowledged but lost: {sorted(missing)[:5]}"
        assert len(stored) == len(set(stored))
    assert kills >= 3, "the load finished before the server could be killed under it"

    port = free_port()
    server = _start(target, port)
    try:
        redelivered: set[int] = set()
        deliver(port, list(range(total)), redelivered, threading.Event())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert redelivered == set(range(total))
    stored = target.stored()
    assert sorted(stored) == [f"m{n:05}" for n in range(total)]
    if target.postgres is None:
        with sqlite3.connect(tmp_path / "h.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with target.open() as history:
        assert history.verify().ok
