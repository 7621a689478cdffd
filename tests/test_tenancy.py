"""Tenancy beyond the conformance suite: opening, names, migration, CLI, custom stores.

The per-backend promises (two tenants never share a contact, nothing
crosses a tenant, each tenant sees what a store of its own would show, two
tenants writing at once) are in `omnicx.testing.TenancyConformance`, run by
``tests/test_conformance.py`` on memory, SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import omnicx
from omnicx._cli import main
from omnicx._tenancy import check_tenant
from omnicx.storage import MemoryStore, SQLiteStore, Store, Transaction
from omnicx.storage._schema import SCHEMA_VERSION
from omnicx.testing import WebChatPayloads
from server_support import deliver, free_port, running
from test_concurrency import MESSAGES, check_history, deliver_all
from webchat_payloads import CHANNEL

T = TypeVar("T")
CHAT = WebChatPayloads()  # (webchat_payloads.CHANNEL is the server tests' channel)
KEY = bytes(range(32))


def _receive(history: omnicx.History, message_id: str, text: str) -> None:
    body, headers = CHAT.message(message_id, email="anna@example.ch", text=text)
    history.receive(CHAT.channel, body=body, headers=headers)


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_a_tenant_of_a_sqlite_file_lives_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    with omnicx.open(path, tenant="brand-a", key=KEY) as a, omnicx.open(path, key=KEY) as main_:
        _receive(a, "m1", "for brand A")
        assert a.tenant == "brand-a" and main_.tenant is None
        assert list(main_.contacts) == []
        (contact,) = a.contacts
        assert contact.tenant == "brand-a"
    assert (tmp_path / "history.db.tenants" / "brand-a.db").is_file()
    with omnicx.open(path, tenant="brand-a", key=KEY) as again:  # reopened: still there
        assert [i.text for i in again.timeline(contact).items] == ["for brand A"]
        exported = io.StringIO()
        again.export(contact, exported)
    lines = [json.loads(line) for line in exported.getvalue().splitlines()]
    assert [line["tenant"] for line in lines if line["type"] == "contact"] == ["brand-a"]


def test_each_tenant_keeps_attachment_bytes_of_its_own(tmp_path: Path) -> None:
    # Blobs are content-addressed: in one shared directory, erasing a person in
    # one brand would delete the same bytes another brand still holds.
    path = tmp_path / "history.db"
    scan = b"%PDF-1.4 the same signed contract, sent to both brands"
    with omnicx.open(path, tenant="brand-a") as a, omnicx.open(path, tenant="brand-b") as b:
        stored = {h.tenant: h.record(channel="letter", direction="inbound",
                                     contact="anna@example.ch", attachments=[scan],
                                     external_id="scan-1") for h in (a, b)}
        a.erase(a.contacts.find("anna@example.ch"))
        assert b.attachment(stored["brand-b"], 0) == scan
        with pytest.raises(omnicx.NotFoundError):
            a.attachment(stored["brand-a"], 0)
    assert (tmp_path / "history.db.tenants" / "brand-b.blobs").is_dir()


def test_an_existing_database_is_the_default_tenant(tmp_path: Path) -> None:
    # A database written before tenancy existed: its tables are the default
    # tenant's, as they are; a named tenant starts empty beside it.
    path = tmp_path / "history.db"
    with omnicx.open(path, key=KEY) as before:
        _receive(before, "m1", "written before tenancy")
    with omnicx.open(path, key=KEY) as default, omnicx.open(path, tenant="x", key=KEY) as x:
        assert [c.tenant for c in default.contacts] == [None]
        assert list(x.contacts) == [] and x.report()["contacts"]["total"] == 0
        assert default.verify().ok and x.verify().ok
    for file in (path, tmp_path / "history.db.tenants" / "x.db"):
        with sqlite3.connect(file) as conn:
            (version,) = conn.execute(
                "SELECT value FROM omnicx_meta WHERE key = 'schema_version'").fetchone()
        assert int(version) == SCHEMA_VERSION


def test_histories_of_one_store_object_share_a_tenant() -> None:
    store = MemoryStore()
    first, second = omnicx.open(store, tenant="brand-a"), omnicx.open(store, tenant="brand-a")
    _receive(first, "m1", "hello")
    (contact,) = second.contacts
    assert [i.text for i in second.timeline(contact).items] == ["hello"]
    assert list(omnicx.open(store).contacts) == []
    # A store of a tenant opens the other tenants too, and its history knows its tenant.
    tenant_store = store.for_tenant("brand-a")
    assert omnicx.open(tenant_store).tenant == "brand-a"
    assert list(omnicx.open(tenant_store, tenant="brand-b").contacts) == []


def test_closing_the_main_store_closes_its_tenants(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "history.db")
    tenant = store.for_tenant("brand-a")
    store.close()
    with pytest.raises(omnicx.StorageError):
        tenant.atomic(lambda tx: tx.new_ids("contacts", 1))


class _Delegating:
    """A custom store without tenancy: everything but ``for_tenant`` is a MemoryStore's."""

    def __init__(self) -> None:
        self._inner = MemoryStore()
        self.capabilities = self._inner.capabilities

    def atomic(self, work: Callable[[Transaction], T]) -> T:
        return self._inner.atomic(work)

    def reading(self, *, snapshot: bool = True) -> AbstractContextManager[Transaction]:
        return self._inner.reading(snapshot=snapshot)

    def close(self) -> None:
        self._inner.close()


def test_a_store_without_tenancy_serves_the_default_tenant_only() -> None:
    store: Store = _Delegating()
    assert omnicx.open(store).tenant is None
    with pytest.raises(omnicx.ConfigurationError, match="cannot host tenants"):
        omnicx.open(store, tenant="brand-a")


@pytest.mark.parametrize("name", ["", "Brand-A", "brand a", "../etc", "a/b", "-a", "a-",
                                  "x" * 41, "brand.a", "brand\x00a"])
def test_tenant_names_that_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(omnicx.ConfigurationError, match="not a tenant name"):
        omnicx.open(tmp_path / "h.db", tenant=name)
    assert not (tmp_path / "h.db.tenants").exists()


_RULE = re.compile(r"[a-z0-9]([a-z0-9_-]{0,38}[a-z0-9])?")


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=45)
       | st.from_regex(_RULE, fullmatch=True))
def test_a_tenant_name_is_a_safe_file_and_schema_name(name: str) -> None:
    try:
        accepted = check_tenant(name)
    except omnicx.ConfigurationError:
        assert not _RULE.fullmatch(name)
        return
    assert accepted == name and _RULE.fullmatch(name)
    # Safe as one path component and inside a PostgreSQL identifier (with "omnicx__").
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert len(f"omnicx__{name}".encode()) <= 63 and name == name.lower()


def test_cli_tenant_option_and_environment(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "history.db")
    omnicx.open(db).close()  # the default tenant's database (reads refuse a missing one)
    for tenant in ("brand-a", "brand-b"):
        code, _ = run("--db", db, "--tenant", tenant, "record", "--channel", "phone",
                      "--direction", "inbound", "--contact", "anna@example.ch",
                      "--text", f"called {tenant}", "--external-id", "cti-1")
        assert code == 0
    monkeypatch.setenv("OMNICX_TENANT", "brand-b")
    code, output = run("--db", db, "timeline", "anna@example.ch", "--json")
    assert code == 0
    assert [item["text"] for item in json.loads(output)["items"]] == ["called brand-b"]
    code, output = run("--db", db, "--tenant", "brand-a", "timeline", "anna@example.ch",
                       "--json")
    assert [item["text"] for item in json.loads(output)["items"]] == ["called brand-a"]
    monkeypatch.delenv("OMNICX_TENANT")
    code, output = run("--db", db, "contacts", "--json")
    assert (code, json.loads(output)) == (0, [])  # the default tenant has nobody
    assert run("--db", db, "--tenant", "Brand A", "contacts")[0] == 2


@pytest.mark.postgres
def test_a_postgres_tenant_is_a_schema_of_the_same_database(
        postgres_schema: tuple[str, str]) -> None:
    import psycopg  # the postgres extra: only where PostgreSQL is tested

    url, schema = postgres_schema
    with omnicx.open(url, schema=schema, tenant="brand-a", key=KEY) as a, \
            omnicx.open(url, schema=schema, key=KEY) as default:
        _receive(a, "m1", "for brand A")
        assert list(default.contacts) == []
        assert [c.tenant for c in a.contacts] == ["brand-a"]
    with psycopg.connect(url) as conn:
        names = {row[0] for row in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (schema,))}
    assert names == {schema, f"{schema}__brand-a"}
    with pytest.raises(omnicx.ConfigurationError, match="schema name"):
        omnicx.open(url, schema="s" * 40, tenant="t" * 30)


@pytest.mark.slow
@pytest.mark.postgres
def test_two_tenants_written_at_once_by_processes_on_postgres(
        postgres_schema: tuple[str, str]) -> None:
    # Two processes per tenant, two threads each, all delivering the same
    # overlapping payload set (see test_concurrency) at the same moment, into
    # tenants that do not exist yet: their schemas are created by racing
    # first opens, and each tenant ends up with the whole set exactly once.
    url, schema = postgres_schema
    tenants = ("brand-a", "brand-b")
    jobs = [(url, {"schema": schema, "max_size": 3, "tenant": tenant}, seed, 2)
            for seed, tenant in enumerate(tenants * 2)]
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        results = pool.starmap(deliver_all, jobs)
    assert [e for *_, errors in results for e in errors] == []
    for tenant in tenants:
        assert sum(r[0] for job, r in zip(jobs, results, strict=True)
                   if job[1]["tenant"] == tenant) == MESSAGES
        check_history(omnicx.open(url, schema=schema, tenant=tenant))
    with omnicx.open(url, schema=schema) as default:
        assert list(default.contacts) == []


@pytest.mark.slow
def test_serve_workers_receive_into_the_tenant_serve_was_started_with(
        tmp_path: Path, postgres_schema: tuple[str, str]) -> None:
    # Each --workers process opens its own history: it must be the same tenant's.
    url, schema = postgres_schema
    (tmp_path / "channels.toml").write_text(
        f'[[channel]]\ntype = "webchat"\nsecret = "{CHANNEL.secret!s}"\n'
        f'site = "{CHANNEL.site}"\n')
    port = free_port()
    with (tmp_path / "server.log").open("wb") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-c", "import sys; from omnicx._cli import main; sys.exit(main())",
             "--db", url, "--schema", schema, "serve", "--channels",
             str(tmp_path / "channels.toml"), "--port", str(port), "--workers", "2"],
            stdout=subprocess.DEVNULL, stderr=log_file,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
                 "OMNICX_TENANT": "brand-a"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        acked: set[int] = set()
        deliver(port, list(range(40)), acked, threading.Event())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert acked == set(range(40))
    with omnicx.open(url, schema=schema, tenant="brand-a") as brand_a, \
            omnicx.open(url, schema=schema) as default:
        contact = brand_a.contacts.find("anna@example.com")
        assert contact is not None
        assert len(brand_a.timeline(contact, limit=100).items) == 40
        assert list(default.contacts) == []


def test_the_read_api_of_a_tenant_shows_that_tenant_only(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    token = "tenant-token-0123456789"
    with omnicx.open(path, tenant="brand-a") as a, omnicx.open(path, tenant="brand-b") as b:
        _receive(a, "m1", "Paket kaputt")
        _receive(b, "m1", "Rechnung falsch")
        _receive(b, "m2", "Noch da?")
        app = omnicx.webhook_app(a, [CHAT.channel],
                                 mount={"/api": omnicx.api_app(a, tokens=token)})
        with running(app) as url, httpx.Client(
                base_url=f"{url}/api", headers={"Authorization": f"Bearer {token}"}) as http:
            found = http.get("/contacts/find", params={"address": "anna@example.ch"})
            assert found.status_code == 200, found.text
            contact_id = found.json()["id"]
            timeline = http.get(f"/contacts/{contact_id}/timeline").json()
            assert [item["text"] for item in timeline["items"]] == ["Paket kaputt"]
            assert len(http.get("/contacts").json()["items"]) == 1
            changes = http.get("/changes").json()["items"]
            assert {c["kind"] for c in changes} >= {"interaction.created"}
            assert len([c for c in changes if c["kind"] == "interaction.created"]) == 1
