"""The HTML report: self-contained (no network), escaped, and drawn by a real browser."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import omnicx
from omnicx._cli import main
from omnicx._report import render_html
from test_insight import T0, UNTIL, build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_is_self_contained_and_escaped(history: omnicx.History) -> None:
    build(history)
    page = render_html(history.kpis(since=T0, until=UNTIL), title="<script>x</script>")
    assert "<script>" not in page  # the title is data, escaped
    assert "&lt;script&gt;" in page
    # Nothing to fetch: no external script, stylesheet, image or font.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert page.count("<svg") == 3
    assert "email→phone" in page


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("OMNICX_REQUIRE_CHROMIUM") != "1",
                    reason="Chromium is not installed (.ci/install-chromium)")
def test_report_renders_in_chromium(tmp_path: Path) -> None:
    assert CHROMIUM is not None, "OMNICX_REQUIRE_CHROMIUM=1 but no chromium"
    db, html, png = tmp_path / "h.db", tmp_path / "report.html", tmp_path / "report.png"
    with omnicx.open(db) as history:
        build(history)
    assert main(["--db", str(db), "report", "--html", str(html), "--since", T0.isoformat(),
                 "--until", UNTIL.isoformat()]) == 0
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1200,1800", f"--screenshot={png}", html.as_uri()],
        check=True, capture_output=True, timeout=120)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # A drawn page, not a blank one: a blank 1200x1800 PNG compresses to a few KB.
    assert len(data) > 30_000
    # The DOM as the browser built it has the charts and the numbers.
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile2'}",
         "--dump-dom", html.as_uri()], check=True, capture_output=True, timeout=120,
        text=True).stdout
    assert dom.count("<svg") == 3 and "SLA breaches" in dom
    if os.environ.get("OMNICX_SCREENSHOT_TO"):
        shutil.copy(png, os.environ["OMNICX_SCREENSHOT_TO"])


def test_report_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.db"
    with omnicx.open(db) as history:
        ids = build(history)
    assert main(["--db", str(db), "report", "--kpis", "--json", "--since", T0.isoformat(),
                 "--until", UNTIL.isoformat(), "--by", "week"]) == 0
    out = capsys.readouterr().out
    assert '"conversations": 6' in out
    assert main(["--db", str(db), "conversation", str(ids["B"]), "resolve", "--by",
                 "agent:17"]) == 0
    assert "resolved" in capsys.readouterr().out
    assert main(["--db", str(db), "conversation", str(ids["B"]), "snooze"]) == 2
    assert main(["--db", str(db), "report", "--since", "yesterday"]) == 2
    _ = dt
