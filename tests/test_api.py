"""The read API against a real uvicorn on 127.0.0.1, mounted at /api as `omnicx serve` does.

Every answer is held against the OpenAPI document's schema (`conforms`), and
every page is compared with what the Python API returns for the same query.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

import omnicx
from api_support import AUTH, T0, TOKEN, conforms, populate
from conftest import drop_schema, require_postgres
from omnicx._openapi import openapi
from server_support import running

HAS_SEARCH = hasattr(omnicx.History, "search")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def history(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[omnicx.History]:
    """One populated history per backend, shared by the module's read-only tests."""
    if request.param == "sqlite":
        opened = omnicx.open(str(tmp_path_factory.mktemp("api") / "history.db"))
        schema = None
    else:
        url = require_postgres()
        schema = f"omnicx_test_{uuid.uuid4().hex[:12]}"
        opened = omnicx.open(url, schema=schema)
    populate(opened)
    yield opened
    opened.close()
    if schema is not None:
        drop_schema(url, schema)


@pytest.fixture(scope="module")
def client(history: omnicx.History) -> Iterator[httpx.Client]:
    chat = omnicx.testing.WebChatPayloads().channel
    app = omnicx.webhook_app(history, [chat],
                             mount={"/api": omnicx.api_app(history, tokens=TOKEN)})
    with running(app) as url, httpx.Client(base_url=f"{url}/api", headers=AUTH,
                                           timeout=30) as http:
        yield http


def _contact_id(history: omnicx.History, query: str) -> int:
    found = history.contacts.find(query)
    assert found is not None
    return found.id


# -- the description -------------------------------------------------------------------------
def test_openapi_document_is_valid_3_1_and_served_without_a_token(
        client: httpx.Client) -> None:
    validate(openapi())  # raises on an invalid document
    answer = httpx.get(f"{client.base_url}openapi.json")
    assert answer.status_code == 200
    served = answer.json()
    assert served["openapi"] == "3.1.0"
    assert served["servers"] == [{"url": "/api"}]  # where it is mounted, from root_path
    validate(served)
    operations = [p["get"] for p in served["paths"].values()]
    assert len({o["operationId"] for o in operations}) == len(operations)  # for client generators
    assert {p.split("/")[1] for p in served["paths"]} >= {
        "contacts", "interactions", "conversations", "search", "changes", "healthz", "readyz"}


# -- authentication ----------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-token-0123456789"},
                                     {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": f"Bearer {TOKEN}x"}])
def test_data_routes_need_the_bearer_token(client: httpx.Client, headers: dict[str, str]
                                           ) -> None:
    for path in ("/contacts", "/contacts/1", "/changes", "/nowhere"):  # even unknown paths
        answer = httpx.get(f"{client.base_url}{path}", headers=headers)
        body = conforms(answer, 401, "Problem")
        assert body["type"] == "urn:omnicx:problem:unauthorized"
        assert answer.headers["www-authenticate"].startswith('Bearer realm="omnicx"')
        assert ("invalid_token" in answer.headers["www-authenticate"]) == bool(headers)


def test_health_and_readiness_need_no_token(client: httpx.Client) -> None:
    assert conforms(httpx.get(f"{client.base_url}healthz"), 200, "Health") == {"status": "ok"}
    assert conforms(httpx.get(f"{client.base_url}readyz"), 200, "Health") == {
        "status": "ready"}


def test_several_tokens_rotate_and_short_ones_are_refused(history: omnicx.History) -> None:
    app = omnicx.api_app(history, tokens=["first-token-0123456789", "second-token-0123456789"])
    with running(app) as url:
        for token in ("first-token-0123456789", "second-token-0123456789"):
            answer = httpx.get(f"{url}/contacts", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200
    for bad in ("", "short", [], " padded-token-0123456789 "):
        with pytest.raises(omnicx.ConfigurationError):
            omnicx.api_app(history, tokens=bad)


# -- contacts ------------------------------------------------------------------------------------
def test_contacts_page_by_cursor_through_every_unmerged_contact(
        client: httpx.Client, history: omnicx.History) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 1, **({"after": cursor} if cursor else {})}
        page = conforms(client.get("/contacts", params=params), 200, "ContactPage")
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [c.id for c in history.contacts]
    assert len(seen) == 2  # three visitors, one merged


def test_find_by_address_or_crm_id(client: httpx.Client, history: omnicx.History) -> None:
    mia = _contact_id(history, "mia@example.org")
    by_address = conforms(client.get("/contacts/find", params={"address": "MIA@example.org"}),
                          200, "Contact")
    by_crm = conforms(client.get("/contacts/find", params={"crm_id": "crm-0031"}), 200,
                      "Contact")
    assert by_address == by_crm
    assert by_address["id"] == mia and by_address["crm_id"] == "crm-0031"
    assert {"kind": "email", "value": "mia@example.org", "name": None} in by_address["addresses"]
    # The merged visitor's address finds the contact it was merged into.
    merged = conforms(client.get("/contacts/find",
                                 params={"address": "webchat:test-site/visitor-2"}), 200,
                      "Contact")
    assert merged["id"] == mia
    conforms(client.get("/contacts/find", params={"address": "nobody@example.org"}), 404,
             "Problem")
    conforms(client.get("/contacts/find", params={"crm_id": "crm-none"}), 404, "Problem")
    for params in ({}, {"address": "mia@example.org", "crm_id": "crm-0031"}):
        conforms(client.get("/contacts/find", params=params), 400, "Problem")


def test_one_contact_and_a_merged_one(client: httpx.Client, history: omnicx.History) -> None:
    mia = _contact_id(history, "mia@example.org")
    body = conforms(client.get(f"/contacts/{mia}"), 200, "Contact")
    assert body["id"] == mia and body["merged_into"] is None
    assert body["created_at"].endswith("Z")
    loser = next(c.id for c in [history.contacts.get(i) for i in range(1, 4)]
                 if c.merged_into == mia)
    assert conforms(client.get(f"/contacts/{loser}"), 200, "Contact")["merged_into"] == mia
    for missing in ("999999", "0", "abc", "-1"):
        conforms(client.get(f"/contacts/{missing}"), 404, "Problem")


# -- timeline -------------------------------------------------------------------------------------
def test_timeline_pages_equal_the_python_pages(client: httpx.Client,
                                               history: omnicx.History) -> None:
    mia = _contact_id(history, "mia@example.org")
    got: list[int] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"before": cursor} if cursor else {})}
        page = conforms(client.get(f"/contacts/{mia}/timeline", params=params), 200,
                        "TimelinePage")
        got += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert got == [i.id for i in history.timeline(mia, limit=500).items]
    assert len(got) == 9  # 4 + 4 of the merged visitor + the agent's answer
    newest = client.get(f"/contacts/{mia}/timeline", params={"limit": 1}).json()["items"][0]
    assert newest["occurred_at"] == "2026-11-03T08:23:00Z"  # visitor-2's last, ISO 8601 UTC
    assert newest["text"] == "Paket 3 kaputt, Besucher 2"


def test_timeline_filters(client: httpx.Client, history: omnicx.History) -> None:
    mia = _contact_id(history, "mia@example.org")
    window = {"since": (T0 + dt.timedelta(minutes=2)).isoformat(),
              "until": "2026-11-03T09:05:00+01:00"}  # 08:05Z, any zone
    body = conforms(client.get(f"/contacts/{mia}/timeline", params=window), 200,
                    "TimelinePage")
    expected = history.timeline(mia, since=T0 + dt.timedelta(minutes=2),
                                until=T0 + dt.timedelta(minutes=5))
    assert [i["id"] for i in body["items"]] == [i.id for i in expected.items]
    assert len(body["items"]) == 2
    only = client.get(f"/contacts/{mia}/timeline", params={"channel": "email,sms"}).json()
    assert only["items"] == []
    chat = client.get(f"/contacts/{mia}/timeline", params=[("channel", "webchat")]).json()
    assert len(chat["items"]) == 9


@pytest.mark.parametrize("params", [
    {"before": "not-a-cursor"}, {"limit": "0"}, {"limit": "501"}, {"limit": "x"},
    {"since": "yesterday"}, {"since": "2026-11-03T08:00:00"}, {"channel": "pigeon"},
    {"colour": "red"}, [("limit", "1"), ("limit", "2")]])
def test_timeline_bad_parameters_are_400(client: httpx.Client, history: omnicx.History,
                                         params: object) -> None:
    mia = _contact_id(history, "mia@example.org")
    body = conforms(client.get(f"/contacts/{mia}/timeline", params=params), 400,  # type: ignore[arg-type]
                    "Problem")
    assert body["type"] in ("urn:omnicx:problem:bad-parameter", "urn:omnicx:problem:bad-cursor")


def test_timeline_of_an_unknown_contact_is_404(client: httpx.Client) -> None:
    conforms(client.get("/contacts/999999/timeline"), 404, "Problem")


# -- one interaction, a conversation -----------------------------------------------------------
def test_interaction_with_statuses_and_events(client: httpx.Client,
                                              history: omnicx.History) -> None:
    mia = _contact_id(history, "mia@example.org")
    items = history.timeline(mia, limit=500).items
    answer = next(i for i in items if i.external_id == "agent-1")
    body = conforms(client.get(f"/interactions/{answer.id}"), 200, "InteractionDetails")
    assert (body["direction"], body["status"]) == ("outbound", "read")
    assert [s["status"] for s in body["statuses"]] == ["read"]
    assert body["statuses"][0]["occurred_at"] == "2026-11-03T08:06:00Z"
    edited = next(i for i in items if i.external_id == "v0-m0")
    body = conforms(client.get(f"/interactions/{edited.id}"), 200, "InteractionDetails")
    # The opener also carries its conversation's lifecycle changes, as history.events does.
    assert [e["kind"] for e in body["events"]] == [e.kind.value for e in history.events(edited)]
    assert [e["kind"] for e in body["events"]] == ["edited", "conversation"]
    assert body["events"][0]["data"]["text"] == "Paket 0 sehr kaputt"
    conforms(client.get("/interactions/999999"), 404, "Problem")


def test_conversation_state_and_changes(client: httpx.Client, history: omnicx.History) -> None:
    mia = _contact_id(history, "mia@example.org")
    opener = history.timeline(mia, limit=500).items[-1]
    body = conforms(client.get(f"/conversations/{opener.conversation_id}"), 200,
                    "Conversation")
    state = history.conversations.state(opener.conversation_id)
    assert body["state"] == state.state.value
    assert [c["action"] for c in body["changes"]] == ["resolve"]
    assert body["changes"][0]["by"] == "agent:17"
    conforms(client.get("/conversations/999999"), 404, "Problem")


# -- the change feed ---------------------------------------------------------------------------
def test_changes_resume_by_cursor_and_equal_the_python_feed(
        client: httpx.Client, history: omnicx.History) -> None:
    got: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {"limit": 7, **({"after": cursor} if cursor else {})}
        page = conforms(client.get("/changes", params=params), 200, "ChangePage")
        got += page["items"]
        if not page["items"]:
            break
        assert page["next_cursor"] == page["items"][-1]["cursor"]
        cursor = page["next_cursor"]
    expected = history.changes(limit=10_000).items
    assert [(c["id"], c["kind"]) for c in got] == [(c.id, c.kind) for c in expected]
    assert {"contact.merged", "contact.linked", "interaction.edited",
            "interaction.status_changed", "conversation.state_changed"} <= {
        str(c["kind"]) for c in got}
    merged = conforms(client.get("/changes", params={"kind": "contact.merged"}), 200,
                      "ChangePage")["items"]
    assert [c["kind"] for c in merged] == ["contact.merged"]
    for bad in ({"after": "bm9wZQ"}, {"kind": "contact.exploded"}, {"limit": "1001"},
                {"kind": ""}, {"limit": ""}):
        conforms(client.get("/changes", params=bad), 400, "Problem")
    # An empty cursor, as a form or a naive client sends it, is the start.
    assert client.get("/changes", params={"after": ""}).json() == client.get("/changes").json()


# -- search --------------------------------------------------------------------------------------
@pytest.mark.skipif(not HAS_SEARCH, reason="history.search is not in this omnicx yet")
def test_search_finds_by_stem_and_narrows_to_a_contact(client: httpx.Client,
                                                       history: omnicx.History) -> None:
    mia = _contact_id(history, "mia@example.org")
    body = conforms(client.get("/search", params={"q": "Pakete", "contact": mia}), 200,
                    "SearchResults")
    assert body["items"] and all(h["interaction"]["contact_id"] in (mia, mia + 2)
                                 for h in body["items"])
    conforms(client.get("/search", params={"q": "Paket", "contact": 999999}), 404, "Problem")
    conforms(client.get("/search"), 400, "Problem")


@pytest.mark.skipif(HAS_SEARCH, reason="this omnicx has search")
def test_search_without_history_search_is_501(client: httpx.Client) -> None:
    body = conforms(client.get("/search", params={"q": "Paket"}), 501, "Problem")
    assert body["type"] == "urn:omnicx:problem:search-unavailable"


# -- HTTP details --------------------------------------------------------------------------------
def test_only_get_and_head(client: httpx.Client) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        answer = client.request(method, "/contacts")
        conforms(answer, 405, "Problem")
        assert answer.headers["allow"] == "GET, HEAD"
    head = client.head("/contacts")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0


def test_unknown_route_is_404(client: httpx.Client) -> None:
    conforms(client.get("/contacts/1/nothing"), 404, "Problem")


def test_serve_mounts_the_api_only_when_configured(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from omnicx._api import api_tokens

    config = tmp_path / "channels.toml"
    config.write_text('[[channel]]\ntype = "webchat"\nsecret = "s3cret"\n')
    monkeypatch.delenv("OMNICX_API_TOKEN", raising=False)
    assert api_tokens(config) is None
    monkeypatch.setenv("OMNICX_API_TOKEN", TOKEN)
    assert api_tokens(config) == [TOKEN]
    config.write_text(config.read_text() + '[api]\ntoken_env = "MY_API_TOKEN"\n')
    with pytest.raises(omnicx.ConfigurationError, match="MY_API_TOKEN"):
        api_tokens(config)
    monkeypatch.setenv("MY_API_TOKEN", "from-my-env-0123456789")
    assert api_tokens(config) == ["from-my-env-0123456789"]
    config.write_text('[[channel]]\ntype = "webchat"\nsecret = "s3cret"\n[api]\n')
    with pytest.raises(omnicx.ConfigurationError, match="needs token"):
        api_tokens(config)
