"""The read API in `omnicx serve` (a real process), and its failure paths and parsers."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import omnicx
from api_support import AUTH, TOKEN, conforms, populate
from faulty_store import FaultyStore
from omnicx._api import Problem, Query, _after_contact, _contact_cursor
from omnicx.storage import SQLiteStore
from server_support import free_port, running, wait_ready
from webchat_payloads import CHANNEL, message, signed


@contextlib.contextmanager
def _serve(tmp_path: Path, db: list[str], config: str, env: dict[str, str],
           *extra: str) -> Iterator[str]:
    (tmp_path / "channels.toml").write_text(
        f'[[channel]]\ntype = "webchat"\nsecret = "{CHANNEL.secret!s}"\n'
        f'site = "{CHANNEL.site}"\n{config}')
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-c", "import sys; from omnicx._cli import main; sys.exit(main())",
             *db, "serve", "--channels", str(tmp_path / "channels.toml"), "--port", str(port),
             "--no-deliver", *extra],
            stdout=log_file, stderr=log_file,
            env={**{k: v for k, v in os.environ.items() if k != "OMNICX_API_TOKEN"},
                 "PYTHONPATH": os.pathsep.join(sys.path), **env})
    try:
        wait_ready(f"http://127.0.0.1:{port}", server, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def _round_trip(url: str) -> None:
    """A webhook in, then the read API shows it; without the token, nothing."""
    body, headers = signed(message("m-1", 1, text="Grüezi"))
    assert httpx.post(f"{url}/webchat/{CHANNEL.site}", content=body,
                      headers=headers).status_code == 200
    assert httpx.get(f"{url}/api/contacts").status_code == 401
    found = conforms(httpx.get(f"{url}/api/contacts/find",
                               params={"address": "anna@example.com"}, headers=AUTH),
                     200, "Contact")
    page = conforms(httpx.get(f"{url}/api/contacts/{found['id']}/timeline", headers=AUTH),
                    200, "TimelinePage")
    assert [i["text"] for i in page["items"]] == ["Grüezi"]


def test_omnicx_serve_mounts_the_api_from_the_config(tmp_path: Path) -> None:
    with _serve(tmp_path, ["--db", str(tmp_path / "h.db")],
                '[api]\ntoken_env = "CRM_API_TOKEN"\n', {"CRM_API_TOKEN": TOKEN}) as url:
        _round_trip(url)
        assert httpx.get(f"{url}/api/openapi.json").json()["servers"] == [{"url": "/api"}]
    assert "/api/... (read API" in (tmp_path / "server.log").read_text()


def test_omnicx_serve_has_no_api_without_a_token(tmp_path: Path) -> None:
    with _serve(tmp_path, ["--db", str(tmp_path / "h.db")], "", {}) as url:
        assert httpx.get(f"{url}/api/contacts", headers=AUTH).status_code == 404
        assert httpx.get(f"{url}/api/openapi.json").status_code == 404
    assert "read API" not in (tmp_path / "server.log").read_text()


def test_omnicx_serve_refuses_a_short_token_before_binding(tmp_path: Path) -> None:
    (tmp_path / "channels.toml").write_text(
        f'[[channel]]\ntype = "webchat"\nsecret = "{CHANNEL.secret!s}"\n[api]\ntoken = "short"\n')
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from omnicx._cli import main; sys.exit(main())",
         "--db", str(tmp_path / "h.db"), "serve", "--channels", str(tmp_path / "channels.toml"),
         "--port", str(free_port())], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == 2, result.stderr
    assert "at least 16 characters" in result.stderr


@pytest.mark.slow
def test_omnicx_serve_workers_serve_the_api_on_postgres(
        tmp_path: Path, postgres_schema: tuple[str, str]) -> None:
    url, schema = postgres_schema
    with _serve(tmp_path, ["--db", url, "--schema", schema], "",
                {"OMNICX_API_TOKEN": TOKEN}, "--workers", "2") as base:
        _round_trip(base)
        for _ in range(6):  # whichever worker answers, the API is there
            assert httpx.get(f"{base}/api/changes", headers=AUTH).status_code == 200


# -- failure paths --------------------------------------------------------------------------
def test_readiness_is_503_and_reads_are_503_when_the_store_fails(tmp_path: Path) -> None:
    store = FaultyStore(SQLiteStore(str(tmp_path / "h.db")))
    with omnicx.open(store) as history:
        populate(history, visitors=1, messages=1)
        with running(omnicx.api_app(history, tokens=TOKEN)) as url:
            store.unreadable = True
            conforms(httpx.get(f"{url}/readyz"), 503, "Problem")
            body = conforms(httpx.get(f"{url}/contacts", headers=AUTH), 503, "Problem")
            assert body["type"] == "urn:omnicx:problem:unavailable"
            assert "does not answer" not in body["detail"]  # no internals to the client
            store.unreadable = False
            conforms(httpx.get(f"{url}/readyz"), 200, "Health")


def test_a_bug_is_a_500_that_tells_the_log_not_the_client(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
        ) -> None:
    with omnicx.open(str(tmp_path / "h.db")) as history:
        populate(history, visitors=1, messages=1)

        def broken(*_: object, **__: object) -> None:
            raise RuntimeError("secret internals")

        monkeypatch.setattr(history, "interaction", broken)
        with running(omnicx.api_app(history, tokens=TOKEN)) as url, \
                caplog.at_level(logging.ERROR, logger="omnicx.api"):
            body = conforms(httpx.get(f"{url}/interactions/1", headers=AUTH), 500, "Problem")
        assert "secret internals" not in json.dumps(body)
        assert "secret internals" in caplog.text


def test_an_encrypted_history_answers_in_the_clear_over_the_api(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture
                                                                ) -> None:
    key = b"k" * 32
    with omnicx.open(str(tmp_path / "h.db"), key=key) as history:
        populate(history, visitors=1, messages=2)
        with running(omnicx.api_app(history, tokens=TOKEN)) as url, \
                caplog.at_level(logging.DEBUG):
            found = httpx.get(f"{url}/contacts/find", params={"address": "mia@example.org"},
                              headers=AUTH).json()
            page = httpx.get(f"{url}/contacts/{found['id']}/timeline", headers=AUTH).json()
            httpx.get(f"{url}/contacts/find", params={"address": "nobody@example.org"},
                      headers=AUTH)
        assert {"kind": "email", "value": "mia@example.org", "name": None} in found["addresses"]
        assert "Paket 1 kaputt, Besucher 0" in [i["text"] for i in page["items"]]
        ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("omnicx"))
        assert "example.org" not in ours and "Paket" not in ours  # the client's logs are its own
    assert b"Paket 1 kaputt" not in (tmp_path / "h.db").read_bytes()


# -- parsers (Hypothesis) ---------------------------------------------------------------------
@given(st.integers(min_value=0, max_value=10**18 - 1))
def test_contact_cursor_round_trips(contact_id: int) -> None:
    if contact_id == 0:
        with pytest.raises(Problem):
            _after_contact(_contact_cursor(contact_id))
    else:
        assert _after_contact(_contact_cursor(contact_id)) == contact_id


@given(st.text(max_size=60))
def test_any_contact_cursor_is_a_position_or_a_400(text: str) -> None:
    try:
        position = _after_contact(text)
    except Problem as problem:
        assert problem.status == 400
    else:
        assert _contact_cursor(position) == text.rstrip("=") or position > 0


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_query_string_parses_or_is_a_400(raw: bytes) -> None:
    allowed = {"limit", "since", "channel", "after"}
    try:
        query = Query(raw, allowed)
        limit = query.integer("limit", 50, 1, 500)
        since = query.time("since")
        query.channels()
        query.cursor("after")
    except Problem as problem:
        assert problem.status == 400 and problem.kind == "bad-parameter"
    else:
        assert 1 <= limit <= 500
        assert since is None or since.utcoffset() is not None


def test_cursor_alphabet_is_url_safe() -> None:
    assert base64.urlsafe_b64decode(_contact_cursor(42) + "==") == b"contacts:42"
