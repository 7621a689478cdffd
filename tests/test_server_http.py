"""The webhook server under a real uvicorn on 127.0.0.1: sockets, concurrency, health, logs."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import omnicx
from faulty_store import FaultyStore
from omnicx.channels import Authenticated, Email, WhatsApp
from omnicx.storage import SQLiteStore
from server_support import running
from webchat_payloads import CHANNEL, message, signed

MAIL = Authenticated(adapter=Email(mailbox="support@example.com"), bearer_token="relay-token")
RFC822 = (
    b"From: Anna Keller <anna.keller@example.ch>\r\n"
    b"To: support@example.com\r\n"
    b"Subject: Lieferung\r\n"
    b"Date: Mon, 30 Nov 2026 09:00:00 +0100\r\n"
    b"Message-ID: <cut-off-1@example.ch>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    + b"Guten Tag, das Paket ist nicht angekommen.\r\n" * 40
    + b"Freundliche Gruesse, Anna - THE END\r\n"
)


def _post_cut_off(base: str, path: str, body: bytes, headers: dict[str, str], *,
                  chunked: bool) -> None:
    """Send the head and half the body on a raw socket, then hang up."""
    url = urlsplit(base)
    lines = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    half = body[: len(body) // 2]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        wire = f"{len(half):x}\r\n".encode() + half + b"\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
        wire = half
    with socket.create_connection((url.hostname, url.port)) as sock:
        sock.sendall("\r\n".join(lines).encode() + b"\r\n\r\n" + wire)
        time.sleep(0.2)  # let the server read what came; then the client goes away


@pytest.mark.parametrize("http", ["h11", "httptools"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_cut_off_mid_way_is_never_stored(tmp_path: Path, http: str,
                                                chunked: bool) -> None:
    # A bearer token does not cover the body, so only completeness protects it.
    history = omnicx.open(tmp_path / "h.db")
    app = omnicx.webhook_app(history, [MAIL])
    path = "/email/support@example.com"
    with running(app, http=http) as base:
        _post_cut_off(base, path, RFC822, MAIL.sign(RFC822), chunked=chunked)
        time.sleep(0.3)
        assert history.report()["raw_payloads"] == {}
        retry = httpx.post(base + path, content=RFC822, headers=MAIL.sign(RFC822))
    assert (retry.status_code, retry.json()) == (200, {"stored": 1, "duplicates": 0,
                                                        "updates": 0})
    contact = history.contacts.find("anna.keller@example.ch")
    assert contact is not None
    (mail,) = history.timeline(contact).items
    assert mail.text is not None and "THE END" in mail.text


def _call(app: Any, scope: dict[str, Any], messages: list[dict[str, Any]]
          ) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    pending = list(messages)

    async def receive() -> dict[str, Any]:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_a_body_that_disagrees_with_its_content_length_is_refused() -> None:
    history = omnicx.open(":memory:")
    app = omnicx.webhook_app(history, [MAIL])
    headers = [(k.lower().encode(), v.encode()) for k, v in MAIL.sign(RFC822).items()]
    for declared, status in ((len(RFC822) + 10, 400), (len(RFC822) - 10, 400),
                             (64 * 1024 * 1024, 413)):
        scope = {"type": "http", "method": "POST", "path": "/email/support@example.com",
                 "headers": [*headers, (b"content-length", str(declared).encode())]}
        sent = _call(app, scope, [{"type": "http.request", "body": RFC822,
                                   "more_body": False}])
        assert sent[0]["status"] == status
    assert history.report()["raw_payloads"] == {}


def test_concurrent_deliveries_share_commits_and_each_gets_its_own_answer(
        tmp_path: Path) -> None:
    faulty = FaultyStore(SQLiteStore(str(tmp_path / "h.db")))
    history = omnicx.open(faulty)
    app = omnicx.webhook_app(history, [CHANNEL])
    requests = []
    for n in range(60):
        body, headers = signed(message(f"m{n:03}", n))
        if n % 10 == 3:
            headers = {"X-Omnicx-Signature": "sha256=" + "0" * 64}
        requests.append((body, headers))

    async def deliver(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            return await asyncio.gather(*(
                client.post("/webchat/shop", content=body, headers=headers)
                for body, headers in requests))

    before = faulty.transactions
    with running(app) as base:
        answers = asyncio.run(deliver(base))
    statuses = [answer.status_code for answer in answers]
    assert statuses == [401 if n % 10 == 3 else 200 for n in range(60)]
    assert all(a.json() == {"stored": 1, "duplicates": 0, "updates": 0}
               for a in answers if a.status_code == 200)
    # 54 authentic deliveries; sharing commits means fewer transactions than that.
    assert faulty.transactions - before < 54
    contact = history.contacts.find("anna@example.com")
    assert contact is not None
    stored = {i.external_id for i in history.timeline(contact, limit=100).items}
    assert stored == {f"m{n:03}" for n in range(60) if n % 10 != 3}


def test_health_readiness_and_one_log_line_per_request(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    faulty = FaultyStore(SQLiteStore(str(tmp_path / "h.db")))
    history = omnicx.open(faulty)
    wa = WhatsApp(phone_number_id="1065", app_secret="app-secret", verify_token="hush-42")
    app = omnicx.webhook_app(history, [CHANNEL, wa])
    body, headers = signed(message("m1", 0, text="my IBAN is CH93 0076 2011 6238 5295 7"))
    caplog.set_level(logging.INFO, logger="omnicx.server")
    with running(app) as base:
        health = httpx.get(base + "/healthz")
        ready = httpx.get(base + "/readyz")
        stored = httpx.post(base + "/webchat/shop", content=body, headers=headers)
        handshake = httpx.get(base + "/whatsapp/1065", params={
            "hub.mode": "subscribe", "hub.verify_token": "hush-42", "hub.challenge": "7"})
        faulty.unreadable = True
        not_ready = httpx.get(base + "/readyz")
        wrong = httpx.post(base + "/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert stored.status_code == 200 and handshake.text == "7"
    assert not_ready.status_code == 503 and not_ready.json()["status"] == "unavailable"
    assert wrong.status_code == 405
    lines = [r.getMessage() for r in caplog.records if r.name == "omnicx.server"]
    for expected in ("GET /healthz 200 ", "GET /readyz 200 ", "POST /webchat/shop 200 ",
                     "GET /whatsapp/1065 200 ", "GET /readyz 503 ", "POST /healthz 405 "):
        assert any(line.startswith(expected) and line.endswith("ms") for line in lines), (
            expected, lines)
    logged = "\n".join(lines)
    assert "CH93" not in logged and "hush-42" not in logged and "anna" not in logged.lower()


def test_more_routes_mount_under_a_prefix(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []

    async def api(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["root_path"], scope["path"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"api"})

    history = omnicx.open(tmp_path / "h.db")
    app = omnicx.webhook_app(history, [CHANNEL], mount={"/api/": api})
    with running(app) as base:
        inner = httpx.get(base + "/api/contacts/1")
        root = httpx.get(base + "/api")
        beside = httpx.get(base + "/apix")
        body, headers = signed(message("m1", 0))
        webhook = httpx.post(base + "/webchat/shop", content=body, headers=headers)
    assert (inner.text, root.text) == ("api", "api")
    assert seen == [("/api", "/api/contacts/1"), ("/api", "/api")]
    assert beside.status_code == 404
    assert webhook.json()["stored"] == 1
    with pytest.raises(omnicx.ConfigurationError, match="prefix"):
        omnicx.webhook_app(history, [CHANNEL], mount={"/": api})


@pytest.mark.parametrize(("caps", "least"), [({"max_group": 4}, 10),
                                             ({"max_group_bytes": 1}, 40)])
def test_a_group_stays_within_its_caps(tmp_path: Path, caps: dict[str, int],
                                       least: int) -> None:
    faulty = FaultyStore(SQLiteStore(str(tmp_path / "h.db")))
    history = omnicx.open(faulty)
    app = omnicx.webhook_app(history, [CHANNEL], **caps)
    requests = [signed(message(f"m{n:03}", n)) for n in range(40)]

    async def deliver(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            return await asyncio.gather(*(
                client.post("/webchat/shop", content=body, headers=headers)
                for body, headers in requests))

    before = faulty.transactions
    with running(app) as base:
        answers = asyncio.run(deliver(base))
    assert [a.status_code for a in answers] == [200] * 40
    # max_group 4: at least 40 / 4 commits; one byte: every body is a group of its own.
    assert faulty.transactions - before >= least


def test_workers_need_a_store_several_processes_may_write(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from omnicx._cli import main

    (tmp_path / "c.toml").write_text('[[channel]]\ntype = "webchat"\nsecret = "s"\nsite = "x"\n')
    code = main(["--db", ":memory:", "serve", "--channels", str(tmp_path / "c.toml"),
                 "--workers", "2", "--port", "1"])
    assert code == 2 and "--workers" in capsys.readouterr().err


def test_a_large_body_is_verified_and_parsed_off_the_event_loop(tmp_path: Path) -> None:
    history = omnicx.open(tmp_path / "h.db")
    app = omnicx.webhook_app(history, [MAIL])
    big = RFC822.replace(b"cut-off-1", b"big-1") + b"Anhang folgt.\r\n" * 20_000  # ~300 kB
    with running(app) as base:
        forged = httpx.post(base + "/email/support@example.com", content=big,
                            headers={"Authorization": "Bearer nope"})
        stored = httpx.post(base + "/email/support@example.com", content=big,
                            headers=MAIL.sign(big))
    assert forged.status_code == 401
    assert stored.json() == {"stored": 1, "duplicates": 0, "updates": 0}


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(0, len(RFC822)), max_size=6), hang_up=st.booleans(),
       declared_delta=st.sampled_from([0, 0, -1, 1]))
def test_a_body_is_stored_only_when_it_arrived_whole(cuts: list[int], hang_up: bool,
                                                      declared_delta: int) -> None:
    """Any chunking of a whole body stores it; a hang-up or a wrong length stores nothing."""
    history = omnicx.open(":memory:")
    app = omnicx.webhook_app(history, [MAIL])
    bounds = [0, *sorted(cuts), len(RFC822)]
    chunks = [RFC822[a:b] for a, b in itertools.pairwise(bounds)]
    messages = [{"type": "http.request", "body": chunk, "more_body": True} for chunk in chunks]
    if hang_up:
        messages = messages[:-1]  # the last chunk never comes: the next receive is a disconnect
    else:
        messages[-1]["more_body"] = False
    headers = [(k.lower().encode(), v.encode()) for k, v in MAIL.sign(RFC822).items()]
    scope = {"type": "http", "method": "POST", "path": "/email/support@example.com",
             "headers": [*headers, (b"content-length",
                                    str(len(RFC822) + declared_delta).encode())]}
    sent = _call(app, scope, messages)
    whole = not hang_up and declared_delta == 0
    stored = history.report()["raw_payloads"]
    if whole:
        assert sent[0]["status"] == 200 and stored == {"ok": 1}
    else:
        assert stored == {}
        assert [m["status"] for m in sent if "status" in m] in ([], [400])
