from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import omnicx

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def history(tmp_path: Path) -> Iterator[omnicx.History]:
    with omnicx.open(tmp_path / "history.db") as opened:
        yield opened
