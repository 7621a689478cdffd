"""Durable before acknowledged: SIGKILL a process mid-ingest, lose nothing acknowledged.

A child process plays a web handler: it calls `History.receive` and, only
after it returned, appends the message id to an acknowledgement log (the
"2xx" a provider would see). The parent kills it with SIGKILL at random
moments, restarts it a little before the last acknowledgement (the provider
redelivering), and finally lets it finish. Afterwards every acknowledged
message is stored exactly once and no transaction is half-written.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHILD = r"""
import os, sys
sys.path.insert(0, {tests!r})
import omnicx
from webchat_payloads import CHANNEL, message, signed
db, acks, start, stop = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
history = omnicx.open(db)
with open(acks, "a") as log:
    for n in range(start, stop):
        body, headers = signed(message(f"m{{n:05}}", n, text="x" * (n % 700)),
                               message(f"m{{n:05}}b", n + 0.5))
        history.receive(CHANNEL, body=body, headers=headers)
        log.write(f"{{n}}\n")
        log.flush()
        os.fsync(log.fileno())
"""

TOTAL = 4000


def _child(tmp: Path, start: int) -> subprocess.Popen[bytes]:
    script = CHILD.format(tests=str(Path(__file__).parent))
    with (tmp / "child.err").open("ab") as errors:
        return subprocess.Popen(
            [sys.executable, "-c", script, str(tmp / "h.db"), str(tmp / "acks"), str(start),
             str(TOTAL)],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, stderr=errors,
        )


def _acked(tmp: Path) -> set[int]:
    path = tmp / "acks"
    if not path.exists():
        return set()
    # A kill can cut the last line short: only whole lines are acknowledgements.
    return {int(line) for line in path.read_text().split("\n")[:-1] if line}


def _ack_lines(tmp: Path) -> int:
    path = tmp / "acks"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _wait_for_acks(tmp: Path, child: subprocess.Popen[bytes], lines: int) -> None:
    deadline = time.monotonic() + 120
    while child.poll() is None and _ack_lines(tmp) < lines and time.monotonic() < deadline:
        time.sleep(0.002)


@pytest.mark.slow
def test_sigkill_loses_nothing_acknowledged_and_half_writes_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261122)
    kills = rounds = 0
    # Kill until six kills landed mid-ingest, however fast or loaded the machine is.
    while kills < 6 and rounds < 30:
        rounds += 1
        acked = _acked(tmp_path)
        start = max(0, max(acked, default=-1) - 3)  # the provider redelivers a few
        if start >= TOTAL - 10:
            break
        child = _child(tmp_path, start)
        # Kill after a random number of acknowledgements, not after a random
        # time: a fast machine would otherwise finish before enough kills.
        _wait_for_acks(tmp_path, child, _ack_lines(tmp_path) + rng.randint(1, 150))
        time.sleep(rng.uniform(0, 0.01))  # somewhere inside the next receive()
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
    assert kills == 6, "the child finished too fast to be killed mid-ingest"

    acked_before_final = _acked(tmp_path)
    conn = sqlite3.connect(tmp_path / "h.db")
    stored = {row[0] for row in conn.execute("SELECT external_id FROM interactions")}
    missing = {f"m{n:05}" for n in acked_before_final} - stored
    assert not missing, f"acknowledged but lost: {sorted(missing)[:5]}"
    conn.close()

    final = _child(tmp_path, 0)  # the provider redelivers everything
    assert final.wait(timeout=300) == 0, (tmp_path / "child.err").read_text()

    conn = sqlite3.connect(tmp_path / "h.db")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    total, distinct = conn.execute(
        "SELECT count(*), count(DISTINCT external_id) FROM interactions").fetchone()
    assert total == distinct == 2 * TOTAL
    # Both messages of a payload commit together or not at all: every archived
    # payload has exactly its two interactions, every interaction its payload.
    per_raw = conn.execute(
        "SELECT r.id, count(i.id) FROM raw_payloads r LEFT JOIN interactions i"
        " ON i.raw_id = r.id GROUP BY r.id").fetchall()
    assert {count for _, count in per_raw} <= {0, 2}  # 0: a redelivery, all duplicates
    assert conn.execute("SELECT count(*) FROM interactions i LEFT JOIN conversations c"
                        " ON c.id = i.conversation_id WHERE c.id IS NULL").fetchone() == (0,)
    conn.close()
