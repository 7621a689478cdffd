"""The feed benchmark runs (``--smoke``), so it cannot rot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.mark.slow
def test_bench_feed_smoke() -> None:
    result = subprocess.run([sys.executable, "bench_feed.py", "--smoke"], cwd=BENCHMARKS,
                            capture_output=True, text=True, timeout=300, check=False,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == 0, result.stderr
    assert "feed read (changes/s)" in result.stdout
    assert "webhook delivery, 1 thread" in result.stdout
