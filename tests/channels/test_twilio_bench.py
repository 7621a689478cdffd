"""The Twilio parse benchmark runs (``--smoke``) when the bench extra is installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_smoke_run_accepts_every_body() -> None:
    pytest.importorskip("twilio.request_validator", reason="needs the bench extra (twilio)")
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_twilio_parse.py"), "--smoke"],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == 0, result.stderr
    assert "ratio" in result.stdout and "bodies/s" in result.stdout
