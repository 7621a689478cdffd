"""The read API's cost: a timeline page of 50 over HTTP against `History.timeline` in-process.

A customer with ``--size`` interactions (default 2,000) is received through
the real `History.receive` path (100 WebChat events a request). Then, in
the same run and in rotating order (``_common.median_latencies``):

- in-process: ``History.timeline(contact, limit=50, before=cursor)``, what a
  Python CRM calls (the baseline);
- HTTP: ``GET /api/contacts/{id}/timeline?limit=50&before=cursor`` on a real
  uvicorn on 127.0.0.1 (the read API mounted in `webhook_app`, as
  ``omnicx serve`` runs it), one keep-alive httpx client: token check,
  routing, a worker thread, JSON encoding, HTTP and the client's decoding.

Both walk the same pages. The ratio is the price of reading over HTTP from
another language; the target is a page in well under 10 ms.

Run: ``python benchmarks/bench_api.py [--size 2000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from _common import CHANNEL, START, median_latencies, report

import omnicx

TOKEN = "benchmark-api-token-0123456789"


def fill(history: omnicx.History, size: int) -> int:
    """Receive ``size`` messages of one visitor; return the contact's id."""
    for first in range(0, size, 100):
        events = [{"type": "message", "id": f"m{n}", "session": "s1",
                   "at": (START + dt.timedelta(seconds=n)).isoformat(),
                   "from": "visitor" if n % 3 else "agent",
                   "visitor": {"id": "v1", "email": "big@example.com", "name": "Big"},
                   "text": f"Message number {n}: where is my parcel? Order #{100000 + n}."}
                  for n in range(first, min(size, first + 100))]
        body = json.dumps({"site": "bench", "events": events}).encode()
        history.receive(CHANNEL, body=body, headers=CHANNEL.sign(body))
    found = history.contacts.find("big@example.com")
    assert found is not None
    return found.id


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5, help="walks over all pages")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, seconds in all: CI runs it so the benchmark cannot rot")
    args = parser.parse_args()
    if args.smoke:
        args.size, args.repeat = 300, 1
    with tempfile.TemporaryDirectory() as tmp:
        history = omnicx.open(Path(tmp) / "api.db")
        start = time.perf_counter()
        contact_id = fill(history, args.size)
        print(f"received {args.size:,} interactions in {time.perf_counter() - start:.1f}s")
        cursors: list[str | None] = [None]
        while (cursor := history.timeline(contact_id, limit=50,
                                          before=cursors[-1]).next_cursor) is not None:
            cursors.append(cursor)
        app = omnicx.webhook_app(history, [CHANNEL],
                                 mount={"/api": omnicx.api_app(history, tokens=TOKEN)})
        with serving(app) as url, httpx.Client(
                base_url=f"{url}/api", headers={"Authorization": f"Bearer {TOKEN}"}) as client:

            def direct_walk() -> None:
                for cursor in cursors:
                    history.timeline(contact_id, limit=50, before=cursor)

            def http_walk() -> None:
                for cursor in cursors:
                    params = {"limit": 50, **({"before": cursor} if cursor else {})}
                    answer = client.get(f"/contacts/{contact_id}/timeline", params=params)
                    answer.raise_for_status()
                    answer.json()

            http_walk()  # warm the connection and the thread pool
            (http_median, http_p99), (direct_median, direct_p99) = median_latencies(
                [http_walk, direct_walk], args.repeat * 4)
        pages = len(cursors)
        print(f"{pages} pages of 50 from a customer with {args.size:,} interactions")
        report("timeline page of 50 over HTTP, median (us)", http_median / pages * 1e6,
               direct_median / pages * 1e6, "us", False, "< 10 ms a page")
        report("timeline page of 50 over HTTP, p99 walk (us)", http_p99 / pages * 1e6,
               direct_p99 / pages * 1e6, "us", False, "-")
        history.close()


if __name__ == "__main__":
    main()
