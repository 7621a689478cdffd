"""Schemathesis calls every read API route with generated parameters, on a real uvicorn.

It checks, against the OpenAPI document the server itself serves: no 5xx,
documented statuses, content types and headers only, every body valid
against its schema, invalid parameters rejected, and authentication never
ignored. A cursor this API did not make, or a lookup without its one
required parameter, is a schema-valid request that must still be a 400, so
400 counts as an accepted answer to schema-valid data (the 400's body is
still checked against ``Problem``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import omnicx
from api_support import TOKEN, populate
from server_support import running

CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "404"]
"""


def test_schemathesis_finds_no_failure(tmp_path: Path) -> None:
    executable = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if executable is None:
        pytest.skip("schemathesis is not installed (pip install 'omnicx[test]')")
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    with omnicx.open(str(tmp_path / "history.db")) as history:
        populate(history)
        chat = omnicx.testing.WebChatPayloads().channel
        app = omnicx.webhook_app(history, [chat],
                                 mount={"/api": omnicx.api_app(history, tokens=TOKEN)})
        with running(app) as url:
            command = [executable, "--config-file", str(config), "--no-color", "run",
                       f"{url}/api/openapi.json", "--url", f"{url}/api",
                       "--header", f"Authorization: Bearer {TOKEN}", "--checks", "all",
                       "--max-examples", "25", "--seed", "20261103", "--workers", "1",
                       "--phases", "examples,coverage,fuzzing"]
            if not hasattr(history, "search"):
                command += ["--exclude-path", "/search"]  # 501 there, by design
            result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                                    check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "Tested: " in result.stdout
