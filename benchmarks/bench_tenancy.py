"""What a tenant costs: ingest into a named tenant against the default tenant, same run.

A named tenant's history reads and writes a namespace of its own (a SQLite
file beside the main one) through a thin wrapper that stamps the tenant on
contacts; the default tenant runs exactly the single-tenant code. Rounds
alternate which goes first, each on fresh databases, so a noisy neighbour
slows both alike; the report is the median of the per-round ratios
(tenant / default, higher is better) with its range.

- bulk: ``History.receive_many`` of ``--bulk`` payloads, 500 per transaction;
- durable: one ``History.receive`` per payload (``synchronous=FULL``).

The single-tenant cost of tenancy (default tenant before and after the
change) is `bench_ingest.py` run on both commits, alternately.

Run: ``python benchmarks/bench_tenancy.py [--bulk 5000] [--durable 300] [--rounds 6] [--smoke]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from _common import CHANNEL, timed, webchat_payloads

import omnicx

Payloads = list[tuple[bytes, dict[str, str]]]


def _bulk(history: omnicx.History, payloads: Payloads) -> None:
    history.receive_many(CHANNEL, payloads, batch_size=500)


def _durable(history: omnicx.History, payloads: Payloads) -> None:
    for body, headers in payloads:
        history.receive(CHANNEL, body=body, headers=headers)


def paired(tmp: Path, name: str, step: Callable[[omnicx.History, Payloads], None],
           payloads: Payloads, rounds: int) -> None:
    rates: dict[str | None, list[float]] = {None: [], "brand-a": []}
    for tenant in (None, "brand-a"):  # warm-up: imports, caches, the first file system work
        with omnicx.open(tmp / f"{name}-warm-{tenant}.db", tenant=tenant) as history:
            step(history, payloads[:200])
    for index in range(rounds):
        order: list[str | None] = [None, "brand-a"] if index % 2 == 0 else ["brand-a", None]
        for tenant in order:
            path = tmp / f"{name}-{index}-{tenant or 'default'}.db"
            with omnicx.open(path, tenant=tenant) as history:
                seconds = timed(partial(step, history, payloads))
            rates[tenant].append(len(payloads) / seconds)
    ratios = [t / d for t, d in zip(rates["brand-a"], rates[None], strict=True)]
    print(f"{name} ingest of {len(payloads):,} payloads, {rounds} alternating rounds:")
    print(f"  default tenant   {max(rates[None]):10,.0f} payloads/s (best round)")
    print(f"  tenant brand-a   {max(rates['brand-a']):10,.0f} payloads/s (best round)")
    print(f"  ratio {statistics.median(ratios):.3f}x (median; range"
          f" {min(ratios):.3f}-{max(ratios):.3f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bulk", type=int, default=5_000)
    parser.add_argument("--durable", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, seconds in all: CI runs it so the benchmark cannot rot")
    args = parser.parse_args()
    if args.smoke:
        args.bulk, args.durable, args.rounds = 300, 20, 2
    with tempfile.TemporaryDirectory() as tmp:
        paired(Path(tmp), "bulk", _bulk, list(webchat_payloads(args.bulk)), args.rounds)
        paired(Path(tmp), "durable", _durable, list(webchat_payloads(args.durable)),
               args.rounds)


if __name__ == "__main__":
    main()
