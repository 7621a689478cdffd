"""Every benchmark runs in its ``--smoke`` mode (seconds), so none can rot unnoticed.

The list is every ``benchmarks/bench_*.py``: a new benchmark is covered, and
fails here until it has a ``--smoke`` mode. Numbers are not checked (smoke
sizes say nothing about speed); the run must finish, print its same-run
ratios and exit 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require_postgres

BENCHMARKS = sorted((Path(__file__).parents[1] / "benchmarks").glob("bench_*.py"))


def test_the_benchmarks_are_found() -> None:
    assert len(BENCHMARKS) >= 7


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHMARKS, ids=[b.stem for b in BENCHMARKS])
def test_benchmark_runs_in_smoke_mode(script: Path, tmp_path: Path) -> None:
    if "postgres" in script.read_text():
        require_postgres()  # the backends benchmark compares against PostgreSQL too
    done = subprocess.run(
        [sys.executable, str(script), "--smoke"], check=False, capture_output=True, text=True,
        timeout=300, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "ratio" in done.stdout, done.stdout[-2000:]
