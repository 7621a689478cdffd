"""The FastAPI, Flask and Django examples, each served over real HTTP on 127.0.0.1.

For each framework: the webhook endpoint answers only after the commit (a
second, independent history on the same file already sees what a 200
acknowledged), maps omnicx's outcomes to the statuses omnicx serve gives
(forged 401, unparseable 200 + quarantine, store down 503 then recovered),
and the CRM-side timeline page lists a contact's interactions newest first,
escaped, with working "Older" links.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import re
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from werkzeug.serving import make_server

import omnicx
from faulty_store import FaultyStore
from omnicx.channels import WebChat
from omnicx.storage import SQLiteStore
from server_support import running

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CHAT = WebChat(secret="framework-test-secret", site="shop.example.ch")
T0 = dt.datetime(2026, 11, 3, 8, 0, tzinfo=dt.UTC)
API_TOKEN = "framework-api-token-0123456789"


def _example(name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Django resolves ROOT_URLCONF by this name
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _wsgi(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=20)


def _fastapi(history: omnicx.History) -> contextlib.AbstractContextManager[str]:
    return running(_example("fastapi_app").create_app(history, CHAT, api_token=API_TOKEN))


def _flask(history: omnicx.History) -> contextlib.AbstractContextManager[str]:
    return _wsgi(_example("flask_app").create_app(history, CHAT))


def _django(history: omnicx.History) -> contextlib.AbstractContextManager[str]:
    module = _example("django_app")
    module.setup(history, CHAT)
    from django.core.wsgi import get_wsgi_application

    return _wsgi(get_wsgi_application())


SERVERS: dict[str, Callable[[omnicx.History], contextlib.AbstractContextManager[str]]] = {
    "fastapi": _fastapi, "flask": _flask, "django": _django}


def _message(message_id: str, text: str, minute: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"events": [{
        "type": "message", "id": message_id, "from": "visitor", "text": text,
        "at": (T0 + dt.timedelta(minutes=minute)).isoformat(),
        "visitor": {"id": "v-1", "email": "mia@example.org"}}]}).encode()
    return body, CHAT.sign(body)


@pytest.fixture(params=sorted(SERVERS))
def served(request: pytest.FixtureRequest, tmp_path: Path
           ) -> Iterator[tuple[str, FaultyStore, Path]]:
    path = tmp_path / "history.db"
    store = FaultyStore(SQLiteStore(str(path)))
    history = omnicx.open(store)
    with SERVERS[request.param](history) as url:
        yield url, store, path
    history.close()


def test_webhook_answers_after_the_commit(served: tuple[str, FaultyStore, Path]) -> None:
    url, _, path = served
    body, headers = _message("m-1", "Where is my parcel?", 0)
    answer = httpx.post(f"{url}/hooks/webchat", content=body, headers=headers)
    assert (answer.status_code, answer.json()) == (200, {"stored": 1, "duplicates": 0,
                                                         "updates": 0})
    with omnicx.open(str(path)) as elsewhere:  # another connection: only committed rows
        contact = elsewhere.contacts.find("mia@example.org")
        assert contact is not None
        assert [i.text for i in elsewhere.timeline(contact).items] == ["Where is my parcel?"]
    again = httpx.post(f"{url}/hooks/webchat", content=body, headers=headers)
    assert again.json() == {"stored": 0, "duplicates": 1, "updates": 0}


def test_webhook_maps_omnicx_errors_to_statuses(served: tuple[str, FaultyStore, Path]) -> None:
    url, store, path = served
    body, _ = _message("m-1", "forged", 0)
    forged = httpx.post(f"{url}/hooks/webchat", content=body,
                        headers={"X-Omnicx-Signature": "sha256=" + "0" * 64})
    assert forged.status_code == 401 and "error" in forged.json()
    broken = b'{"events": [{"type": "message", "id": 7}]}'
    kept = httpx.post(f"{url}/hooks/webchat", content=broken, headers=CHAT.sign(broken))
    assert kept.status_code == 200 and isinstance(kept.json()["quarantined"], int)
    store.down = True
    body, headers = _message("m-2", "while the database is down", 1)
    down = httpx.post(f"{url}/hooks/webchat", content=body, headers=headers)
    assert down.status_code == 503  # nothing committed: the provider retries
    store.down = False
    retried = httpx.post(f"{url}/hooks/webchat", content=body, headers=headers)
    assert retried.json()["stored"] == 1
    with omnicx.open(str(path)) as elsewhere:
        assert [q.id for q in elsewhere.quarantine()] == [kept.json()["quarantined"]]
        contact = elsewhere.contacts.find("mia@example.org")
        assert contact is not None
        assert [i.text for i in elsewhere.timeline(contact).items] == [
            "while the database is down"]  # the forged one left no trace


def test_timeline_page_newest_first_escaped_and_paged(
        served: tuple[str, FaultyStore, Path]) -> None:
    url, _, path = served
    for n in range(23):
        body, headers = _message(f"m-{n}", f"message {n:02} <b>bold?</b>", n)
        assert httpx.post(f"{url}/hooks/webchat", content=body,
                          headers=headers).status_code == 200
    with omnicx.open(str(path)) as elsewhere:
        contact = elsewhere.contacts.find("mia@example.org")
        assert contact is not None
    first = httpx.get(f"{url}/crm/contacts/{contact.id}/timeline")
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    assert "<b>bold?</b>" not in first.text and "&lt;b&gt;bold?&lt;/b&gt;" in first.text
    shown = [int(n) for n in re.findall(r"message (\d\d)", first.text)]
    assert shown == list(range(22, 2, -1))  # 20 a page, newest first
    older = re.search(r'href="(\?before=[^"]+)"', first.text)
    assert older is not None
    second = httpx.get(f"{url}/crm/contacts/{contact.id}/timeline{older[1]}")
    assert [int(n) for n in re.findall(r"message (\d\d)", second.text)] == [2, 1, 0]
    assert 'rel="next"' not in second.text
    assert httpx.get(f"{url}/crm/contacts/999999/timeline").status_code == 404


def test_fastapi_mounts_the_read_api(tmp_path: Path) -> None:
    with omnicx.open(str(tmp_path / "h.db")) as history:
        body, headers = _message("m-1", "Hallo", 0)
        history.receive(CHAT, body=body, headers=headers)
        with _fastapi(history) as url:
            described = httpx.get(f"{url}/omnicx/openapi.json").json()
            assert described["servers"] == [{"url": "/omnicx"}]
            assert httpx.get(f"{url}/omnicx/contacts").status_code == 401
            page = httpx.get(f"{url}/omnicx/contacts",
                             headers={"Authorization": f"Bearer {API_TOKEN}"}).json()
            assert [c["addresses"][0]["value"] for c in page["items"]] == ["mia@example.org"]
