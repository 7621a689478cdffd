"""Shared helpers for the benchmarks: payload generation and timing.

Every benchmark prints omnicx beside a baseline measured in the same run, so
the ratio survives a noisy machine even when the absolute numbers do not.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import time
from collections.abc import Callable, Iterator, Sequence

from omnicx.channels import WebChat

CHANNEL = WebChat(secret="benchmark-secret", site="bench")
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def webchat_payload(n: int, contacts: int) -> tuple[bytes, dict[str, str]]:
    """Signed one-message WebChat payload number ``n``, from one of ``contacts`` visitors."""
    visitor = n % contacts
    body = json.dumps({
        "site": "bench",
        "events": [{
            "type": "message",
            "id": f"m{n}",
            "session": f"s{visitor}",
            "at": (START + dt.timedelta(seconds=n)).isoformat(),
            "from": "visitor" if n % 3 else "agent",
            "visitor": {"id": f"v{visitor}", "email": f"visitor{visitor}@example.com",
                        "name": f"Visitor {visitor}"},
            "text": f"Message number {n}: where is my parcel? Order #{100000 + n}.",
        }],
    }).encode()
    return body, CHANNEL.sign(body)


def webchat_payloads(count: int, *, contacts: int = 1000, start: int = 0
                     ) -> Iterator[tuple[bytes, dict[str, str]]]:
    """``count`` signed one-message WebChat payloads spread over ``contacts`` visitors
    (numbered from ``start``)."""
    for n in range(start, start + count):
        yield webchat_payload(n, contacts)


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_latencies(fns: Sequence[Callable[[], object]], repeat: int
                     ) -> list[tuple[float, float]]:
    """Median and p99 wall time, in seconds, of each of ``fns``.

    The functions take turns, in rotating order, ``repeat`` times each: a
    machine whose speed drifts during the run (a shared VM does) then slows
    them all alike, where timing one after the other would credit the drift
    to whichever ran in the slow minutes.
    """
    samples: list[list[float]] = [[] for _ in fns]
    for n in range(repeat):
        for i in (*range(n % len(fns), len(fns)), *range(n % len(fns))):
            start = time.perf_counter()
            fns[i]()
            samples[i].append(time.perf_counter() - start)
    result = []
    for taken in samples:
        taken.sort()
        result.append((statistics.median(taken), taken[min(len(taken) - 1,
                                                           int(len(taken) * 0.99))]))
    return result


def report(title: str, ours: float, baseline: float, unit: str, higher_is_better: bool,
           target: str) -> None:
    ratio = ours / baseline if baseline else float("nan")
    better = ", higher is better" if higher_is_better else ", lower is better"
    print(f"{title:<48} omnicx {ours:>12,.1f} {unit:<8} raw {baseline:>12,.1f} {unit:<8}"
          f" ratio {ratio:5.2f}x  (target {target}{better})")
