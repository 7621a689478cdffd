"""`omnicx serve` against a raw one-commit-per-request ASGI app, same uvicorn, same load.

    python benchmarks/bench_server.py [--seconds 3] [--rounds 3] [--clients 1,16,64]
                                      [--http auto|h11|httptools] [--loop auto|asyncio|uvloop]

Two servers run side by side on 127.0.0.1, each its own process under the
same uvicorn settings (``auto``: httptools and uvloop when the ``server``
extra installed them), each on a fresh SQLite file with WAL and
``synchronous=FULL``:

- omnicx: what ``omnicx serve`` runs (`webhook_app` with a WhatsApp channel,
  its per-request log line on): signature check, parse, identity,
  threading, hash chain, group commit; the 200 leaves after the commit.
- raw: an ASGI app that INSERTs the body into one table and COMMITs, one
  transaction per request, on the event loop; nothing else.

The client (this process) keeps ``N`` HTTP/1.1 keep-alive connections busy
with signed WhatsApp deliveries (one text message each, Meta's documented
envelope, from 1,000 senders; every delivery a new message). Per round and
concurrency it runs each server for ``--seconds`` (short: the disk's fsync
cost drifts with the neighbours' load, and both servers should see the same
drift) in alternating order, and prints requests per second (median over
rounds), p50 and p99 latency, the server process's own CPU time per request
(from ``/proc``: the number the uvicorn flavour changes, and the one noise
moves least) and the ratio of the two rates measured in the same round
(median, and the range over rounds). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "channels"))

import whatsapp_payloads as p  # noqa: E402

SECRET = "bench-app-secret"
PATH = f"/whatsapp/{p.PHONE_NUMBER_ID}"


# -- the servers (run in subprocesses of this script) --------------------------------------

def raw_app(db: str) -> Callable[..., Awaitable[None]]:
    """One INSERT and one COMMIT per request: the floor of a durable webhook receiver."""
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS payloads (id INTEGER PRIMARY KEY, body BLOB)")

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        conn.execute("BEGIN")
        conn.execute("INSERT INTO payloads (body) VALUES (?)", (b"".join(chunks),))
        conn.execute("COMMIT")
        answer = b'{"stored": 1}'
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})

    return app


def omnicx_app(db: str) -> Callable[..., Awaitable[None]]:
    """What ``omnicx serve`` builds, with its logging set up as the CLI does."""
    import omnicx
    from omnicx._serve import _log_to_stderr
    from omnicx.channels import WhatsApp

    _log_to_stderr()
    wa = WhatsApp(phone_number_id=p.PHONE_NUMBER_ID, app_secret=SECRET, verify_token="t")
    return omnicx.webhook_app(omnicx.open(db), [wa])


def serve(kind: str, db: str, port: int, http: str, loop: str) -> None:
    import uvicorn

    logging.getLogger("omnicx").setLevel(logging.ERROR)  # the "in the clear" notice
    app = omnicx_app(db) if kind == "omnicx" else raw_app(db)
    if kind == "omnicx":
        logging.getLogger("omnicx.server").setLevel(logging.INFO)
    uvicorn.run(app, host="127.0.0.1", port=port, http=http, loop=loop,  # type: ignore[arg-type]
                access_log=False, log_level="warning")


# -- the client ------------------------------------------------------------------------------

def deliveries(count: int, offset: int) -> list[bytes]:
    """``count`` complete HTTP requests, each a signed delivery of a new message."""
    import hashlib
    import hmac

    requests = []
    for n in range(offset, offset + count):
        sender = f"1650555{n % 1000:04d}"
        body = p.dumps(p.inbound(p.message("text", n, sender=sender),
                                 contacts=[p.contact(wa_id=sender, name=f"Sender {n % 1000}")]))
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        head = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\n\r\n")
        requests.append(head.encode() + body)
    return requests


async def _connection(port: int, requests: list[bytes], latencies: list[float],
                      deadline: float, failures: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while requests and time.perf_counter() < deadline:
            request = requests.pop()
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not head.startswith(b"HTTP/1.1 200"):
                failures.append((head.split(b"\r\n", 1)[0] + b" " + body[:200]).decode())
    finally:
        writer.close()


def load(port: int, clients: int, requests: list[bytes], seconds: float
         ) -> tuple[float, list[float]]:
    """Requests per second and the latencies of ``clients`` keep-alive connections."""
    latencies: list[float] = []
    failures: list[str] = []

    async def run() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(_connection(port, requests, latencies, start + seconds, failures)
                               for _ in range(clients)))
        return time.perf_counter() - start

    elapsed = asyncio.run(run())
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return len(latencies) / elapsed, latencies


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(kind: str, tmp: Path, http: str, loop: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--db", str(tmp / f"{kind}.db"),
         "--port", str(port), "--http", http, "--loop", loop],
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"the {kind} server did not start") from None
            time.sleep(0.05)
        else:
            return server, port
    raise SystemExit(f"the {kind} server did not start in time")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5,
                        help="per server, round and level: short, so both see the same disk")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--clients", default="1,16,64", help="concurrency levels")
    parser.add_argument("--http", default="auto", help="uvicorn --http for both servers")
    parser.add_argument("--loop", default="auto", help="uvicorn --loop for both servers")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, seconds in all: CI runs it so the benchmark cannot rot")
    parser.add_argument("--serve", choices=["omnicx", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.db, args.port, args.http, args.loop)
        return
    if args.smoke:
        args.seconds, args.rounds, args.clients = 0.3, 1, "1,8"
    levels = [int(c) for c in args.clients.split(",")]
    # Enough new messages for the fastest conceivable run; built before the clock starts.
    budget = int(args.seconds * 6000) + 1000
    offset = 0
    with tempfile.TemporaryDirectory() as tmp:
        servers = {kind: _start(kind, Path(tmp), args.http, args.loop)
                   for kind in ("omnicx", "raw")}
        try:
            print(f"uvicorn http={args.http} loop={args.loop}; {args.rounds} rounds of"
                  f" {args.seconds:g} s per server and level; SQLite, synchronous=FULL")
            for clients in levels:
                rates: dict[str, list[float]] = {"omnicx": [], "raw": []}
                latencies: dict[str, list[float]] = {"omnicx": [], "raw": []}
                cpu = {"omnicx": 0.0, "raw": 0.0}
                ratios = []
                for round_ in range(args.rounds):
                    order = ("omnicx", "raw") if round_ % 2 == 0 else ("raw", "omnicx")
                    measured = {}
                    for kind in order:
                        requests = deliveries(budget, offset)
                        offset += budget
                        before = _cpu_seconds(servers[kind][0].pid)
                        rate, taken = load(servers[kind][1], clients, requests, args.seconds)
                        cpu[kind] += _cpu_seconds(servers[kind][0].pid) - before
                        measured[kind] = rate
                        rates[kind].append(rate)
                        latencies[kind].extend(taken)
                    ratios.append(measured["omnicx"] / measured["raw"])
                line = [f"{clients:>3} clients:"]
                for kind in ("omnicx", "raw"):
                    line.append(f"{kind} {statistics.median(rates[kind]):7,.0f} rps"
                                f" p50 {_pct(latencies[kind], 0.50):6.1f} ms"
                                f" p99 {_pct(latencies[kind], 0.99):6.1f} ms"
                                f" cpu {cpu[kind] / len(latencies[kind]) * 1e6:5.0f} us/req")
                target = ">= 0.5x" if clients == 1 else ">= 1.5x, omnicx p99 < 100 ms"
                line.append(f"ratio {statistics.median(ratios):4.2f}x"
                            f" (range {min(ratios):.2f}-{max(ratios):.2f}; target {target})")
                print("  ".join(line), flush=True)
        finally:
            for server, _ in servers.values():
                server.terminate()
                server.wait(timeout=30)
        with sqlite3.connect(Path(tmp) / "omnicx.db") as conn:
            stored = conn.execute("SELECT count(*) FROM interactions").fetchone()[0]
            raws = conn.execute("SELECT count(*) FROM raw_payloads").fetchone()[0]
        print(f"omnicx stored {stored:,} interactions from {raws:,} payloads, each answered 200")


if __name__ == "__main__":
    main()
