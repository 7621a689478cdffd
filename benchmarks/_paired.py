"""Same-run, interleaved throughput of two parsers: the ratio survives a noisy machine.

Short rounds alternate between the two steps, so a noisy neighbour slows
both alike; each round's ratio compares two measurements taken a moment
apart, and the median of those ratios is what the benchmarks report (with
its range). Rates are the best round of each (noise only ever slows code).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

Step = Callable[[bytes, dict[str, str]], object]


def measure(ours: Step, theirs: Step, signed: Sequence[tuple[bytes, dict[str, str]]],
            seconds: float) -> tuple[float, float, float, float, float]:
    """Bodies/s of ``ours`` and ``theirs``, and the median, min and max per-round ratio."""
    for step in (ours, theirs):  # warm caches and imports
        for body, headers in signed:
            step(body, headers)
    rounds = max(5, int(seconds * 10))
    per_round = seconds / rounds
    rates: tuple[list[float], list[float]] = ([], [])
    for index in range(rounds):
        order = ((0, ours), (1, theirs)) if index % 2 == 0 else ((1, theirs), (0, ours))
        for slot, step in order:
            done = 0
            start = time.perf_counter()
            while True:
                for body, headers in signed:
                    step(body, headers)
                done += len(signed)
                elapsed = time.perf_counter() - start
                if elapsed >= per_round:
                    break
            rates[slot].append(done / elapsed)
    ratios = [a / b for a, b in zip(*rates, strict=True)]
    return (max(rates[0]), max(rates[1]), statistics.median(ratios), min(ratios),
            max(ratios))


def report(title: str, names: tuple[str, str], result: tuple[float, float, float, float, float],
           unit: str = "updates/s") -> None:
    ours, theirs, ratio, low, high = result
    print(title)
    print(f"  {names[0]:<22} {ours:12,.0f} {unit}")
    print(f"  {names[1]:<22} {theirs:12,.0f} {unit}")
    print(f"  ratio {ratio:.2f}x (median of paired rounds; range {low:.2f}-{high:.2f}x)")
