"""The Telegram and Messenger parse benchmarks run (``--smoke``) and report a same-run ratio."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize(("script", "baseline"), [
    ("bench_telegram_parse.py", "telegram"), ("bench_messenger_parse.py", "fbmessenger")])
def test_benchmark_smoke(script: str, baseline: str) -> None:
    pytest.importorskip(baseline, reason="the bench extra is not installed")
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), "--smoke"],
                            capture_output=True, text=True, timeout=120, check=False,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == 0, result.stderr
    assert "x (median of paired rounds" in result.stdout
