"""Email parse throughput against mail-parser, and peak memory of an mbox import.

    PYTHONPATH=src python benchmarks/bench_email_parse.py [--seconds 4] [--sizes 1000 4000]

Needs the ``bench`` extra (``pip install 'omnicx[bench]'``) for mail-parser.

Corpus: the real-world shaped samples of ``tests/channels/email_samples``
(Gmail, Outlook, Thunderbird; German, French, Russian and Chinese replies,
bottom-posted ones; bounces, also without the original's id; out-of-office;
broken charsets and boundaries, encoded words, attachments) plus 200 messages of the synthetic
corpus used by the import tests. Both libraries parse the same bytes in the
same run, in short interleaved rounds; the ratio is the median of the
paired rounds.

- omnicx: ``Email.parse`` - the whole adapter: MIME, header decoding,
  addresses, dates, attachments with sha256, quote separation, threading
  hints, bounce and auto-reply detection, events built.
- mail-parser: ``mailparser.parse_from_bytes`` and reading the fields a
  contact history needs (from, to, cc, subject, date, message id, text,
  html, attachments).

A third line shows the standard library alone under the two parser
policies, the measurement behind ``_mime``'s choice of ``compat32``.

Memory: each size is imported into a fresh SQLite file in a subprocess
(``History.import_path``), which reports its time and peak RSS
(``ru_maxrss``); a second, traced run reports the peak of Python
allocations during the import (``tracemalloc``, which slows it down). Flat
means the larger archive needs no more memory than the smaller one.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import logging
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "channels"))

from _email_corpus import synthetic_mail, write_mbox  # noqa: E402

from omnicx.channels import Email  # noqa: E402

SAMPLES = ROOT / "tests" / "channels" / "email_samples"
CHANNEL = Email(mailbox="support@example.com", also=["help@example.com"])


def corpus() -> list[bytes]:
    return [p.read_bytes() for p in sorted(SAMPLES.glob("*.eml"))] + [
        synthetic_mail(i) for i in range(200)]


def measure(steps: dict[str, Callable[[bytes], object]], mails: list[bytes], seconds: float
            ) -> tuple[dict[str, float], float]:
    """Best msgs/s of each step, and the median ratio first/second over paired rounds."""
    for step in steps.values():
        for raw in mails:
            step(raw)
    rounds = max(9, int(seconds * 4))
    per_round = seconds / rounds
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            done = 0
            start = time.perf_counter()
            while True:
                for raw in mails:
                    step(raw)
                done += len(mails)
                elapsed = time.perf_counter() - start
                if elapsed >= per_round:
                    break
            rates[name].append(done / elapsed)
    first, second = list(rates)
    ratios = [a / b for a, b in zip(rates[first], rates[second], strict=True)]
    return {name: max(values) for name, values in rates.items()}, statistics.median(ratios)


def omnicx_step(raw: bytes) -> object:
    return CHANNEL.parse(raw)


def mailparser_step(raw: bytes) -> object:
    import mailparser

    mail = mailparser.parse_from_bytes(raw)
    return (mail.from_, mail.to, mail.cc, mail.subject, mail.date, mail.message_id,
            mail.text_plain, mail.text_html, mail.attachments)


_IMPORT = textwrap.dedent("""
    import resource, sys, tracemalloc, time
    import omnicx
    from omnicx.channels import Email
    if sys.argv[3] == "trace":
        tracemalloc.start()
    started = time.perf_counter()
    with omnicx.open(sys.argv[1]) as history:
        receipt = history.import_path(sys.argv[2], channel=Email(mailbox="support@example.com"))
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(receipt.stored, peak, rss, elapsed)
""")


def _import(mbox: Path, db: Path, mode: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT, str(db), str(mbox), mode],
        capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    return result.stdout.split()


def import_memory(size: int, workdir: Path) -> tuple[int, int, int, float]:
    """Stored, Python peak (traced run), max RSS and seconds (untraced run)."""
    mbox = write_mbox(workdir / f"m{size}.mbox", size)
    stored, _, rss, elapsed = _import(mbox, workdir / f"h{size}.db", "plain")
    _, peak, _, _ = _import(mbox, workdir / f"t{size}.db", "trace")
    return int(stored), int(peak), int(rss), float(elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 4000])
    parser.add_argument("--smoke", action="store_true",
                        help="tiny sizes, seconds in all: CI runs it so the benchmark cannot rot")
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.sizes = 0.2, [20, 40]
    logging.getLogger("mailparser").setLevel(logging.CRITICAL + 1)
    mails = corpus()
    size = sum(map(len, mails))
    print(f"corpus: {len(mails)} messages, {size / len(mails):,.0f} bytes on average")

    rates, ratio = measure({"omnicx": omnicx_step, "mail-parser": mailparser_step}, mails,
                           args.seconds)
    print("parse (omnicx: full adapter with quote separation; mail-parser: parse + fields)")
    print(f"  omnicx       {rates['omnicx']:10,.0f} msgs/s")
    print(f"  mail-parser  {rates['mail-parser']:10,.0f} msgs/s")
    print(f"  ratio        {ratio:10.2f}x  (median of paired rounds; target >= 1.5x)")

    compat = email.parser.BytesParser(policy=email.policy.compat32)
    default = email.parser.BytesParser(policy=email.policy.default)
    rates, ratio = measure({"compat32": compat.parsebytes, "default": default.parsebytes},
                           mails, args.seconds / 2)
    print("stdlib email.parser alone (the policy choice)")
    print(f"  compat32     {rates['compat32']:10,.0f} msgs/s")
    print(f"  default      {rates['default']:10,.0f} msgs/s")
    print(f"  ratio        {ratio:10.2f}x")

    print("mbox import into SQLite (History.import_path, subprocess per size)")
    with tempfile.TemporaryDirectory() as tmp:
        results = [import_memory(n, Path(tmp)) for n in args.sizes]
    for n, (stored, peak, rss, elapsed) in zip(args.sizes, results, strict=True):
        print(f"  {n:>6,} messages: stored {stored:,} in {elapsed:5.1f} s "
              f"({stored / elapsed:,.0f}/s), tracemalloc peak {peak / 2**20:6.1f} MiB, "
              f"max RSS {rss / 1024:6.1f} MiB")
    (_, peak_small, rss_small, _), (_, peak_big, rss_big, _) = results
    growth = args.sizes[1] / args.sizes[0]
    print(f"  archive x{growth:.0f}: Python peak x{peak_big / peak_small:.2f}, "
          f"RSS x{rss_big / rss_small:.2f} (flat = about x1)")


if __name__ == "__main__":
    main()
